//! Budget adjustments in the engine: the intervals each objective does not count. Samples
//! stamped inside one are stored (nothing accepted is lost) but counted in no figure, on
//! ingest and on every rebuild; adding, changing or removing an adjustment rebuilds every
//! figure from the store, past windows included. A stored bucket counts as excluded when it
//! starts inside an interval, so an adjustment's edges apply at the resolution the store
//! keeps at that age (5 s for the last hour, then 1 min, 10 min and 1 h as rows roll up).

use crate::{lock, Engine, EngineError, SHARD};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use steward_model::adjustment::{merge, BudgetAdjustment, Recurrence};
use steward_store::StoredAdjustment;

/// How far back and ahead occurrences are expanded: past every window, and past the next
/// refresh.
const PAST: i64 = 400 * 86_400;
const AHEAD: i64 = 2 * 86_400;

/// One adjustment as it applies now.
#[derive(Clone, Debug, PartialEq)]
pub struct Exclusion {
    pub adjustment: BudgetAdjustment,
    /// `config` or `api`.
    pub source: &'static str,
    pub objectives: Vec<String>,
    /// Its intervals from a year and a month ago to two days ahead.
    pub intervals: Vec<(i64, i64)>,
}

/// A stored adjustment as the model reads it; `Err` says why it cannot be.
pub fn from_stored(a: &StoredAdjustment) -> Result<BudgetAdjustment, String> {
    let recurrence = match &a.rrule {
        Some(r) => Some(Recurrence::parse(r)?),
        None => None,
    };
    let time_zone = jiff::tz::TimeZone::get(&a.time_zone)
        .map_err(|_| format!("`{}` is not a time zone", a.time_zone))?;
    Ok(BudgetAdjustment {
        name: a.name.clone(),
        description: a.description.clone(),
        service: a.service.clone(),
        indicator: a.indicator.clone(),
        start: a.start_at,
        duration: a.duration,
        recurrence,
        time_zone,
    })
}

impl Engine {
    /// Reads the adjustments (the configuration's and the store's) and gives every objective
    /// the intervals it does not count. Called by every rebuild, and hourly for occurrences
    /// that come into reach.
    pub(crate) fn load_exclusions(&self, now: i64) -> Result<(), EngineError> {
        let stored = self.store.transact(|tx| tx.adjustments())?;
        let mut all: Vec<(BudgetAdjustment, &'static str)> = self
            .catalog
            .budget_adjustments
            .iter()
            .map(|a| (a.clone(), "config"))
            .collect();
        for s in &stored {
            match from_stored(s) {
                Ok(a) => all.push((a, "api")),
                Err(e) => {
                    tracing::warn!(adjustment = %s.name, "a stored budget adjustment cannot be read: {e}")
                }
            }
        }
        let mut per_unit: Vec<Vec<(i64, i64)>> = vec![Vec::new(); self.defs.len()];
        let mut shown = Vec::with_capacity(all.len());
        for (a, source) in all {
            let objectives = self
                .catalog
                .objectives_for(&a.service, a.indicator.as_deref());
            let intervals = a.intervals(now - PAST, now + AHEAD);
            for o in &objectives {
                if let Some(u) = self.defs.iter().position(|d| &d.name == o) {
                    per_unit[u].extend(intervals.iter().copied());
                }
            }
            shown.push(Exclusion {
                adjustment: a,
                source,
                objectives,
                intervals,
            });
        }
        for (u, spans) in per_unit.into_iter().enumerate() {
            let spans = Arc::new(merge(spans));
            let mut shard = lock(&self.shards[u / SHARD]);
            shard.units[u % SHARD].excluded = spans;
        }
        *self.exclusions.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(shown);
        self.exclusions_at.store(now, Ordering::Relaxed);
        Ok(())
    }

    /// Every adjustment as it applies now.
    pub fn exclusions(&self) -> Arc<Vec<Exclusion>> {
        self.exclusions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The adjustments changed: every figure is computed again from the store (the
    /// evaluator rebuilds at its next second; samples wait meanwhile).
    pub fn adjustments_changed(&self) {
        self.needs_rebuild.store(true, Ordering::Release);
        self.nudge_evaluator();
    }

    /// Reads the adjustments again when an hour has passed: occurrences come into reach.
    pub(crate) fn refresh_exclusions(&self, now: i64) {
        if now - self.exclusions_at.load(Ordering::Relaxed) >= 3600 {
            if let Err(e) = self.load_exclusions(now) {
                tracing::warn!(error = %e, "cannot read budget adjustments; trying again in a second");
            }
        }
    }
}
