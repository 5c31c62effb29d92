//! PostgreSQL, for teams that run several Steward replicas.

use crate::{AlertState, AlertTransition, Backend, Result, SampleRow, StoreError};
use postgres::{Client, NoTls};

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/postgres/0001_initial.sql"))];

/// Serialises migrations of replicas that start at the same time.
const MIGRATION_LOCK: i64 = 0x5354_4557_4152_4431; // "STEWARD1"

pub struct Postgres {
    client: Client,
}

impl Postgres {
    pub fn open(url: &str) -> Result<Postgres> {
        let fail = |reason: String| StoreError::Open {
            url: redact(url),
            reason,
        };
        let client = Client::connect(url, NoTls).map_err(|e| fail(e.to_string()))?;
        let mut db = Postgres { client };
        db.migrate().map_err(|e| fail(e.to_string()))?;
        Ok(db)
    }

    fn migrate(&mut self) -> Result<()> {
        self.client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
        let result = (|| {
            self.client.batch_execute(
                "CREATE TABLE IF NOT EXISTS steward_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )?;
            for (version, sql) in MIGRATIONS {
                let mut tx = self.client.transaction()?;
                let done = tx.query_opt(
                    "SELECT 1 FROM steward_migrations WHERE version = $1",
                    &[version],
                )?;
                if done.is_none() {
                    tx.batch_execute(sql)?;
                    tx.execute(
                        "INSERT INTO steward_migrations (version) VALUES ($1)",
                        &[version],
                    )?;
                }
                tx.commit()?;
            }
            Ok::<(), postgres::Error>(())
        })();
        self.client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
        Ok(result?)
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Backend for Postgres {
    fn append(&mut self, rows: &[SampleRow]) -> Result<()> {
        let rows = crate::aggregate(rows);
        let slos: Vec<&str> = rows.iter().map(|r| r.slo.as_str()).collect();
        let buckets: Vec<i64> = rows.iter().map(|r| r.bucket).collect();
        let good: Vec<i64> = rows.iter().map(|r| r.good as i64).collect();
        let total: Vec<i64> = rows.iter().map(|r| r.total as i64).collect();
        self.client.execute(
            "INSERT INTO sli_buckets (slo, bucket, good, total)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
             ON CONFLICT (slo, bucket) DO UPDATE SET
               good = sli_buckets.good + EXCLUDED.good, total = sli_buckets.total + EXCLUDED.total",
            &[&slos, &buckets, &good, &total],
        )?;
        Ok(())
    }

    fn samples_since(&mut self, slo: &str, since: i64) -> Result<Vec<(i64, u64, u64)>> {
        let rows = self.client.query(
            "SELECT bucket, good, total FROM sli_buckets WHERE slo = $1 AND bucket >= $2 ORDER BY bucket",
            &[&slo, &since],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0),
                    r.get::<_, i64>(1) as u64,
                    r.get::<_, i64>(2) as u64,
                )
            })
            .collect())
    }

    fn record_transitions(&mut self, transitions: &[AlertTransition]) -> Result<()> {
        let mut tx = self.client.transaction()?;
        for t in transitions {
            tx.execute(
                "INSERT INTO slo_alert_events (slo, long_window, short_window, severity, firing, at, long_burn, short_burn, factor)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&t.slo, &t.long_window, &t.short_window, &t.severity, &t.firing, &t.at, &t.long_burn, &t.short_burn, &t.factor],
            )?;
            tx.execute(
                "INSERT INTO slo_alert_state (slo, long_window, short_window, severity, firing, since, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (slo, long_window, short_window) DO UPDATE SET
                   severity = EXCLUDED.severity, firing = EXCLUDED.firing, since = EXCLUDED.since, updated_at = EXCLUDED.updated_at",
                &[&t.slo, &t.long_window, &t.short_window, &t.severity, &t.firing, &t.firing.then_some(t.at), &t.at],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn alert_states(&mut self) -> Result<Vec<AlertState>> {
        let rows = self.client.query(
            "SELECT slo, long_window, short_window, severity, firing, since FROM slo_alert_state ORDER BY slo, long_window, short_window",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| AlertState {
                slo: r.get(0),
                long_window: r.get(1),
                short_window: r.get(2),
                severity: r.get(3),
                firing: r.get(4),
                since: r.get(5),
            })
            .collect())
    }

    fn alert_events(&mut self, slo: &str, limit: u32) -> Result<Vec<AlertTransition>> {
        let rows = self.client.query(
            "SELECT slo, long_window, short_window, severity, firing, at, long_burn, short_burn, factor
             FROM slo_alert_events WHERE slo = $1 ORDER BY at DESC, id DESC LIMIT $2",
            &[&slo, &i64::from(limit)],
        )?;
        Ok(rows
            .iter()
            .map(|r| AlertTransition {
                slo: r.get(0),
                long_window: r.get(1),
                short_window: r.get(2),
                severity: r.get(3),
                firing: r.get(4),
                at: r.get(5),
                long_burn: r.get(6),
                short_burn: r.get(7),
                factor: r.get(8),
            })
            .collect())
    }

    fn ping(&mut self) -> Result<()> {
        self.client.simple_query("SELECT 1")?;
        Ok(())
    }
}
