//! One evaluation: every objective moved to `now`, its figures computed, the conditions that
//! changed recorded, and a new snapshot published.

use crate::{lock, Engine, SloReport, Snapshot, UnitState, SHARD};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use steward_model::SloDefinition;
use steward_store::AlertTransition;

/// How often an objective's budget curve is redrawn, in seconds. Curves are drawn in turns,
/// a sixtieth of the objectives each second, so no tick pays for all of them.
const CURVE_EVERY: i64 = 60;

/// Points per budget curve: enough for a chart a few hundred pixels wide.
const CURVE_POINTS: usize = 96;

impl Engine {
    /// Evaluates every SLO at `now`, records condition changes and publishes a new snapshot.
    pub fn evaluate(&self, now: i64) {
        if !self.is_ready() {
            return;
        }
        let _one = lock(&self.evaluation);
        if self.panic_next_evaluation.swap(false, Ordering::Relaxed) {
            panic!("failpoint: evaluation panicked on purpose");
        }
        let started = std::time::Instant::now();
        // Large catalogs are split over the cores; each part takes its shards one at a time.
        let parts = if self.defs.len() >= 10_000 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            1
        };
        let per_part = self.shards.len().div_ceil(parts).max(1);
        let indices: Vec<usize> = (0..self.shards.len()).collect();
        let results: Vec<(Vec<SloReport>, Vec<AlertTransition>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = indices
                .chunks(per_part)
                .map(|shards| scope.spawn(move || self.evaluate_shards(shards, now)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an evaluator part panicked"))
                .collect()
        });
        let mut parts = Vec::with_capacity(results.len());
        let mut transitions = Vec::new();
        for (r, t) in results {
            parts.push(r);
            transitions.extend(t);
        }
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Snapshot { at: now, parts });
        self.metrics.evaluations.add(1);
        self.metrics
            .last_evaluation_micros
            .set(started.elapsed().as_micros() as u64);
        self.record(transitions);
        self.last_evaluated
            .store(jiff::Timestamp::now().as_second(), Ordering::Relaxed);
    }

    fn evaluate_shards(
        &self,
        shards: &[usize],
        now: i64,
    ) -> (Vec<SloReport>, Vec<AlertTransition>) {
        let mut reports = Vec::with_capacity(shards.len() * SHARD);
        let mut transitions = Vec::new();
        for &s in shards {
            let mut units = lock(&self.shards[s]);
            if s == 0 {
                if let Some(d) = lock(&self.stall_next_evaluation).take() {
                    std::thread::sleep(d);
                }
            }
            let defs = &self.defs[s * SHARD..(s * SHARD + units.len())];
            for (i, (def, st)) in defs.iter().zip(units.iter_mut()).enumerate() {
                reports.push(evaluate_unit(def, st, now, s * SHARD + i, &mut transitions));
            }
        }
        (reports, transitions)
    }

    /// Logs condition changes and hands them to the store; what it cannot take now is kept
    /// and retried at the next evaluation.
    fn record(&self, transitions: Vec<AlertTransition>) {
        for t in &transitions {
            tracing::info!(
                slo = %t.slo,
                severity = %t.severity,
                long_window = %t.long_window,
                short_window = %t.short_window,
                long_burn = t.long_burn,
                short_burn = t.short_burn,
                factor = t.factor,
                "{}",
                if t.firing { "burn-rate condition started firing" } else { "burn-rate condition stopped firing" }
            );
        }
        self.metrics.alert_transitions.add(transitions.len() as u64);
        let mut pending = lock(&self.unrecorded);
        pending.extend(transitions);
        if !pending.is_empty() {
            match self.store.record_transitions(pending.clone()) {
                Ok(()) => pending.clear(),
                Err(e) => {
                    tracing::error!(error = %e, pending = pending.len(), "cannot record alert transitions; retrying next evaluation")
                }
            }
        }
    }
}

/// Moves one objective to `now`: its report, and the conditions that changed.
fn evaluate_unit(
    def: &Arc<SloDefinition>,
    st: &mut UnitState,
    now: i64,
    unit: usize,
    transitions: &mut Vec<AlertTransition>,
) -> SloReport {
    st.slo.advance(def, now);
    let status = st.slo.status(def, now);
    for (i, cond) in status.alerts.iter().enumerate() {
        if cond.firing == st.since[i].is_some() {
            continue;
        }
        st.since[i] = cond.firing.then_some(now);
        transitions.push(AlertTransition {
            slo: def.name.clone(),
            long_window: cond.rule.long.to_string(),
            short_window: cond.rule.short.to_string(),
            severity: cond.rule.severity.as_str().to_string(),
            firing: cond.firing,
            at: now,
            long_burn: status.burn_rate(cond.rule.long),
            short_burn: status.burn_rate(cond.rule.short),
            factor: cond.factor,
        });
    }
    if now.saturating_sub(st.curve_at) >= CURVE_EVERY || now < st.curve_at {
        st.curve = Arc::new(st.slo.budget_curve(def, &status, CURVE_POINTS));
        // The first drawing staggers the objectives over the minute.
        st.curve_at = if st.curve_at == i64::MIN {
            now - (unit as i64 % CURVE_EVERY)
        } else {
            now
        };
    }
    SloReport {
        def: def.clone(),
        status,
        since: st.since,
        curve: st.curve.clone(),
    }
}
