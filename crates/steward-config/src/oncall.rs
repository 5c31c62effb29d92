//! The `steward/v1` kinds of alerting and on-call: User, Schedule, EscalationPolicy,
//! Integration, InhibitRule, Route and MaintenanceWindow. Each reads into the model's type,
//! with the names it refers to kept (with their places) for the catalog to check.

use crate::docs::{read_description, read_duration, read_name, Metadata, Name};
use crate::read::{Fields, Reader};
use crate::yaml::Node;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use steward_model::catalog::{
    Contact, Customer, InhibitRule, Integration, IntegrationKind, MaintenanceWindow, Recurrence,
    Role, Route, StatusPage, User,
};
use steward_model::escalation::{EscalationPolicy, Step, Target};
use steward_model::matcher::Matcher;
use steward_model::oncall::{Restriction, Rotation, Schedule, ShiftLength};

#[derive(Clone, Debug, PartialEq)]
pub enum OnCallDoc {
    User {
        meta: Metadata,
        user: User,
        customer: Option<Name>,
    },
    Customer(Metadata, Customer),
    SingleSignOn(Metadata, steward_model::catalog::SingleSignOn),
    Schedule {
        meta: Metadata,
        schedule: Schedule,
        participants: Vec<Name>,
    },
    EscalationPolicy {
        meta: Metadata,
        policy: EscalationPolicy,
        users: Vec<Name>,
        schedules: Vec<Name>,
    },
    Integration {
        meta: Metadata,
        integration: Integration,
        service: Option<Name>,
    },
    InhibitRule(Metadata, InhibitRule),
    Route {
        meta: Metadata,
        route: Route,
        policy: Name,
    },
    MaintenanceWindow {
        meta: Metadata,
        window: MaintenanceWindow,
        services: Vec<Name>,
    },
}

impl OnCallDoc {
    pub fn meta(&self) -> &Metadata {
        match self {
            OnCallDoc::Customer(m, _)
            | OnCallDoc::InhibitRule(m, _)
            | OnCallDoc::SingleSignOn(m, _) => m,
            OnCallDoc::User { meta, .. } => meta,
            OnCallDoc::Schedule { meta, .. }
            | OnCallDoc::EscalationPolicy { meta, .. }
            | OnCallDoc::Integration { meta, .. }
            | OnCallDoc::Route { meta, .. }
            | OnCallDoc::MaintenanceWindow { meta, .. } => meta,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            OnCallDoc::User { .. } => "User",
            OnCallDoc::Customer(..) => "Customer",
            OnCallDoc::SingleSignOn(..) => "SingleSignOn",
            OnCallDoc::Schedule { .. } => "Schedule",
            OnCallDoc::EscalationPolicy { .. } => "EscalationPolicy",
            OnCallDoc::Integration { .. } => "Integration",
            OnCallDoc::InhibitRule(..) => "InhibitRule",
            OnCallDoc::Route { .. } => "Route",
            OnCallDoc::MaintenanceWindow { .. } => "MaintenanceWindow",
        }
    }
}

/// Reads the spec of one of these kinds.
pub fn read(r: &mut Reader<'_>, kind: &str, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    match kind {
        "User" => read_user(r, meta, spec),
        "Customer" => read_customer(r, meta, spec),
        "SingleSignOn" => read_sso(r, meta, spec),
        "Schedule" => read_schedule(r, meta, spec),
        "EscalationPolicy" => read_policy(r, meta, spec),
        "Integration" => read_integration(r, meta, spec),
        "InhibitRule" => read_inhibit_rule(r, meta, spec),
        "Route" => read_route(r, meta, spec),
        "MaintenanceWindow" => read_maintenance(r, meta, spec),
        _ => None,
    }
}

fn time_zone(r: &mut Reader<'_>, f: &mut Fields<'_>, default: &TimeZone) -> Option<TimeZone> {
    let Some(n) = f.get("timeZone") else {
        return Some(default.clone());
    };
    let name = r.string(n, "timeZone")?;
    match TimeZone::get(&name) {
        Ok(tz) => Some(tz),
        Err(_) => {
            r.error(
                n.mark,
                format!("`{name}` is not a time zone; use an IANA name such as Europe/Berlin or America/New_York"),
            );
            None
        }
    }
}

fn url(r: &mut Reader<'_>, n: &Node, what: &str) -> Option<String> {
    let u = r.string(n, what)?;
    if u.starts_with("http://") || u.starts_with("https://") {
        Some(u)
    } else {
        r.error(
            n.mark,
            format!("{what} `{u}` is not an http:// or https:// URL"),
        );
        None
    }
}

fn read_user(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    let mut f = r.map(spec, "User spec")?;
    let email = f.get("email").and_then(|n| {
        let e = r.string(n, "email")?;
        if e.contains('@') && !e.starts_with('@') && !e.ends_with('@') {
            Some(e)
        } else {
            r.error(n.mark, format!("email `{e}` is not an email address"));
            None
        }
    });
    let tz = time_zone(r, &mut f, &TimeZone::UTC);
    let contacts = contacts(r, &mut f);
    let role = match f.get("role") {
        None => Some(Role::Viewer),
        Some(n) => {
            let word = r.string(n, "role")?;
            let role = Role::parse(&word);
            if role.is_none() {
                r.error(
                    n.mark,
                    format!("role `{word}` is not one of admin, responder, viewer"),
                );
            }
            role
        }
    };
    let customer = f.get("customer").map(|n| read_name(r, n, "customer"));
    if let (Some(Role::Admin), Some(_), Some(n)) = (role, &customer, f.get("role")) {
        r.error(
            n.mark,
            "a customer's user is a viewer or a responder; admin is the provider's role",
        );
    }
    f.finish(r);
    let (tz, contacts, role) = (tz?, contacts?, role?);
    let customer = match customer {
        None => None,
        Some(c) => Some(c?),
    };
    Some(OnCallDoc::User {
        user: User {
            name: meta.name.name.clone(),
            display_name: meta.display_name.clone(),
            email,
            time_zone: tz,
            contacts,
            role,
            customer: customer.as_ref().map(|c| c.name.clone()),
        },
        meta,
        customer,
    })
}

/// A spec's `contacts` list; `None` when one of them is wrong (each error is reported).
fn contacts(r: &mut Reader<'_>, f: &mut Fields<'_>) -> Option<Vec<Contact>> {
    let mut ok = true;
    let mut contacts = Vec::new();
    if let Some(n) = f.get("contacts") {
        for c in r.list(n, "contacts").unwrap_or_default() {
            match read_contact(r, c) {
                Some(c) => contacts.push(c),
                None => ok = false,
            }
        }
    }
    ok.then_some(contacts)
}

fn read_customer(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    let mut f = r.map(spec, "Customer spec")?;
    let contacts = contacts(r, &mut f);
    let status_page = match f.get("statusPage") {
        None => Some(StatusPage::default()),
        Some(n) => (|| {
            let mut p = r.map(n, "statusPage")?;
            let public = match p.get("public") {
                None => Some(false),
                Some(b) => r.boolean(b, "statusPage.public"),
            };
            let time_zone = time_zone(r, &mut p, &TimeZone::UTC);
            p.finish(r);
            Some(StatusPage {
                public: public?,
                time_zone: time_zone?,
            })
        })(),
    };
    f.finish(r);
    let customer = Customer {
        name: meta.name.name.clone(),
        display_name: meta.display_name.clone(),
        contacts: contacts?,
        status_page: status_page?,
    };
    Some(OnCallDoc::Customer(meta, customer))
}

fn read_sso(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    let mut f = r.map(spec, "SingleSignOn spec")?;
    let issuer = f
        .required(r, "issuer")
        .and_then(|n| url(r, n, "issuer"))
        .map(|u| u.trim_end_matches('/').to_string());
    let client_id = f
        .required(r, "clientId")
        .and_then(|n| r.string(n, "clientId"));
    let client_secret = f.required(r, "clientSecret").and_then(|n| read_key(r, n));
    let user_claim = match f.get("userClaim") {
        Some(n) => r.string(n, "userClaim"),
        None => Some("preferred_username".into()),
    };
    let groups_claim = match f.get("groupsClaim") {
        Some(n) => r.string(n, "groupsClaim"),
        None => Some("groups".into()),
    };
    let mut roles = Vec::new();
    let mut ok = true;
    if let Some(n) = f.get("roles") {
        if let Some(mut g) = r.map(n, "roles") {
            for role in [Role::Admin, Role::Responder, Role::Viewer] {
                if let Some(list) = g.get(role.as_str()) {
                    let groups: Vec<String> = r
                        .strings(list, &format!("roles.{role}"))
                        .into_iter()
                        .map(|(g, _)| g)
                        .collect();
                    if groups.is_empty() {
                        r.error(list.mark, format!("roles.{role} needs a list of groups"));
                        ok = false;
                    }
                    roles.push((role, groups));
                }
            }
            g.finish(r);
        }
    }
    f.finish(r);
    let sso = steward_model::catalog::SingleSignOn {
        name: meta.name.name.clone(),
        display_name: meta.display_name.clone(),
        issuer: issuer?,
        client_id: client_id?,
        client_secret: client_secret?,
        user_claim: user_claim?,
        groups_claim: groups_claim?,
        roles,
    };
    ok.then_some(OnCallDoc::SingleSignOn(meta, sso))
}

fn read_contact(r: &mut Reader<'_>, node: &Node) -> Option<Contact> {
    let mut g = r.map(node, "contact")?;
    let kind_node = g.required(r, "type")?;
    let kind = r.string(kind_node, "contact type")?;
    let contact = match kind.as_str() {
        "webhook" | "slack" | "teams" => {
            let u = g
                .required(r, "url")
                .and_then(|n| url(r, n, "contact url"))?;
            match kind.as_str() {
                "webhook" => Contact::Webhook(u),
                "slack" => Contact::Slack(u),
                _ => Contact::Teams(u),
            }
        }
        "email" => {
            let n = g.required(r, "address")?;
            let a = r.string(n, "contact address")?;
            if !a.contains('@') {
                r.error(n.mark, format!("address `{a}` is not an email address"));
                return None;
            }
            Contact::Email(a)
        }
        other => {
            r.error(
                kind_node.mark,
                format!("contact type `{other}` is not one of webhook, slack, teams, email"),
            );
            return None;
        }
    };
    g.finish(r);
    Some(contact)
}

/// `12h`, `1d`, `2w`.
fn read_shift(r: &mut Reader<'_>, n: &Node) -> Option<ShiftLength> {
    let d = read_duration(r, n, "shift")?;
    let count = u32::try_from(d.count).ok().filter(|c| *c <= 366 * 24);
    match (d.unit, count) {
        ('h', Some(c)) => Some(ShiftLength::Hours(c)),
        ('d', Some(c)) => Some(ShiftLength::Days(c)),
        ('w', Some(c)) => Some(ShiftLength::Weeks(c)),
        _ => {
            r.error(
                n.mark,
                "a shift is a number of hours, days or weeks, e.g. 12h, 1d or 1w",
            );
            None
        }
    }
}

fn read_time(r: &mut Reader<'_>, n: &Node, what: &str) -> Option<Time> {
    let t = r.string(n, what)?;
    match t.parse::<Time>() {
        Ok(time) if t.len() <= 8 => Some(time),
        _ => {
            r.error(
                n.mark,
                format!("{what} `{t}` is not a time of day; write HH:MM, e.g. 09:00"),
            );
            None
        }
    }
}

fn read_date(r: &mut Reader<'_>, n: &Node, what: &str) -> Option<Date> {
    let t = r.string(n, what)?;
    match t.parse::<Date>() {
        Ok(d) if (1970..=2100).contains(&d.year()) => Some(d),
        _ => {
            r.error(
                n.mark,
                format!("{what} `{t}` is not a date between 1970 and 2100; write YYYY-MM-DD"),
            );
            None
        }
    }
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn read_weekdays(r: &mut Reader<'_>, n: &Node, what: &str) -> Option<[bool; 7]> {
    let mut days = [false; 7];
    let mut ok = true;
    for (d, mark) in r.strings(n, what) {
        let lower = d.to_ascii_lowercase();
        match WEEKDAYS
            .iter()
            .position(|w| *w == lower || (lower.len() == 3 && w.starts_with(&lower)))
        {
            Some(i) => days[i] = true,
            None => {
                r.error(
                    mark,
                    format!("`{d}` is not a weekday; write monday … sunday or mon … sun"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(days)
}

fn read_schedule(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    let mut f = r.map(spec, "Schedule spec")?;
    let _ = read_description(r, &mut f);
    let tz = time_zone(r, &mut f, &TimeZone::UTC);
    let layers_node = f.required(r, "layers");
    f.finish(r);
    let tz = tz?;
    let mut layers = Vec::new();
    let mut participants = Vec::new();
    let mut ok = true;
    for (i, l) in r
        .list(layers_node?, "layers")
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match read_layer(r, l, i, &tz, &mut participants) {
            Some(layer) => layers.push(layer),
            None => ok = false,
        }
    }
    if ok && layers.is_empty() {
        r.error(spec.mark, "a schedule needs at least one layer");
        return None;
    }
    ok.then(|| OnCallDoc::Schedule {
        schedule: Schedule {
            name: meta.name.name.clone(),
            time_zone: tz,
            layers,
        },
        meta,
        participants,
    })
}

fn read_layer(
    r: &mut Reader<'_>,
    node: &Node,
    index: usize,
    default_tz: &TimeZone,
    participants: &mut Vec<Name>,
) -> Option<Rotation> {
    let mut g = r.map(node, "layer")?;
    let name = g
        .get("name")
        .and_then(|n| r.string(n, "layer name"))
        .unwrap_or_else(|| format!("layer-{}", index + 1));
    let people: Vec<Name> = g
        .required(r, "participants")
        .and_then(|n| r.list(n, "participants"))
        .unwrap_or_default()
        .iter()
        .filter_map(|p| read_name(r, p, "participant"))
        .collect();
    let shift = g.required(r, "shift").and_then(|n| read_shift(r, n));
    let start = g
        .required(r, "start")
        .and_then(|n| read_date(r, n, "start"));
    let handoff = match g.get("handoff") {
        Some(n) => read_time(r, n, "handoff"),
        None => Some(Time::midnight()),
    };
    let tz = time_zone(r, &mut g, default_tz);
    let mut restrictions = Vec::new();
    let mut ok = true;
    if let Some(n) = g.get("restrictions") {
        for rn in r.list(n, "restrictions").unwrap_or_default() {
            let Some(mut h) = r.map(rn, "restriction") else {
                ok = false;
                continue;
            };
            let days = match h.get("days") {
                Some(d) => read_weekdays(r, d, "days"),
                None => Some([true; 7]),
            };
            let from = h.required(r, "from").and_then(|n| read_time(r, n, "from"));
            let to = h.required(r, "to").and_then(|n| read_time(r, n, "to"));
            h.finish(r);
            match (days, from, to) {
                (Some(days), Some(from), Some(to)) => {
                    restrictions.push(Restriction { days, from, to })
                }
                _ => ok = false,
            }
        }
    }
    g.finish(r);
    if people.is_empty() {
        r.error(node.mark, "a layer needs at least one participant");
        return None;
    }
    let rotation = Rotation {
        name,
        participants: people.iter().map(|p| p.name.clone()).collect(),
        shift: shift?,
        start: DateTime::from_parts(start?, handoff?),
        time_zone: tz?,
        restrictions,
    };
    participants.extend(people);
    ok.then_some(rotation)
}

/// Escalation delays are at most a day: a step that waits longer is a ticket, not a page.
const MAX_DELAY: i64 = 86_400;

fn read_policy(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    let mut f = r.map(spec, "EscalationPolicy spec")?;
    let _ = read_description(r, &mut f);
    let steps_node = f.required(r, "steps");
    let repeat = match f.get("repeat") {
        Some(n) => r.integer(n, "repeat").and_then(|v| {
            if (0..=20).contains(&v) {
                Some(v as u32)
            } else {
                r.error(n.mark, format!("repeat {v} is out of range; use 0 to 20"));
                None
            }
        }),
        None => Some(0),
    };
    f.finish(r);
    let (mut users, mut schedules, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    let mut ok = true;
    for s in r.list(steps_node?, "steps").unwrap_or_default() {
        let Some(mut g) = r.map(s, "step") else {
            ok = false;
            continue;
        };
        let delay = match g.get("delay") {
            Some(n) => r.string(n, "delay").and_then(|text| {
                match steward_model::Duration::parse(&text).map(|d| d.secs()) {
                    Ok(secs) if secs <= MAX_DELAY => Some(secs),
                    _ => {
                        r.error(n.mark, format!("delay `{text}` is not a step delay; write seconds, minutes or hours up to 1d, e.g. 30s, 5m or 1h"));
                        None
                    }
                }
            }),
            None => Some(0),
        };
        let mut targets = Vec::new();
        for t in g
            .required(r, "targets")
            .and_then(|n| r.list(n, "targets"))
            .unwrap_or_default()
        {
            let Some(mut h) = r.map(t, "target") else {
                ok = false;
                continue;
            };
            let target = if let Some(n) = h.get("user") {
                read_name(r, n, "user").map(|n| {
                    users.push(n.clone());
                    Target::User(n.name)
                })
            } else if let Some(n) = h.get("schedule") {
                read_name(r, n, "schedule").map(|n| {
                    schedules.push(n.clone());
                    Target::Schedule(n.name)
                })
            } else if let Some(n) = h.get("webhook") {
                url(r, n, "webhook").map(Target::Webhook)
            } else {
                r.error(
                    t.mark,
                    "a target is one of {user: NAME}, {schedule: NAME} or {webhook: URL}",
                );
                None
            };
            h.finish(r);
            match target {
                Some(t) => targets.push(t),
                None => ok = false,
            }
        }
        g.finish(r);
        if targets.is_empty() {
            r.error(s.mark, "a step needs at least one target");
            ok = false;
        }
        match delay {
            Some(delay) => steps.push(Step { delay, targets }),
            None => ok = false,
        }
    }
    if ok && steps.is_empty() {
        r.error(spec.mark, "an escalation policy needs at least one step");
        return None;
    }
    (ok && repeat.is_some()).then(|| OnCallDoc::EscalationPolicy {
        policy: EscalationPolicy {
            name: meta.name.name.clone(),
            steps,
            repeat: repeat.unwrap_or(0),
        },
        meta,
        users,
        schedules,
    })
}

/// Keys shorter than this are refused: a key is all that stands between the internet and a
/// page at 3am.
const MIN_KEY: usize = 16;

fn read_key(r: &mut Reader<'_>, node: &Node) -> Option<String> {
    let mut g = r.map(node, "key")?;
    let env = g.get("env");
    let file = g.get("file");
    let value = g.get("value");
    g.finish(r);
    let key = match (env, file, value) {
        (Some(n), None, None) => {
            let var = r.string(n, "key.env")?;
            match std::env::var(&var) {
                Ok(v) => v,
                Err(_) => {
                    r.error(
                        n.mark,
                        format!("the environment variable `{var}` that holds this key is not set"),
                    );
                    return None;
                }
            }
        }
        (None, Some(n), None) => {
            let path = r.string(n, "key.file")?;
            match std::fs::read_to_string(&path) {
                Ok(v) => v.trim().to_string(),
                Err(e) => {
                    r.error(n.mark, format!("cannot read the key file `{path}`: {e}"));
                    return None;
                }
            }
        }
        (None, None, Some(n)) => r.string(n, "key.value")?,
        _ => {
            r.error(
                node.mark,
                "key is one of {env: VARIABLE}, {file: PATH} or {value: \"...\"}",
            );
            return None;
        }
    };
    if key.len() < MIN_KEY || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        r.error(
            node.mark,
            format!("the key must be at least {MIN_KEY} characters, without spaces"),
        );
        return None;
    }
    Some(key)
}

fn read_integration(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    let mut f = r.map(spec, "Integration spec")?;
    let _ = read_description(r, &mut f);
    let kind = f.required(r, "kind").and_then(|n| {
        let k = r.string(n, "kind")?;
        let kind = IntegrationKind::parse(&k);
        if kind.is_none() {
            r.error(
                n.mark,
                format!("integration kind `{k}` is not one of alertmanager, pagerduty, webhook, heartbeat"),
            );
        }
        kind
    });
    let service = f.get("service").and_then(|n| read_name(r, n, "service"));
    let key = f.required(r, "key").and_then(|n| read_key(r, n));
    let rate_limit = match f.get("rateLimit") {
        Some(n) => r.integer(n, "rateLimit").and_then(|v| {
            if (1..=1_000_000).contains(&v) {
                Some(v as u32)
            } else {
                r.error(
                    n.mark,
                    format!("rateLimit {v} is out of range; events a minute, 1 to 1000000"),
                );
                None
            }
        }),
        None => Some(6000),
    };
    let interval = match f.get("interval") {
        Some(n) => {
            r.string(n, "interval")
                .and_then(|text| match steward_model::Duration::parse(&text) {
                    Ok(d) => Some(d.secs()),
                    Err(e) => {
                        r.error(n.mark, format!("interval: {e}"));
                        None
                    }
                })
        }
        None => Some(300),
    };
    f.finish(r);
    Some(OnCallDoc::Integration {
        integration: Integration {
            name: meta.name.name.clone(),
            kind: kind?,
            service: service.as_ref().map(|s| s.name.clone()),
            key: key?,
            rate_limit: rate_limit?,
            interval: interval?,
        },
        meta,
        service,
    })
}

fn read_matchers(r: &mut Reader<'_>, n: &Node, what: &str) -> Option<Vec<Matcher>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (text, mark) in r.strings(n, what) {
        match Matcher::parse(&text) {
            Ok(m) => out.push(m),
            Err(e) => {
                r.error(mark, e);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn read_inhibit_rule(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    let mut f = r.map(spec, "InhibitRule spec")?;
    let source = f
        .required(r, "sourceMatchers")
        .and_then(|n| read_matchers(r, n, "sourceMatchers"));
    let target = f
        .required(r, "targetMatchers")
        .and_then(|n| read_matchers(r, n, "targetMatchers"));
    let equal = f
        .get("equal")
        .map(|n| r.strings(n, "equal").into_iter().map(|(s, _)| s).collect())
        .unwrap_or_default();
    f.finish(r);
    Some(OnCallDoc::InhibitRule(
        meta.clone(),
        InhibitRule {
            name: meta.name.name,
            source: source?,
            target: target?,
            equal,
        },
    ))
}

fn read_route(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    let mut f = r.map(spec, "Route spec")?;
    let matchers = f
        .required(r, "matchers")
        .and_then(|n| read_matchers(r, n, "matchers"));
    let policy = f
        .required(r, "escalationPolicy")
        .and_then(|n| read_name(r, n, "escalationPolicy"));
    f.finish(r);
    let policy = policy?;
    Some(OnCallDoc::Route {
        route: Route {
            name: meta.name.name.clone(),
            matchers: matchers?,
            policy: policy.name.clone(),
        },
        meta,
        policy,
    })
}

fn read_maintenance(r: &mut Reader<'_>, meta: Metadata, spec: &Node) -> Option<OnCallDoc> {
    let mut f = r.map(spec, "MaintenanceWindow spec")?;
    let services: Vec<Name> = f
        .required(r, "services")
        .and_then(|n| r.list(n, "services"))
        .unwrap_or_default()
        .iter()
        .filter_map(|n| read_name(r, n, "service"))
        .collect();
    let tz = time_zone(r, &mut f, &TimeZone::UTC);
    let start = f.required(r, "start").and_then(|n| {
        let t = r.string(n, "start")?;
        match t.parse::<DateTime>() {
            Ok(dt) if (1970..=2100).contains(&dt.year()) => Some(dt),
            _ => {
                r.error(
                    n.mark,
                    format!("start `{t}` is not a local date and time; write YYYY-MM-DDTHH:MM"),
                );
                None
            }
        }
    });
    let duration = f.required(r, "duration").and_then(|n| {
        read_duration(r, n, "duration").and_then(|d| match d.fixed_secs() {
            Some(s) if s <= 7 * 86_400 => Some(s),
            _ => {
                r.error(
                    n.mark,
                    "a maintenance window lasts minutes, hours or days, at most 7d",
                );
                None
            }
        })
    });
    let recurrence = match f.get("repeat") {
        None => Some(Recurrence::Once),
        Some(n) => match r.string(n, "repeat").as_deref() {
            Some("daily") => Some(Recurrence::Daily),
            Some("weekly") => Some(Recurrence::Weekly([false; 7])),
            Some("once") => Some(Recurrence::Once),
            Some(other) => {
                r.error(
                    n.mark,
                    format!("repeat `{other}` is not one of once, daily, weekly"),
                );
                None
            }
            None => None,
        },
    };
    let days = f.get("days").map(|n| (n.mark, read_weekdays(r, n, "days")));
    f.finish(r);
    let (start, recurrence) = (start?, recurrence?);
    let recurrence = match (recurrence, days) {
        (Recurrence::Weekly(_), Some((_, Some(d)))) => Recurrence::Weekly(d),
        (Recurrence::Weekly(_), None) => {
            let mut d = [false; 7];
            d[start.date().weekday().to_monday_zero_offset() as usize] = true;
            Recurrence::Weekly(d)
        }
        (_, Some((mark, _))) if !matches!(recurrence, Recurrence::Weekly(_)) => {
            r.error(mark, "days are for repeat: weekly");
            return None;
        }
        (rec, _) => rec,
    };
    if services.is_empty() {
        r.error(spec.mark, "a maintenance window needs at least one service");
        return None;
    }
    Some(OnCallDoc::MaintenanceWindow {
        window: MaintenanceWindow {
            name: meta.name.name.clone(),
            services: services.iter().map(|s| s.name.clone()).collect(),
            time_zone: tz?,
            start,
            duration: duration?,
            recurrence,
        },
        meta,
        services,
    })
}
