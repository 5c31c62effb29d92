//! PostgreSQL, for teams that outgrow one machine.
//!
//! The connection is re-made when it is lost (PostgreSQL restarted, the network dropped it),
//! at most once per back-off interval, so a call made while the database is away fails at
//! once with [`StoreError::Unavailable`] instead of waiting. Statements time out, and so does
//! a socket that stops answering (a partition), so no call can hang the engine.

use crate::{
    aggregate, to_i64, Appended, Backend, Batch, Footprint, IngestKey, Result, Rewrite,
    RewriteStats, SeriesId, SeriesInfo, SeriesRow, StoreError,
};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};
use std::time::{Duration, Instant};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../migrations/postgres/0002_series.sql")),
    (
        3,
        include_str!("../migrations/postgres/0003_ingest_keys.sql"),
    ),
    (4, include_str!("../migrations/postgres/0004_alerts.sql")),
    (
        5,
        include_str!("../migrations/postgres/0005_outbox_groups.sql"),
    ),
    (
        6,
        include_str!("../migrations/postgres/0006_escalation_starts.sql"),
    ),
    (7, include_str!("../migrations/postgres/0007_changes.sql")),
    (8, include_str!("../migrations/postgres/0008_incidents.sql")),
    (
        9,
        include_str!("../migrations/postgres/0009_runbook_runs.sql"),
    ),
    (
        10,
        include_str!("../migrations/postgres/0010_gate_overrides.sql"),
    ),
    (
        11,
        include_str!("../migrations/postgres/0011_budget_adjustments.sql"),
    ),
    (
        12,
        include_str!("../migrations/postgres/0012_alert_urgency.sql"),
    ),
    (13, include_str!("../migrations/postgres/0013_tokens.sql")),
    (
        14,
        include_str!("../migrations/postgres/0014_audit_chain.sql"),
    ),
    (
        15,
        include_str!("../migrations/postgres/0015_passwords.sql"),
    ),
    (
        16,
        include_str!("../migrations/postgres/0016_session_roles.sql"),
    ),
    (
        17,
        include_str!("../migrations/postgres/0017_silence_integrations.sql"),
    ),
    (
        18,
        include_str!("../migrations/postgres/0018_readiness.sql"),
    ),
];

/// Serialises migrations of replicas that start at the same time.
const MIGRATION_LOCK: i64 = 0x5354_4557_4152_4431; // "STEWARD1"

/// The engine lock: held for the life of the session, keyed by schema, so one engine runs
/// per database schema.
const ENGINE_LOCK: i32 = 0x5354_5744; // "STWD"

/// Session settings: no statement runs longer than this, no lock is waited on for long, and
/// the server notices within half a minute that this client is gone (a partition), ends the
/// session and frees its engine lock.
const SESSION: &str = "SET statement_timeout = '10s'; SET lock_timeout = '5s'; SET idle_in_transaction_session_timeout = '60s'; SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3";

/// How long a starting Steward waits for the engine lock before it says another one runs: a
/// restart right after a crash finds the dead process's session still holding it.
const LOCK_WAIT_AT_START: Duration = Duration::from_secs(10);

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub struct Postgres {
    config: postgres::Config,
    /// This process's sessions carry it as their application name, so that after a
    /// partition it can end its own orphaned session, which still holds the engine lock.
    instance: String,
    client: Option<Client>,
    /// No reconnection is tried before this.
    retry_at: Instant,
    backoff: Duration,
    /// Whether this is the engine (which holds the engine lock) or a client beside it.
    engine: bool,
}

impl Postgres {
    pub fn open(url: &str, engine: bool) -> Result<Postgres> {
        let fail = |reason: String| StoreError::Open {
            url: redact(url),
            reason,
        };
        let mut config: postgres::Config = url.parse().map_err(|e| fail(format!("{e}")))?;
        config
            .connect_timeout(Duration::from_secs(3))
            .tcp_user_timeout(Duration::from_secs(10))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        let instance = format!(
            "steward-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        config.application_name(&instance);
        let mut db = Postgres {
            config,
            instance,
            client: None,
            retry_at: Instant::now(),
            backoff: FIRST_BACKOFF,
            engine,
        };
        db.connect(LOCK_WAIT_AT_START).map_err(|e| match e {
            StoreError::Locked => StoreError::Locked,
            other => fail(other.to_string()),
        })?;
        Ok(db)
    }

    /// Connects, migrates and takes the engine lock, waiting up to `wait` for it.
    fn connect(&mut self, wait: Duration) -> Result<()> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(SESSION)?;
        migrate(&mut client)?;
        if !self.engine {
            self.client = Some(client);
            return Ok(());
        }
        let try_lock = |client: &mut Client| -> Result<bool> {
            Ok(client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                    &[&ENGINE_LOCK],
                )?
                .get(0))
        };
        if !try_lock(&mut client)? {
            // Our own session from before a partition may still hold it: end that one (never
            // another process's) and wait for its lock to go.
            let ended: i64 = client
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    &[&self.instance],
                )?
                .get(0);
            // Then wait, as a standby would: a process that was just killed holds the lock
            // until the server notices its session is gone.
            let wait = if ended > 0 {
                wait.max(Duration::from_secs(5))
            } else {
                wait
            };
            let until = Instant::now() + wait;
            loop {
                if try_lock(&mut client)? {
                    break;
                }
                if Instant::now() >= until {
                    return Err(StoreError::Locked);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.client = Some(client);
        Ok(())
    }

    /// The connection, made again (with back-off) when it was lost.
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        if self.client.is_none() {
            if Instant::now() < self.retry_at {
                return Err(StoreError::Unavailable(
                    "the connection to PostgreSQL was lost; reconnecting".into(),
                ));
            }
            if let Err(e) = self.connect(Duration::ZERO) {
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                return Err(match e {
                    StoreError::Locked => StoreError::Locked,
                    other => StoreError::Unavailable(other.to_string()),
                });
            }
            self.backoff = FIRST_BACKOFF;
        }
        Ok(self.client.as_mut().expect("connected above"))
    }
}

fn migrate(client: &mut Client) -> Result<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = (|| {
        client.batch_execute(
            "CREATE TABLE IF NOT EXISTS steward_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )?;
        for (version, sql) in MIGRATIONS {
            let mut tx = client.transaction()?;
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
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
    Ok(result?)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
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

const UPSERT: &str = "INSERT INTO series_rows (series, bucket, good, total)
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])
     ON CONFLICT (series, bucket) DO UPDATE SET
       good = series_rows.good + EXCLUDED.good, total = series_rows.total + EXCLUDED.total";

/// Adds rows (already one per key) with one statement.
fn upsert(tx: &mut postgres::Transaction<'_>, rows: &[SeriesRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let series: Vec<i64> = rows.iter().map(|r| r.series).collect();
    let buckets: Vec<i64> = rows.iter().map(|r| r.bucket).collect();
    let good = rows
        .iter()
        .map(|r| to_i64(r.good))
        .collect::<Result<Vec<i64>>>()?;
    let total = rows
        .iter()
        .map(|r| to_i64(r.total))
        .collect::<Result<Vec<i64>>>()?;
    tx.execute(UPSERT, &[&series, &buckets, &good, &total])?;
    Ok(())
}

/// Records a batch's idempotency key; the first answer when it was recorded before.
fn record_key(tx: &mut postgres::Transaction<'_>, k: &IngestKey) -> Result<Option<Appended>> {
    let inserted = tx.execute(
        "INSERT INTO ingest_keys (key, body_hash, accepted, at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO NOTHING",
        &[&k.key, &k.body_hash, &to_i64(k.accepted)?, &k.at],
    )?;
    if inserted > 0 {
        return Ok(None);
    }
    let row = tx.query_one(
        "SELECT body_hash, accepted FROM ingest_keys WHERE key = $1",
        &[&k.key],
    )?;
    Ok(Some(Appended::Duplicate {
        body_hash: row.get(0),
        accepted: row.get::<_, i64>(1) as u64,
    }))
}

fn savepoint<'a>(
    tx: &mut postgres::Transaction<'a>,
    f: &mut dyn FnMut(&mut postgres::Transaction<'a>) -> Result<()>,
) -> Result<()> {
    tx.batch_execute("SAVEPOINT part")?;
    match f(tx) {
        Ok(()) => {
            tx.batch_execute("RELEASE SAVEPOINT part")?;
            Ok(())
        }
        Err(e) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT part; RELEASE SAVEPOINT part")?;
            Err(e)
        }
    }
}

fn bucket_rows(rows: &[postgres::Row]) -> Vec<(i64, u64, u64)> {
    rows.iter()
        .map(|r| {
            (
                r.get::<_, i64>(0),
                r.get::<_, i64>(1) as u64,
                r.get::<_, i64>(2) as u64,
            )
        })
        .collect()
}

impl Backend for Postgres {
    fn append(&mut self, batches: &[Batch]) -> Result<Vec<Result<Appended>>> {
        let mut tx = self.client()?.transaction()?;
        let results = crate::append_group(&mut tx, batches, record_key, upsert, savepoint);
        // A connection lost before COMMIT was sent stored nothing: no need to wonder.
        if let Some(e) = crate::group_failure(&results) {
            return Err(e);
        }
        // Lost during COMMIT, the transaction may have committed or not: say so.
        tx.commit()
            .map_err(|e| StoreError::CommitUnknown(e.to_string()))?;
        Ok(results)
    }

    fn series(&mut self, names: &[String]) -> Result<Vec<SeriesInfo>> {
        let mut tx = self.client()?.transaction()?;
        tx.execute(
            "INSERT INTO series (name) SELECT * FROM unnest($1::text[]) ON CONFLICT (name) DO NOTHING",
            &[&names],
        )?;
        let rows = tx.query(
            "SELECT id, name, units_through FROM series WHERE name = ANY($1)",
            &[&names],
        )?;
        tx.commit()?;
        let found: std::collections::HashMap<String, (i64, i64)> = rows
            .iter()
            .map(|r| (r.get(1), (r.get(0), r.get(2))))
            .collect();
        names
            .iter()
            .map(|name| {
                let (id, units_through) = *found.get(name).ok_or_else(|| {
                    StoreError::Corrupt(format!("series `{name}` was not created"))
                })?;
                Ok(SeriesInfo {
                    id,
                    name: name.clone(),
                    units_through,
                })
            })
            .collect()
    }

    fn scan(&mut self, chunk: &mut dyn FnMut(&[SeriesRow])) -> Result<()> {
        let mut tx = self.client()?.transaction()?;
        // A full read of a large store may take longer than one statement is allowed.
        tx.batch_execute("SET LOCAL statement_timeout = '10min'")?;
        let mut rows = tx.query_raw(
            "SELECT series, bucket, good, total FROM series_rows ORDER BY series, bucket",
            std::iter::empty::<i64>(),
        )?;
        let mut buf = Vec::with_capacity(8192);
        while let Some(r) = rows.next()? {
            buf.push(SeriesRow {
                series: r.get(0),
                bucket: r.get(1),
                good: r.get::<_, i64>(2) as u64,
                total: r.get::<_, i64>(3) as u64,
            });
            if buf.len() == buf.capacity() {
                chunk(&buf);
                buf.clear();
            }
        }
        drop(rows);
        if !buf.is_empty() {
            chunk(&buf);
        }
        tx.commit()?;
        Ok(())
    }

    fn rows(&mut self, series: SeriesId, from: i64) -> Result<Vec<(i64, u64, u64)>> {
        let rows = self.client()?.query(
            "SELECT bucket, good, total FROM series_rows WHERE series = $1 AND bucket >= $2 ORDER BY bucket",
            &[&series, &from],
        )?;
        Ok(bucket_rows(&rows))
    }

    fn rewrite(
        &mut self,
        rewrites: Vec<Rewrite>,
        deletes: &[(SeriesId, i64)],
    ) -> Result<RewriteStats> {
        let mut tx = self.client()?.transaction()?;
        let mut stats = RewriteStats::default();
        for rw in rewrites {
            let old = bucket_rows(&tx.query(
                "DELETE FROM series_rows WHERE series = $1 AND bucket >= $2 AND bucket < $3
                 RETURNING bucket, good, total",
                &[&rw.series, &rw.from, &rw.to],
            )?);
            let mut old = old;
            old.sort_unstable_by_key(|r| r.0);
            stats.rows_before += old.len() as u64;
            let new: Vec<SeriesRow> = (rw.with)(old)
                .into_iter()
                .map(|(bucket, good, total)| SeriesRow {
                    series: rw.series,
                    bucket,
                    good,
                    total,
                })
                .collect();
            stats.rows_after += new.len() as u64;
            upsert(&mut tx, &aggregate(&new))?;
            if let Some(through) = rw.units_through {
                tx.execute(
                    "UPDATE series SET units_through = $2 WHERE id = $1",
                    &[&rw.series, &through],
                )?;
            }
        }
        for (series, before) in deletes {
            stats.deleted += tx.execute(
                "DELETE FROM series_rows WHERE series = $1 AND bucket < $2",
                &[series, before],
            )?;
        }
        tx.commit()?;
        Ok(stats)
    }

    fn expire_keys(&mut self, before: i64) -> Result<u64> {
        Ok(self
            .client()?
            .execute("DELETE FROM ingest_keys WHERE at < $1", &[&before])?)
    }

    fn ingest_key(&mut self, key: &str) -> Result<Option<(i64, u64)>> {
        Ok(self
            .client()?
            .query_opt(
                "SELECT body_hash, accepted FROM ingest_keys WHERE key = $1",
                &[&key],
            )?
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1) as u64)))
    }

    fn footprint(&mut self) -> Result<Footprint> {
        let row = self.client()?.query_one(
            "SELECT (SELECT count(*) FROM series_rows),
                    pg_total_relation_size('series_rows') + pg_total_relation_size('series')",
            &[],
        )?;
        Ok(Footprint {
            rows: row.get::<_, i64>(0) as u64,
            bytes: row.get::<_, i64>(1) as u64,
        })
    }

    fn meta(&mut self, key: &str) -> Result<Option<i64>> {
        Ok(self
            .client()?
            .query_opt("SELECT value FROM steward_meta WHERE key = $1", &[&key])?
            .map(|r| r.get(0)))
    }

    fn set_meta(&mut self, key: &str, value: i64) -> Result<()> {
        self.client()?.execute(
            "INSERT INTO steward_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn transact(&mut self, f: &mut dyn FnMut(&mut dyn crate::sql::Db) -> Result<()>) -> Result<()> {
        let mut tx = self.client()?.transaction()?;
        f(&mut tx)?;
        // Lost during COMMIT, the transaction may have committed or not: say so.
        tx.commit().map_err(|e| {
            if e.is_closed() {
                StoreError::CommitUnknown(e.to_string())
            } else {
                StoreError::from(e)
            }
        })
    }

    fn ping(&mut self) -> Result<()> {
        self.client()?.simple_query("SELECT 1")?;
        Ok(())
    }
}
