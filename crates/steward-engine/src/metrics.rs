//! Steward's own counters, exported on `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub samples_accepted: Counter,
    pub samples_rejected: Counter,
    pub batches_accepted: Counter,
    /// Batches whose idempotency key was stored before: answered again, stored once.
    pub batches_repeated: Counter,
    pub evaluations: Counter,
    pub last_evaluation_micros: Counter,
    pub alert_transitions: Counter,
    /// Worker ticks that panicked (the worker went on).
    pub worker_restarts: Counter,
    /// How long the last rebuild from the store took, and how many rows it read.
    pub rebuild_micros: Counter,
    pub rebuild_rows: Counter,
    /// Rows read and written by roll-ups, and rows deleted as no window needs them.
    pub rollup_rows_before: Counter,
    pub rollup_rows_after: Counter,
    pub rollup_rows_deleted: Counter,
    pub last_rollup_micros: Counter,
    /// Alert events taken (triggers, acknowledgements, resolutions, from every source).
    pub alert_events: Counter,
    pub notifications_delivered: Counter,
    pub notification_retries: Counter,
    pub notifications_dead: Counter,
    /// Notifications sent inside another's delivery (grouped).
    pub notifications_grouped: Counter,
}
