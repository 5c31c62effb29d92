//! Alerts, their history, silences, escalations, on-call overrides, heartbeats and the
//! notification outbox: typed operations on a transaction ([`Tx`]), written once for both
//! backends. The engine composes them in [`crate::Store::transact`], so a condition's start,
//! the alert it opens and the notifications it queues commit together.

use crate::sql::{Db, Row, Val};
use crate::{AlertState, AlertTransition, Result, StoreError};
use steward_model::catalog::Channel;
use steward_model::{Labels, Severity, Suppression};

steward_model::words! {
    /// An alert's place in its lifecycle.
    pub enum AlertStatus {
        Triggered = "triggered",
        Acknowledged = "acknowledged",
        Resolved = "resolved",
    }
}

/// An alert as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub id: i64,
    pub source: String,
    pub integration: String,
    pub dedup_key: String,
    pub service: Option<String>,
    pub customer: Option<String>,
    /// The source's own word (`critical`, `warning`, `page`, ...), as it sent it.
    pub severity: String,
    /// What Steward does with it: page someone, or record a ticket ([`Severity::of`]).
    pub urgency: Severity,
    pub summary: String,
    /// Stored as a JSON object of strings.
    pub labels: Labels,
    /// A JSON object.
    pub details: String,
    pub status: AlertStatus,
    pub opened_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub updated_at: i64,
    /// How many events this alert took (the first and every repeat).
    pub events: i64,
    /// Why it notifies no one: a silence, a maintenance window or an inhibiting alert.
    pub suppressed: Option<Suppression>,
    /// The escalation policy it was routed to.
    pub policy: Option<String>,
    /// When it resolves unless its source refreshes it.
    pub expires_at: Option<i64>,
    /// The incident it belongs to.
    pub incident: Option<i64>,
}

/// What an incoming event says about an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAlert {
    pub source: String,
    pub integration: String,
    pub dedup_key: String,
    pub service: Option<String>,
    pub customer: Option<String>,
    pub severity: String,
    pub urgency: Severity,
    pub summary: String,
    pub labels: Labels,
    pub details: String,
    pub at: i64,
    /// Resolved at this time unless triggered again before.
    pub expires_at: Option<i64>,
    /// Who sent it: `integration:NAME` or `steward`.
    pub actor: String,
}

/// What a trigger did.
#[derive(Clone, Debug, PartialEq)]
pub enum Triggered {
    /// A new alert (no open one had the key).
    Opened(Alert),
    /// The open alert with the key, updated; and its urgency before (a source may raise a
    /// warning to critical under the same key).
    Repeated(Alert, Severity),
}

impl Triggered {
    pub fn alert(&self) -> &Alert {
        match self {
            Triggered::Opened(a) | Triggered::Repeated(a, _) => a,
        }
    }
}

/// One entry of an alert's history.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub detail: String,
}

/// Which alerts to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    /// Triggered or acknowledged.
    pub unresolved: bool,
    pub service: Option<String>,
    /// Of one customer's services only.
    pub customer: Option<String>,
    /// Of one source only (`slo`, `alertmanager`, ...).
    pub source: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    pub id: i64,
    /// JSON: `[{"name","value","isRegex","isEqual"}]`, as Alertmanager writes matchers.
    pub matchers: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
    pub updated_at: i64,
    /// The integration whose key made it through the Alertmanager v2 API: it silences that
    /// integration's alerts only.
    pub integration: Option<String>,
}

/// Where an alert's escalation stands: step `step` of round `round` notifies at `next_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escalation {
    pub alert: i64,
    pub policy: String,
    pub step: i64,
    pub round: i64,
    pub next_at: i64,
    /// When this escalation (re)started.
    pub started_at: i64,
}

steward_model::words! {
    /// A notification's place in the outbox.
    pub enum MessageStatus {
        Pending = "pending",
        Delivered = "delivered",
        Dead = "dead",
        /// Not sent: its alert was acknowledged or resolved before its turn came.
        Skipped = "skipped",
    }
}

/// A notification to queue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMessage {
    pub alert: Option<i64>,
    pub service: Option<String>,
    pub customer: Option<String>,
    pub channel: Channel,
    /// A URL or an email address.
    pub destination: String,
    pub payload: String,
    /// The same on every attempt; queuing a key twice queues it once.
    pub idempotency_key: String,
    pub at: i64,
    /// When it is first sent (later than `at` while its group waits).
    pub due_at: i64,
    pub give_up_at: i64,
    pub created_by: String,
    /// Messages to one destination with the same group key are sent together.
    pub group_key: Option<String>,
}

/// A queued notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: i64,
    pub alert: Option<i64>,
    pub service: Option<String>,
    pub customer: Option<String>,
    pub channel: Channel,
    pub destination: String,
    pub payload: String,
    pub idempotency_key: String,
    pub status: MessageStatus,
    pub attempts: i64,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub give_up_at: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub group_key: Option<String>,
    /// The message whose delivery carries this one.
    pub batch: Option<i64>,
}

/// Where a group's notifications to one destination stand ([`Tx::group_timing`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupTiming {
    /// When the group last delivered.
    pub last_delivery: Option<i64>,
    /// The delivery before that.
    pub delivery_before: Option<i64>,
    /// When a pending notification that no batch carries yet is due: a new one joins it.
    pub waiting: Option<i64>,
    /// When a first delivery under way (claimed, not yet attempted) was due. A batch being
    /// retried is not counted: a receiver that recovers gets new pages at once.
    pub in_flight: Option<i64>,
}

/// An on-call override: `user` covers `schedule` from `starts_at` to `ends_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub id: i64,
    pub schedule: String,
    pub user: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
}

/// A change to a service, as reported (a deploy, a config change, a flag).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub id: i64,
    pub service: String,
    pub customer: Option<String>,
    pub kind: ChangeKind,
    pub version: Option<String>,
    pub status: ChangeStatus,
    pub link: Option<String>,
    /// Stored as a JSON object of strings.
    pub labels: Labels,
    pub at: i64,
    pub commit_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
}

steward_model::words! {
    /// What a recorded change changed.
    pub enum ChangeKind {
        Deploy = "deploy",
        Config = "config",
        Flag = "flag",
    }
}

steward_model::words! {
    /// Where a recorded change stands.
    pub enum ChangeStatus {
        Started = "started",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

/// A column of words: a word this version does not know is corrupt.
pub(crate) fn word<T>(r: &Row, i: usize, parse: fn(&str) -> Option<T>, what: &str) -> Result<T> {
    let text = r.text(i)?;
    parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown {what} `{text}`")))
}

/// Labels as a column holds them: a JSON object of strings, keys in order.
pub(crate) fn encode_labels(labels: &Labels) -> String {
    serde_json::to_string(labels).expect("a map of strings always encodes")
}

/// A labels column; what is not a JSON object of strings is corrupt.
pub(crate) fn labels(r: &Row, i: usize) -> Result<Labels> {
    let text = r.text(i)?;
    serde_json::from_str(&text).map_err(|e| {
        StoreError::Corrupt(format!("labels `{text}` are not an object of strings: {e}"))
    })
}

const CHANGE_COLUMNS: &str = "id, service, customer, kind, version, status, link, labels, at, commit_at, created_by, created_at";

fn change(r: &Row) -> Result<Change> {
    Ok(Change {
        id: r.int(0)?,
        service: r.text(1)?,
        customer: r.opt_text(2)?,
        kind: word(r, 3, ChangeKind::parse, "change kind")?,
        version: r.opt_text(4)?,
        status: word(r, 5, ChangeStatus::parse, "change status")?,
        link: r.opt_text(6)?,
        labels: labels(r, 7)?,
        at: r.int(8)?,
        commit_at: r.opt_int(9)?,
        created_by: r.text(10)?,
        created_at: r.int(11)?,
    })
}

/// Notifications one delivery carries at most.
pub const MAX_BATCH: i64 = 1000;

/// A transaction, with Steward's operations on it.
pub struct Tx<'a> {
    pub(crate) db: &'a mut dyn Db,
}

pub(crate) const ALERT_COLUMNS: &str = "id, source, integration, dedup_key, service, customer, severity, summary, labels, details, status, opened_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, updated_at, events, suppressed, policy, expires_at, incident, urgency";

pub(crate) fn alert(r: &Row) -> Result<Alert> {
    Ok(Alert {
        id: r.int(0)?,
        source: r.text(1)?,
        integration: r.text(2)?,
        dedup_key: r.text(3)?,
        service: r.opt_text(4)?,
        customer: r.opt_text(5)?,
        severity: r.text(6)?,
        summary: r.text(7)?,
        labels: labels(r, 8)?,
        details: r.text(9)?,
        status: word(r, 10, AlertStatus::parse, "alert status")?,
        opened_at: r.int(11)?,
        acknowledged_at: r.opt_int(12)?,
        acknowledged_by: r.opt_text(13)?,
        resolved_at: r.opt_int(14)?,
        resolved_by: r.opt_text(15)?,
        updated_at: r.int(16)?,
        events: r.int(17)?,
        // A value this version cannot read (written by another) is judged again by the
        // worker's next pass rather than failing every read of the alert.
        suppressed: r
            .opt_text(18)?
            .map(|t| decode_suppression(&t).unwrap_or(Suppression::Unreadable { stored: t })),
        policy: r.opt_text(19)?,
        expires_at: r.opt_int(20)?,
        incident: r.opt_int(21)?,
        // Unknown: it pages (a page too many over a page too few).
        urgency: Severity::parse(&r.text(22)?).unwrap_or(Severity::Page),
    })
}

/// A suppression as stored: its kind and fields, separated by spaces (names have none).
pub(crate) fn encode_suppression(s: &Suppression) -> String {
    match s {
        Suppression::Silenced { silence } => format!("silence {silence}"),
        Suppression::Maintenance { window } => format!("maintenance {window}"),
        Suppression::Inhibited { alert, rule } => format!("rule {alert} {rule}"),
        Suppression::Dependency {
            alert,
            service,
            dependent,
        } => format!("dependency {alert} {service} {dependent}"),
        Suppression::Unreadable { stored } => stored.clone(),
    }
}

fn decode_suppression(text: &str) -> Result<Suppression> {
    let bad = || StoreError::Corrupt(format!("unknown suppression `{text}`"));
    let parts: Vec<&str> = text.split(' ').collect();
    let id = |s: &str| s.parse::<i64>().map_err(|_| bad());
    Ok(match parts.as_slice() {
        ["silence", n] => Suppression::Silenced { silence: id(n)? },
        ["maintenance", w] => Suppression::Maintenance {
            window: w.to_string(),
        },
        ["rule", n, rule] => Suppression::Inhibited {
            alert: id(n)?,
            rule: rule.to_string(),
        },
        ["dependency", n, service, dependent] => Suppression::Dependency {
            alert: id(n)?,
            service: service.to_string(),
            dependent: dependent.to_string(),
        },
        _ => return Err(bad()),
    })
}

const MESSAGE_COLUMNS: &str = "id, alert, service, customer, channel, destination, payload, idempotency_key, status, attempts, created_at, next_attempt_at, give_up_at, last_error, delivered_at, group_key, batch";

fn message(r: &Row) -> Result<Message> {
    let status = word(r, 8, MessageStatus::parse, "message status")?;
    Ok(Message {
        id: r.int(0)?,
        alert: r.opt_int(1)?,
        service: r.opt_text(2)?,
        customer: r.opt_text(3)?,
        channel: word(r, 4, Channel::parse, "channel")?,
        destination: r.text(5)?,
        payload: r.text(6)?,
        idempotency_key: r.text(7)?,
        status,
        attempts: r.int(9)?,
        created_at: r.int(10)?,
        next_attempt_at: r.int(11)?,
        give_up_at: r.int(12)?,
        last_error: r.opt_text(13)?,
        delivered_at: r.opt_int(14)?,
        group_key: r.opt_text(15)?,
        batch: r.opt_int(16)?,
    })
}

fn escalation(r: &Row) -> Result<Escalation> {
    Ok(Escalation {
        alert: r.int(0)?,
        policy: r.text(1)?,
        step: r.int(2)?,
        round: r.int(3)?,
        next_at: r.int(4)?,
        started_at: r.int(5)?,
    })
}

fn silence(r: &Row) -> Result<Silence> {
    Ok(Silence {
        id: r.int(0)?,
        matchers: r.text(1)?,
        starts_at: r.int(2)?,
        ends_at: r.int(3)?,
        created_by: r.text(4)?,
        comment: r.text(5)?,
        updated_at: r.int(6)?,
        integration: r.opt_text(7)?,
    })
}

impl Tx<'_> {
    // --- SLO conditions ---

    /// Records a condition's change and its new current state.
    pub fn record_transition(&mut self, t: &AlertTransition) -> Result<()> {
        let firing = Val::Int(t.firing.into());
        self.db.exec(
            "INSERT INTO slo_alert_events (slo, long_window, short_window, severity, firing, at, long_burn, short_burn, factor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[(&t.slo).into(), (&t.long_window).into(), (&t.short_window).into(), (&t.severity).into(), firing.clone(), t.at.into(), t.long_burn.into(), t.short_burn.into(), t.factor.into()],
        )?;
        self.db.exec(
            "INSERT INTO slo_alert_state (slo, long_window, short_window, severity, firing, since, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (slo, long_window, short_window) DO UPDATE SET
               severity = excluded.severity, firing = excluded.firing, since = excluded.since, updated_at = excluded.updated_at",
            &[(&t.slo).into(), (&t.long_window).into(), (&t.short_window).into(), (&t.severity).into(), firing, t.firing.then_some(t.at).into(), t.at.into()],
        )?;
        Ok(())
    }

    pub fn condition_states(&mut self) -> Result<Vec<AlertState>> {
        self.db
            .query(
                "SELECT slo, long_window, short_window, severity, firing, since FROM slo_alert_state ORDER BY slo, long_window, short_window",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(AlertState {
                    slo: r.text(0)?,
                    long_window: r.text(1)?,
                    short_window: r.text(2)?,
                    severity: r.text(3)?,
                    firing: r.int(4)? != 0,
                    since: r.opt_int(5)?,
                })
            })
            .collect()
    }

    /// The newest `limit` changes of one SLO's conditions, newest first.
    pub fn condition_events(&mut self, slo: &str, limit: u32) -> Result<Vec<AlertTransition>> {
        self.db
            .query(
                "SELECT slo, long_window, short_window, severity, firing, at, long_burn, short_burn, factor
                 FROM slo_alert_events WHERE slo = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
                &[slo.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(|r| {
                Ok(AlertTransition {
                    slo: r.text(0)?,
                    long_window: r.text(1)?,
                    short_window: r.text(2)?,
                    severity: r.text(3)?,
                    firing: r.int(4)? != 0,
                    at: r.int(5)?,
                    long_burn: r.real(6)?,
                    short_burn: r.real(7)?,
                    factor: r.real(8)?,
                })
            })
            .collect()
    }

    // --- alerts ---

    /// Opens an alert, or updates the open one with the same (integration, dedup key).
    pub fn trigger(&mut self, a: &NewAlert) -> Result<Triggered> {
        if let Some(open) = self.open_alert(&a.integration, &a.dedup_key)? {
            self.db.exec(
                "UPDATE alerts SET severity = ?2, summary = ?3, labels = ?4, details = ?5, updated_at = ?6, events = events + 1, expires_at = ?7, urgency = ?8 WHERE id = ?1",
                &[open.id.into(), (&a.severity).into(), (&a.summary).into(), encode_labels(&a.labels).into(), (&a.details).into(), a.at.into(), a.expires_at.into(), a.urgency.as_str().into()],
            )?;
            return Ok(Triggered::Repeated(
                self.alert_by_id(open.id)?,
                open.urgency,
            ));
        }
        let id = self
            .db
            .one(
                "INSERT INTO alerts (source, integration, dedup_key, service, customer, severity, summary, labels, details, status, opened_at, updated_at, events, expires_at, urgency)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'triggered', ?10, ?10, 1, ?11, ?12) RETURNING id",
                &[(&a.source).into(), (&a.integration).into(), (&a.dedup_key).into(), a.service.as_ref().into(), a.customer.as_ref().into(), (&a.severity).into(), (&a.summary).into(), encode_labels(&a.labels).into(), (&a.details).into(), a.at.into(), a.expires_at.into(), a.urgency.as_str().into()],
            )?
            .int(0)?;
        self.log(id, a.at, "triggered", &a.actor, &a.summary)?;
        Ok(Triggered::Opened(self.alert_by_id(id)?))
    }

    /// The open (triggered or acknowledged) alert with this key.
    pub fn open_alert(&mut self, integration: &str, dedup_key: &str) -> Result<Option<Alert>> {
        self.db
            .opt(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE integration = ?1 AND dedup_key = ?2 AND status <> 'resolved'"),
                &[integration.into(), dedup_key.into()],
            )?
            .map(|r| alert(&r))
            .transpose()
    }

    pub fn alert(&mut self, id: i64) -> Result<Option<Alert>> {
        self.db
            .opt(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
                &[id.into()],
            )?
            .map(|r| alert(&r))
            .transpose()
    }

    fn alert_by_id(&mut self, id: i64) -> Result<Alert> {
        self.alert(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("alert {id} vanished")))
    }

    /// Acknowledges a triggered alert and stops its escalation. An alert already
    /// acknowledged or resolved is returned unchanged; `None` if there is no such alert.
    pub fn acknowledge(&mut self, id: i64, actor: &str, at: i64) -> Result<Option<Alert>> {
        // Whoever acknowledges an incident's alert has the incident (and its other alerts).
        if self.ack_alert(id, actor, at)? {
            if let Some(incident) = self.incident_of_alert(id)? {
                self.move_incident(incident, crate::IncidentStatus::Acknowledged, actor, at)?;
            }
        }
        self.alert(id)
    }

    /// Acknowledges one triggered alert and stops its escalation; whether it was triggered.
    pub(crate) fn ack_alert(&mut self, id: i64, actor: &str, at: i64) -> Result<bool> {
        let changed = self.db.exec(
            "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?2, acknowledged_by = ?3, updated_at = ?2 WHERE id = ?1 AND status = 'triggered'",
            &[id.into(), at.into(), actor.into()],
        )?;
        if changed > 0 {
            self.log(id, at, "acknowledged", actor, "")?;
            self.stop_escalation(id)?;
        }
        Ok(changed > 0)
    }

    /// Resolves an open alert and stops its escalation; its key opens a new alert from now on.
    pub fn resolve(&mut self, id: i64, actor: &str, at: i64) -> Result<Option<Alert>> {
        let changed = self.db.exec(
            "UPDATE alerts SET status = 'resolved', resolved_at = ?2, resolved_by = ?3, updated_at = ?2 WHERE id = ?1 AND status <> 'resolved'",
            &[id.into(), at.into(), actor.into()],
        )?;
        if changed > 0 {
            self.log(id, at, "resolved", actor, "")?;
            self.stop_escalation(id)?;
        }
        self.alert(id)
    }

    /// Records why an alert notifies no one (`None`: it notifies again).
    pub fn set_suppressed(&mut self, id: i64, why: Option<&Suppression>) -> Result<()> {
        self.db.exec(
            "UPDATE alerts SET suppressed = ?2 WHERE id = ?1",
            &[id.into(), why.map(encode_suppression).into()],
        )?;
        Ok(())
    }

    pub fn set_policy(&mut self, id: i64, policy: Option<&str>) -> Result<()> {
        self.db.exec(
            "UPDATE alerts SET policy = ?2 WHERE id = ?1",
            &[id.into(), policy.into()],
        )?;
        Ok(())
    }

    /// Adds an entry to an alert's history.
    pub fn log(
        &mut self,
        alert: i64,
        at: i64,
        kind: &str,
        actor: &str,
        detail: &str,
    ) -> Result<()> {
        self.db.exec(
            "INSERT INTO alert_log (alert, at, kind, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                alert.into(),
                at.into(),
                kind.into(),
                actor.into(),
                detail.into(),
            ],
        )?;
        Ok(())
    }

    pub fn history(&mut self, alert: i64) -> Result<Vec<LogEntry>> {
        self.db
            .query(
                "SELECT at, kind, actor, detail FROM alert_log WHERE alert = ?1 ORDER BY id",
                &[alert.into()],
            )?
            .iter()
            .map(|r| {
                Ok(LogEntry {
                    at: r.int(0)?,
                    kind: r.text(1)?,
                    actor: r.text(2)?,
                    detail: r.text(3)?,
                })
            })
            .collect()
    }

    /// Alerts, newest first.
    pub fn alerts(&mut self, f: &AlertFilter) -> Result<Vec<Alert>> {
        let mut sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1");
        let mut params: Vec<Val> = Vec::new();
        if let Some(s) = f.status {
            params.push(s.as_str().into());
            sql.push_str(&format!(" AND status = ?{}", params.len()));
        }
        if f.unresolved {
            sql.push_str(" AND status <> 'resolved'");
        }
        if let Some(s) = &f.service {
            params.push(s.into());
            sql.push_str(&format!(" AND service = ?{}", params.len()));
        }
        if let Some(s) = &f.source {
            params.push(s.into());
            sql.push_str(&format!(" AND source = ?{}", params.len()));
        }
        if let Some(c) = &f.customer {
            params.push(c.into());
            sql.push_str(&format!(" AND customer = ?{}", params.len()));
        }
        params.push(i64::from(f.limit.unwrap_or(1000)).into());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", params.len()));
        self.db.query(&sql, &params)?.iter().map(alert).collect()
    }

    /// Open alerts of these services that notify (not suppressed), oldest first.
    pub fn first_open_page_of(
        &mut self,
        services: &[String],
        except: i64,
    ) -> Result<Option<Alert>> {
        if services.is_empty() {
            return Ok(None);
        }
        let marks: Vec<String> = (2..services.len() + 2).map(|i| format!("?{i}")).collect();
        let mut params: Vec<Val> = vec![except.into()];
        params.extend(services.iter().map(Val::from));
        self.db
            .query(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE status <> 'resolved' AND suppressed IS NULL AND urgency <> 'ticket' AND id <> ?1 AND (incident IS NULL OR incident NOT IN (SELECT id FROM incidents WHERE status = 'resolved')) AND service IN ({}) ORDER BY id LIMIT 1", marks.join(", ")),
                &params,
            )?
            .iter()
            .map(alert)
            .next()
            .transpose()
    }

    /// Open alerts whose expiry time has passed.
    pub fn expired_alerts(&mut self, now: i64, limit: u32) -> Result<Vec<i64>> {
        self.db
            .query(
                "SELECT id FROM alerts WHERE expires_at <= ?1 AND status <> 'resolved' ORDER BY id LIMIT ?2",
                &[now.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(|r| r.int(0))
            .collect()
    }

    /// Open pages (triggered or acknowledged), oldest first.
    pub fn open_pages(&mut self, limit: u32) -> Result<Vec<Alert>> {
        self.db
            .query(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE status <> 'resolved' AND urgency <> 'ticket' ORDER BY id LIMIT ?1"),
                &[i64::from(limit).into()],
            )?
            .iter()
            .map(alert)
            .collect()
    }

    // --- silences ---

    /// Stores a new silence; its id.
    pub fn add_silence(&mut self, s: &Silence) -> Result<i64> {
        self.db
            .one(
                "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment, updated_at, integration) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                &[(&s.matchers).into(), s.starts_at.into(), s.ends_at.into(), (&s.created_by).into(), (&s.comment).into(), s.updated_at.into(), s.integration.as_ref().into()],
            )?
            .int(0)
    }

    /// Replaces a silence; false when there is no such silence.
    pub fn update_silence(&mut self, s: &Silence) -> Result<bool> {
        Ok(self.db.exec(
            "UPDATE silences SET matchers = ?2, starts_at = ?3, ends_at = ?4, created_by = ?5, comment = ?6, updated_at = ?7 WHERE id = ?1 AND integration IS NOT DISTINCT FROM ?8",
            &[s.id.into(), (&s.matchers).into(), s.starts_at.into(), s.ends_at.into(), (&s.created_by).into(), (&s.comment).into(), s.updated_at.into(), s.integration.as_ref().into()],
        )? > 0)
    }

    /// Ends a silence at `at` (a silence that has not started ends when it would start);
    /// false when there is no such silence.
    pub fn expire_silence(&mut self, id: i64, at: i64) -> Result<bool> {
        Ok(self.db.exec(
            "UPDATE silences SET ends_at = CASE WHEN starts_at > ?2 THEN starts_at WHEN ends_at > ?2 THEN ?2 ELSE ends_at END, updated_at = ?2 WHERE id = ?1",
            &[id.into(), at.into()],
        )? > 0)
    }

    pub fn silences(&mut self) -> Result<Vec<Silence>> {
        self.db
            .query(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at, integration FROM silences ORDER BY id",
                &[],
            )?
            .iter()
            .map(silence)
            .collect()
    }

    /// Silences that have not ended by `now` (active or pending).
    pub fn live_silences(&mut self, now: i64) -> Result<Vec<Silence>> {
        self.db
            .query(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at, integration FROM silences WHERE ends_at > ?1 ORDER BY id",
                &[now.into()],
            )?
            .iter()
            .map(silence)
            .collect()
    }

    /// Forgets silences that ended before `before`; how many.
    pub fn forget_silences(&mut self, before: i64) -> Result<u64> {
        self.db
            .exec("DELETE FROM silences WHERE ends_at < ?1", &[before.into()])
    }

    pub fn silence(&mut self, id: i64) -> Result<Option<Silence>> {
        self.db
            .opt(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at, integration FROM silences WHERE id = ?1",
                &[id.into()],
            )?
            .map(|r| silence(&r))
            .transpose()
    }

    // --- escalations ---

    /// Starts (or restarts) an alert's escalation at step 0 of round 0.
    pub fn start_escalation(&mut self, alert: i64, policy: &str, at: i64) -> Result<()> {
        self.db.exec(
            "INSERT INTO escalations (alert, policy, step, round, next_at, started_at) VALUES (?1, ?2, 0, 0, ?3, ?3)
             ON CONFLICT (alert) DO UPDATE SET policy = excluded.policy, step = 0, round = 0, next_at = excluded.next_at, started_at = excluded.started_at",
            &[alert.into(), policy.into(), at.into()],
        )?;
        Ok(())
    }

    /// Escalations whose next step is due at `now`, the earliest first.
    pub fn due_escalations(&mut self, now: i64, limit: u32) -> Result<Vec<Escalation>> {
        self.db
            .query(
                "SELECT alert, policy, step, round, next_at, started_at FROM escalations WHERE next_at <= ?1 ORDER BY next_at, alert LIMIT ?2",
                &[now.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(escalation)
            .collect()
    }

    pub fn escalation(&mut self, alert: i64) -> Result<Option<Escalation>> {
        self.db
            .opt(
                "SELECT alert, policy, step, round, next_at, started_at FROM escalations WHERE alert = ?1",
                &[alert.into()],
            )?
            .map(|r| escalation(&r))
            .transpose()
    }

    /// Moves an escalation to its next step.
    pub fn set_escalation(&mut self, e: &Escalation) -> Result<()> {
        self.db.exec(
            "UPDATE escalations SET step = ?2, round = ?3, next_at = ?4 WHERE alert = ?1",
            &[
                e.alert.into(),
                e.step.into(),
                e.round.into(),
                e.next_at.into(),
            ],
        )?;
        Ok(())
    }

    pub fn stop_escalation(&mut self, alert: i64) -> Result<()> {
        self.db
            .exec("DELETE FROM escalations WHERE alert = ?1", &[alert.into()])?;
        Ok(())
    }

    // --- the outbox ---

    /// Queues a notification; `None` when its idempotency key was queued before.
    pub fn queue(&mut self, m: &NewMessage) -> Result<Option<i64>> {
        self.db
            .opt(
                "INSERT INTO outbox (alert, service, customer, channel, destination, payload, idempotency_key, status, attempts, created_at, next_attempt_at, give_up_at, created_by, group_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                &[m.alert.into(), m.service.as_ref().into(), m.customer.as_ref().into(), m.channel.as_str().into(), (&m.destination).into(), (&m.payload).into(), (&m.idempotency_key).into(), m.at.into(), m.due_at.into(), m.give_up_at.into(), (&m.created_by).into(), m.group_key.as_ref().into()],
            )?
            .map(|r| r.int(0))
            .transpose()
    }

    /// When a message of this group was last delivered to this destination.
    /// Where a group's notifications to a destination stand: its last two delivery times
    /// and when a pending notification no batch carries yet is due.
    pub fn group_timing(&mut self, destination: &str, group_key: &str) -> Result<GroupTiming> {
        let delivered = self
            .db
            .query(
                "SELECT DISTINCT delivered_at FROM outbox WHERE destination = ?1 AND group_key = ?2 AND status = 'delivered' ORDER BY delivered_at DESC LIMIT 2",
                &[destination.into(), group_key.into()],
            )?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<Vec<i64>>>()?;
        let waiting = self
            .db
            .one(
                "SELECT min(next_attempt_at) FROM outbox WHERE destination = ?1 AND group_key = ?2 AND status = 'pending' AND batch IS NULL",
                &[destination.into(), group_key.into()],
            )?
            .opt_int(0)?;
        let in_flight = self
            .db
            .one(
                "SELECT min(next_attempt_at) FROM outbox WHERE destination = ?1 AND group_key = ?2 AND status = 'pending' AND batch IS NOT NULL AND attempts = 0",
                &[destination.into(), group_key.into()],
            )?
            .opt_int(0)?;
        Ok(GroupTiming {
            last_delivery: delivered.first().copied(),
            delivery_before: delivered.get(1).copied(),
            waiting,
            in_flight,
        })
    }

    /// Makes `leader` carry every pending message of its group that no batch carries yet;
    /// the batch, the leader first.
    pub fn claim_batch(&mut self, leader: &Message) -> Result<Vec<Message>> {
        self.db.exec(
            "UPDATE outbox SET batch = ?1 WHERE (id = ?1 AND status = 'pending') OR id IN (SELECT id FROM outbox WHERE status = 'pending' AND batch IS NULL AND destination = ?2 AND group_key = ?3 ORDER BY id LIMIT ?4)",
            &[leader.id.into(), (&leader.destination).into(), leader.group_key.as_ref().into(), (MAX_BATCH - 1).into()],
        )?;
        self.db
            .query(
                &format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE batch = ?1 AND status = 'pending' ORDER BY id = ?1 DESC, id"),
                &[leader.id.into()],
            )?
            .iter()
            .map(message)
            .collect()
    }

    /// Moves a batch from one leader to another (the first leader was left out).
    pub fn relead(&mut self, from: i64, to: i64) -> Result<()> {
        self.db.exec(
            "UPDATE outbox SET batch = ?2 WHERE batch = ?1 AND status = 'pending'",
            &[from.into(), to.into()],
        )?;
        Ok(())
    }

    /// Takes a pending message out of the batch that claimed it: the next delivery of its
    /// group carries it.
    pub fn unbatch(&mut self, id: i64) -> Result<()> {
        self.db.exec(
            "UPDATE outbox SET batch = NULL WHERE id = ?1 AND status = 'pending'",
            &[id.into()],
        )?;
        Ok(())
    }

    /// A message that will not be sent (its alert no longer needs anyone).
    pub fn skip(&mut self, id: i64) -> Result<()> {
        self.db.exec(
            "UPDATE outbox SET status = 'skipped', batch = NULL WHERE id = ?1",
            &[id.into()],
        )?;
        Ok(())
    }

    /// Pending messages due at `now` that lead their delivery: the oldest of each
    /// destination (a destination takes one delivery at a time, so a backlog for one never
    /// hides another's), the earliest due first.
    pub fn due_messages(&mut self, now: i64, limit: u32) -> Result<Vec<Message>> {
        self.db
            .query(
                &format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id IN (SELECT min(id) FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?1 AND (batch IS NULL OR batch = id) GROUP BY destination) ORDER BY next_attempt_at, id LIMIT ?2"),
                &[now.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(message)
            .collect()
    }

    /// The messages a delivery carries, the leader first.
    pub fn batch(&mut self, leader: i64) -> Result<Vec<Message>> {
        self.db
            .query(
                &format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = ?1 OR batch = ?1 ORDER BY id = ?1 DESC, id"),
                &[leader.into()],
            )?
            .iter()
            .map(message)
            .collect()
    }

    /// The earliest time a pending message is due, if any is pending.
    pub fn next_message_at(&mut self) -> Result<Option<i64>> {
        self.db
            .one(
                "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'",
                &[],
            )?
            .opt_int(0)
    }

    pub fn message(&mut self, id: i64) -> Result<Option<Message>> {
        self.db
            .opt(
                &format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = ?1"),
                &[id.into()],
            )?
            .map(|r| message(&r))
            .transpose()
    }

    /// Messages of an alert, oldest first.
    pub fn messages_of(&mut self, alert: i64) -> Result<Vec<Message>> {
        self.db
            .query(
                &format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE alert = ?1 ORDER BY id"),
                &[alert.into()],
            )?
            .iter()
            .map(message)
            .collect()
    }

    pub fn delivered(&mut self, id: i64, attempts: i64, at: i64) -> Result<()> {
        self.db.exec(
            "UPDATE outbox SET status = 'delivered', attempts = ?2, delivered_at = ?3, last_error = NULL WHERE (id = ?1 OR batch = ?1) AND status = 'pending'",
            &[id.into(), attempts.into(), at.into()],
        )?;
        Ok(())
    }

    /// A failed attempt: try again at `next_at`.
    pub fn retry_later(&mut self, id: i64, attempts: i64, next_at: i64, error: &str) -> Result<()> {
        self.db.exec(
            "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE (id = ?1 OR batch = ?1) AND status = 'pending'",
            &[id.into(), attempts.into(), next_at.into(), error.into()],
        )?;
        Ok(())
    }

    /// A message that was given up on: it moves to the dead letters.
    pub fn dead(&mut self, id: i64, attempts: i64, error: &str) -> Result<()> {
        self.db.exec(
            "UPDATE outbox SET status = 'dead', attempts = ?2, last_error = ?3 WHERE (id = ?1 OR batch = ?1) AND status = 'pending'",
            &[id.into(), attempts.into(), error.into()],
        )?;
        Ok(())
    }

    /// Dead letters (each delivery once: the message that led it), newest first.
    pub fn dead_letters(&mut self, limit: u32) -> Result<Vec<Message>> {
        self.db
            .query(
                &format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE status = 'dead' AND (batch IS NULL OR batch = id) ORDER BY id DESC LIMIT ?1"),
                &[i64::from(limit).into()],
            )?
            .iter()
            .map(message)
            .collect()
    }

    /// Sends a dead letter again from `now` (with the notifications its delivery carried),
    /// with the same idempotency key, until `give_up_at`; false when it is not a dead letter
    /// that led its delivery.
    pub fn requeue(&mut self, id: i64, now: i64, give_up_at: i64) -> Result<bool> {
        Ok(self.db.exec(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?2, give_up_at = ?3 WHERE (id = ?1 OR batch = ?1) AND status = 'dead' AND EXISTS (SELECT 1 FROM outbox l WHERE l.id = ?1 AND (l.batch IS NULL OR l.batch = l.id))",
            &[id.into(), now.into(), give_up_at.into()],
        )? > 0)
    }

    // --- on-call overrides ---

    pub fn add_override(&mut self, o: &Override, at: i64) -> Result<i64> {
        self.db
            .one(
                "INSERT INTO oncall_overrides (schedule, user_name, starts_at, ends_at, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                &[(&o.schedule).into(), (&o.user).into(), o.starts_at.into(), o.ends_at.into(), (&o.created_by).into(), at.into()],
            )?
            .int(0)
    }

    pub fn delete_override(&mut self, id: i64) -> Result<bool> {
        Ok(self
            .db
            .exec("DELETE FROM oncall_overrides WHERE id = ?1", &[id.into()])?
            > 0)
    }

    /// Every override that overlaps [from, to), in the order they were made.
    pub fn overrides(&mut self, from: i64, to: i64) -> Result<Vec<Override>> {
        self.db
            .query(
                "SELECT id, schedule, user_name, starts_at, ends_at, created_by FROM oncall_overrides WHERE ends_at > ?1 AND starts_at < ?2 ORDER BY id",
                &[from.into(), to.into()],
            )?
            .iter()
            .map(|r| {
                Ok(Override {
                    id: r.int(0)?,
                    schedule: r.text(1)?,
                    user: r.text(2)?,
                    starts_at: r.int(3)?,
                    ends_at: r.int(4)?,
                    created_by: r.text(5)?,
                })
            })
            .collect()
    }

    // --- changes ---

    /// Records a change (its `id` is ignored); the stored change.
    pub fn add_change(&mut self, c: &Change) -> Result<Change> {
        let id = self
            .db
            .one(
                "INSERT INTO changes (service, customer, kind, version, status, link, labels, at, commit_at, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
                &[(&c.service).into(), c.customer.as_ref().into(), c.kind.as_str().into(), c.version.as_ref().into(), c.status.as_str().into(), c.link.as_ref().into(), encode_labels(&c.labels).into(), c.at.into(), c.commit_at.into(), (&c.created_by).into(), c.created_at.into()],
            )?
            .int(0)?;
        Ok(Change { id, ..c.clone() })
    }

    /// A service's changes (every service's when `None`) in [from, to), newest first.
    pub fn changes(
        &mut self,
        service: Option<&str>,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<Change>> {
        self.changes_of(service, None, from, to, limit)
    }

    /// [`Tx::changes`] of one customer's services only, when `customer` is given.
    pub fn changes_of(
        &mut self,
        service: Option<&str>,
        customer: Option<&str>,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<Change>> {
        let mut params: Vec<Val> = vec![from.into(), to.into(), i64::from(limit).into()];
        let mut sql = format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE at >= ?1 AND at < ?2");
        if let Some(s) = service {
            params.push(s.into());
            sql.push_str(&format!(" AND service = ?{}", params.len()));
        }
        if let Some(c) = customer {
            params.push(c.into());
            sql.push_str(&format!(" AND customer = ?{}", params.len()));
        }
        sql.push_str(" ORDER BY at DESC, id DESC LIMIT ?3");
        self.db.query(&sql, &params)?.iter().map(change).collect()
    }

    // --- heartbeats ---

    pub fn beat(&mut self, integration: &str, at: i64) -> Result<()> {
        self.db.exec(
            "INSERT INTO heartbeats (integration, last_at) VALUES (?1, ?2)
             ON CONFLICT (integration) DO UPDATE SET last_at = excluded.last_at",
            &[integration.into(), at.into()],
        )?;
        Ok(())
    }

    /// One heartbeat's last ping.
    pub fn heartbeat(&mut self, integration: &str) -> Result<Option<i64>> {
        self.db
            .query(
                "SELECT last_at FROM heartbeats WHERE integration = ?1",
                &[integration.into()],
            )?
            .first()
            .map(|r| r.int(0))
            .transpose()
    }

    /// Every heartbeat's last ping.
    pub fn heartbeats(&mut self) -> Result<Vec<(String, i64)>> {
        self.db
            .query(
                "SELECT integration, last_at FROM heartbeats ORDER BY integration",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.int(1)?)))
            .collect()
    }
}
