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
    pub evaluations: Counter,
    pub last_evaluation_micros: Counter,
    pub alert_transitions: Counter,
    /// Worker ticks that panicked (the worker went on).
    pub worker_restarts: Counter,
}
