//! Incidents, their timeline entries, roles and action items: typed operations on a
//! transaction, written once for both backends.

use crate::alerts::{alert, Alert, ALERT_COLUMNS};
use crate::sql::Row;
use crate::{Result, StoreError, Tx};

steward_model::words! {
    /// An incident's place in its lifecycle; it only moves forward.
    #[derive(PartialOrd, Ord)]
    pub enum IncidentStatus {
        Triggered = "triggered",
        Acknowledged = "acknowledged",
        Mitigated = "mitigated",
        Resolved = "resolved",
    }
}

/// An incident as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    /// SEV1 … SEV4
    pub severity: String,
    pub service: String,
    pub customer: Option<String>,
    pub status: IncidentStatus,
    /// When it was declared, or when its first alert opened.
    pub started_at: i64,
    /// When users began to feel it, as people set it (often before anything alerted).
    pub impact_started_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub mitigated_at: Option<i64>,
    pub mitigated_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub created_by: String,
    pub updated_at: i64,
}

/// What a new incident says.
#[derive(Clone, Debug, PartialEq)]
pub struct NewIncident {
    pub title: String,
    pub severity: String,
    pub service: String,
    pub customer: Option<String>,
    /// When it started: declared, or when its first alert opened.
    pub started_at: i64,
    /// When it was declared (its timeline's first entry).
    pub declared_at: i64,
    pub impact_started_at: Option<i64>,
    pub actor: String,
}

/// One entry of an incident's own record.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentEvent {
    pub id: i64,
    pub incident: i64,
    pub at: i64,
    pub kind: String,
    pub summary: String,
    pub actor: String,
    /// A JSON object.
    pub details: String,
}

/// Who holds a role in an incident.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub role: String,
    pub person: String,
    pub assigned_at: i64,
    pub assigned_by: String,
}

/// A follow-up from an incident's postmortem.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionItem {
    pub id: i64,
    pub incident: i64,
    pub title: String,
    pub owner: String,
    pub due_at: Option<i64>,
    /// open | closed
    pub status: String,
    /// How the fix was verified: required to close.
    pub verified: Option<String>,
    pub created_at: i64,
    pub created_by: String,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

/// What moving an incident's status did.
#[derive(Clone, Debug, PartialEq)]
pub enum Moved {
    /// It moved; the incident as it is now.
    Moved(Incident),
    /// It was already there or further on: nothing changed.
    Already(Incident),
}

const INCIDENT_COLUMNS: &str = "id, title, severity, service, customer, status, started_at, impact_started_at, acknowledged_at, acknowledged_by, mitigated_at, mitigated_by, resolved_at, resolved_by, created_by, updated_at";

/// The kind of an incident event that its readers outside see on the customer's status page.
pub const PUBLISHED_UPDATE: &str = "published_update";

fn event(r: &Row) -> Result<IncidentEvent> {
    Ok(IncidentEvent {
        id: r.int(0)?,
        incident: r.int(1)?,
        at: r.int(2)?,
        kind: r.text(3)?,
        summary: r.text(4)?,
        actor: r.text(5)?,
        details: r.text(6)?,
    })
}

fn incident(r: &Row) -> Result<Incident> {
    Ok(Incident {
        id: r.int(0)?,
        title: r.text(1)?,
        severity: r.text(2)?,
        service: r.text(3)?,
        customer: r.opt_text(4)?,
        status: crate::alerts::word(r, 5, IncidentStatus::parse, "incident status")?,
        started_at: r.int(6)?,
        impact_started_at: r.opt_int(7)?,
        acknowledged_at: r.opt_int(8)?,
        acknowledged_by: r.opt_text(9)?,
        mitigated_at: r.opt_int(10)?,
        mitigated_by: r.opt_text(11)?,
        resolved_at: r.opt_int(12)?,
        resolved_by: r.opt_text(13)?,
        created_by: r.text(14)?,
        updated_at: r.int(15)?,
    })
}

const ITEM_COLUMNS: &str = "id, incident, title, owner, due_at, status, verified, created_at, created_by, closed_at, closed_by";

fn item(r: &Row) -> Result<ActionItem> {
    Ok(ActionItem {
        id: r.int(0)?,
        incident: r.int(1)?,
        title: r.text(2)?,
        owner: r.text(3)?,
        due_at: r.opt_int(4)?,
        status: r.text(5)?,
        verified: r.opt_text(6)?,
        created_at: r.int(7)?,
        created_by: r.text(8)?,
        closed_at: r.opt_int(9)?,
        closed_by: r.opt_text(10)?,
    })
}

impl Tx<'_> {
    /// Opens an incident and records its declaration.
    pub fn declare_incident(&mut self, n: &NewIncident, summary: &str) -> Result<Incident> {
        let id = self
            .db
            .one(
                "INSERT INTO incidents (title, severity, service, customer, status, started_at, impact_started_at, created_by, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'triggered', ?5, ?6, ?7, ?5) RETURNING id",
                &[(&n.title).into(), (&n.severity).into(), (&n.service).into(), n.customer.as_ref().into(), n.started_at.into(), n.impact_started_at.into(), (&n.actor).into()],
            )?
            .int(0)?;
        self.incident_event(id, n.declared_at, "declared", summary, &n.actor, "{}")?;
        self.incident(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("incident {id} vanished")))
    }

    pub fn incident(&mut self, id: i64) -> Result<Option<Incident>> {
        self.db
            .opt(
                &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"),
                &[id.into()],
            )?
            .map(|r| incident(&r))
            .transpose()
    }

    /// Incidents, newest first: only unresolved ones when `open`, of one service if given.
    pub fn incidents(
        &mut self,
        open: bool,
        service: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Incident>> {
        self.incidents_of(open, service, None, limit)
    }

    /// [`Tx::incidents`] of one customer's services only, when `customer` is given.
    pub fn incidents_of(
        &mut self,
        open: bool,
        service: Option<&str>,
        customer: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Incident>> {
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE 1 = 1");
        let mut params: Vec<crate::sql::Val> = vec![i64::from(limit).into()];
        if open {
            sql.push_str(" AND status <> 'resolved'");
        }
        if let Some(s) = service {
            params.push(s.into());
            sql.push_str(&format!(" AND service = ?{}", params.len()));
        }
        if let Some(c) = customer {
            params.push(c.into());
            sql.push_str(&format!(" AND customer = ?{}", params.len()));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?1");
        self.db.query(&sql, &params)?.iter().map(incident).collect()
    }

    /// Adds an entry to an incident's own record.
    pub fn incident_event(
        &mut self,
        incident: i64,
        at: i64,
        kind: &str,
        summary: &str,
        actor: &str,
        details: &str,
    ) -> Result<()> {
        self.db.exec(
            "INSERT INTO incident_events (incident, at, kind, summary, actor, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[incident.into(), at.into(), kind.into(), summary.into(), actor.into(), details.into()],
        )?;
        self.db.exec(
            "UPDATE incidents SET updated_at = ?2 WHERE id = ?1 AND updated_at < ?2",
            &[incident.into(), at.into()],
        )?;
        Ok(())
    }

    /// An incident's own record, oldest first.
    pub fn incident_events(&mut self, incident: i64) -> Result<Vec<IncidentEvent>> {
        self.db
            .query(
                "SELECT id, incident, at, kind, summary, actor, details FROM incident_events WHERE incident = ?1 ORDER BY at, id",
                &[incident.into()],
            )?
            .iter()
            .map(event)
            .collect()
    }

    /// The status updates published for a customer's readers from `since` on, newest first
    /// (events of kind [`PUBLISHED_UPDATE`] of the customer's incidents).
    pub fn published_updates(
        &mut self,
        customer: &str,
        since: i64,
        limit: u32,
    ) -> Result<Vec<IncidentEvent>> {
        self.db
            .query(
                "SELECT e.id, e.incident, e.at, e.kind, e.summary, e.actor, e.details FROM incident_events e JOIN incidents i ON i.id = e.incident
                 WHERE e.kind = ?1 AND i.customer = ?2 AND e.at >= ?3 ORDER BY e.at DESC, e.id DESC LIMIT ?4",
                &[PUBLISHED_UPDATE.into(), customer.into(), since.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(event)
            .collect()
    }

    /// A customer's incidents that were open at some time in `[from, to)`, oldest first.
    pub fn incidents_between(
        &mut self,
        customer: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<Incident>> {
        self.db
            .query(
                &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE customer = ?1 AND started_at < ?3 AND (resolved_at IS NULL OR resolved_at >= ?2) ORDER BY started_at, id"),
                &[customer.into(), from.into(), to.into()],
            )?
            .iter()
            .map(incident)
            .collect()
    }

    /// Moves an incident on to `to`, recording when and who. Acknowledging it acknowledges
    /// its triggered alerts, which stops their escalation. `None` if there is no such
    /// incident.
    pub fn move_incident(
        &mut self,
        id: i64,
        to: IncidentStatus,
        actor: &str,
        at: i64,
    ) -> Result<Option<Moved>> {
        let Some(now) = self.incident(id)? else {
            return Ok(None);
        };
        // A stage skipped is reached with the move: resolving what nobody acknowledged
        // acknowledges it then. Mitigation is the exception (below).
        let stages = [
            (IncidentStatus::Acknowledged, "acknowledged"),
            (IncidentStatus::Mitigated, "mitigated"),
            (IncidentStatus::Resolved, "resolved"),
        ];
        for (stage, column) in stages {
            // Mitigation skipped is not filled in: nobody said when it happened, and a
            // postmortem that said "mitigated at the resolve time" would be wrong.
            if stage == IncidentStatus::Mitigated && to != IncidentStatus::Mitigated {
                if stage > now.status && stage <= to {
                    self.db.exec(
                        "UPDATE incidents SET status = ?2, updated_at = ?3 WHERE id = ?1",
                        &[id.into(), stage.as_str().into(), at.into()],
                    )?;
                }
                continue;
            }
            if stage > now.status && stage <= to {
                self.db.exec(
                    &format!("UPDATE incidents SET status = ?2, {column}_at = ?3, {column}_by = ?4, updated_at = ?3 WHERE id = ?1"),
                    &[id.into(), stage.as_str().into(), at.into(), actor.into()],
                )?;
                self.incident_event(
                    id,
                    at,
                    stage.as_str(),
                    &format!("{column} by {actor}"),
                    actor,
                    "{}",
                )?;
            }
        }
        // Someone has it: its alerts stop escalating, whichever move says so (and again
        // when repeated, for alerts that joined since).
        if to >= IncidentStatus::Acknowledged {
            for a in self.alerts_of_incident(id)? {
                if a.status == crate::AlertStatus::Triggered {
                    self.ack_alert(a.id, actor, at)?;
                }
            }
        }
        // Resolved: its alerts are too, so none stays open acknowledged, holding back the
        // pages of services that depend on it. A condition that still fires pages anew.
        // A page of an SLO whose condition still fires stays open (acknowledged, on the
        // incident's record): resolving it would open it again within a second, and page
        // again, as the burn goes on. It resolves when the burn stops.
        if to == IncidentStatus::Resolved {
            for a in self.alerts_of_incident(id)? {
                if a.status == crate::AlertStatus::Resolved {
                    continue;
                }
                if self.condition_fires(&a)? {
                    self.log(
                        a.id,
                        at,
                        "left_open",
                        actor,
                        &format!("incident {id} resolved while its SLO still burns; the page resolves when the burn stops"),
                    )?;
                } else {
                    self.resolve(a.id, actor, at)?;
                }
            }
        }
        let after = self.incident(id)?;
        Ok(after.map(|i| {
            if now.status >= to {
                Moved::Already(i)
            } else {
                Moved::Moved(i)
            }
        }))
    }

    /// Changes an incident's title, severity or impact start; each change is recorded.
    pub fn edit_incident(
        &mut self,
        id: i64,
        title: Option<&str>,
        severity: Option<&str>,
        impact_started_at: Option<i64>,
        actor: &str,
        at: i64,
    ) -> Result<Option<Incident>> {
        let Some(old) = self.incident(id)? else {
            return Ok(None);
        };
        if let Some(t) = title.filter(|t| *t != old.title) {
            self.db.exec(
                "UPDATE incidents SET title = ?2 WHERE id = ?1",
                &[id.into(), t.into()],
            )?;
            self.incident_event(
                id,
                at,
                "title",
                &format!("title set to \"{t}\""),
                actor,
                "{}",
            )?;
        }
        if let Some(s) = severity.filter(|s| *s != old.severity) {
            self.db.exec(
                "UPDATE incidents SET severity = ?2 WHERE id = ?1",
                &[id.into(), s.into()],
            )?;
            self.incident_event(
                id,
                at,
                "severity",
                &format!("severity {} → {s}", old.severity),
                actor,
                "{}",
            )?;
        }
        if let Some(t) = impact_started_at.filter(|t| Some(*t) != old.impact_started_at) {
            self.db.exec(
                "UPDATE incidents SET impact_started_at = ?2 WHERE id = ?1",
                &[id.into(), t.into()],
            )?;
            self.incident_event(
                id,
                at,
                "impact_started",
                "impact start set",
                actor,
                &format!("{{\"impact_started_at\":{t}}}"),
            )?;
        }
        self.incident(id)
    }

    /// Joins an alert to an incident (an alert belongs to one incident at most).
    /// Whether `a` is an SLO's alert (key `slo/NAME/SEVERITY`) whose condition fires.
    fn condition_fires(&mut self, a: &Alert) -> Result<bool> {
        let Some((slo, severity)) = a
            .dedup_key
            .strip_prefix("slo/")
            .and_then(|k| k.rsplit_once('/'))
            .filter(|_| a.source == "slo")
        else {
            return Ok(false);
        };
        Ok(self
            .db
            .one(
                "SELECT count(*) FROM slo_alert_state WHERE slo = ?1 AND severity = ?2 AND firing = ?3",
                &[slo.into(), severity.into(), crate::sql::Val::Int(1)],
            )?
            .int(0)?
            > 0)
    }

    pub fn join_incident(&mut self, incident: i64, alert: &Alert, at: i64) -> Result<()> {
        self.db.exec(
            "UPDATE alerts SET incident = ?2 WHERE id = ?1 AND incident IS NULL",
            &[alert.id.into(), incident.into()],
        )?;
        self.incident_event(
            incident,
            at,
            "alert",
            &format!("alert {} joined: {}", alert.id, alert.summary),
            "steward",
            &format!("{{\"alert\":{}}}", alert.id),
        )
    }

    /// The incident an alert belongs to.
    pub fn incident_of_alert(&mut self, alert: i64) -> Result<Option<i64>> {
        Ok(self
            .db
            .opt("SELECT incident FROM alerts WHERE id = ?1", &[alert.into()])?
            .map(|r| r.opt_int(0))
            .transpose()?
            .flatten())
    }

    /// The incident of a service that people are still getting on top of (triggered or
    /// acknowledged), most recently opened: new pages of the service join it. A mitigated
    /// one is over for its users; a new page is a new incident.
    pub fn open_incident_of(&mut self, service: &str) -> Result<Option<Incident>> {
        self.db
            .opt(
                &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE service = ?1 AND status IN ('triggered', 'acknowledged') ORDER BY id DESC LIMIT 1"),
                &[service.into()],
            )?
            .map(|r| incident(&r))
            .transpose()
    }

    /// The alerts joined to an incident, oldest first (the first 200: an incident that
    /// gathers more is shown and acknowledged by those; the rest follow their sources).
    pub fn alerts_of_incident(&mut self, incident: i64) -> Result<Vec<Alert>> {
        self.db
            .query(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE incident = ?1 ORDER BY id LIMIT 200"
                ),
                &[incident.into()],
            )?
            .iter()
            .map(alert)
            .collect()
    }

    /// Gives `role` to `person` (replacing whoever held it) and records it.
    pub fn set_role(
        &mut self,
        incident: i64,
        role: &str,
        person: &str,
        actor: &str,
        at: i64,
    ) -> Result<()> {
        self.db.exec(
            "INSERT INTO incident_roles (incident, role, person, assigned_at, assigned_by) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (incident, role) DO UPDATE SET person = excluded.person, assigned_at = excluded.assigned_at, assigned_by = excluded.assigned_by",
            &[incident.into(), role.into(), person.into(), at.into(), actor.into()],
        )?;
        self.incident_event(
            incident,
            at,
            "role",
            &format!("{person} is {role}"),
            actor,
            "{}",
        )
    }

    pub fn roles(&mut self, incident: i64) -> Result<Vec<Role>> {
        self.db
            .query(
                "SELECT role, person, assigned_at, assigned_by FROM incident_roles WHERE incident = ?1 ORDER BY id",
                &[incident.into()],
            )?
            .iter()
            .map(|r| {
                Ok(Role {
                    role: r.text(0)?,
                    person: r.text(1)?,
                    assigned_at: r.int(2)?,
                    assigned_by: r.text(3)?,
                })
            })
            .collect()
    }

    // --- action items ---

    pub fn add_action_item(&mut self, a: &ActionItem) -> Result<ActionItem> {
        let id = self
            .db
            .one(
                "INSERT INTO action_items (incident, title, owner, due_at, status, created_at, created_by) VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6) RETURNING id",
                &[a.incident.into(), (&a.title).into(), (&a.owner).into(), a.due_at.into(), a.created_at.into(), (&a.created_by).into()],
            )?
            .int(0)?;
        self.incident_event(
            a.incident,
            a.created_at,
            "action_item",
            &format!("action item {id} for {}: {}", a.owner, a.title),
            &a.created_by,
            &format!("{{\"action_item\":{id}}}"),
        )?;
        self.action_item(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("action item {id} vanished")))
    }

    pub fn action_item(&mut self, id: i64) -> Result<Option<ActionItem>> {
        self.db
            .opt(
                &format!("SELECT {ITEM_COLUMNS} FROM action_items WHERE id = ?1"),
                &[id.into()],
            )?
            .map(|r| item(&r))
            .transpose()
    }

    /// An incident's action items (every incident's open ones due before `overdue_at`, when
    /// given instead), in order of creation.
    pub fn action_items(
        &mut self,
        incident: Option<i64>,
        overdue_at: Option<i64>,
    ) -> Result<Vec<ActionItem>> {
        let (sql, params) = match (incident, overdue_at) {
            (Some(i), _) => (
                format!("SELECT {ITEM_COLUMNS} FROM action_items WHERE incident = ?1 ORDER BY id"),
                vec![i.into()],
            ),
            (None, Some(t)) => (
                format!("SELECT {ITEM_COLUMNS} FROM action_items WHERE status = 'open' AND due_at < ?1 ORDER BY due_at, id LIMIT 1000"),
                vec![t.into()],
            ),
            (None, None) => (
                format!("SELECT {ITEM_COLUMNS} FROM action_items WHERE status = 'open' ORDER BY id LIMIT 1000"),
                vec![],
            ),
        };
        self.db.query(&sql, &params)?.iter().map(item).collect()
    }

    /// Closes an open action item with how it was verified. `None` if there is no such item;
    /// an item already closed is returned unchanged.
    pub fn close_action_item(
        &mut self,
        id: i64,
        verified: &str,
        actor: &str,
        at: i64,
    ) -> Result<Option<ActionItem>> {
        let changed = self.db.exec(
            "UPDATE action_items SET status = 'closed', verified = ?2, closed_at = ?3, closed_by = ?4 WHERE id = ?1 AND status = 'open'",
            &[id.into(), verified.into(), at.into(), actor.into()],
        )?;
        let item = self.action_item(id)?;
        if let (1.., Some(i)) = (changed, &item) {
            self.incident_event(
                i.incident,
                at,
                "action_item_closed",
                &format!("action item {id} closed: {verified}"),
                actor,
                &format!("{{\"action_item\":{id}}}"),
            )?;
        }
        Ok(item)
    }
}
