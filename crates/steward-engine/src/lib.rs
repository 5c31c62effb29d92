//! The running SLO engine: takes samples (validated as a batch, stored durably, then
//! counted), evaluates every SLO each second, records when burn-rate conditions start and
//! stop firing, and rebuilds itself from the store on start.
//!
//! Readers get an immutable [`Snapshot`] swapped in after each evaluation, so a slow reader
//! never holds up ingest or the evaluator.

mod metrics;

pub use metrics::Metrics;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use steward_config::Catalog;
use steward_model::slo::Measurement;
use steward_model::{Counts, SloDefinition, SloState, SloStatus, SRE_WORKBOOK_RULES};
use steward_store::{AlertTransition, SampleRow, Store, StoreError};

/// Samples are stored in buckets of this many seconds: the finest tier's resolution.
pub const STORE_BUCKET: i64 = 5;

/// The largest count one sample may carry; anything bigger is a sender's bug.
pub const MAX_COUNT: u64 = 1_000_000_000_000_000;

/// One sample as it arrives, before validation.
#[derive(Clone, Debug, PartialEq)]
pub struct IncomingSample {
    /// An SLO's name (every objective of it receives the sample), or one objective's name.
    pub slo: String,
    /// Unix seconds; `None` means now.
    pub time: Option<i64>,
    pub measurement: Measurement,
}

/// A sample that cannot be taken: its index in the batch and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleIssue {
    pub index: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{} of the samples are invalid; nothing was stored", .0.len())]
    Invalid(Vec<SampleIssue>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What readers see: every SLO's figures as of the last evaluation, in catalog order (kept
/// in the parts the evaluator's threads produced, so publishing copies nothing).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub at: i64,
    parts: Vec<Vec<SloReport>>,
}

impl Snapshot {
    pub fn slos(&self) -> impl Iterator<Item = &SloReport> {
        self.parts.iter().flatten()
    }

    pub fn get(&self, name: &str) -> Option<&SloReport> {
        self.slos().find(|r| r.def.name == name)
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug)]
pub struct SloReport {
    pub def: Arc<SloDefinition>,
    pub status: SloStatus,
    /// When each of the four conditions started firing (in `SRE_WORKBOOK_RULES` order).
    pub since: [Option<i64>; 4],
}

struct UnitState {
    slo: SloState,
    since: [Option<i64>; 4],
}

pub struct Engine {
    catalog: Arc<Catalog>,
    store: Store,
    defs: Vec<Arc<SloDefinition>>,
    /// SLO (or objective) name → the objectives a sample for it feeds.
    targets: HashMap<String, Vec<usize>>,
    state: Mutex<Vec<UnitState>>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Transitions the store has not taken yet (it was down); retried each evaluation.
    unrecorded: Mutex<Vec<AlertTransition>>,
    pub metrics: Metrics,
}

impl Engine {
    /// Builds the engine for a catalog, rebuilding every SLO's counts and alert state from the
    /// store.
    pub fn start(catalog: Catalog, store: Store, now: i64) -> Result<Engine, EngineError> {
        let defs: Vec<Arc<SloDefinition>> = catalog.slos.iter().cloned().map(Arc::new).collect();
        let mut targets: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, d) in defs.iter().enumerate() {
            targets.entry(d.name.clone()).or_default().push(i);
            if let Some((parent, _)) = d.name.split_once(':') {
                targets.entry(parent.to_string()).or_default().push(i);
            }
        }
        // When each firing condition started, by (objective, long window, short window).
        let persisted: HashMap<(String, String, String), i64> = store
            .alert_states()?
            .into_iter()
            .filter(|s| s.firing)
            .filter_map(|s| Some(((s.slo, s.long_window, s.short_window), s.since?)))
            .collect();
        let mut states = Vec::with_capacity(defs.len());
        for d in &defs {
            let start = d.history_start(now);
            let mut slo = SloState::new(d, start, now);
            for (bucket, good, total) in store.samples_since(&d.name, start)? {
                slo.add(bucket, Counts::new(good, total));
            }
            slo.advance(d, now);
            let since = SRE_WORKBOOK_RULES.map(|rule| {
                let key = (
                    d.name.clone(),
                    rule.long.to_string(),
                    rule.short.to_string(),
                );
                persisted.get(&key).copied()
            });
            states.push(UnitState { slo, since });
        }
        let engine = Engine {
            catalog: Arc::new(catalog),
            store,
            defs,
            targets,
            state: Mutex::new(states),
            snapshot: RwLock::new(Arc::new(Snapshot {
                at: now,
                parts: Vec::new(),
            })),
            unrecorded: Mutex::new(Vec::new()),
            metrics: Metrics::default(),
        };
        engine.evaluate(now);
        Ok(engine)
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Checks a whole batch; on success returns the rows to store, one per objective fed.
    pub fn validate(
        &self,
        samples: &[IncomingSample],
        now: i64,
    ) -> Result<Vec<(usize, SampleRow)>, Vec<SampleIssue>> {
        let mut rows = Vec::with_capacity(samples.len());
        let mut issues = Vec::new();
        for (index, s) in samples.iter().enumerate() {
            let Some(units) = self.targets.get(&s.slo) else {
                issues.push(SampleIssue {
                    index,
                    message: format!("unknown SLO `{}`; GET /api/v1/slos lists the SLOs", s.slo),
                });
                continue;
            };
            if let Measurement::Events { total, .. } = s.measurement {
                if total > MAX_COUNT {
                    issues.push(SampleIssue {
                        index,
                        message: format!(
                            "total {total} is larger than the {MAX_COUNT} a sample may carry"
                        ),
                    });
                    continue;
                }
            }
            let t = s.time.unwrap_or(now);
            for &u in units {
                let def = &self.defs[u];
                let checked = def
                    .check_time(t, now)
                    .and_then(|()| def.judge(s.measurement));
                match checked {
                    Ok(c) => rows.push((
                        u,
                        SampleRow {
                            slo: def.name.clone(),
                            bucket: t.div_euclid(STORE_BUCKET) * STORE_BUCKET,
                            good: c.good,
                            total: c.total,
                        },
                    )),
                    Err(e) => {
                        issues.push(SampleIssue {
                            index,
                            message: format!("{}: {e}", def.name),
                        });
                        break;
                    }
                }
            }
        }
        if issues.is_empty() {
            Ok(rows)
        } else {
            Err(issues)
        }
    }

    /// Validates, stores durably, then counts a batch. Returns the number of samples taken.
    /// Blocks on the store: call it from a blocking context.
    pub fn ingest(&self, samples: &[IncomingSample], now: i64) -> Result<usize, EngineError> {
        let rows = self.validate(samples, now).map_err(|issues| {
            self.metrics.samples_rejected.add(samples.len() as u64);
            EngineError::Invalid(issues)
        })?;
        self.commit(&rows, samples.len())?;
        Ok(samples.len())
    }

    /// Stores validated rows durably, then counts them; `samples` is how many samples they
    /// came from. Blocks on the store.
    pub fn commit(&self, rows: &[(usize, SampleRow)], samples: usize) -> Result<(), EngineError> {
        self.store
            .append(rows.iter().map(|(_, r)| r.clone()).collect())?;
        self.apply(rows);
        self.metrics.samples_accepted.add(samples as u64);
        self.metrics.batches_accepted.add(1);
        Ok(())
    }

    /// Counts stored rows in memory.
    fn apply(&self, rows: &[(usize, SampleRow)]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for (u, r) in rows {
            state[*u].slo.add(r.bucket, Counts::new(r.good, r.total));
        }
    }

    /// Evaluates every SLO at `now`, records condition changes and publishes a new snapshot.
    pub fn evaluate(&self, now: i64) {
        let started = std::time::Instant::now();
        let (parts, transitions) = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            // Large catalogs are split over the cores; each part is independent.
            let parts = if state.len() >= 10_000 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                1
            };
            let chunk = state.len().div_ceil(parts).max(1);
            let results: Vec<(Vec<SloReport>, Vec<AlertTransition>)> =
                std::thread::scope(|scope| {
                    let handles: Vec<_> = self
                        .defs
                        .chunks(chunk)
                        .zip(state.chunks_mut(chunk))
                        .map(|(defs, states)| scope.spawn(move || evaluate_part(defs, states, now)))
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
            (parts, transitions)
        };
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Snapshot { at: now, parts });
        self.metrics.evaluations.add(1);
        self.metrics
            .last_evaluation_micros
            .set(started.elapsed().as_micros() as u64);
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
        let mut pending = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
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

    /// Evaluates every second, on the second, until `stop` is set.
    pub fn spawn_evaluator(
        self: &Arc<Self>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        let engine = self.clone();
        std::thread::Builder::new()
            .name("evaluator".into())
            .spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let now = jiff::Timestamp::now();
                    engine.evaluate(now.as_second());
                    let into_second = now.subsec_nanosecond().max(0) as u64;
                    std::thread::sleep(std::time::Duration::from_nanos(
                        1_000_000_000 - into_second,
                    ));
                }
            })
            .expect("spawning the evaluator thread")
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Remaining budget through the current window, hour by hour, for charts.
    pub fn budget_curve(&self, name: &str, now: i64) -> Option<Vec<(i64, f64)>> {
        let i = self.defs.iter().position(|d| d.name == name)?;
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Some(state[i].slo.budget_curve(&self.defs[i], now))
    }
}

/// Evaluates a slice of the objectives: their reports, and the conditions that changed.
fn evaluate_part(
    defs: &[Arc<SloDefinition>],
    states: &mut [UnitState],
    now: i64,
) -> (Vec<SloReport>, Vec<AlertTransition>) {
    let mut reports = Vec::with_capacity(defs.len());
    let mut transitions = Vec::new();
    for (def, st) in defs.iter().zip(states.iter_mut()) {
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
        reports.push(SloReport {
            def: def.clone(),
            status,
            since: st.since,
        });
    }
    (reports, transitions)
}
