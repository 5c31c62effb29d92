//! Incidents: declared by people or opened by a service's pages, moved on by people (and by
//! acknowledging their alerts), with a timeline that joins the incident's own record to what
//! its alerts, their notifications and the changes around it say.

use super::{AlertError, Alerting};
use serde_json::{json, Value};
use std::sync::Arc;
use steward_store::{
    Alert, Change, Incident, IncidentStatus, MessageStatus, Moved, NewIncident, Role, StoreError,
    Tx,
};

/// Changes this long before an incident started are on its timeline: the usual suspects.
pub const CHANGES_BEFORE: i64 = 3600;

/// The incident severities, worst first.
pub const SEVERITIES: [&str; 4] = ["SEV1", "SEV2", "SEV3", "SEV4"];

/// One line of an incident's timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub at: i64,
    pub kind: String,
    pub summary: String,
    pub actor: Option<String>,
    pub details: Value,
}

/// How long each stage took, in seconds: detection from when the impact started, the rest
/// from when the incident started (declared, or its first alert opened).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Durations {
    pub time_to_detect: Option<i64>,
    pub time_to_acknowledge: Option<i64>,
    pub time_to_mitigate: Option<i64>,
    pub time_to_resolve: Option<i64>,
}

impl Durations {
    pub fn of(i: &Incident) -> Durations {
        let since = |t: Option<i64>| t.map(|t| (t - i.started_at).max(0));
        Durations {
            time_to_detect: i.impact_started_at.map(|t| (i.started_at - t).max(0)),
            time_to_acknowledge: since(i.acknowledged_at),
            time_to_mitigate: since(i.mitigated_at),
            time_to_resolve: since(i.resolved_at),
        }
    }
}

/// An incident with everything shown about it.
#[derive(Clone, Debug)]
pub struct IncidentView {
    pub incident: Incident,
    pub roles: Vec<Role>,
    pub alerts: Vec<Alert>,
    pub timeline: Vec<Entry>,
    pub durations: Durations,
}

impl Alerting {
    /// Opens an incident by hand.
    pub fn declare(
        self: &Arc<Self>,
        title: String,
        severity: String,
        service: String,
        impact_started_at: Option<i64>,
        actor: String,
        now: i64,
    ) -> Result<Incident, AlertError> {
        let Some(s) = self.catalog.service(&service) else {
            return Err(AlertError::Invalid(format!(
                "service `{service}` is not in the catalog"
            )));
        };
        let n = NewIncident {
            title,
            severity,
            service,
            customer: s.customer.clone(),
            started_at: now,
            declared_at: now,
            impact_started_at,
            actor,
        };
        let summary = format!("declared by {}: {}", n.actor, n.title);
        Ok(self
            .store
            .transact(move |tx| tx.declare_incident(&n, &summary))?)
    }

    /// Moves an incident on. Repeating a move changes nothing; moving back is refused.
    pub fn move_incident(
        self: &Arc<Self>,
        id: i64,
        to: IncidentStatus,
        actor: String,
        now: i64,
    ) -> Result<Incident, AlertError> {
        let moved = self
            .store
            .transact(move |tx| tx.move_incident(id, to, &actor, now))?;
        // Acknowledging stops its alerts' escalations: the worker looks again.
        self.wake();
        match moved {
            None => Err(AlertError::NotFound(format!("there is no incident {id}"))),
            Some(Moved::Moved(i)) => Ok(i),
            Some(Moved::Already(i)) if i.status == to => Ok(i),
            Some(Moved::Already(i)) => Err(AlertError::Conflict(format!(
                "incident {id} is already {}; it cannot become {} again",
                i.status.as_str(),
                to.as_str()
            ))),
        }
    }

    /// Records something people said: a note, or a status update for those affected.
    pub fn incident_note(
        self: &Arc<Self>,
        id: i64,
        kind: &'static str,
        text: String,
        actor: String,
        now: i64,
    ) -> Result<(), AlertError> {
        self.with_incident(id, move |tx| {
            tx.incident_event(id, now, kind, &text, &actor, "{}")
        })
    }

    /// Gives a role (incident commander, communications lead, or any other) to a person.
    pub fn set_role(
        self: &Arc<Self>,
        id: i64,
        role: String,
        person: String,
        actor: String,
        now: i64,
    ) -> Result<(), AlertError> {
        if self.catalog.user(&person).is_none() {
            return Err(AlertError::Invalid(format!(
                "`{person}` is not a user of the catalog"
            )));
        }
        self.with_incident(id, move |tx| tx.set_role(id, &role, &person, &actor, now))
    }

    /// Changes an incident's title, severity or impact start.
    pub fn edit_incident(
        self: &Arc<Self>,
        id: i64,
        title: Option<String>,
        severity: Option<String>,
        impact_started_at: Option<i64>,
        actor: String,
        now: i64,
    ) -> Result<Incident, AlertError> {
        if let Some(t) = impact_started_at {
            let i = self
                .store
                .transact(move |tx| tx.incident(id))?
                .ok_or_else(|| AlertError::NotFound(format!("there is no incident {id}")))?;
            if t > i.started_at {
                return Err(AlertError::Invalid(format!(
                    "impact_started must be at or before the incident started ({})",
                    jiff::Timestamp::from_second(i.started_at)
                        .map_or_else(|_| i.started_at.to_string(), |ts| ts.to_string())
                )));
            }
        }
        self.store
            .transact(move |tx| {
                tx.edit_incident(
                    id,
                    title.as_deref(),
                    severity.as_deref(),
                    impact_started_at,
                    &actor,
                    now,
                )
            })?
            .ok_or_else(|| AlertError::NotFound(format!("there is no incident {id}")))
    }

    fn with_incident(
        self: &Arc<Self>,
        id: i64,
        f: impl FnOnce(&mut Tx<'_>) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), AlertError> {
        let found = self.store.transact(move |tx| {
            if tx.incident(id)?.is_none() {
                return Ok(false);
            }
            f(tx)?;
            Ok(true)
        })?;
        found
            .then_some(())
            .ok_or_else(|| AlertError::NotFound(format!("there is no incident {id}")))
    }

    /// An incident, its roles, alerts, timeline and derived times.
    pub fn incident_view(self: &Arc<Self>, id: i64, now: i64) -> Result<IncidentView, AlertError> {
        let me = self.clone();
        self.store
            .transact(move |tx| {
                let Some(incident) = tx.incident(id)? else {
                    return Ok(None);
                };
                let roles = tx.roles(id)?;
                let alerts = tx.alerts_of_incident(id)?;
                let timeline = me.timeline(tx, &incident, &alerts, now)?;
                let durations = Durations::of(&incident);
                Ok(Some(IncidentView {
                    incident,
                    roles,
                    alerts,
                    timeline,
                    durations,
                }))
            })?
            .ok_or_else(|| AlertError::NotFound(format!("there is no incident {id}")))
    }

    /// The incident's own record, its alerts' histories, their notifications as delivered or
    /// given up, and the changes to its service and what that depends on from an hour before
    /// it started until it ended: oldest first.
    fn timeline(
        &self,
        tx: &mut Tx<'_>,
        i: &Incident,
        alerts: &[Alert],
        now: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut out: Vec<Entry> = tx
            .incident_events(i.id)?
            .into_iter()
            .map(|e| Entry {
                at: e.at,
                kind: e.kind,
                summary: e.summary,
                actor: Some(e.actor),
                details: serde_json::from_str(&e.details).unwrap_or_else(|_| json!({})),
            })
            .collect();
        for a in alerts {
            for h in tx.history(a.id)? {
                let detail = if h.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", h.detail)
                };
                out.push(Entry {
                    at: h.at,
                    kind: format!("alert_{}", h.kind),
                    summary: format!("alert {} {}{detail}", a.id, h.kind.replace('_', " ")),
                    actor: Some(h.actor),
                    details: json!({ "alert": a.id }),
                });
            }
            for m in tx.messages_of(a.id)? {
                let (kind, at, what) = match (m.status, m.delivered_at) {
                    (MessageStatus::Delivered, Some(t)) => ("notification", t, "notified"),
                    (MessageStatus::Dead, _) => {
                        ("notification_failed", m.next_attempt_at, "could not notify")
                    }
                    _ => continue,
                };
                out.push(Entry {
                    at,
                    kind: kind.into(),
                    summary: format!(
                        "{what} {} by {} about alert {}",
                        redact(&m.destination),
                        m.channel,
                        a.id
                    ),
                    actor: Some("steward".into()),
                    details: json!({ "alert": a.id, "message": m.id }),
                });
            }
        }
        let mut services = vec![i.service.clone()];
        services.extend(
            self.dependencies
                .get(&i.service)
                .cloned()
                .unwrap_or_default(),
        );
        let until = i.resolved_at.unwrap_or(now) + 1;
        let from = i
            .impact_started_at
            .unwrap_or(i.started_at)
            .min(i.started_at)
            - CHANGES_BEFORE;
        for s in &services {
            for c in tx.changes(Some(s), from, until, 100)? {
                out.push(change_entry(&c, i.started_at));
            }
        }
        out.sort_by_key(|e| e.at);
        Ok(out)
    }

    /// Joins a page to its service's open incident, or opens one, when the service asks
    /// for incidents. When the incident is already acknowledged, the person who has it (its
    /// commander, else whoever acknowledged it): nobody else acknowledges a page in their
    /// name, and they hear of it first.
    pub(super) fn auto_incident(
        &self,
        tx: &mut Tx<'_>,
        a: &Alert,
        now: i64,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let Some(service) = a.service.as_deref().and_then(|s| self.catalog.service(s)) else {
            return Ok(None);
        };
        let Some(severity) = &service.auto_incident else {
            return Ok(None);
        };
        let incident = match tx.open_incident_of(&service.name)? {
            Some(i) => i,
            None => tx.declare_incident(
                &NewIncident {
                    title: a.summary.chars().take(200).collect(),
                    severity: severity.clone(),
                    service: service.name.clone(),
                    customer: service.customer.clone(),
                    started_at: a.opened_at.min(now),
                    declared_at: now,
                    impact_started_at: None,
                    actor: "steward".into(),
                },
                &format!("opened by alert {}, a page of {}", a.id, service.name),
            )?,
        };
        tx.join_incident(incident.id, a, now)?;
        if incident.status < IncidentStatus::Acknowledged {
            return Ok(None);
        }
        let commander = tx
            .roles(incident.id)?
            .into_iter()
            .rev()
            .find(|r| r.role == "commander")
            .map(|r| r.person);
        let acknowledger = incident
            .acknowledged_by
            .as_deref()
            .and_then(|by| by.strip_prefix("user:"))
            .map(str::to_string);
        Ok(commander
            .or(acknowledger)
            .filter(|p| self.catalog.user(p).is_some())
            .map(|p| (incident.id, p)))
    }
}

/// Where a notification went, without what makes the address a secret: a URL's path and
/// query (Slack and Teams hooks carry their token there) are left out.
pub fn redact(destination: &str) -> String {
    match destination.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}/…")
        }
        None => destination.to_string(),
    }
}

#[cfg(test)]
mod redact_tests {
    use super::*;

    #[test]
    fn urls_keep_their_scheme_and_host_only() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/s3cr3t"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact("https://user:pw@example.com:8443/x?k=1"),
            "https://example.com:8443/…"
        );
        assert_eq!(
            redact_urls(
                "POST https://hooks.example.com/h/s3cr3t: connection refused (http://a.b/c)"
            ),
            // (a URL runs to the next space: the colon after it goes with it)
            "POST https://hooks.example.com/… connection refused (http://a.b/…)"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
    }
}

/// `text` with every URL in it shortened to its scheme and host (an error that names the
/// webhook it could not reach names its host only).
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let at = [rest.find("http://"), rest.find("https://")]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = at else { break };
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')'))
            .map_or(rest.len(), |e| at + e);
        out.push_str(&redact(&rest[at..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn change_entry(c: &Change, started: i64) -> Entry {
    let when = match started - c.at {
        d if d >= 60 => format!(" ({} min before the start)", d / 60),
        d if d > 0 => format!(" ({d}s before the start)"),
        _ => String::new(),
    };
    Entry {
        at: c.at,
        kind: "change".into(),
        summary: format!(
            "{} of {} {} {}{when}",
            c.kind,
            c.service,
            c.version.as_deref().unwrap_or("(no version)"),
            c.status
        ),
        actor: Some(c.created_by.clone()),
        details: json!({ "change": c.id, "link": c.link, "service": c.service }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn notification_destinations_on_a_timeline_keep_no_token() {
        assert_eq!(
            super::redact("https://hooks.slack.com/services/T0/B0/secret?x=1"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            super::redact("http://user:pw@127.0.0.1:9/ann"),
            "http://127.0.0.1:9/…"
        );
        assert_eq!(super::redact("ann@example.com"), "ann@example.com");
    }
}
