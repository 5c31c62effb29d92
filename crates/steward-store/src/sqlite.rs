//! The embedded default: one SQLite file in WAL mode, held exclusively by one process.

use crate::{
    to_i64, Appended, Backend, Batch, Footprint, IngestKey, Result, Rewrite, RewriteStats,
    SeriesId, SeriesInfo, SeriesRow, StoreError,
};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use std::path::Path;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, include_str!("../migrations/sqlite/0002_series.sql")),
    (3, include_str!("../migrations/sqlite/0003_ingest_keys.sql")),
    (4, include_str!("../migrations/sqlite/0004_alerts.sql")),
    (
        5,
        include_str!("../migrations/sqlite/0005_outbox_groups.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_escalation_starts.sql"),
    ),
    (7, include_str!("../migrations/sqlite/0007_changes.sql")),
    (8, include_str!("../migrations/sqlite/0008_incidents.sql")),
    (
        9,
        include_str!("../migrations/sqlite/0009_runbook_runs.sql"),
    ),
    (
        10,
        include_str!("../migrations/sqlite/0010_gate_overrides.sql"),
    ),
    (
        11,
        include_str!("../migrations/sqlite/0011_budget_adjustments.sql"),
    ),
    (
        12,
        include_str!("../migrations/sqlite/0012_alert_urgency.sql"),
    ),
    (13, include_str!("../migrations/sqlite/0013_tokens.sql")),
    (
        14,
        include_str!("../migrations/sqlite/0014_audit_chain.sql"),
    ),
    (15, include_str!("../migrations/sqlite/0015_passwords.sql")),
    (
        16,
        include_str!("../migrations/sqlite/0016_session_roles.sql"),
    ),
    (
        17,
        include_str!("../migrations/sqlite/0017_silence_integrations.sql"),
    ),
    (18, include_str!("../migrations/sqlite/0018_readiness.sql")),
];

const UPSERT: &str = "INSERT INTO series_rows (series, bucket, good, total) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (series, bucket) DO UPDATE SET good = good + excluded.good, total = total + excluded.total";

pub struct Sqlite {
    conn: Connection,
    /// The engine's lock file, held open (and locked) for the life of the store.
    _engine_lock: Option<std::fs::File>,
}

impl Sqlite {
    /// Opens the database; `engine` takes the engine lock (one engine per database; a
    /// second fails with [`StoreError::Locked`]), a client does not.
    pub fn open(path: &Path, engine: bool) -> Result<Sqlite> {
        let fail = |reason: String| StoreError::Open {
            url: format!("sqlite://{}", path.display()),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        }
        // One engine per database: it holds a lock on a file beside it for its life (the
        // kernel lets go when the process ends, however it ends). Clients (`steward token
        // create` while the server runs) share the database through WAL.
        let engine_lock = if engine {
            let mut name = path.as_os_str().to_owned();
            name.push(".engine-lock");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&name)
                .map_err(|e| fail(format!("cannot open {}: {e}", Path::new(&name).display())))?;
            // A store of this process that is closing lets go within moments: wait as long
            // as SQLite waits for a busy database, then give up.
            let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match file.try_lock() {
                    Ok(()) => break Some(file),
                    Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::Locked),
                    Err(std::fs::TryLockError::Error(e)) => {
                        return Err(fail(format!(
                            "cannot lock {}: {e}",
                            Path::new(&name).display()
                        )))
                    }
                }
            }
        } else {
            None
        };
        let mut conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        // WAL lets a commit proceed without blocking on readers; FULL syncs each commit, so an
        // acknowledged write survives a crash of the process or of the machine.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )
        .map_err(|e| locked_or(e, &fail))?;
        // A transaction takes the write lock when it begins: one that read before another
        // process (a client beside the engine) committed could not write afterwards.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        let mut db = Sqlite {
            conn,
            _engine_lock: engine_lock,
        };
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

fn locked_or(e: rusqlite::Error, fail: &dyn Fn(String) -> StoreError) -> StoreError {
    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
        || e.sqlite_error_code() == Some(ErrorCode::DatabaseLocked)
    {
        StoreError::Locked
    } else {
        fail(e.to_string())
    }
}

/// Records a batch's idempotency key; the first answer when it was recorded before.
fn record_key(tx: &mut rusqlite::Transaction<'_>, k: &IngestKey) -> Result<Option<Appended>> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO ingest_keys (key, body_hash, accepted, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![k.key, k.body_hash, to_i64(k.accepted)?, k.at])?;
    if inserted > 0 {
        return Ok(None);
    }
    let (body_hash, accepted): (i64, i64) = tx.query_row(
        "SELECT body_hash, accepted FROM ingest_keys WHERE key = ?1",
        [&k.key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Some(Appended::Duplicate {
        body_hash,
        accepted: accepted as u64,
    }))
}

/// Adds rows (one per key) with one prepared statement.
fn add_rows(tx: &mut rusqlite::Transaction<'_>, rows: &[SeriesRow]) -> Result<()> {
    let mut stmt = tx.prepare_cached(UPSERT)?;
    for r in rows {
        stmt.execute(params![
            r.series,
            r.bucket,
            to_i64(r.good)?,
            to_i64(r.total)?
        ])?;
    }
    Ok(())
}

fn savepoint<'a>(
    tx: &mut rusqlite::Transaction<'a>,
    f: &mut dyn FnMut(&mut rusqlite::Transaction<'a>) -> Result<()>,
) -> Result<()> {
    tx.execute_batch("SAVEPOINT part")?;
    match f(tx) {
        Ok(()) => {
            tx.execute_batch("RELEASE part")?;
            Ok(())
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO part; RELEASE part")?;
            Err(e)
        }
    }
}

impl Backend for Sqlite {
    fn append(&mut self, batches: &[Batch]) -> Result<Vec<Result<Appended>>> {
        let mut tx = self.conn.transaction()?;
        let results = crate::append_group(&mut tx, batches, record_key, add_rows, savepoint);
        if tx.is_autocommit() {
            // SQLite rolled the transaction back by itself (a full disk, an I/O error), and
            // the savepoint statements after that may have committed parts on their own.
            return Err(StoreError::CommitUnknown(
                "SQLite rolled back the commit group by itself".into(),
            ));
        }
        if let Some(e) = crate::group_failure(&results) {
            return Err(e);
        }
        tx.commit()?;
        Ok(results)
    }

    fn series(&mut self, names: &[String]) -> Result<Vec<SeriesInfo>> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(names.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO series (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            )?;
            let mut select =
                tx.prepare_cached("SELECT id, units_through FROM series WHERE name = ?1")?;
            for name in names {
                insert.execute([name])?;
                let (id, units_through) =
                    select.query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
                out.push(SeriesInfo {
                    id,
                    name: name.clone(),
                    units_through,
                });
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn scan(&mut self, chunk: &mut dyn FnMut(&[SeriesRow])) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT series, bucket, good, total FROM series_rows ORDER BY series, bucket",
        )?;
        let mut rows = stmt.query([])?;
        let mut buf = Vec::with_capacity(8192);
        while let Some(r) = rows.next()? {
            buf.push(SeriesRow {
                series: r.get(0)?,
                bucket: r.get(1)?,
                good: r.get::<_, i64>(2)? as u64,
                total: r.get::<_, i64>(3)? as u64,
            });
            if buf.len() == buf.capacity() {
                chunk(&buf);
                buf.clear();
            }
        }
        if !buf.is_empty() {
            chunk(&buf);
        }
        Ok(())
    }

    fn rows(&mut self, series: SeriesId, from: i64) -> Result<Vec<(i64, u64, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT bucket, good, total FROM series_rows WHERE series = ?1 AND bucket >= ?2 ORDER BY bucket",
        )?;
        let rows = stmt.query_map(params![series, from], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn rewrite(
        &mut self,
        rewrites: Vec<Rewrite>,
        deletes: &[(SeriesId, i64)],
    ) -> Result<RewriteStats> {
        let tx = self.conn.transaction()?;
        let mut stats = RewriteStats::default();
        for rw in rewrites {
            let old: Vec<(i64, u64, u64)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT bucket, good, total FROM series_rows WHERE series = ?1 AND bucket >= ?2 AND bucket < ?3 ORDER BY bucket",
                )?;
                let rows = stmt.query_map(params![rw.series, rw.from, rw.to], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            stats.rows_before += old.len() as u64;
            tx.prepare_cached(
                "DELETE FROM series_rows WHERE series = ?1 AND bucket >= ?2 AND bucket < ?3",
            )?
            .execute(params![rw.series, rw.from, rw.to])?;
            let new = (rw.with)(old);
            stats.rows_after += new.len() as u64;
            let mut stmt = tx.prepare_cached(UPSERT)?;
            for (bucket, good, total) in new {
                stmt.execute(params![rw.series, bucket, to_i64(good)?, to_i64(total)?])?;
            }
            if let Some(through) = rw.units_through {
                tx.prepare_cached("UPDATE series SET units_through = ?2 WHERE id = ?1")?
                    .execute(params![rw.series, through])?;
            }
        }
        for (series, before) in deletes {
            stats.deleted += tx
                .prepare_cached("DELETE FROM series_rows WHERE series = ?1 AND bucket < ?2")?
                .execute(params![series, before])? as u64;
        }
        tx.commit()?;
        Ok(stats)
    }

    fn expire_keys(&mut self, before: i64) -> Result<u64> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM ingest_keys WHERE at < ?1")?
            .execute([before])? as u64)
    }

    fn ingest_key(&mut self, key: &str) -> Result<Option<(i64, u64)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT body_hash, accepted FROM ingest_keys WHERE key = ?1",
                [key],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64)),
            )
            .optional()?)
    }

    fn footprint(&mut self) -> Result<Footprint> {
        let rows: i64 = self
            .conn
            .query_row("SELECT count(*) FROM series_rows", [], |r| r.get(0))?;
        // The whole file less its free pages: everything a store of these rows costs.
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(Footprint {
            rows: rows as u64,
            bytes: ((pages - free) * size) as u64,
        })
    }

    fn meta(&mut self, key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM steward_meta WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set_meta(&mut self, key: &str, value: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO steward_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn transact(&mut self, f: &mut dyn FnMut(&mut dyn crate::sql::Db) -> Result<()>) -> Result<()> {
        let mut tx = self.conn.transaction()?;
        f(&mut tx)?;
        if tx.is_autocommit() {
            return Err(StoreError::CommitUnknown(
                "SQLite rolled back the transaction by itself".into(),
            ));
        }
        tx.commit()?;
        Ok(())
    }

    fn ping(&mut self) -> Result<()> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}
