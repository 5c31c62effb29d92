//! Rebuilding the objectives' states from the store after a start: one ordered scan of every
//! stored row, read on the store's thread and counted on this one, while the HTTP listener
//! already answers (`/readyz` says how far the rebuild is).

use crate::{lock, Engine, EngineError, READY, SHARD};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use steward_model::Counts;
use steward_store::SeriesRow;

/// Chunks of rows in flight between the store's thread and the rebuild.
const CHUNKS_IN_FLIGHT: usize = 16;

impl Engine {
    /// Counts every stored row into the objectives that read it, moves them to `now`, and
    /// makes the engine ready. Blocks on the store.
    pub fn rebuild(&self, now: i64) -> Result<(), EngineError> {
        // No commit runs while the states are rebuilt; new ones are refused meanwhile.
        self.phase.store(crate::REBUILDING, Ordering::Release);
        let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        // Taken before anything is read: a change that asks for a rebuild while this one
        // runs (an adjustment stored after its list was read) asks again, and is not lost.
        let asked = self.needs_rebuild.swap(false, Ordering::AcqRel);
        let result = self.rebuild_under_gate(now);
        if result.is_err() && asked {
            self.needs_rebuild.store(true, Ordering::Release);
        }
        result
    }

    fn rebuild_under_gate(&self, now: i64) -> Result<(), EngineError> {
        let started = std::time::Instant::now();
        self.reload_units_through()?;
        self.load_exclusions(now)?;
        // From fresh states, so a rebuild that failed half-way can simply run again.
        for (s, shard) in self.shards.iter().enumerate() {
            let mut shard = lock(shard);
            for (i, st) in shard.units.iter_mut().enumerate() {
                let def = &self.defs[s * SHARD + i];
                st.slo = steward_model::SloState::new(def, def.history_start(now), now);
                st.excluded_blocks.clear();
            }
        }
        self.series_rebuilt.store(0, Ordering::Relaxed);
        let (tx, rx) = mpsc::sync_channel::<Vec<SeriesRow>>(CHUNKS_IN_FLIGHT);
        let store = self.store.clone();
        let reader = std::thread::Builder::new()
            .name("rebuild-scan".into())
            .spawn(move || {
                store.scan(move |chunk| {
                    // The receiver is gone only when the rebuild failed; the scan can stop.
                    let _ = tx.send(chunk.to_vec());
                })
            })
            .expect("spawning the rebuild reader");
        let mut rows_read = 0u64;
        let mut last_series = None;
        for chunk in rx {
            rows_read += chunk.len() as u64;
            for run in chunk.chunk_by(|a, b| a.series == b.series) {
                let id = run[0].series;
                if last_series != Some(id) {
                    last_series = Some(id);
                    self.series_rebuilt.fetch_add(1, Ordering::Relaxed);
                }
                // Rows of a series this catalog no longer has are left alone.
                let Some(&s) = self.series_by_id.get(&id) else {
                    continue;
                };
                let series = &self.series[s];
                let units_through = series.units_through.load(Ordering::Relaxed);
                for &u in &series.readers {
                    let mut shard = lock(&self.shards[u / SHARD]);
                    let unit = &mut shard.units[u % SHARD];
                    let excluded = unit.excluded.clone();
                    // Rows from before the history start count in no figure: the tiers
                    // and the slice ring skip them, and no calendar period holds them.
                    // Nor do rows a budget adjustment excludes.
                    for r in run {
                        if steward_model::adjustment::excluded(&excluded, r.bucket) {
                            let def = &self.defs[u];
                            let oldest = def.block_of(def.history_start(now));
                            unit.exclude(def.block_of(r.bucket), r.total, oldest);
                            continue;
                        }
                        let c = Counts::new(r.good, r.total);
                        unit.slo
                            .add_stored(r.bucket, c, r.bucket < units_through, now);
                    }
                }
            }
        }
        reader
            .join()
            .map_err(|_| EngineError::Store(steward_store::StoreError::Stopped))??;
        self.series_rebuilt
            .store(self.series.len() as u64, Ordering::Relaxed);
        self.phase.store(READY, Ordering::Release);
        self.evaluate(now);
        self.metrics
            .rebuild_micros
            .set(started.elapsed().as_micros() as u64);
        self.metrics.rebuild_rows.set(rows_read);
        tracing::info!(
            rows = rows_read,
            series = self.series.len(),
            ms = started.elapsed().as_millis() as u64,
            "engine rebuilt from the store"
        );
        Ok(())
    }
}
