//! The engine on a real (SQLite) store: count limits, supervision and readiness.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use steward_config::Catalog;
use steward_engine::{Engine, EngineError, IncomingSample, Readiness};
use steward_model::limits::MAX_HOUR_EVENTS;
use steward_model::slo::Measurement;
use steward_model::{BudgetingMethod, Indicator, Objective, SloDefinition, SloWindow};
use steward_store::Store;

fn slo(name: &str) -> SloDefinition {
    SloDefinition {
        name: name.into(),
        display_name: None,
        description: None,
        service: "checkout".into(),
        objective: Objective::new(0.999).unwrap(),
        window: SloWindow::Rolling(steward_model::Duration::days(30)),
        method: BudgetingMethod::Occurrences,
        indicator: Indicator::Ratio,
    }
}

fn engine(dir: &tempfile::TempDir, now: i64) -> Engine {
    let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).unwrap();
    let catalog = Catalog {
        slos: vec![slo("checkout-availability")],
        ..Catalog::default()
    };
    Engine::start(catalog, store, now).unwrap()
}

fn events(time: i64, good: u64, total: u64) -> IncomingSample {
    IncomingSample {
        slo: "checkout-availability".into(),
        time: Some(time),
        measurement: Measurement::Events { good, total },
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Problem 2 of the spine issue: each sample was checked against a maximum but their sum in a
/// bucket was not; 10,000 samples of 10¹⁵ made SQLite store a REAL and Steward could never
/// start again. An hour of an objective now holds at most 10¹⁵ events.
#[test]
fn bucket_sums_cannot_overflow_and_the_store_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let t = now();
    let e = engine(&dir, t);
    let batch: Vec<IncomingSample> = (0..10_000)
        .map(|_| events(t, MAX_HOUR_EVENTS, MAX_HOUR_EVENTS))
        .collect();
    let Err(EngineError::Invalid(issues)) = e.ingest(&batch, t) else {
        panic!("a batch summing past the hourly limit was taken");
    };
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].index, 0);
    assert!(
        issues[0]
            .message
            .contains("more than 1000000000000000 events in one hour"),
        "{}",
        issues[0].message
    );
    // One full sample fits; the next event in the same hour does not, in any batch.
    assert_eq!(
        e.ingest(&[events(t, MAX_HOUR_EVENTS, MAX_HOUR_EVENTS)], t)
            .unwrap(),
        1
    );
    let Err(EngineError::Invalid(issues)) = e.ingest(&[events(t, 0, 0), events(t, 1, 1)], t) else {
        panic!("the hour's limit was passed");
    };
    assert_eq!(
        issues[0].index, 0,
        "the first sample of the full hour is named"
    );
    // A sample over the limit on its own is named by its index.
    let Err(EngineError::Invalid(issues)) = e.ingest(
        &[
            events(t - 7200, 1, 1),
            events(t - 7200, 0, MAX_HOUR_EVENTS + 1),
        ],
        t,
    ) else {
        panic!("an oversized sample was taken");
    };
    assert_eq!(issues[0].index, 1);
    drop(e);
    // What was stored reopens, with exactly the one full hour counted.
    let e = engine(&dir, t);
    let snap = e.snapshot();
    let report = snap.get("checkout-availability").unwrap();
    assert_eq!(report.status.window_counts.total, MAX_HOUR_EVENTS);
}

/// Problem 6 of the spine issue: a panic killed the evaluator's thread, the snapshot froze
/// and `/readyz` still answered ready.
#[test]
fn a_panicking_evaluation_is_counted_and_the_evaluator_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(engine(&dir, now()));
    let stop = Arc::new(AtomicBool::new(false));
    let worker = e.spawn_evaluator(stop.clone());
    e.fail_next_evaluation();
    let started = Instant::now();
    let before = e.metrics.evaluations.get();
    while (e.metrics.worker_restarts.get() < 1 || e.metrics.evaluations.get() < before + 2)
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(e.metrics.worker_restarts.get(), 1);
    assert!(
        e.metrics.evaluations.get() >= before + 2,
        "the evaluator stopped"
    );
    assert_eq!(e.readiness(now()), Readiness::Ready);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    worker.join().unwrap();
}

#[test]
fn readiness_fails_once_the_last_evaluation_is_older_than_five_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let t = now();
    let e = engine(&dir, t);
    assert_eq!(e.readiness(t + 5), Readiness::Ready);
    let Readiness::Stale { last } = e.readiness(t + 7) else {
        panic!("a silent evaluator is not ready");
    };
    assert!(last >= t);
}

#[test]
fn budget_curves_are_published_with_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let t = now();
    let e = engine(&dir, t);
    e.ingest(&[events(t - 5 * 3600, 0, 10)], t).unwrap();
    // Curves are redrawn once a minute.
    e.evaluate(t + 60);
    let snap = e.snapshot();
    let curve = &snap.get("checkout-availability").unwrap().curve;
    assert!(!curve.remaining.is_empty());
    assert!(curve.remaining.len() <= 96);
    assert_eq!(curve.points().last().map(|p| p.1 < 1.0), Some(true));
}
