//! One evaluation: every objective moved to `now`, its figures computed, the conditions that
//! changed recorded, and a new snapshot published.

use crate::alerting::ConditionChange;
use crate::{lock, Engine, SloReport, Snapshot, UnitState, SHARD};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use steward_model::{BudgetCurve, RuleId, SloDefinition, SRE_WORKBOOK_RULES};
use steward_store::AlertTransition;

/// How often an objective's budget curve is redrawn, in seconds. Curves are drawn a shard at
/// a time, in turns, so no tick pays for all of them.
const CURVE_EVERY: i64 = 60;

/// Points per budget curve: enough for a chart a few hundred pixels wide.
const CURVE_POINTS: usize = 96;

impl Engine {
    /// Evaluates every SLO at `now`, records condition changes and publishes a new snapshot.
    pub fn evaluate(&self, now: i64) {
        if !self.is_ready() {
            return;
        }
        let mut spare = lock(&self.evaluation);
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
        type Part = (
            Vec<SloReport>,
            Vec<Arc<Vec<BudgetCurve>>>,
            Vec<ConditionChange>,
        );
        let results: Vec<Part> = std::thread::scope(|scope| {
            let handles: Vec<_> = indices
                .chunks(per_part)
                .map(|shards| {
                    let reports = spare.pop().unwrap_or_default();
                    scope.spawn(move || self.evaluate_shards(shards, now, reports))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an evaluator part panicked"))
                .collect()
        });
        let mut parts = Vec::with_capacity(results.len());
        let mut curves = Vec::with_capacity(self.shards.len());
        let mut transitions = Vec::new();
        for (r, c, t) in results {
            parts.push(r);
            curves.extend(c);
            transitions.extend(t);
        }
        let old = std::mem::replace(
            &mut *self.snapshot.write().unwrap_or_else(|p| p.into_inner()),
            Arc::new(Snapshot {
                at: now,
                parts,
                curves,
            }),
        );
        if let Ok(old) = Arc::try_unwrap(old) {
            for mut reports in old.parts {
                reports.clear();
                spare.push(reports);
            }
        }
        self.metrics.evaluations.add(1);
        self.metrics
            .last_evaluation_micros
            .set(started.elapsed().as_micros() as u64);
        // The figures are current now, whatever the store does with the transitions.
        self.last_evaluated.store(now, Ordering::Relaxed);
        self.record(transitions);
    }

    fn evaluate_shards(
        &self,
        shards: &[usize],
        now: i64,
        mut reports: Vec<SloReport>,
    ) -> (
        Vec<SloReport>,
        Vec<Arc<Vec<BudgetCurve>>>,
        Vec<ConditionChange>,
    ) {
        reports.reserve(shards.len() * SHARD);
        let mut curves = Vec::with_capacity(shards.len());
        let mut transitions = Vec::new();
        for &s in shards {
            let mut shard = lock(&self.shards[s]);
            if s == 0 {
                if let Some(d) = lock(&self.stall_next_evaluation).take() {
                    std::thread::sleep(d);
                }
            }
            let first = s * SHARD;
            let defs = &self.defs[first..first + shard.units.len()];
            let from = reports.len();
            for (def, st) in defs.iter().zip(shard.units.iter_mut()) {
                reports.push(evaluate_unit(def, st, now, &mut transitions));
            }
            // A shard's curves are redrawn together, a sixtieth of the shards each second.
            let due = now.saturating_sub(shard.curves_at) >= CURVE_EVERY || now < shard.curves_at;
            if due {
                let drawn: Vec<BudgetCurve> = defs
                    .iter()
                    .zip(&shard.units)
                    .zip(&reports[from..])
                    .map(|((def, st), r)| st.slo.budget_curve(def, &r.status, CURVE_POINTS))
                    .collect();
                shard.curves = Arc::new(drawn);
                shard.curves_at = if shard.curves_at == i64::MIN {
                    now - (s as i64 % CURVE_EVERY)
                } else {
                    now
                };
            }
            curves.push(shard.curves.clone());
        }
        (reports, curves, transitions)
    }

    /// Logs condition changes and hands them to the alert pipeline, which records them and
    /// opens or resolves their alerts; the evaluator never waits for the store.
    fn record(&self, changes: Vec<ConditionChange>) {
        for c in &changes {
            let t = &c.transition;
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
        self.metrics.alert_transitions.add(changes.len() as u64);
        self.alerting.conditions(changes);
    }
}

/// Moves one objective to `now`: its report, and the conditions that changed.
fn evaluate_unit(
    def: &Arc<SloDefinition>,
    st: &mut UnitState,
    now: i64,
    changes: &mut Vec<ConditionChange>,
) -> SloReport {
    st.slo.advance(def, now);
    let status = st.slo.status(def, now);
    let changed: Vec<usize> = (0..status.alerts.len())
        .filter(|&i| status.alerts[i].firing != st.since[i].is_some())
        .collect();
    for &i in &changed {
        st.since[i] = status.alerts[i].firing.then_some(now);
    }
    for i in changed {
        let cond = &status.alerts[i];
        let rule = RuleId(i as u8);
        // Another condition of the same severity still fires: the SLO's alert stays open.
        let others_firing = SRE_WORKBOOK_RULES
            .iter()
            .enumerate()
            .any(|(j, r)| j != i && r.severity == cond.rule.severity && st.since[j].is_some());
        let transition = AlertTransition {
            slo: def.name.clone(),
            long_window: cond.rule.long.to_string(),
            short_window: cond.rule.short.to_string(),
            severity: cond.rule.severity.as_str().to_string(),
            firing: cond.firing,
            at: now,
            long_burn: status.burn_rate(cond.rule.long),
            short_burn: status.burn_rate(cond.rule.short),
            factor: cond.factor,
        };
        changes.push(ConditionChange {
            rule,
            transition,
            service: def.service.clone(),
            budget_remaining: status.budget.remaining_ratio,
            target: def.objective.target(),
            others_firing,
        });
    }
    SloReport {
        def: def.clone(),
        status,
        since: st.since,
    }
}
