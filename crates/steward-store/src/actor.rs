//! The thread that owns a backend's connection, and the handle the rest of Steward calls.

use crate::{
    AlertState, AlertTransition, Appended, Backend, Batch, Footprint, IngestKey, Result, Rewrite,
    RewriteStats, SeriesId, SeriesInfo, SeriesRow, StoreError, StoreUrl, Tx,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

type Reply<T> = mpsc::SyncSender<Result<T>>;
/// Any other call, run on the backend's thread.
type Call = Box<dyn FnOnce(&mut dyn Backend) + Send>;

enum Job {
    Append(Batch, Reply<Appended>),
    Other(Call),
}

/// What the store thread has done, for `/metrics`.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Jobs waiting for the store thread.
    pub queued: AtomicUsize,
    pub commits: AtomicU64,
    pub commit_micros_total: AtomicU64,
    pub last_commit_micros: AtomicU64,
    /// Batches refused because the queue was full.
    pub busy: AtomicU64,
}

/// A handle to the store. Calls block until the backend has answered (for writes: until the
/// change is committed), so call them from a blocking context, not on an async runtime.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::SyncSender<Job>,
    kind: &'static str,
    stats: Arc<StoreStats>,
}

/// Batches committed in one transaction at most.
const MAX_GROUP: usize = 256;

/// Jobs that may wait for the store thread; past this, appends are refused at once.
pub const MAX_QUEUED: usize = 1024;

impl Store {
    /// Opens (creating if needed) the store a URL names and applies pending migrations.
    /// Opens the store for the engine: one per database ([`StoreError::Locked`] for a
    /// second).
    pub fn open(url: &str) -> Result<Store> {
        Store::open_as(url, true)
    }

    /// Opens the store beside a running engine (or none), for the administrative commands
    /// that work on it directly, such as making the first admin's token.
    pub fn open_client(url: &str) -> Result<Store> {
        Store::open_as(url, false)
    }

    fn open_as(url: &str, engine: bool) -> Result<Store> {
        match StoreUrl::parse(url)? {
            StoreUrl::Sqlite(path) => Ok(Store::spawn(
                crate::sqlite::Sqlite::open(&path, engine)?,
                "sqlite",
            )),
            StoreUrl::Postgres(url) => Ok(Store::spawn(
                crate::postgres::Postgres::open(&url, engine)?,
                "postgres",
            )),
        }
    }

    fn spawn(mut backend: impl Backend, kind: &'static str) -> Store {
        let (tx, rx) = mpsc::sync_channel::<Job>(MAX_QUEUED);
        let stats = Arc::new(StoreStats::default());
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name(format!("store-{kind}"))
            .spawn(move || {
                let stats = thread_stats;
                while let Ok(first) = rx.recv() {
                    let mut appends: Vec<(Batch, Reply<Appended>)> = Vec::new();
                    let mut others = Vec::new();
                    let mut next = Some(first);
                    while let Some(job) = next.take() {
                        stats.queued.fetch_sub(1, Ordering::Relaxed);
                        match job {
                            Job::Append(batch, reply) => appends.push((batch, reply)),
                            Job::Other(f) => others.push(f),
                        }
                        if appends.len() < MAX_GROUP {
                            next = rx.try_recv().ok();
                        }
                    }
                    if !appends.is_empty() {
                        let started = std::time::Instant::now();
                        let (batches, replies): (Vec<Batch>, Vec<_>) = appends.into_iter().unzip();
                        let outcome = backend.append(&batches);
                        let micros = started.elapsed().as_micros() as u64;
                        stats.commits.fetch_add(1, Ordering::Relaxed);
                        stats
                            .commit_micros_total
                            .fetch_add(micros, Ordering::Relaxed);
                        stats.last_commit_micros.store(micros, Ordering::Relaxed);
                        match outcome {
                            Ok(results) => {
                                for (reply, r) in replies.into_iter().zip(results) {
                                    let _ = reply.send(r);
                                }
                            }
                            Err(e) => {
                                for reply in replies {
                                    let _ = reply.send(Err(e.again()));
                                }
                            }
                        }
                    }
                    for f in others {
                        f(&mut backend);
                    }
                }
            })
            .expect("spawning the store thread");
        Store {
            jobs: tx,
            kind,
            stats,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Backend) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.send(Job::Other(Box::new(move |b| {
            let _ = tx.send(f(b));
        })));
        if sent.is_err() {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Stopped);
        }
        rx.recv().map_err(|_| StoreError::Stopped)?
    }

    /// Adds sample counts (and the batch's idempotency key); returns once they are durable.
    /// A full queue is refused at once with [`StoreError::Busy`].
    pub fn append(&self, rows: Vec<SeriesRow>, key: Option<IngestKey>) -> Result<Appended> {
        if rows.is_empty() && key.is_none() {
            return Ok(Appended::Stored);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        match self.jobs.try_send(Job::Append(Batch { rows, key }, tx)) {
            Ok(()) => {}
            Err(e) => {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                return Err(match e {
                    mpsc::TrySendError::Full(_) => {
                        self.stats.busy.fetch_add(1, Ordering::Relaxed);
                        StoreError::Busy(MAX_QUEUED)
                    }
                    mpsc::TrySendError::Disconnected(_) => StoreError::Stopped,
                });
            }
        }
        rx.recv().map_err(|_| StoreError::Stopped)?
    }

    /// The series of these names, created when missing, in the order given.
    pub fn series(&self, names: Vec<String>) -> Result<Vec<SeriesInfo>> {
        self.call(move |b| b.series(&names))
    }

    /// Streams every row, ordered by series and bucket, to `chunk`, on the store's thread.
    pub fn scan(&self, mut chunk: impl FnMut(&[SeriesRow]) + Send + 'static) -> Result<()> {
        self.call(move |b| b.scan(&mut chunk))
    }

    /// One series' rows from `from` on, oldest first, as (bucket, good, total).
    pub fn rows(&self, series: SeriesId, from: i64) -> Result<Vec<(i64, u64, u64)>> {
        self.call(move |b| b.rows(series, from))
    }

    /// Replaces ranges of rows and deletes old ones, in one transaction.
    pub fn rewrite(
        &self,
        rewrites: Vec<Rewrite>,
        deletes: Vec<(SeriesId, i64)>,
    ) -> Result<RewriteStats> {
        self.call(move |b| b.rewrite(rewrites, &deletes))
    }

    /// Forgets idempotency keys recorded before `before`.
    pub fn expire_keys(&self, before: i64) -> Result<u64> {
        self.call(move |b| b.expire_keys(before))
    }

    /// A recorded idempotency key's body hash and answer (samples accepted).
    pub fn ingest_key(&self, key: &str) -> Result<Option<(i64, u64)>> {
        let key = key.to_string();
        self.call(move |b| b.ingest_key(&key))
    }

    /// Rows and bytes the samples take.
    pub fn footprint(&self) -> Result<Footprint> {
        self.call(|b| b.footprint())
    }

    pub fn meta(&self, key: &'static str) -> Result<Option<i64>> {
        self.call(move |b| b.meta(key))
    }

    pub fn set_meta(&self, key: &'static str, value: i64) -> Result<()> {
        self.call(move |b| b.set_meta(key, value))
    }

    /// Records condition changes and the new current states, in one transaction.
    pub fn record_transitions(&self, transitions: Vec<AlertTransition>) -> Result<()> {
        if transitions.is_empty() {
            return Ok(());
        }
        self.transact(move |tx| transitions.iter().try_for_each(|t| tx.record_transition(t)))
    }

    pub fn alert_states(&self) -> Result<Vec<AlertState>> {
        self.transact(|tx| tx.condition_states())
    }

    /// The newest `limit` condition changes of one SLO, newest first.
    pub fn alert_events(&self, slo: &str, limit: u32) -> Result<Vec<AlertTransition>> {
        let slo = slo.to_string();
        self.transact(move |tx| tx.condition_events(&slo, limit))
    }

    /// Runs `f` in one transaction on the store's thread: everything it does commits
    /// together, or (when it returns an error) not at all.
    pub fn transact<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.call(move |b| {
            let mut f = Some(f);
            let mut out = None;
            b.transact(&mut |db| {
                let f = f.take().ok_or(StoreError::Stopped)?;
                out = Some(f(&mut Tx { db })?);
                Ok(())
            })?;
            out.ok_or(StoreError::Stopped)
        })
    }

    /// Whether the store answers.
    pub fn ping(&self) -> Result<()> {
        self.call(|b| b.ping())
    }
}
