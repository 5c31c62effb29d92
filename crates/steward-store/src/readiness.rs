//! What readiness is computed from that only the store knows: evidence of controls, the pages
//! of the last days with who acted on them, overdue action items by service; and the daily
//! readiness snapshots kept for the trend.

use crate::sql::{Row, Val};

/// ` WHERE {prefix}service = ?1` and its parameter when a service is given, else nothing:
/// PostgreSQL cannot type a parameter that is only compared with NULL, so the clause is
/// there only when it is asked for.
fn of_service(prefix: &str, service: Option<&str>) -> (String, Vec<Val>) {
    match service {
        Some(s) => (format!(" WHERE {prefix}service = ?1"), vec![s.into()]),
        None => (String::new(), Vec::new()),
    }
}
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

fn readiness_day(r: &Row) -> Result<ReadinessDay> {
    Ok(ReadinessDay {
        service: r.text(0)?,
        day: r.text(1)?,
        level: r.text(2)?,
        score: r.int(3)?,
        failing: r.text(4)?.split_whitespace().map(str::to_string).collect(),
    })
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

    /// A service's newest evidence of each control (of two done at once, the later recorded).
    pub fn newest_evidence(&mut self, service: &str) -> Result<Vec<Evidence>> {
        self.db
            .query(
                &format!(
                    "SELECT {EVIDENCE_COLUMNS} FROM evidence e WHERE e.service = ?1 AND NOT EXISTS (
                        SELECT 1 FROM evidence x WHERE x.service = e.service AND x.control = e.control
                           AND (x.done_at > e.done_at OR (x.done_at = e.done_at AND x.id > e.id)))
                      ORDER BY e.control"
                ),
                &[service.into()],
            )?
            .iter()
            .map(evidence)
            .collect()
    }

    /// The newest evidence of every (service, control), of one service when given:
    /// (service, control, done at).
    pub fn latest_evidence(&mut self, service: Option<&str>) -> Result<Vec<(String, String, i64)>> {
        let (clause, params) = of_service("", service);
        self.db
            .query(
                &format!("SELECT service, control, MAX(done_at) FROM evidence{clause} GROUP BY service, control"),
                &params,
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)))
            .collect()
    }

    /// Open alerts and open incidents counted by service (of one customer's services, when
    /// given): (service, alerts, incidents).
    pub fn open_by_service(&mut self, customer: Option<&str>) -> Result<Vec<(String, i64, i64)>> {
        let (clause, params) = match customer {
            Some(c) => (" AND customer = ?1", vec![c.into()]),
            None => ("", Vec::new()),
        };
        let mut out: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for (table, alerts) in [("alerts", true), ("incidents", false)] {
            for r in self.db.query(
                &format!("SELECT service, COUNT(*) FROM {table} WHERE status <> 'resolved' AND service IS NOT NULL{clause} GROUP BY service"),
                &params,
            )? {
                let n = r.int(1)?;
                let e = out.entry(r.text(0)?).or_default();
                if alerts {
                    e.0 = n;
                } else {
                    e.1 = n;
                }
            }
        }
        Ok(out.into_iter().map(|(s, (a, i))| (s, a, i)).collect())
    }

    /// Pages opened at or after `since` (of one service, when given): alerts that page and
    /// notified someone.
    pub fn pages_since(&mut self, since: i64, service: Option<&str>) -> Result<Vec<PageRow>> {
        let (clause, mut params) = of_service("a.", service);
        params.push(since.into());
        let since_param = params.len();
        self.db
            .query(
                &format!(
                    "SELECT a.id, a.service, a.policy, MIN(l.at), a.acknowledged_at, a.acknowledged_by, a.resolved_by
                       FROM alerts a JOIN alert_log l ON l.alert = a.id AND l.kind = 'notified'
                     {clause} {} a.opened_at >= ?{since_param} AND a.urgency = 'page'
                      GROUP BY a.id, a.service, a.policy, a.acknowledged_at, a.acknowledged_by, a.resolved_by
                      ORDER BY a.id",
                    if clause.is_empty() { "WHERE" } else { "AND" }
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

    /// Open action items due before `now`, with their incident's service (of one service
    /// when given).
    pub fn overdue_items(&mut self, now: i64, service: Option<&str>) -> Result<Vec<OverdueItem>> {
        let (clause, mut params) = of_service("n.", service);
        params.push(now.into());
        let now_param = params.len();
        self.db
            .query(
                &format!(
                    "SELECT i.id, n.service, i.title, i.due_at FROM action_items i JOIN incidents n ON n.id = i.incident{clause}
                      {} i.status = 'open' AND i.due_at < ?{now_param} ORDER BY i.due_at, i.id",
                    if clause.is_empty() { "WHERE" } else { "AND" }
                ),
                &params,
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

    /// Each service's readiness as kept on its last day up to `day` (`YYYY-MM-DD`), by service.
    pub fn readiness_on(&mut self, day: &str) -> Result<Vec<ReadinessDay>> {
        self.db
            .query(
                "SELECT r.service, r.day, r.level, r.score, r.failing FROM readiness_days r
                 WHERE r.day = (SELECT MAX(d.day) FROM readiness_days d WHERE d.service = r.service AND d.day <= ?1) ORDER BY r.service",
                &[day.into()],
            )?
            .iter()
            .map(readiness_day)
            .collect()
    }

    /// A service's readiness days from `since` (`YYYY-MM-DD`) on, oldest first.
    pub fn readiness_days(&mut self, service: &str, since: &str) -> Result<Vec<ReadinessDay>> {
        self.db
            .query(
                "SELECT service, day, level, score, failing FROM readiness_days WHERE service = ?1 AND day >= ?2 ORDER BY day",
                &[service.into(), since.into()],
            )?
            .iter()
            .map(readiness_day)
            .collect()
    }
}
