//! Steward's durable state behind one [`Store`], with SQLite (embedded, the default) and
//! PostgreSQL backends that pass one conformance suite.
//!
//! Each backend's connection is owned by one thread. Appends that arrive while a transaction
//! commits are committed together in the next one (group commit), so many concurrent
//! requests share each fsync. Every call returns only once its change is durable.

mod actor;
mod postgres;
mod sqlite;

use std::fmt;

pub use actor::Store;

/// Aggregated counts of one SLO in one bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleRow {
    pub slo: String,
    /// Unix seconds at the bucket's start.
    pub bucket: i64,
    pub good: u64,
    pub total: u64,
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
    #[error("store error: {0}")]
    Backend(String),
    #[error("the store has stopped")]
    Stopped,
    #[error("unsupported store URL `{0}`; use sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    BadUrl(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Backend(e.to_string())
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> StoreError {
        StoreError::Backend(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What a backend does, on its own thread, with its own connection.
pub(crate) trait Backend: Send + 'static {
    /// Adds every row of every batch in one transaction; duplicates of (slo, bucket) add up.
    fn append(&mut self, rows: &[SampleRow]) -> Result<()>;
    fn samples_since(&mut self, slo: &str, since: i64) -> Result<Vec<(i64, u64, u64)>>;
    fn record_transitions(&mut self, transitions: &[AlertTransition]) -> Result<()>;
    fn alert_states(&mut self) -> Result<Vec<AlertState>>;
    fn alert_events(&mut self, slo: &str, limit: u32) -> Result<Vec<AlertTransition>>;
    fn ping(&mut self) -> Result<()>;
}

/// Adds up rows of the same (slo, bucket), so one statement touches each key once.
pub(crate) fn aggregate(rows: &[SampleRow]) -> Vec<SampleRow> {
    let mut map: std::collections::HashMap<(&str, i64), (u64, u64)> =
        std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        let e = map.entry((&r.slo, r.bucket)).or_default();
        e.0 += r.good;
        e.1 += r.total;
    }
    let mut out: Vec<SampleRow> = map
        .into_iter()
        .map(|((slo, bucket), (good, total))| SampleRow {
            slo: slo.to_string(),
            bucket,
            good,
            total,
        })
        .collect();
    // A stable order keeps lock order the same across concurrent PostgreSQL writers.
    out.sort_by(|a, b| (&a.slo, a.bucket).cmp(&(&b.slo, b.bucket)));
    out
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
