//! The service catalog: services, their owners and what they depend on.

#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// The owning team; `None` for a service known only from an OpenSLO document.
    pub owner: Option<String>,
    /// 1 is the most critical.
    pub tier: Option<u8>,
    pub lifecycle: Option<String>,
    /// The provider's customer (tenant) this service runs for.
    pub customer: Option<String>,
    pub depends_on: Vec<String>,
    /// The escalation policy its alerts are routed to.
    pub escalation_policy: Option<String>,
    pub links: Vec<Link>,
    pub failure_modes: Vec<FailureMode>,
    /// When its pages open incidents by themselves: the incidents' severity.
    pub auto_incident: Option<String>,
    /// Its ServiceClass: the controls of its responsibility map.
    pub class: Option<String>,
    /// Its own controls, each overriding the class's of the same name.
    pub controls: Vec<crate::readiness::Control>,
    pub tags: Vec<String>,
    /// The system (a group of services) it belongs to.
    pub system: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub title: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FailureMode {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Team {
    pub name: String,
    pub display_name: Option<String>,
    pub members: Vec<String>,
}

/// How to reach a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contact {
    Webhook(String),
    Slack(String),
    Teams(String),
    Email(String),
}

crate::words! {
    /// How a notification travels: each channel writes and sends it its own way.
    pub enum Channel {
        /// A JSON document POSTed to a URL.
        Webhook = "webhook",
        /// A Slack incoming webhook.
        Slack = "slack",
        /// A Microsoft Teams workflow webhook (an Adaptive Card).
        Teams = "teams",
        /// Mail through the SMTP relay.
        Email = "email",
    }
}

impl Contact {
    /// The channel and destination.
    pub fn channel(&self) -> (Channel, &str) {
        match self {
            Contact::Webhook(u) => (Channel::Webhook, u),
            Contact::Slack(u) => (Channel::Slack, u),
            Contact::Teams(u) => (Channel::Teams, u),
            Contact::Email(a) => (Channel::Email, a),
        }
    }
}

crate::words! {
    /// What a person may do in Steward; each role may do what the ones below it may.
    #[derive(PartialOrd, Ord)]
    pub enum Role {
        /// Reads everything in its scope.
        Viewer = "viewer",
        /// Acknowledges and resolves, silences, overrides, runs incidents and runbooks.
        Responder = "responder",
        /// Everything else: tokens of others, the kill switch, reloads, the audit trail.
        Admin = "admin",
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub time_zone: jiff::tz::TimeZone,
    pub contacts: Vec<Contact>,
    pub role: Role,
    /// A customer's user sees and acts only inside that customer's services.
    pub customer: Option<String>,
}

/// Single sign-on through an OpenID Connect provider (authorization code flow with PKCE).
#[derive(Clone, Debug, PartialEq)]
pub struct SingleSignOn {
    pub name: String,
    pub display_name: Option<String>,
    /// The issuer, as its discovery document and ID tokens name it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The claim whose value names the User (its name, or its email).
    pub user_claim: String,
    /// The claim that lists the identity's groups.
    pub groups_claim: String,
    /// The groups that give each role; the highest a login's groups give wins, and without
    /// one the User's own role holds.
    pub roles: Vec<(Role, Vec<String>)>,
}

/// A provider's customer: who owns the services marked with its name.
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub name: String,
    pub display_name: Option<String>,
    pub contacts: Vec<Contact>,
    pub status_page: StatusPage,
}

/// Who reads a customer's status page, and in which zone its days are told.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusPage {
    /// Anyone may read it; otherwise only the customer's users and the provider's staff.
    pub public: bool,
    pub time_zone: jiff::tz::TimeZone,
}

impl Default for StatusPage {
    fn default() -> StatusPage {
        StatusPage {
            public: false,
            time_zone: jiff::tz::TimeZone::UTC,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntegrationKind {
    Alertmanager,
    Pagerduty,
    Webhook,
    Heartbeat,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Alertmanager => "alertmanager",
            IntegrationKind::Pagerduty => "pagerduty",
            IntegrationKind::Webhook => "webhook",
            IntegrationKind::Heartbeat => "heartbeat",
        }
    }

    pub fn parse(s: &str) -> Option<IntegrationKind> {
        match s {
            "alertmanager" => Some(IntegrationKind::Alertmanager),
            "pagerduty" => Some(IntegrationKind::Pagerduty),
            "webhook" => Some(IntegrationKind::Webhook),
            "heartbeat" => Some(IntegrationKind::Heartbeat),
            _ => None,
        }
    }
}

/// A source of outside alerts, with its own key.
#[derive(Clone, PartialEq)]
pub struct Integration {
    pub name: String,
    pub kind: IntegrationKind,
    pub service: Option<String>,
    pub key: String,
    /// Events a minute it may send; past this they are refused (429).
    pub rate_limit: u32,
    /// Heartbeats: the longest wait between pings before the alert opens (seconds).
    pub interval: i64,
}

impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("service", &self.service)
            .field("key", &"<redacted>")
            .field("rate_limit", &self.rate_limit)
            .field("interval", &self.interval)
            .finish()
    }
}

/// While an alert matching `source` fires, alerts matching `target` with the same values of
/// `equal` notify no one.
#[derive(Clone, Debug, PartialEq)]
pub struct InhibitRule {
    pub name: String,
    pub source: Vec<crate::matcher::Matcher>,
    pub target: Vec<crate::matcher::Matcher>,
    pub equal: Vec<String>,
}

/// Alerts matching `matchers` go to `policy` instead of their service's.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub name: String,
    pub matchers: Vec<crate::matcher::Matcher>,
    pub policy: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recurrence {
    Once,
    Daily,
    /// On these weekdays (Monday first).
    Weekly([bool; 7]),
}

/// Time when a service's alerts notify no one: from `start` (local) for `duration` seconds,
/// once or recurring.
#[derive(Clone, Debug, PartialEq)]
pub struct MaintenanceWindow {
    pub name: String,
    pub services: Vec<String>,
    pub time_zone: jiff::tz::TimeZone,
    pub start: jiff::civil::DateTime,
    pub duration: i64,
    pub recurrence: Recurrence,
}

impl MaintenanceWindow {
    /// Whether the window is open at `at` (unix seconds).
    pub fn is_active(&self, at: i64) -> bool {
        !self.occurrences(at, at.saturating_add(1)).is_empty()
    }

    /// Its occurrences open at some time in `[from, to)`, as `[start, end)` in unix seconds,
    /// oldest first. `to − from` is bounded by the caller (a status page asks for weeks).
    pub fn occurrences(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let begin = |date: jiff::civil::Date| {
            date.to_datetime(self.start.time())
                .to_zoned(self.time_zone.clone())
                .map_or(i64::MAX, |z| z.timestamp().as_second())
        };
        let first = begin(self.start.date());
        let open = |b: i64| b < to && from < b.saturating_add(self.duration);
        if self.recurrence == Recurrence::Once {
            return if open(first) {
                vec![(first, first.saturating_add(self.duration))]
            } else {
                Vec::new()
            };
        }
        let (Ok(a), Ok(b)) = (
            jiff::Timestamp::from_second(from.saturating_sub(self.duration)),
            jiff::Timestamp::from_second(to),
        ) else {
            return Vec::new();
        };
        // One local day at a time, from the day an occurrence still open at `from` began.
        let (Ok(mut day), last) = (
            self.time_zone.to_datetime(a).date().yesterday(),
            self.time_zone.to_datetime(b).date(),
        ) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while day <= last {
            let on = match self.recurrence {
                Recurrence::Daily => true,
                Recurrence::Weekly(days) => days[day.weekday().to_monday_zero_offset() as usize],
                Recurrence::Once => false,
            };
            let b = begin(day);
            if on && day >= self.start.date() && open(b) {
                out.push((b, b.saturating_add(self.duration)));
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        out
    }
}

/// When a service's deploys freeze: an SLO's error budget at or below `remaining_below` (a
/// ratio; 0 is exhausted), or burning faster than `burn_rate_above` over the last hour.
/// Changes labelled as fixes pass when `allow_fixes`; any change passes under an audited
/// override.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetPolicy {
    pub name: String,
    pub services: Vec<String>,
    pub remaining_below: f64,
    pub burn_rate_above: Option<f64>,
    pub allow_fixes: bool,
    /// Deploys wait until the service reaches this readiness level.
    pub minimum_readiness: Option<crate::readiness::Level>,
}

impl BudgetPolicy {
    /// The policy a service without one of its own follows.
    pub fn default_for(service: &str) -> BudgetPolicy {
        BudgetPolicy {
            name: "default".into(),
            services: vec![service.to_string()],
            remaining_below: 0.0,
            burn_rate_above: None,
            allow_fixes: true,
            minimum_readiness: None,
        }
    }
}
