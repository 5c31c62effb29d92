//! The running SLO engine: takes samples (validated as a batch, admitted against the count
//! limits, stored durably, then counted), evaluates every SLO each second, records when
//! burn-rate conditions start and stop firing, and rebuilds itself from the store on start.
//!
//! The objectives' states live in shards of [`SHARD`] behind a lock each: ingest locks only
//! the shards it counts in, the evaluator one shard at a time, and readers none: they get the
//! immutable [`Snapshot`] swapped in after each evaluation, budget curves included.

pub mod adjust;
pub mod alerting;
mod evaluate;
pub mod history;
mod ingest;
mod metrics;
pub mod readiness;
mod rebuild;
pub mod report;
mod rollup;
pub mod runtime;
mod supervise;

pub use ingest::{body_hash, Checked, Committed, IncomingSample, Row, SampleIssue};
pub use metrics::Metrics;
pub use supervise::supervise;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use steward_config::Catalog;
use steward_model::{
    BudgetCurve, BudgetingMethod, Counts, Indicator, SloDefinition, SloState, SloStatus,
    SRE_WORKBOOK_RULES,
};
use steward_store::{SeriesId, Store, StoreError};

/// Samples are stored in buckets of this many seconds: the finest tier's resolution.
pub const STORE_BUCKET: i64 = 5;

/// Objectives per lock.
pub const SHARD: usize = 256;

/// The evaluator runs at most this often when samples arrive between its seconds.
pub const NUDGED_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// `/readyz` fails when the last evaluation is older than this many seconds.
pub const STALE_AFTER: i64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{} of the samples are invalid; nothing was stored", .0.len())]
    Invalid(Vec<SampleIssue>),
    #[error("the engine is rebuilding its state from the store; retry shortly")]
    Rebuilding,
    #[error("the idempotency key was used before for a different batch")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What readers see: every SLO's figures as of the last evaluation, in catalog order (kept
/// in the parts the evaluator's threads produced, so publishing copies nothing), and their
/// budget curves, a shared list per shard.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub at: i64,
    parts: Vec<Vec<SloReport>>,
    curves: Vec<Arc<Vec<BudgetCurve>>>,
}

impl Snapshot {
    pub fn slos(&self) -> impl Iterator<Item = &SloReport> {
        self.parts.iter().flatten()
    }

    /// Every SLO's figures with its budget curve.
    pub fn slos_with_curves(&self) -> impl Iterator<Item = (&SloReport, &BudgetCurve)> {
        static NONE: BudgetCurve = BudgetCurve {
            start: 0,
            step: 0,
            remaining: Vec::new(),
        };
        self.slos().enumerate().map(|(i, r)| {
            let curve = self
                .curves
                .get(i / SHARD)
                .and_then(|c| c.get(i % SHARD))
                .unwrap_or(&NONE);
            (r, curve)
        })
    }

    pub fn get(&self, name: &str) -> Option<&SloReport> {
        self.slos().find(|r| r.def.name == name)
    }

    /// One SLO's budget curve.
    pub fn curve(&self, name: &str) -> Option<&BudgetCurve> {
        self.slos_with_curves()
            .find(|(r, _)| r.def.name == name)
            .map(|(_, c)| c)
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

/// Whether the engine can serve what it is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Reading the store after a start: series read so far, of all.
    Rebuilding {
        series_done: u64,
        series_total: u64,
    },
    /// The last evaluation finished at `last` (unix seconds), more than [`STALE_AFTER`] ago.
    Stale {
        last: i64,
    },
}

/// A stored series: samples sent to one name, counted by the objectives that read it.
struct Series {
    id: SeriesId,
    name: String,
    /// The objectives that count its rows (they share one window and method).
    readers: Vec<usize>,
    /// Rows before this are judged time-slice units.
    units_through: AtomicI64,
    /// The earliest bucket appended since the last roll-up.
    dirty: AtomicI64,
}

/// Where a sample sent to one name is stored and counted.
struct Target {
    /// The objectives it feeds.
    units: Vec<usize>,
    /// Stored once in this series (events shared by every objective), or, when `None`, in
    /// each objective's own series (counts judged per objective: threshold SLIs and time
    /// slices).
    shared: Option<usize>,
}

const REBUILDING: u8 = 0;
const READY: u8 = 1;

struct UnitState {
    slo: SloState,
    since: [Option<i64>; 4],
    /// Events admitted but not yet counted here (their batch is being stored), held against
    /// the block limit so that concurrent batches cannot pass it together.
    inflight: u64,
    /// Intervals of budget adjustments: samples stamped inside count in no figure.
    excluded: Arc<Vec<(i64, i64)>>,
    /// Events stored but excluded, per block: they still count against the block's limit,
    /// since removing the adjustment would count them again.
    excluded_blocks: std::collections::HashMap<i64, u64>,
}

impl UnitState {
    /// Notes excluded events stored in `block`, forgetting blocks no figure reaches.
    pub(crate) fn exclude(&mut self, block: i64, events: u64, oldest_block: i64) {
        let n = self.excluded_blocks.entry(block).or_insert(0);
        *n = n.saturating_add(events);
        if self.excluded_blocks.len() > 20_000 {
            self.excluded_blocks.retain(|b, _| *b >= oldest_block);
        }
    }
}

/// Up to [`SHARD`] objectives behind one lock, and their budget curves, redrawn together.
struct Shard {
    units: Vec<UnitState>,
    curves: Arc<Vec<BudgetCurve>>,
    /// When the curves were last drawn; `i64::MIN` before the first evaluation.
    curves_at: i64,
}

pub struct Engine {
    catalog: Arc<Catalog>,
    store: Store,
    defs: Vec<Arc<SloDefinition>>,
    /// Name a sample may be sent to → where it goes.
    targets: HashMap<String, Target>,
    /// The first `defs.len()` are the objectives' own series, in order; shared ones follow.
    series: Vec<Series>,
    series_by_id: HashMap<SeriesId, usize>,
    shards: Vec<Mutex<Shard>>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// The alert pipeline: condition changes go there, and never wait for the store here.
    pub alerting: Arc<alerting::Alerting>,
    /// Set when samples were counted since the last evaluation: the evaluator may run before
    /// its next second (at most every [`NUDGED_EVERY`]), so a burn pages sooner.
    nudged: Mutex<bool>,
    nudge: std::sync::Condvar,
    /// One evaluation at a time; it keeps the report vectors of a snapshot no reader holds
    /// any more, to fill again instead of faulting in fresh pages every second.
    evaluation: Mutex<Vec<Vec<SloReport>>>,
    /// Unix seconds at which the last evaluation finished.
    last_evaluated: AtomicI64,
    /// A failpoint for the supervision tests: the next evaluation panics.
    panic_next_evaluation: AtomicBool,
    /// A failpoint for the lock tests: the next evaluation holds the first shard this long.
    stall_next_evaluation: Mutex<Option<std::time::Duration>>,
    phase: AtomicU8,
    /// Held (shared) by every commit, and exclusively by a rebuild: a rebuild never sees a
    /// batch half counted.
    gate: RwLock<()>,
    /// A commit's outcome was unknown (the store went away during COMMIT): the counts in
    /// memory may differ from the store's until the next rebuild, which the evaluator runs.
    needs_rebuild: AtomicBool,
    /// A roll-up failed: where unit rows end is read again from the store first.
    reload_series: AtomicBool,
    series_rebuilt: AtomicU64,
    /// When the last roll-up pass ran (unix seconds; `i64::MIN` for never).
    last_rollup: AtomicI64,
    pub metrics: Arc<Metrics>,
    /// The budget adjustments as they apply, and when they were last read.
    exclusions: RwLock<Arc<Vec<adjust::Exclusion>>>,
    exclusions_at: AtomicI64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Builds the engine for a catalog and rebuilds every SLO's counts and alert state from
    /// the store, before returning.
    pub fn start(catalog: Catalog, store: Store, now: i64) -> Result<Engine, EngineError> {
        let engine = Engine::new(catalog, store, now)?;
        engine.rebuild(now)?;
        Ok(engine)
    }

    /// Builds the engine for a catalog, empty: it answers [`Readiness::Rebuilding`] and takes
    /// no samples until [`Engine::rebuild`] has read the store.
    pub fn new(catalog: Catalog, store: Store, now: i64) -> Result<Engine, EngineError> {
        Engine::with_options(catalog, store, now, alerting::AlertOptions::default())
    }

    /// [`Engine::new`] with the alert pipeline's options.
    pub fn with_options(
        catalog: Catalog,
        store: Store,
        now: i64,
        options: alerting::AlertOptions,
    ) -> Result<Engine, EngineError> {
        let alert_store = store.clone();
        Engine::build(
            catalog,
            store,
            now,
            Arc::default(),
            move |catalog, metrics| alerting::Alerting::new(catalog, alert_store, options, metrics),
        )
    }

    /// The engine for a reloaded configuration, on the same store, empty until
    /// [`Engine::rebuild`]: its alert pipeline carries on from this one's (the outbox and the
    /// runbook runs in flight, heartbeats seen, options), its counters go on counting.
    pub fn successor(&self, catalog: Catalog, now: i64) -> Result<Engine, EngineError> {
        let previous = self.alerting.clone();
        Engine::build(
            catalog,
            self.store.clone(),
            now,
            self.metrics.clone(),
            move |catalog, _| previous.successor(catalog),
        )
    }

    /// Takes no more samples, for good or until [`Engine::revive`]: waits for the commits in
    /// flight, and holds the ingest gate while the guard lives.
    pub fn retire(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.phase.store(REBUILDING, Ordering::Release);
        self.gate.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes samples again after [`Engine::retire`] (a reload that failed).
    pub fn revive(&self) {
        self.phase.store(READY, Ordering::Release);
    }

    fn build(
        catalog: Catalog,
        store: Store,
        now: i64,
        metrics: Arc<Metrics>,
        alerting: impl FnOnce(Arc<Catalog>, Arc<Metrics>) -> alerting::Alerting,
    ) -> Result<Engine, EngineError> {
        let defs: Vec<Arc<SloDefinition>> = catalog.slos.iter().cloned().map(Arc::new).collect();
        // Every objective has a series of its own; the objectives of an SLO whose events are
        // the same for all of them (a ratio SLI, counted by occurrences) also share one.
        let mut names: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
        let mut readers: Vec<Vec<usize>> = (0..defs.len()).map(|u| vec![u]).collect();
        let mut parents: HashMap<String, Vec<usize>> = HashMap::new();
        for (u, d) in defs.iter().enumerate() {
            if let Some((parent, _)) = d.name.split_once(':') {
                parents.entry(parent.to_string()).or_default().push(u);
            }
        }
        let mut targets: HashMap<String, Target> = HashMap::new();
        for (u, d) in defs.iter().enumerate() {
            targets.insert(
                d.name.clone(),
                Target {
                    units: vec![u],
                    shared: Some(u),
                },
            );
        }
        let mut parent_names: Vec<(&String, &Vec<usize>)> = parents.iter().collect();
        parent_names.sort();
        for (parent, units) in parent_names {
            let d = &defs[units[0]];
            let shares =
                d.indicator == Indicator::Ratio && d.method == BudgetingMethod::Occurrences;
            let shared = shares.then(|| {
                names.push(parent.clone());
                readers.push(units.clone());
                names.len() - 1
            });
            targets.insert(
                parent.clone(),
                Target {
                    units: units.clone(),
                    shared,
                },
            );
        }
        let infos = store.series(names)?;
        let series: Vec<Series> = infos
            .into_iter()
            .zip(readers)
            .map(|(info, readers)| Series {
                id: info.id,
                name: info.name,
                readers,
                units_through: AtomicI64::new(info.units_through),
                dirty: AtomicI64::new(i64::MAX),
            })
            .collect();
        let series_by_id = series.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        // When each firing condition started, by (objective, long window, short window).
        let persisted: HashMap<(String, String, String), i64> = store
            .alert_states()?
            .into_iter()
            .filter(|s| s.firing)
            .filter_map(|s| Some(((s.slo, s.long_window, s.short_window), s.since?)))
            .collect();
        let mut units = Vec::with_capacity(defs.len());
        for d in &defs {
            let since = SRE_WORKBOOK_RULES.map(|rule| {
                let key = (
                    d.name.clone(),
                    rule.long.to_string(),
                    rule.short.to_string(),
                );
                persisted.get(&key).copied()
            });
            units.push(UnitState {
                slo: SloState::new(d, d.history_start(now), now),
                since,
                inflight: 0,
                excluded: Arc::default(),
                excluded_blocks: Default::default(),
            });
        }
        let mut shards = Vec::with_capacity(units.len().div_ceil(SHARD));
        let mut units = units.into_iter().peekable();
        while units.peek().is_some() {
            shards.push(Mutex::new(Shard {
                units: units.by_ref().take(SHARD).collect(),
                curves: Arc::default(),
                curves_at: i64::MIN,
            }));
        }
        let last_rollup = store.meta(rollup::LAST_ROLLUP)?.unwrap_or(i64::MIN);
        let catalog = Arc::new(catalog);
        let alerting = Arc::new(alerting(catalog.clone(), metrics.clone()));
        Ok(Engine {
            catalog,
            store,
            defs,
            targets,
            series,
            series_by_id,
            shards,
            snapshot: RwLock::new(Arc::new(Snapshot {
                at: now,
                parts: Vec::new(),
                curves: Vec::new(),
            })),
            alerting,
            nudged: Mutex::new(false),
            nudge: std::sync::Condvar::new(),
            evaluation: Mutex::new(Vec::new()),
            last_evaluated: AtomicI64::new(now),
            panic_next_evaluation: AtomicBool::new(false),
            stall_next_evaluation: Mutex::new(None),
            phase: AtomicU8::new(REBUILDING),
            gate: RwLock::new(()),
            needs_rebuild: AtomicBool::new(false),
            exclusions: RwLock::default(),
            exclusions_at: AtomicI64::new(i64::MIN),
            reload_series: AtomicBool::new(false),
            series_rebuilt: AtomicU64::new(0),
            last_rollup: AtomicI64::new(last_rollup),
            metrics,
        })
    }

    /// The ingest gate, shared; `None` while a rebuild holds it. A rebuild that panicked left
    /// the gate poisoned but the states whole (it starts from fresh ones): the gate is used.
    fn gate_shared(&self) -> Option<std::sync::RwLockReadGuard<'_, ()>> {
        match self.gate.try_read() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    fn is_ready(&self) -> bool {
        self.phase.load(Ordering::Acquire) == READY
    }

    /// Whether samples are taken now (not while rebuilding from the store).
    pub fn takes_samples(&self) -> bool {
        self.is_ready()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// An SLO's judged events from `from` to `to` (what an incident cost it, say); `None`
    /// for an SLO not in the catalog.
    pub fn counts_between(&self, slo: &str, from: i64, to: i64) -> Option<Counts> {
        let unit = self.defs.iter().position(|d| d.name == slo)?;
        Some(self.shard(unit).units[unit % SHARD].slo.between(from, to))
    }

    /// The shard holding objective `unit`, locked.
    fn shard(&self, unit: usize) -> MutexGuard<'_, Shard> {
        lock(&self.shards[unit / SHARD])
    }

    /// One tick of the evaluator: a rebuild when the counts in memory may differ from the
    /// store's, an evaluation otherwise.
    pub fn tick(&self, now: i64) {
        if self.needs_rebuild.load(Ordering::Acquire) {
            if let Err(e) = self.rebuild(now) {
                tracing::warn!(error = %e, "cannot rebuild from the store yet; trying again in a second");
            }
            return;
        }
        self.refresh_exclusions(now);
        self.evaluate(now);
    }

    /// Samples were counted: the evaluator may run early.
    pub(crate) fn nudge_evaluator(&self) {
        *lock(&self.nudged) = true;
        self.nudge.notify_one();
    }

    /// Waits until the next second, or until samples arrive and [`NUDGED_EVERY`] has passed
    /// since the last evaluation.
    fn wait_for_evaluation(&self, until_next_second: std::time::Duration) {
        let started = std::time::Instant::now();
        if until_next_second <= NUDGED_EVERY {
            std::thread::sleep(until_next_second);
            return;
        }
        std::thread::sleep(NUDGED_EVERY);
        let mut nudged = lock(&self.nudged);
        let left = until_next_second.saturating_sub(started.elapsed());
        if !*nudged {
            nudged = self
                .nudge
                .wait_timeout_while(nudged, left, |n| !*n)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        *nudged = false;
    }

    /// Evaluates every second, on the second, and sooner when samples arrive (at most every
    /// [`NUDGED_EVERY`]), supervised, until `stop` is set.
    pub fn spawn_evaluator(self: &Arc<Self>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        let engine = self.clone();
        supervise("evaluator", self.metrics.clone(), stop, move || {
            *lock(&engine.nudged) = false;
            let now = jiff::Timestamp::now();
            engine.tick(now.as_second());
            let into_second = jiff::Timestamp::now().subsec_nanosecond().max(0) as u64;
            engine
                .wait_for_evaluation(std::time::Duration::from_nanos(1_000_000_000 - into_second));
            std::time::Duration::ZERO
        })
    }

    /// Makes the next evaluation panic, to test that the evaluator is supervised.
    #[doc(hidden)]
    pub fn fail_next_evaluation(&self) {
        self.panic_next_evaluation.store(true, Ordering::Relaxed);
    }

    /// Makes the next evaluation hold the first shard's lock for `d`, to test that readers
    /// and ingest into other shards do not wait for it.
    #[doc(hidden)]
    pub fn stall_next_evaluation(&self, d: std::time::Duration) {
        *lock(&self.stall_next_evaluation) = Some(d);
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Rebuilding until the store is read; then ready unless the last evaluation finished
    /// more than [`STALE_AFTER`] seconds before `now`.
    pub fn readiness(&self, now: i64) -> Readiness {
        if !self.is_ready() {
            return Readiness::Rebuilding {
                series_done: self.series_rebuilt.load(Ordering::Relaxed),
                series_total: self.series.len() as u64,
            };
        }
        let last = self.last_evaluated.load(Ordering::Relaxed);
        if now - last > STALE_AFTER {
            Readiness::Stale { last }
        } else {
            Readiness::Ready
        }
    }
}
