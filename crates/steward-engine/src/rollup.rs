//! The roll-up worker: merges stored rows as they age, judges final time slices, deletes what
//! no window needs, and forgets idempotency keys after a day (the schedule and the proof that
//! no figure changes are in `steward_model::rollup`).

use crate::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use steward_model::rollup;
use steward_model::Counts;
use steward_store::{Rewrite, RewriteStats, RowMap, StoreError};

/// The store's record of the last pass.
pub(crate) const LAST_ROLLUP: &str = "last_rollup";

/// Seconds between passes.
pub const ROLLUP_EVERY: u64 = 60;

/// Series rewritten in one transaction.
const SERIES_PER_TRANSACTION: usize = 256;

/// How long an idempotency key is remembered.
pub const KEY_RETENTION: i64 = 86_400;

fn to_counts(rows: Vec<(i64, u64, u64)>) -> Vec<(i64, Counts)> {
    rows.into_iter()
        .map(|(t, g, n)| (t, Counts::new(g, n)))
        .collect()
}

fn from_counts(rows: Vec<(i64, Counts)>) -> Vec<(i64, u64, u64)> {
    rows.into_iter()
        .map(|(t, c)| (t, c.good, c.total))
        .collect()
}

impl Engine {
    /// Reads from the store where each series' unit rows end (a rewrite or a rebuild may not
    /// have seen the last word on it).
    pub(crate) fn reload_units_through(&self) -> Result<(), StoreError> {
        let names: Vec<String> = self.series.iter().map(|s| s.name.clone()).collect();
        for (series, info) in self.series.iter().zip(self.store.series(names)?) {
            series
                .units_through
                .store(info.units_through, Ordering::Relaxed);
        }
        Ok(())
    }

    /// One roll-up pass over every series at `now`. Blocks on the store.
    pub fn roll_up(&self, now: i64) -> Result<RewriteStats, StoreError> {
        // Never while a rebuild reads the store: it must see rows and where unit rows end
        // as one.
        let Some(_gate) = self.gate_shared() else {
            return Ok(RewriteStats::default());
        };
        if !self.is_ready() {
            return Ok(RewriteStats::default());
        }
        let started = std::time::Instant::now();
        if self.reload_series.load(Ordering::Acquire) {
            // A failed rewrite may have committed all the same: ask the store where each
            // series' unit rows end before judging any slice again.
            self.reload_units_through()?;
            self.reload_series.store(false, Ordering::Release);
        }
        let last = self.last_rollup.load(Ordering::Relaxed);
        let mut total = RewriteStats::default();
        let mut failed = None;
        for chunk in (0..self.series.len())
            .collect::<Vec<_>>()
            .chunks(SERIES_PER_TRANSACTION)
        {
            let mut rewrites = Vec::new();
            let mut deletes = Vec::new();
            let mut taken = Vec::new();
            let mut judged = Vec::new();
            for &s in chunk {
                let series = &self.series[s];
                let def = self.defs[series.readers[0]].clone();
                let dirty = series.dirty.swap(i64::MAX, Ordering::Relaxed);
                taken.push((s, dirty));
                let units_through = series.units_through.load(Ordering::Relaxed);
                let plan = rollup::plan(&def, now, last, dirty, units_through);
                if let Some((from, to)) = plan.judge {
                    let d = def.clone();
                    let with: RowMap = Box::new(move |rows| {
                        from_counts(rollup::judge_slices(&d, &to_counts(rows)))
                    });
                    rewrites.push(Rewrite {
                        series: series.id,
                        from,
                        to,
                        with,
                        units_through: Some(to),
                    });
                    judged.push((s, to));
                }
                for (from, to, resolution) in plan.merges {
                    let d = def.clone();
                    let with: RowMap = Box::new(move |rows| {
                        from_counts(rollup::merge(&d, &to_counts(rows), resolution))
                    });
                    rewrites.push(Rewrite {
                        series: series.id,
                        from,
                        to,
                        with,
                        units_through: None,
                    });
                }
                deletes.push((series.id, plan.delete_before));
            }
            match self.store.rewrite(rewrites, deletes) {
                Ok(stats) => {
                    for (s, to) in judged {
                        self.series[s].units_through.store(to, Ordering::Relaxed);
                    }
                    total.rows_before += stats.rows_before;
                    total.rows_after += stats.rows_after;
                    total.deleted += stats.deleted;
                }
                Err(e) => {
                    // Whatever was or was not rewritten, the next pass goes over these series
                    // again from where this one started; the other chunks go on.
                    let redo = last.saturating_sub(rollup::STAGES[rollup::STAGES.len() - 1].age);
                    for (s, dirty) in taken {
                        self.series[s]
                            .dirty
                            .fetch_min(dirty.min(redo), Ordering::Relaxed);
                    }
                    self.reload_series.store(true, Ordering::Release);
                    tracing::warn!(error = %e, series = chunk.len(), "a roll-up chunk failed; it is tried again at the next pass");
                    failed = Some(e);
                }
            }
        }
        self.store.set_meta(LAST_ROLLUP, now)?;
        self.last_rollup.store(now, Ordering::Relaxed);
        self.store.expire_keys(now - KEY_RETENTION)?;
        if let Some(e) = failed {
            return Err(e);
        }
        let m = &self.metrics;
        m.rollup_rows_before.add(total.rows_before);
        m.rollup_rows_after.add(total.rows_after);
        m.rollup_rows_deleted.add(total.deleted);
        m.last_rollup_micros
            .set(started.elapsed().as_micros() as u64);
        Ok(total)
    }

    /// Rolls up every [`ROLLUP_EVERY`] seconds, supervised, until `stop` is set.
    pub fn spawn_rollup(self: &Arc<Self>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        let engine = self.clone();
        crate::supervise("rollup", self.metrics.clone(), stop, move || {
            if let Err(e) = engine.roll_up(jiff::Timestamp::now().as_second()) {
                tracing::warn!(error = %e, "roll-up of stored samples failed; retrying at the next pass");
            }
            std::time::Duration::from_secs(ROLLUP_EVERY)
        })
    }
}
