//! What readiness is computed from that only the store knows: evidence of controls, the pages
//! of the last days with who acted on them, overdue action items by service; and the daily
//! readiness snapshots kept for the trend.

use crate::sql::Row;
use crate::{Result, Tx};

/// A piece of evidence that a control is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub id: i64,
    pub service: String,
    pub customer: Option<String>,
    pub control: String,
    pub link: String,
    pub note: String,
    /// When the work it proves was done.
    pub done_at: i64,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// A page: an alert whose escalation notified someone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRow {
    pub alert: i64,
    pub service: Option<String>,
    pub policy: Option<String>,
    /// Its first notification.
    pub paged_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub resolved_by: Option<String>,
}

/// An open action item past its due date, with its incident's service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverdueItem {
    pub id: i64,
    pub service: String,
    pub title: String,
    pub due_at: i64,
}

/// A service's readiness on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadinessDay {
    pub service: String,
    /// `YYYY-MM-DD`, in UTC.
    pub day: String,
    pub level: String,
    pub score: i64,
    pub failing: Vec<String>,
}

const EVIDENCE_COLUMNS: &str =
    "id, service, customer, control, link, note, done_at, recorded_by, recorded_at";

fn evidence(r: &Row) -> Result<Evidence> {
    Ok(Evidence {
        id: r.int(0)?,
        service: r.text(1)?,
        customer: r.opt_text(2)?,
        control: r.text(3)?,
        link: r.text(4)?,
        note: r.text(5)?,
        done_at: r.int(6)?,
        recorded_by: r.text(7)?,
        recorded_at: r.int(8)?,
    })
}

impl Tx<'_> {
    /// Records evidence; its id is assigned.
    pub fn add_evidence(&mut self, e: &Evidence) -> Result<Evidence> {
        let id = self
            .db
            .one(
                "INSERT INTO evidence (service, customer, control, link, note, done_at, recorded_by, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                &[(&e.service).into(), e.customer.as_ref().into(), (&e.control).into(), (&e.link).into(), (&e.note).into(), e.done_at.into(), (&e.recorded_by).into(), e.recorded_at.into()],
            )?
            .int(0)?;
        Ok(Evidence { id, ..e.clone() })
    }

    /// A service's evidence, newest work first (at most `limit`).
    pub fn evidence_of(&mut self, service: &str, limit: u32) -> Result<Vec<Evidence>> {
        self.db
            .query(
                &format!("SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE service = ?1 ORDER BY done_at DESC, id DESC LIMIT ?2"),
                &[service.into(), i64::from(limit).into()],
            )?
            .iter()
            .map(evidence)
            .collect()
    }

    /// The newest evidence of every (service, control): (service, control, done at).
    pub fn latest_evidence(&mut self) -> Result<Vec<(String, String, i64)>> {
        self.db
            .query(
                "SELECT service, control, MAX(done_at) FROM evidence GROUP BY service, control",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)))
            .collect()
    }

    /// Pages opened at or after `since` (of one service, when given): alerts that page and
    /// notified someone.
    pub fn pages_since(&mut self, since: i64, service: Option<&str>) -> Result<Vec<PageRow>> {
        // PostgreSQL cannot type a parameter only compared with NULL: the service's clause is
        // there only when it is asked for.
        let (clause, params) = match service {
            Some(s) => (" AND a.service = ?2", vec![since.into(), s.into()]),
            None => ("", vec![since.into()]),
        };
        self.db
            .query(
                &format!(
                    "SELECT a.id, a.service, a.policy, MIN(l.at), a.acknowledged_at, a.acknowledged_by, a.resolved_by
                       FROM alerts a JOIN alert_log l ON l.alert = a.id AND l.kind = 'notified'
                      WHERE a.opened_at >= ?1 AND a.urgency = 'page'{clause}
                      GROUP BY a.id, a.service, a.policy, a.acknowledged_at, a.acknowledged_by, a.resolved_by
                      ORDER BY a.id"
                ),
                &params,
            )?
            .iter()
            .map(|r| {
                Ok(PageRow {
                    alert: r.int(0)?,
                    service: r.opt_text(1)?,
                    policy: r.opt_text(2)?,
                    paged_at: r.int(3)?,
                    acknowledged_at: r.opt_int(4)?,
                    acknowledged_by: r.opt_text(5)?,
                    resolved_by: r.opt_text(6)?,
                })
            })
            .collect()
    }

    /// Open action items due before `now`, with their incident's service.
    pub fn overdue_items(&mut self, now: i64) -> Result<Vec<OverdueItem>> {
        self.db
            .query(
                "SELECT i.id, n.service, i.title, i.due_at FROM action_items i JOIN incidents n ON n.id = i.incident
                  WHERE i.status = 'open' AND i.due_at < ?1 ORDER BY i.due_at, i.id",
                &[now.into()],
            )?
            .iter()
            .map(|r| {
                Ok(OverdueItem {
                    id: r.int(0)?,
                    service: r.text(1)?,
                    title: r.text(2)?,
                    due_at: r.int(3)?,
                })
            })
            .collect()
    }

    /// Keeps a service's readiness for its day (the latest of the day wins).
    pub fn put_readiness_day(&mut self, d: &ReadinessDay) -> Result<()> {
        self.db.exec(
            "INSERT INTO readiness_days (service, day, level, score, failing) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (service, day) DO UPDATE SET level = excluded.level, score = excluded.score, failing = excluded.failing",
            &[(&d.service).into(), (&d.day).into(), (&d.level).into(), d.score.into(), d.failing.join(" ").into()],
        )?;
        Ok(())
    }

    /// A service's readiness days from `since` (`YYYY-MM-DD`) on, oldest first.
    pub fn readiness_days(&mut self, service: &str, since: &str) -> Result<Vec<ReadinessDay>> {
        self.db
            .query(
                "SELECT service, day, level, score, failing FROM readiness_days WHERE service = ?1 AND day >= ?2 ORDER BY day",
                &[service.into(), since.into()],
            )?
            .iter()
            .map(|r| {
                Ok(ReadinessDay {
                    service: r.text(0)?,
                    day: r.text(1)?,
                    level: r.text(2)?,
                    score: r.int(3)?,
                    failing: r
                        .text(4)?
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                })
            })
            .collect()
    }
}
