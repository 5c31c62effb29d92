//! Readiness computed, not declared: each service's checks from the catalog and what the
//! store knows (evidence, rehearsals, pages and who acted on them, overdue action items,
//! on-call overrides). [`gather`] reads the store in one transaction; [`assess`] is pure, so
//! tests pass `now` and the facts in.

use crate::alerting::shifts_of;
use std::collections::HashMap;
use steward_config::catalog::{Catalog, COVERAGE_HORIZON};
use steward_model::catalog::Service;
use steward_model::escalation::Target;
use steward_model::readiness::{
    common_gaps, noise, Check, Control, ControlOwner, Level, NoiseLimits, Page, Readiness,
    NOISE_DAYS, RESTORE_DRILL,
};
use steward_store::{OverdueItem, PageRow, ReadinessDay, Store, StoreError};

/// The checks the configuration alone decides (`steward validate --policy`); the others
/// need what the store knows (rehearsals, evidence, action items, pages).
pub const FROM_CONFIGURATION: [&str; 7] = [
    "owner",
    "oncall-coverage",
    "escalation",
    "slo",
    "slo-paging",
    "runbooks",
    "responsibilities",
];

/// What `r` breaks of the policies that select its service, judging only the checks `known`
/// accepts.
pub fn violations(
    catalog: &Catalog,
    r: &Readiness,
    known: impl Fn(&str) -> bool + Copy,
) -> Vec<steward_model::readiness::Violation> {
    let Some(s) = catalog.service(&r.service) else {
        return Vec::new();
    };
    catalog
        .readiness_policies
        .iter()
        .filter(|p| p.selector.selects(s))
        .flat_map(|p| p.violations(r, known))
        .collect()
}

/// What the store knows that readiness is computed from.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The newest evidence of each (service, control): when the work was done.
    pub evidence: HashMap<(String, String), i64>,
    /// Each runbook's last successful rehearsal.
    pub rehearsals: HashMap<String, i64>,
    pub overdue: Vec<OverdueItem>,
    /// Pages of the last [`NOISE_DAYS`] days.
    pub pages: Vec<PageRow>,
    /// On-call overrides from [`NOISE_DAYS`] ago to [`COVERAGE_HORIZON`] ahead.
    pub overrides: Vec<steward_store::Override>,
}

/// Reads the facts as of `now`, in one transaction: of every service, or of `only` one.
pub fn gather(store: &Store, now: i64) -> Result<Facts, StoreError> {
    gather_of(store, None, now)
}

/// [`gather`] for one service (or all with `None`).
pub fn gather_of(store: &Store, only: Option<&str>, now: i64) -> Result<Facts, StoreError> {
    let only = only.map(str::to_string);
    store.transact(move |tx| {
        let only = only.as_deref();
        Ok(Facts {
            evidence: tx
                .latest_evidence(only)?
                .into_iter()
                .map(|(s, c, at)| ((s, c), at))
                .collect(),
            rehearsals: tx.last_rehearsals()?.into_iter().collect(),
            overdue: tx.overdue_items(now, only)?,
            pages: tx.pages_since(now - NOISE_DAYS * 86_400, only)?,
            overrides: tx.overrides(now - NOISE_DAYS * 86_400, now + COVERAGE_HORIZON)?,
        })
    })
}

/// The readiness of every service, in the catalog's order.
pub fn assess_all(catalog: &Catalog, facts: &Facts, now: i64) -> Vec<Readiness> {
    let ix = Index::new(catalog, facts, now);
    catalog.services.iter().map(|s| ix.assess(s)).collect()
}

/// The readiness of one service.
pub fn assess(catalog: &Catalog, facts: &Facts, service: &Service, now: i64) -> Readiness {
    Index::new(catalog, facts, now).assess(service)
}

/// What every service's checks look up, found once.
struct Index<'a> {
    catalog: &'a Catalog,
    facts: &'a Facts,
    now: i64,
    slos: HashMap<&'a str, Vec<&'a str>>,
    runbooks: HashMap<&'a str, Vec<&'a steward_model::runbook::Runbook>>,
    pages: HashMap<&'a str, Vec<&'a PageRow>>,
    overdue: HashMap<&'a str, Vec<&'a OverdueItem>>,
    users: HashMap<&'a str, &'a steward_model::catalog::User>,
    policies: HashMap<&'a str, &'a steward_model::escalation::EscalationPolicy>,
    /// Each schedule's overrides, as shifts.
    shifts: HashMap<&'a str, Vec<steward_model::oncall::Shift>>,
    /// Each escalation policy's coverage, found once however many services share it.
    coverage: std::cell::RefCell<HashMap<&'a str, Check>>,
}

fn group<'a, T>(items: impl Iterator<Item = (&'a str, T)>) -> HashMap<&'a str, Vec<T>> {
    let mut m: HashMap<&str, Vec<T>> = HashMap::new();
    for (k, v) in items {
        m.entry(k).or_default().push(v);
    }
    m
}

/// A day, in UTC (`YYYY-MM-DD`): what the daily snapshots are keyed by.
pub fn day_of(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// Whole days, rounded down.
fn days(secs: i64) -> i64 {
    secs.div_euclid(86_400)
}

fn names(list: &[impl AsRef<str>]) -> String {
    list.iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Index<'a> {
    fn new(catalog: &'a Catalog, facts: &'a Facts, now: i64) -> Index<'a> {
        Index {
            catalog,
            facts,
            now,
            slos: group(
                catalog
                    .slos
                    .iter()
                    .map(|d| (d.service.as_str(), d.name.as_str())),
            ),
            runbooks: group(catalog.runbooks.iter().map(|r| (r.service.as_str(), r))),
            pages: group(
                facts
                    .pages
                    .iter()
                    .filter_map(|p| Some((p.service.as_deref()?, p))),
            ),
            overdue: group(facts.overdue.iter().map(|i| (i.service.as_str(), i))),
            users: catalog.users.iter().map(|u| (u.name.as_str(), u)).collect(),
            policies: catalog
                .policies
                .iter()
                .map(|p| (p.name.as_str(), p))
                .collect(),
            shifts: catalog
                .schedules
                .iter()
                .map(|s| (s.name.as_str(), shifts_of(&facts.overrides, &s.name)))
                .collect(),
            coverage: Default::default(),
        }
    }

    fn assess(&self, s: &Service) -> Readiness {
        let controls = self.catalog.controls_of(s);
        let checks = vec![
            self.owner(s),
            self.oncall_coverage(s),
            self.escalation(s),
            self.slo(s),
            self.slo_paging(s),
            self.runbooks(s),
            self.rehearsal(s),
            self.recovery_test(s, &controls),
            self.responsibilities(s, &controls),
            self.evidence(s, &controls),
            self.action_items(s),
            self.alert_noise(s),
        ];
        Readiness::of(&s.name, checks)
    }

    fn owner(&self, s: &Service) -> Check {
        const N: &str = "owner";
        let Some(team) = &s.owner else {
            return Check::fail(N, "no owner team", "set spec.owner to a Team with members");
        };
        match self.catalog.teams.iter().find(|t| &t.name == team) {
            Some(t) if !t.members.is_empty() => Check::pass(
                N,
                format!(
                    "owned by team `{team}` ({} member{}: {})",
                    t.members.len(),
                    if t.members.len() == 1 { "" } else { "s" },
                    t.members.join(", ")
                ),
            ),
            Some(_) => Check::fail(
                N,
                format!("owner team `{team}` has no members"),
                format!("add the people who answer for it to team `{team}` (spec.members)"),
            ),
            None => Check::fail(
                N,
                format!("owner team `{team}` is not declared"),
                format!("declare a Team named `{team}` with its members"),
            ),
        }
    }

    fn policy(&self, s: &Service) -> Option<&'a steward_model::escalation::EscalationPolicy> {
        s.escalation_policy
            .as_deref()
            .and_then(|p| self.policies.get(p).copied())
    }

    fn no_policy(name: &'static str, s: &Service) -> Check {
        Check::fail(
            name,
            match &s.escalation_policy {
                Some(p) => format!("escalation policy `{p}` is not declared"),
                None => "no escalation policy: its pages reach nobody unless a Route matches them"
                    .to_string(),
            },
            "set spec.escalationPolicy to a policy whose steps notify people",
        )
    }

    fn oncall_coverage(&self, s: &Service) -> Check {
        const N: &str = "oncall-coverage";
        let Some(policy) = self.policy(s) else {
            return Self::no_policy(N, s);
        };
        self.coverage
            .borrow_mut()
            .entry(&policy.name)
            .or_insert_with(|| self.coverage_of(policy))
            .clone()
    }

    /// Whether the policy reaches a person at every moment of the next 14 days: a user
    /// named in a step always; a schedule while someone (or an override) is on call.
    fn coverage_of(&self, policy: &steward_model::escalation::EscalationPolicy) -> Check {
        const N: &str = "oncall-coverage";
        let targets = policy.steps.iter().flat_map(|s| &s.targets);
        if let Some(user) = targets.clone().find_map(|t| match t {
            Target::User(u) => Some(u),
            _ => None,
        }) {
            return Check::pass(
                N,
                format!(
                    "escalation policy `{}` names user `{user}`, who is paged at every hour",
                    policy.name
                ),
            );
        }
        let mut schedules: Vec<&steward_model::oncall::Schedule> = Vec::new();
        for t in targets {
            if let Target::Schedule(name) = t {
                if let Some(sch) = self.catalog.schedule(name) {
                    if !schedules.iter().any(|x| x.name == sch.name) {
                        schedules.push(sch);
                    }
                }
            }
        }
        let Some(first) = schedules.first() else {
            return Check::fail(
                N,
                format!(
                    "escalation policy `{}` reaches no person: its steps name neither a user nor a schedule",
                    policy.name
                ),
                format!("add a step to `{}` that pages a schedule or a user", policy.name),
            );
        };
        let (from, to) = (self.now, self.now + COVERAGE_HORIZON);
        let gaps: Vec<Vec<(i64, i64)>> = schedules
            .iter()
            .map(|sch| {
                let overrides = self.shifts.get(sch.name.as_str()).map_or(&[][..], |v| v);
                sch.gaps(overrides, from, to)
            })
            .collect();
        let common = common_gaps(&gaps);
        let Some(&(a, b)) = common.first() else {
            return Check::pass(
                N,
                format!(
                    "someone on {} is on call at every hour of the next 14 days",
                    names(
                        &schedules
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                    )
                ),
            );
        };
        let local = |t: i64| {
            jiff::Timestamp::from_second(t).map_or_else(
                |_| t.to_string(),
                |ts| {
                    ts.to_zoned(first.time_zone.clone())
                        .strftime("%Y-%m-%d %H:%M %Z")
                        .to_string()
                },
            )
        };
        let hours: i64 = common.iter().map(|(a, b)| b - a).sum::<i64>() / 3600;
        Check::fail(
            N,
            format!(
                "nobody is on call from {} to {} ({} gap{}, {hours} h in all, in the next 14 days)",
                local(a),
                local(b),
                common.len(),
                if common.len() == 1 { "" } else { "s" }
            ),
            format!(
                "add an override to schedule `{}` from {} to {}, or a layer that covers those hours",
                first.name,
                local(a),
                local(b)
            ),
        )
    }

    fn escalation(&self, s: &Service) -> Check {
        const N: &str = "escalation";
        let Some(p) = self.policy(s) else {
            return Self::no_policy(N, s);
        };
        if p.steps.len() > 1 || p.repeat > 0 {
            Check::pass(
                N,
                format!(
                    "escalation policy `{}` has {} step{} and repeats {} time{}",
                    p.name,
                    p.steps.len(),
                    if p.steps.len() == 1 { "" } else { "s" },
                    p.repeat,
                    if p.repeat == 1 { "" } else { "s" }
                ),
            )
        } else {
            Check::fail(
                N,
                format!(
                    "escalation policy `{}` has one step and no repeat: a page the first person sleeps through reaches nobody else",
                    p.name
                ),
                format!("add a second step (a backup or the team lead) to `{}`, or repeat: 2", p.name),
            )
        }
    }

    fn slo(&self, s: &Service) -> Check {
        const N: &str = "slo";
        match self.slos.get(s.name.as_str()) {
            Some(list) => Check::pass(
                N,
                format!(
                    "{} SLO{}: {}",
                    list.len(),
                    if list.len() == 1 { "" } else { "s" },
                    names(list)
                ),
            ),
            None => Check::fail(
                N,
                "no SLO",
                format!(
                    "write an SLO with service: {} for what its users need",
                    s.name
                ),
            ),
        }
    }

    fn slo_paging(&self, s: &Service) -> Check {
        const N: &str = "slo-paging";
        let Some(slos) = self.slos.get(s.name.as_str()) else {
            return Check::fail(
                N,
                "no SLO, so no burn-rate condition pages anyone",
                format!("write an SLO with service: {}", s.name),
            );
        };
        let Some(p) = self.policy(s) else {
            return Self::no_policy(N, s);
        };
        let people = |t: &Target| match t {
            Target::User(_) => true,
            Target::Schedule(name) => self
                .catalog
                .schedule(name)
                .is_some_and(|sch| sch.layers.iter().any(|l| !l.participants.is_empty())),
            Target::Webhook(_) => false,
        };
        match p.steps.iter().position(|st| st.targets.iter().any(people)) {
            Some(i) => Check::pass(
                N,
                format!(
                    "the page conditions of {} SLO{} go to escalation policy `{}`, whose step {} notifies people",
                    slos.len(),
                    if slos.len() == 1 { "" } else { "s" },
                    p.name,
                    i + 1
                ),
            ),
            None => Check::fail(
                N,
                format!(
                    "escalation policy `{}` notifies only webhooks: SLO pages reach no person",
                    p.name
                ),
                format!("add a step to `{}` that pages a schedule or a user", p.name),
            ),
        }
    }

    fn runbooks(&self, s: &Service) -> Check {
        const N: &str = "runbooks";
        if s.failure_modes.is_empty() {
            return Check::fail(
                N,
                "no failure modes declared: nobody has written down what breaks",
                "list what can go wrong under spec.failureModes and write a Runbook for each",
            );
        }
        let books = self.runbooks.get(s.name.as_str());
        let missing: Vec<&str> = s
            .failure_modes
            .iter()
            .filter(|m| {
                !books.is_some_and(|b| {
                    b.iter()
                        .any(|r| r.failure_mode.as_deref() == Some(m.name.as_str()))
                })
            })
            .map(|m| m.name.as_str())
            .collect();
        if missing.is_empty() {
            Check::pass(
                N,
                format!(
                    "every failure mode has a runbook ({})",
                    names(&s.failure_modes.iter().map(|m| &m.name).collect::<Vec<_>>())
                ),
            )
        } else {
            Check::fail(
                N,
                format!("no runbook for failure mode {}", names(&missing)),
                format!(
                    "write a Runbook with service: {} and failureMode: {} for each",
                    s.name, missing[0]
                ),
            )
        }
    }

    fn rehearsal(&self, s: &Service) -> Check {
        const N: &str = "runbook-rehearsal";
        let Some(books) = self.runbooks.get(s.name.as_str()) else {
            return Check::fail(
                N,
                "no runbook to rehearse",
                "write a runbook for each failure mode, then rehearse it: steward runbook rehearse NAME",
            );
        };
        let mut never = Vec::new();
        let mut stale = Vec::new();
        for r in books {
            match self.facts.rehearsals.get(&r.name) {
                None => never.push(format!("`{}`", r.name)),
                Some(&at) if self.now - at > r.rehearse_every => stale.push(format!(
                    "`{}` (last on {}, {} days ago; its limit is {} days)",
                    r.name,
                    day_of(at),
                    days(self.now - at),
                    days(r.rehearse_every)
                )),
                Some(_) => {}
            }
        }
        if never.is_empty() && stale.is_empty() {
            return Check::pass(
                N,
                format!(
                    "{} runbook{} rehearsed within {} limit",
                    books.len(),
                    if books.len() == 1 { "" } else { "s" },
                    if books.len() == 1 { "its" } else { "their" }
                ),
            );
        }
        let mut why = Vec::new();
        if !never.is_empty() {
            why.push(format!("never rehearsed: {}", never.join(", ")));
        }
        if !stale.is_empty() {
            why.push(format!("rehearsal expired: {}", stale.join(", ")));
        }
        let first = books
            .iter()
            .find(|r| {
                self.facts
                    .rehearsals
                    .get(&r.name)
                    .is_none_or(|at| self.now - at > r.rehearse_every)
            })
            .map_or("NAME", |r| r.name.as_str());
        Check::fail(
            N,
            why.join("; "),
            format!("rehearse it: steward runbook rehearse {first}"),
        )
    }

    fn no_map(name: &'static str, s: &Service) -> Check {
        Check::fail(
            name,
            "no responsibility map: the service names no class and no controls",
            format!(
                "name a ServiceClass in spec.class of service `{}` (managed-database, internal-api, ...)",
                s.name
            ),
        )
    }

    fn evidence_at(&self, s: &Service, control: &str) -> Option<i64> {
        self.facts
            .evidence
            .get(&(s.name.clone(), control.to_string()))
            .copied()
    }

    fn recovery_test(&self, s: &Service, controls: &[Control]) -> Check {
        const N: &str = "recovery-test";
        if controls.is_empty() {
            return Self::no_map(N, s);
        }
        let drills: Vec<_> = controls
            .iter()
            .filter_map(|c| Some((c, c.evidence.as_ref().filter(|e| e.kind == RESTORE_DRILL)?)))
            .collect();
        if drills.is_empty() {
            return Check::pass(
                N,
                format!(
                    "no control of {} asks for a restore drill: it keeps nothing to restore",
                    s.class
                        .as_deref()
                        .map_or_else(|| "the service".to_string(), |c| format!("class `{c}`"))
                ),
            );
        }
        let mut bad = Vec::new();
        for (c, rule) in &drills {
            match self.evidence_at(s, &c.name) {
                None => bad.push(format!("no restore drill recorded for `{}`", c.name)),
                Some(at) if self.now - at > rule.every => bad.push(format!(
                    "the last restore drill for `{}` was on {}, {} days ago; its limit is {} days",
                    c.name,
                    day_of(at),
                    days(self.now - at),
                    days(rule.every)
                )),
                Some(_) => {}
            }
        }
        if bad.is_empty() {
            let at = drills
                .iter()
                .filter_map(|(c, _)| self.evidence_at(s, &c.name))
                .min()
                .unwrap_or(self.now);
            Check::pass(N, format!("restored within its limit (on {})", day_of(at)))
        } else {
            let c = &drills[0].0;
            Check::fail(
                N,
                bad.join("; "),
                format!(
                    "restore a backup and record it: steward evidence add {} {} --link URL",
                    s.name, c.name
                ),
            )
        }
    }

    fn responsibilities(&self, s: &Service, controls: &[Control]) -> Check {
        const N: &str = "responsibilities";
        if controls.is_empty() {
            return Self::no_map(N, s);
        }
        let unowned: Vec<&str> = controls
            .iter()
            .filter(|c| c.owner.is_none())
            .map(|c| c.name.as_str())
            .collect();
        if !unowned.is_empty() {
            return Check::fail(
                N,
                format!("no owner for control {}", names(&unowned)),
                "set owner: provider or owner: customer on each, in the class or the service's controls",
            );
        }
        let of = |o: ControlOwner| {
            controls
                .iter()
                .filter(|c| c.owner == Some(o))
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
        };
        let (p, c) = (of(ControlOwner::Provider), of(ControlOwner::Customer));
        Check::pass(
            N,
            format!(
                "the provider operates {}; the customer owns {}",
                if p.is_empty() {
                    "none".into()
                } else {
                    names(&p)
                },
                if c.is_empty() {
                    "none".into()
                } else {
                    names(&c)
                }
            ),
        )
    }

    fn evidence(&self, s: &Service, controls: &[Control]) -> Check {
        const N: &str = "evidence";
        if controls.is_empty() {
            return Self::no_map(N, s);
        }
        let owner = |c: &steward_model::readiness::Control| {
            c.owner.map_or("no owner", |o| match o {
                ControlOwner::Provider => "the provider's",
                ControlOwner::Customer => "the customer's",
            })
        };
        let mut missing = Vec::new();
        let mut stale = Vec::new();
        let mut fresh = 0;
        for c in controls {
            let Some(rule) = &c.evidence else { continue };
            match self.evidence_at(s, &c.name) {
                None => missing.push(format!(
                    "`{}` ({}, a {} every {} days)",
                    c.name,
                    owner(c),
                    rule.kind,
                    days(rule.every)
                )),
                Some(at) if self.now - at > rule.every => stale.push(format!(
                    "`{}` ({}, last on {}, {} days ago; its limit is {} days)",
                    c.name,
                    owner(c),
                    day_of(at),
                    days(self.now - at),
                    days(rule.every)
                )),
                Some(_) => fresh += 1,
            }
        }
        if missing.is_empty() && stale.is_empty() {
            return Check::pass(
                N,
                format!(
                    "the evidence of {fresh} control{} is fresh",
                    if fresh == 1 { "" } else { "s" }
                ),
            );
        }
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("no evidence for {}", missing.join(", ")));
        }
        if !stale.is_empty() {
            why.push(format!("evidence too old for {}", stale.join(", ")));
        }
        let first = controls
            .iter()
            .find(|c| {
                c.evidence.as_ref().is_some_and(|r| {
                    self.evidence_at(s, &c.name)
                        .is_none_or(|at| self.now - at > r.every)
                })
            })
            .map_or("CONTROL", |c| c.name.as_str());
        Check::fail(
            N,
            why.join("; "),
            format!(
                "do the work and record it: steward evidence add {} {first} --link URL",
                s.name
            ),
        )
    }

    fn action_items(&self, s: &Service) -> Check {
        const N: &str = "action-items";
        match self.overdue.get(s.name.as_str()) {
            None => Check::pass(N, "no overdue postmortem action items"),
            Some(items) => Check::fail(
                N,
                format!(
                    "{} overdue action item{}: {}",
                    items.len(),
                    if items.len() == 1 { "" } else { "s" },
                    items
                        .iter()
                        .map(|i| format!(
                            "#{} \"{}\" (due {}, {} days ago)",
                            i.id,
                            i.title,
                            day_of(i.due_at),
                            days(self.now - i.due_at)
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!(
                    "close them with how the fix was verified (POST /api/v1/action-items/{}/close), or agree a new due date",
                    items[0].id
                ),
            ),
        }
    }

    /// The noise limits of a service: those of the policies that select it and set their
    /// own (the strictest of each), else the defaults.
    pub fn limits(&self, s: &Service) -> NoiseLimits {
        self.catalog
            .readiness_policies
            .iter()
            .filter(|p| p.selector.selects(s))
            .filter_map(|p| p.noise)
            .reduce(NoiseLimits::stricter)
            .unwrap_or_default()
    }

    /// The time zone of the person a page reached first: its policy's first step's user, or
    /// whoever was on call on its schedule then; else the schedule's zone; else UTC.
    fn zone_of(&self, p: &PageRow, s: &Service) -> jiff::tz::TimeZone {
        let policy = p
            .policy
            .as_deref()
            .and_then(|n| self.policies.get(n).copied())
            .or_else(|| self.policy(s));
        let user_zone = |u: &str| self.users.get(u).map(|u| u.time_zone.clone());
        for t in policy
            .iter()
            .flat_map(|p| p.steps.iter().take(1))
            .flat_map(|st| &st.targets)
        {
            match t {
                Target::User(u) => {
                    if let Some(z) = user_zone(u) {
                        return z;
                    }
                }
                Target::Schedule(name) => {
                    if let Some(sch) = self.catalog.schedule(name) {
                        let overrides = self.shifts.get(name.as_str()).map_or(&[][..], |v| v);
                        return sch
                            .on_call(overrides, p.paged_at)
                            .and_then(|u| user_zone(&u))
                            .unwrap_or_else(|| sch.time_zone.clone());
                    }
                }
                Target::Webhook(_) => {}
            }
        }
        jiff::tz::TimeZone::UTC
    }

    fn alert_noise(&self, s: &Service) -> Check {
        const N: &str = "alert-noise";
        let pages: Vec<Page> = self
            .pages
            .get(s.name.as_str())
            .into_iter()
            .flatten()
            .map(|p| Page {
                paged_at: p.paged_at,
                acknowledged_at: p.acknowledged_at,
                acted: p.acknowledged_by.is_some()
                    || p.resolved_by
                        .as_deref()
                        .is_some_and(|r| r.starts_with("user:")),
                time_zone: self.zone_of(p, s),
            })
            .collect();
        let n = noise(&pages);
        let l = self.limits(s);
        let minutes = |secs: i64| format!("{:.1} min", secs as f64 / 60.0);
        let figures = format!(
            "{} page{} in {NOISE_DAYS} days ({:.1} a week), {} nobody acted on ({:.0} %), {} at night ({:.1} a week), median time to acknowledge {}",
            n.pages,
            if n.pages == 1 { "" } else { "s" },
            n.pages_per_week,
            n.unacted,
            n.unacted_share * 100.0,
            n.night,
            n.night_per_week,
            n.median_ack.map_or_else(|| "none".to_string(), minutes)
        );
        let mut over = Vec::new();
        if n.pages_per_week > l.pages_per_week {
            over.push(format!(
                "{:.1} pages a week is above the limit of {}",
                n.pages_per_week, l.pages_per_week
            ));
        }
        if n.unacted_share > l.unacted_share {
            over.push(format!(
                "{:.0} % of pages nobody acted on is above the limit of {:.0} %",
                n.unacted_share * 100.0,
                l.unacted_share * 100.0
            ));
        }
        if n.night_per_week > l.night_pages_per_week {
            over.push(format!(
                "{:.1} night pages a week (22:00–07:00 where the paged person lives) is above the limit of {}",
                n.night_per_week, l.night_pages_per_week
            ));
        }
        if let Some(m) = n.median_ack.filter(|m| *m > l.median_ack) {
            over.push(format!(
                "the median time to acknowledge, {}, is above the limit of {}",
                minutes(m),
                minutes(l.median_ack)
            ));
        }
        if over.is_empty() {
            Check::pass(N, figures)
        } else {
            Check::fail(
                N,
                format!("{figures}: {}", over.join("; ")),
                "tune or silence the alerts nobody acts on, route non-urgent ones as tickets, and fix what pages at night",
            )
        }
    }
}

/// Keeps today's readiness of every service (the latest of the day wins).
/// Only the services whose readiness differs from `before` (the same day's last pass) are
/// written, when it is given.
pub fn keep_snapshot(
    store: &Store,
    list: &[Readiness],
    before: Option<&[Readiness]>,
    now: i64,
) -> Result<(), StoreError> {
    let today = day_of(now);
    let before: Option<HashMap<&str, &Readiness>> =
        before.map(|b| b.iter().map(|r| (r.service.as_str(), r)).collect());
    let days: Vec<ReadinessDay> = list
        .iter()
        .filter(|r| {
            before.as_ref().is_none_or(|b| {
                b.get(r.service.as_str()).is_none_or(|p| {
                    (p.level, p.score, p.failing()) != (r.level, r.score, r.failing())
                })
            })
        })
        .map(|r| ReadinessDay {
            service: r.service.clone(),
            day: today.clone(),
            level: r.level.as_str().to_string(),
            score: i64::from(r.score),
            failing: r.failing().iter().map(|s| s.to_string()).collect(),
        })
        .collect();
    store.transact(move |tx| {
        for d in &days {
            tx.put_readiness_day(d)?;
        }
        Ok(())
    })
}

/// The trend in a sentence, from the daily snapshots (oldest first): "was advanced until
/// 2026-11-20, when `runbook-rehearsal` started failing".
pub fn trend_sentence(now: &Readiness, days: &[ReadinessDay]) -> String {
    let level = now.level.as_str();
    let Some(i) = days.iter().rposition(|d| d.level != level) else {
        return match days.first() {
            Some(d) => format!("{level} since {} (the oldest snapshot kept)", d.day),
            None => format!("{level}; no daily snapshot kept yet"),
        };
    };
    let before = &days[i];
    let Some(after) = days.get(i + 1) else {
        return format!("was {} until today", before.level);
    };
    // What started failing on the day the level changed (not what failed later).
    let newly: Vec<&str> = after
        .failing
        .iter()
        .filter(|f| !before.failing.contains(f))
        .map(String::as_str)
        .collect();
    let dropped = Level::parse(&before.level).is_some_and(|b| b > now.level);
    if dropped && !newly.is_empty() {
        format!(
            "was {} until {}, when {} started failing",
            before.level,
            after.day,
            names(&newly)
        )
    } else {
        format!("was {} until {}; {level} since", before.level, after.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_model::readiness::Check;

    fn snapshot(d: &str, level: &str, failing: &[&str]) -> ReadinessDay {
        ReadinessDay {
            service: "checkout".into(),
            day: d.into(),
            level: level.into(),
            score: 0,
            failing: failing.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_trend_names_the_day_the_level_changed_and_what_started_failing() {
        let now = Readiness::of(
            "checkout",
            vec![
                Check::pass("owner", "ok"),
                Check::fail("runbook-rehearsal", "expired", "rehearse"),
            ],
        );
        let days = [
            snapshot("2026-11-18", "advanced", &[]),
            snapshot("2026-11-19", "advanced", &[]),
            snapshot("2026-11-20", now.level.as_str(), &["runbook-rehearsal"]),
        ];
        assert_eq!(
            trend_sentence(&now, &days),
            "was advanced until 2026-11-20, when `runbook-rehearsal` started failing"
        );
        assert_eq!(
            trend_sentence(&now, &days[2..]),
            "beginner since 2026-11-20 (the oldest snapshot kept)"
        );
        assert_eq!(
            trend_sentence(&now, &[]),
            "beginner; no daily snapshot kept yet"
        );
    }
}
