//! The embedded default: one SQLite file in WAL mode.

use crate::{AlertState, AlertTransition, Backend, Result, SampleRow, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/sqlite/0001_initial.sql"))];

pub struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite> {
        let fail = |reason: String| StoreError::Open {
            url: format!("sqlite://{}", path.display()),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        // WAL lets readers work while a write commits; FULL syncs each commit, so an
        // acknowledged write survives a crash of the process or of the machine.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )
        .map_err(|e| fail(e.to_string()))?;
        let mut db = Sqlite { conn };
        db.migrate().map_err(|e| fail(e.to_string()))?;
        Ok(db)
    }

    fn migrate(&mut self) -> Result<()> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS steward_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )?;
        for (version, sql) in MIGRATIONS {
            let tx = self.conn.transaction()?;
            let done: Option<i64> = tx
                .query_row(
                    "SELECT version FROM steward_migrations WHERE version = ?1",
                    [version],
                    |r| r.get(0),
                )
                .optional()?;
            if done.is_none() {
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO steward_migrations (version, applied_at) VALUES (?1, strftime('%s','now'))",
                    [version],
                )?;
            }
            tx.commit()?;
        }
        Ok(())
    }
}

impl Backend for Sqlite {
    fn append(&mut self, rows: &[SampleRow]) -> Result<()> {
        let rows = crate::aggregate(rows);
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO sli_buckets (slo, bucket, good, total) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (slo, bucket) DO UPDATE SET good = good + excluded.good, total = total + excluded.total",
            )?;
            for r in &rows {
                stmt.execute(params![r.slo, r.bucket, r.good as i64, r.total as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn samples_since(&mut self, slo: &str, since: i64) -> Result<Vec<(i64, u64, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT bucket, good, total FROM sli_buckets WHERE slo = ?1 AND bucket >= ?2 ORDER BY bucket",
        )?;
        let rows = stmt.query_map(params![slo, since], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn record_transitions(&mut self, transitions: &[AlertTransition]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for t in transitions {
            tx.execute(
                "INSERT INTO slo_alert_events (slo, long_window, short_window, severity, firing, at, long_burn, short_burn, factor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![t.slo, t.long_window, t.short_window, t.severity, t.firing, t.at, t.long_burn, t.short_burn, t.factor],
            )?;
            tx.execute(
                "INSERT INTO slo_alert_state (slo, long_window, short_window, severity, firing, since, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (slo, long_window, short_window) DO UPDATE SET
                   severity = excluded.severity, firing = excluded.firing, since = excluded.since, updated_at = excluded.updated_at",
                params![t.slo, t.long_window, t.short_window, t.severity, t.firing, t.firing.then_some(t.at), t.at],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn alert_states(&mut self) -> Result<Vec<AlertState>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT slo, long_window, short_window, severity, firing, since FROM slo_alert_state ORDER BY slo, long_window, short_window",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(AlertState {
                slo: r.get(0)?,
                long_window: r.get(1)?,
                short_window: r.get(2)?,
                severity: r.get(3)?,
                firing: r.get(4)?,
                since: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn alert_events(&mut self, slo: &str, limit: u32) -> Result<Vec<AlertTransition>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT slo, long_window, short_window, severity, firing, at, long_burn, short_burn, factor
             FROM slo_alert_events WHERE slo = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![slo, limit], |r| {
            Ok(AlertTransition {
                slo: r.get(0)?,
                long_window: r.get(1)?,
                short_window: r.get(2)?,
                severity: r.get(3)?,
                firing: r.get(4)?,
                at: r.get(5)?,
                long_burn: r.get(6)?,
                short_burn: r.get(7)?,
                factor: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn ping(&mut self) -> Result<()> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}
