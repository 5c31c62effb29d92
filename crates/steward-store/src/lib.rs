//! Steward's durable state behind one [`Store`], with SQLite (embedded, the default) and
//! PostgreSQL backends that pass one conformance suite.
//!
//! Each backend's connection is owned by one thread. Batches that arrive while a transaction
//! commits are committed together in the next one (group commit), each in a savepoint of its
//! own, so a batch that fails never fails the others. Every call returns only once its change
//! is durable. The queue in front of the thread is bounded: when it is full, appends fail at
//! once with [`StoreError::Busy`] instead of growing memory.

mod actor;
mod alerts;
mod audit;
mod incidents;
mod passwords;
mod postgres;
mod readiness;
pub use postgres::redact as redact_url;
mod runs;
mod sql;
mod sqlite;
mod tokens;

use std::fmt;

pub use actor::{Store, StoreStats, MAX_QUEUED};
pub use alerts::{
    Alert, AlertFilter, AlertStatus, Change, ChangeKind, ChangeStatus, Escalation, GroupTiming,
    LogEntry, Message, MessageStatus, NewAlert, NewMessage, Override, Silence, Triggered, Tx,
};
pub use audit::{AuditEntry, AuditQuery, Broken, Verified};
pub use incidents::{
    ActionItem, Incident, IncidentEvent, IncidentStatus, Moved, NewIncident, Role, PUBLISHED_UPDATE,
};
pub use passwords::{decoy_hash, hash_password, verify_password};
pub use readiness::{Evidence, OverdueItem, PageRow, ReadinessDay};
pub use runs::{
    GateOverride, Run, RunMode, RunStatus, RunStep, StepStatus, StoredAdjustment, Switch,
};
pub use tokens::{random_hex, token_hash, NewToken, Token, TokenKind, SESSION_IDLE, TOKEN_PREFIX};

/// A series' id: every name samples are stored under has one.
pub type SeriesId = i64;

/// Counts of one series in one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesRow {
    pub series: SeriesId,
    /// Unix seconds at the row's start.
    pub bucket: i64,
    pub good: u64,
    pub total: u64,
}

/// A stored series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesInfo {
    pub id: SeriesId,
    pub name: String,
    /// Rows before this hold judged time-slice units rather than raw events.
    pub units_through: i64,
}

/// An idempotency key sent with a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestKey {
    pub key: String,
    /// A hash of the request body: the same key with another body is refused.
    pub body_hash: i64,
    /// The answer to give again: how many samples the batch took.
    pub accepted: u64,
    pub at: i64,
}

/// What happened to one appended batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appended {
    Stored,
    /// Its idempotency key was stored before, with this body hash and answer; nothing was
    /// stored this time.
    Duplicate {
        body_hash: i64,
        accepted: u64,
    },
}

/// A range of one series' rows replaced by what `with` makes of them (rows sorted by
/// bucket, as (bucket, good, total)).
pub struct Rewrite {
    pub series: SeriesId,
    pub from: i64,
    pub to: i64,
    pub with: RowMap,
    /// Where the series' unit rows end afterwards, if this rewrite moves it.
    pub units_through: Option<i64>,
}

pub type RowMap = Box<dyn FnOnce(Vec<(i64, u64, u64)>) -> Vec<(i64, u64, u64)> + Send>;

/// Rows read and written by a roll-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewriteStats {
    pub rows_before: u64,
    pub rows_after: u64,
    pub deleted: u64,
}

/// Rows and bytes the samples take on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    pub rows: u64,
    pub bytes: u64,
}

/// A burn-rate condition that started or stopped firing.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertTransition {
    pub slo: String,
    pub long_window: String,
    pub short_window: String,
    pub severity: String,
    pub firing: bool,
    pub at: i64,
    pub long_burn: f64,
    pub short_burn: f64,
    pub factor: f64,
}

/// The current state of a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertState {
    pub slo: String,
    pub long_window: String,
    pub short_window: String,
    pub severity: String,
    pub firing: bool,
    pub since: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {url}: {reason}")]
    Open { url: String, reason: String },
    /// The database driver failed; its error is kept as the cause.
    #[error("store error: {0}")]
    Driver(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
    /// What the store holds is not what Steward wrote (a row that vanished within a
    /// transaction, a value it cannot read): a bug, not an outage.
    #[error("the store holds something Steward cannot read: {0}")]
    Corrupt(String),
    /// The batch's own data was refused (a count out of range): it alone fails.
    #[error("the store refused the batch: {0}")]
    Rejected(String),
    #[error("the store cannot be reached: {0}")]
    Unavailable(String),
    #[error("the connection to the store was lost while committing ({0}); the change may or may not be stored")]
    CommitUnknown(String),
    #[error("the store has {0} requests waiting; retry shortly")]
    Busy(usize),
    #[error("the store has stopped")]
    Stopped,
    #[error("unsupported store URL `{0}`; use sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
    #[error("another steward serve is running on this database; one engine per database (stop the other, or point this one at its own database)")]
    Locked,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
            StoreError::Rejected(e.to_string())
        } else {
            StoreError::Driver(std::sync::Arc::new(e))
        }
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> StoreError {
        use ::postgres::error::SqlState;
        let data = [
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            SqlState::CHECK_VIOLATION,
        ];
        if e.is_closed() {
            StoreError::Unavailable(e.to_string())
        } else if e
            .code()
            .is_some_and(|c| data.contains(c) || c.code().starts_with("22"))
        {
            // Class 22, data exceptions (a NUL in text, a number out of range): the request's
            // own data, which no retry fixes.
            StoreError::Rejected(e.to_string())
        } else {
            StoreError::Driver(std::sync::Arc::new(e))
        }
    }
}

impl StoreError {
    /// The same error again, for every batch of a group that failed together.
    pub(crate) fn again(&self) -> StoreError {
        match self {
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::CommitUnknown(m) => StoreError::CommitUnknown(m.clone()),
            StoreError::Rejected(m) => StoreError::Rejected(m.clone()),
            StoreError::Locked => StoreError::Locked,
            StoreError::Driver(e) => StoreError::Driver(e.clone()),
            StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
            StoreError::Busy(n) => StoreError::Busy(*n),
            StoreError::Stopped => StoreError::Stopped,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One batch to append: its rows and, optionally, its idempotency key.
pub(crate) struct Batch {
    pub rows: Vec<SeriesRow>,
    pub key: Option<IngestKey>,
}

/// What a backend does, on its own thread, with its own connection.
pub(crate) trait Backend: Send + 'static {
    /// Appends each batch in a savepoint of its own, all in one transaction; rows of the same
    /// (series, bucket) add up. `Err` only when the transaction as a whole failed.
    fn append(&mut self, batches: &[Batch]) -> Result<Vec<Result<Appended>>>;
    /// The series of these names, created when missing, in the order given.
    fn series(&mut self, names: &[String]) -> Result<Vec<SeriesInfo>>;
    /// Every row, ordered by series and bucket, handed over in chunks.
    fn scan(&mut self, chunk: &mut dyn FnMut(&[SeriesRow])) -> Result<()>;
    /// One series' rows from `from` on.
    fn rows(&mut self, series: SeriesId, from: i64) -> Result<Vec<(i64, u64, u64)>>;
    /// Applies the rewrites and deletes every series' rows before its bound, in one
    /// transaction.
    fn rewrite(
        &mut self,
        rewrites: Vec<Rewrite>,
        deletes: &[(SeriesId, i64)],
    ) -> Result<RewriteStats>;
    /// Forgets idempotency keys older than `before`.
    fn expire_keys(&mut self, before: i64) -> Result<u64>;
    /// A recorded idempotency key's body hash and answer.
    fn ingest_key(&mut self, key: &str) -> Result<Option<(i64, u64)>>;
    fn footprint(&mut self) -> Result<Footprint>;
    fn meta(&mut self, key: &str) -> Result<Option<i64>>;
    fn set_meta(&mut self, key: &str, value: i64) -> Result<()>;
    /// Runs `f` in a transaction, committed when it returns `Ok`, rolled back otherwise.
    fn transact(&mut self, f: &mut dyn FnMut(&mut dyn sql::Db) -> Result<()>) -> Result<()>;
    fn ping(&mut self) -> Result<()>;
}

/// Runs a closure in a savepoint of a backend's transaction, rolled back when it fails.
pub(crate) type Savepoint<C> = fn(&mut C, &mut dyn FnMut(&mut C) -> Result<()>) -> Result<()>;

/// Appends a commit group: first all of it at once (idempotency keys, then every batch's rows
/// added up per (series, bucket), so a group of batches about the same series writes each row
/// once); only if that fails, batch by batch, each in a savepoint of its own, so a batch that
/// fails fails alone. `key` records a batch's key (false: it was stored before); `rows` adds
/// rows; `savepoint` runs a closure in a savepoint, rolled back when it fails.
pub(crate) fn append_group<C>(
    conn: &mut C,
    batches: &[Batch],
    key: fn(&mut C, &IngestKey) -> Result<Option<Appended>>,
    rows: fn(&mut C, &[SeriesRow]) -> Result<()>,
    savepoint: Savepoint<C>,
) -> Vec<Result<Appended>> {
    let mut results: Vec<Result<Appended>> = Vec::with_capacity(batches.len());
    let fast = savepoint(conn, &mut |c| {
        results.clear();
        let mut combined = Vec::new();
        for b in batches {
            let seen = match &b.key {
                Some(k) => key(c, k)?,
                None => None,
            };
            match seen {
                Some(duplicate) => results.push(Ok(duplicate)),
                None => {
                    combined.extend_from_slice(&b.rows);
                    results.push(Ok(Appended::Stored));
                }
            }
        }
        rows(c, &aggregate(&combined))
    });
    match fast {
        Ok(()) => return results,
        // A batch's own data: find which, batch by batch.
        Err(StoreError::Rejected(_)) => {}
        // The store itself failed (a timeout, a lost connection): every batch fails with it,
        // rather than each trying again alone.
        Err(e) => return batches.iter().map(|_| Err(e.again())).collect(),
    }
    batches
        .iter()
        .map(|b| {
            let mut outcome = Ok(Appended::Stored);
            let r = savepoint(conn, &mut |c| {
                if let Some(k) = &b.key {
                    if let Some(duplicate) = key(c, k)? {
                        outcome = Ok(duplicate);
                        return Ok(());
                    }
                }
                rows(c, &aggregate(&b.rows))
            });
            r.and(outcome)
        })
        .collect()
}

/// Adds up rows of the same (series, bucket), so one statement touches each key once, in a
/// stable order (the same lock order for concurrent PostgreSQL writers).
pub(crate) fn aggregate(rows: &[SeriesRow]) -> Vec<SeriesRow> {
    let mut sorted = rows.to_vec();
    sorted.sort_unstable_by_key(|r| (r.series, r.bucket));
    let mut out: Vec<SeriesRow> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if last.series == r.series && last.bucket == r.bucket => {
                last.good = last.good.saturating_add(r.good);
                last.total = last.total.saturating_add(r.total);
            }
            _ => out.push(r),
        }
    }
    out
}

/// Rows as stored: counts must fit a signed 64-bit integer.
pub(crate) fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Rejected(format!("count {v} does not fit the store")))
}

/// The first error of a group's results that is not about one batch's data: the group as a
/// whole failed, and must not be committed.
pub(crate) fn group_failure(results: &[Result<Appended>]) -> Option<StoreError> {
    results.iter().find_map(|r| match r {
        Err(StoreError::Rejected(_)) | Ok(_) => None,
        Err(e) => Some(e.again()),
    })
}

/// Which backend a URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::BadUrl(url.to_string()));
            }
            Ok(StoreUrl::Sqlite(path.into()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(StoreUrl::Postgres(url.to_string()))
        } else {
            Err(StoreError::BadUrl(url.to_string()))
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            StoreUrl::Postgres(u) => f.write_str(u),
        }
    }
}
