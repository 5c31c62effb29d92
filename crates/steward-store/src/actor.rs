//! The thread that owns a backend's connection, and the handle the rest of Steward calls.

use crate::{AlertState, AlertTransition, Backend, Result, SampleRow, StoreError, StoreUrl};
use std::sync::mpsc;

type Reply<T> = mpsc::SyncSender<Result<T>>;
/// Any other call, run on the backend's thread.
type Call = Box<dyn FnOnce(&mut dyn Backend) + Send>;

enum Job {
    Append(Vec<SampleRow>, Reply<()>),
    Other(Call),
}

/// A handle to the store. Calls block until the backend has answered (for writes: until the
/// change is committed), so call them from a blocking context, not on an async runtime.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    kind: &'static str,
}

/// Appends committed in one transaction at most.
const MAX_GROUP: usize = 256;

impl Store {
    /// Opens (creating if needed) the store a URL names and applies pending migrations.
    pub fn open(url: &str) -> Result<Store> {
        match StoreUrl::parse(url)? {
            StoreUrl::Sqlite(path) => {
                Ok(Store::spawn(crate::sqlite::Sqlite::open(&path)?, "sqlite"))
            }
            StoreUrl::Postgres(url) => Ok(Store::spawn(
                crate::postgres::Postgres::open(&url)?,
                "postgres",
            )),
        }
    }

    fn spawn(mut backend: impl Backend, kind: &'static str) -> Store {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("store-{kind}"))
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut appends: Vec<(Vec<SampleRow>, Reply<()>)> = Vec::new();
                    let mut others = Vec::new();
                    let mut next = Some(first);
                    while let Some(job) = next.take() {
                        match job {
                            Job::Append(rows, reply) => appends.push((rows, reply)),
                            Job::Other(f) => others.push(f),
                        }
                        if appends.len() < MAX_GROUP {
                            next = rx.try_recv().ok();
                        }
                    }
                    if !appends.is_empty() {
                        let rows: Vec<SampleRow> = appends
                            .iter()
                            .flat_map(|(r, _)| r.iter().cloned())
                            .collect();
                        let result = backend.append(&rows);
                        for (_, reply) in appends {
                            let _ = reply.send(match &result {
                                Ok(()) => Ok(()),
                                Err(e) => Err(StoreError::Backend(e.to_string())),
                            });
                        }
                    }
                    for f in others {
                        f(&mut backend);
                    }
                }
            })
            .expect("spawning the store thread");
        Store { jobs: tx, kind }
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Backend) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Job::Other(Box::new(move |b| {
                let _ = tx.send(f(b));
            })))
            .map_err(|_| StoreError::Stopped)?;
        rx.recv().map_err(|_| StoreError::Stopped)?
    }

    /// Adds sample counts; returns once they are durable.
    pub fn append(&self, rows: Vec<SampleRow>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Job::Append(rows, tx))
            .map_err(|_| StoreError::Stopped)?;
        rx.recv().map_err(|_| StoreError::Stopped)?
    }

    /// Buckets of one SLO from `since` on, oldest first, as (bucket, good, total).
    pub fn samples_since(&self, slo: &str, since: i64) -> Result<Vec<(i64, u64, u64)>> {
        let slo = slo.to_string();
        self.call(move |b| b.samples_since(&slo, since))
    }

    /// Records condition changes and the new current states, in one transaction.
    pub fn record_transitions(&self, transitions: Vec<AlertTransition>) -> Result<()> {
        if transitions.is_empty() {
            return Ok(());
        }
        self.call(move |b| b.record_transitions(&transitions))
    }

    pub fn alert_states(&self) -> Result<Vec<AlertState>> {
        self.call(|b| b.alert_states())
    }

    /// The newest `limit` condition changes of one SLO, newest first.
    pub fn alert_events(&self, slo: &str, limit: u32) -> Result<Vec<AlertTransition>> {
        let slo = slo.to_string();
        self.call(move |b| b.alert_events(&slo, limit))
    }

    /// Whether the store answers.
    pub fn ping(&self) -> Result<()> {
        self.call(|b| b.ping())
    }
}
