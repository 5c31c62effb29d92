//! An SLO's counts over spans of the past (a status page's days, a report's month), read
//! from the store and counted exactly as a rebuild counts them: rows a budget adjustment
//! excludes are left out, and a time-slice objective counts its judged slices only (the
//! last hour's raw events are not yet units).
//!
//! The store keeps at least [`steward_model::rollup::KEPT_DAYS`] days of hourly rows for
//! every SLO, so 90 days of bars can be drawn whatever an SLO's window. A row counts in the
//! span that holds its bucket's start: an hourly row is cut by the hour, so days of a zone
//! whose offset is not whole hours are counted to the hour.

use crate::{lock, Engine, EngineError, SHARD};
use steward_model::{Counts, SloDefinition};

/// One objective's counts in each span asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanCounts {
    /// The objective (what samples are sent to and figures are reported under).
    pub slo: String,
    pub service: String,
    pub target: f64,
    /// One per span, in the order given.
    pub counts: Vec<Counts>,
}

impl Engine {
    /// The counts of every objective `wanted` picks in each of `spans` (`[start, end)`,
    /// ascending and not overlapping), in the catalog's order.
    pub fn counts_in(
        &self,
        wanted: impl Fn(&SloDefinition) -> bool,
        spans: &[(i64, i64)],
    ) -> Result<Vec<SpanCounts>, EngineError> {
        let Some(from) = spans.first().map(|s| s.0) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Option<SpanCounts>> = vec![None; self.defs.len()];
        for series in &self.series {
            let readers: Vec<usize> = series
                .readers
                .iter()
                .copied()
                .filter(|&u| wanted(&self.defs[u]))
                .collect();
            if readers.is_empty() {
                continue;
            }
            let rows = self.store.rows(series.id, from)?;
            let units_through = series
                .units_through
                .load(std::sync::atomic::Ordering::Relaxed);
            for u in readers {
                let def = &self.defs[u];
                let excluded = lock(&self.shards[u / SHARD]).units[u % SHARD]
                    .excluded
                    .clone();
                let mut counts = vec![Counts::default(); spans.len()];
                for &(bucket, good, total) in &rows {
                    if def.method.slice().is_some() && bucket >= units_through {
                        continue;
                    }
                    if steward_model::adjustment::excluded(&excluded, bucket) {
                        continue;
                    }
                    let i = spans.partition_point(|s| s.0 <= bucket);
                    if i > 0 && bucket < spans[i - 1].1 {
                        counts[i - 1] += Counts::new(good, total);
                    }
                }
                out[u] = Some(SpanCounts {
                    slo: def.name.clone(),
                    service: def.service.clone(),
                    target: def.objective.target(),
                    counts,
                });
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}
