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
    let curve = snap.curve("checkout-availability").unwrap();
    assert!(!curve.remaining.is_empty());
    assert!(curve.remaining.len() <= 96);
    assert_eq!(curve.points().last().map(|p| p.1 < 1.0), Some(true));
}

fn objective(name: &str, window: SloWindow, method: BudgetingMethod) -> SloDefinition {
    SloDefinition {
        window,
        method,
        ..slo(name)
    }
}

fn open(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    for _ in 0..50 {
        match Store::open(&url) {
            Ok(s) => return s,
            Err(steward_store::StoreError::Locked) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the store stayed locked");
}

/// Problem 7 of the spine issue: samples were kept at 5-second resolution forever. A
/// roll-up now merges and deletes rows as they age, and an engine rebuilt from the rolled-up
/// store reports exactly what the engine before the roll-up reported.
#[test]
fn a_roll_up_shrinks_the_store_and_changes_no_figure() {
    use steward_model::window::{CalendarUnit, CalendarWindow};
    let dir = tempfile::tempdir().unwrap();
    // A fixed clock: the four days of history must fit the calendar month's SLO (on the 1st
    // to the 4th of a month, a clock read from the machine made this test fail).
    let t = "2026-11-18T10:17:23Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second();
    let days = steward_model::Duration::days;
    let catalog = Catalog {
        slos: vec![
            objective(
                "occurrences",
                SloWindow::Rolling(days(30)),
                BudgetingMethod::Occurrences,
            ),
            objective(
                "slices",
                SloWindow::Rolling(days(7)),
                BudgetingMethod::Timeslices {
                    slice: steward_model::Duration::minutes(1),
                    slice_target: 0.95,
                },
            ),
            objective(
                "month",
                SloWindow::Calendar(CalendarWindow::aligned(
                    CalendarUnit::Month,
                    1,
                    jiff::tz::TimeZone::get("Asia/Kolkata").unwrap(),
                )),
                BudgetingMethod::Occurrences,
            ),
            objective(
                "shared:fast",
                SloWindow::Rolling(days(30)),
                BudgetingMethod::Occurrences,
            ),
            SloDefinition {
                objective: Objective::new(0.9).unwrap(),
                ..objective(
                    "shared:slow",
                    SloWindow::Rolling(days(30)),
                    BudgetingMethod::Occurrences,
                )
            },
        ],
        ..Catalog::default()
    };
    let engine = Engine::new(catalog.clone(), open(&dir), t).unwrap();
    // Four days of a sample a minute, and the last two hours every 5 seconds.
    let mut samples = Vec::new();
    let mut at = t - 4 * 86_400;
    let mut k = 0u64;
    while at <= t {
        for name in ["occurrences", "slices", "month", "shared", "shared:fast"] {
            k += 1;
            samples.push(IncomingSample {
                slo: name.into(),
                time: Some(at),
                measurement: Measurement::Events {
                    good: 100 - k % 7,
                    total: 100,
                },
            });
        }
        at += if at < t - 7200 { 60 } else { 5 };
    }
    for chunk in samples.chunks(20_000) {
        engine.import(chunk, t).unwrap();
    }
    engine.rebuild(t).unwrap();
    let figures = |e: &Engine| -> Vec<steward_model::SloStatus> {
        e.snapshot().slos().map(|r| r.status.clone()).collect()
    };
    let before = figures(&engine);
    let rows_before = engine.store().footprint().unwrap().rows;
    let stats = engine.roll_up(t).unwrap();
    let rows_after = engine.store().footprint().unwrap().rows;
    assert!(stats.rows_before > stats.rows_after, "{stats:?}");
    assert!(
        rows_after < rows_before / 3,
        "{rows_before} rows became {rows_after}"
    );
    // The same figures live, and after a restart on the rolled-up rows.
    engine.evaluate(t);
    assert_eq!(figures(&engine), before);
    drop(engine);
    let restarted = Engine::start(catalog, open(&dir), t).unwrap();
    assert_eq!(figures(&restarted), before);
    // A second pass at the same time changes nothing.
    let again = restarted.roll_up(t).unwrap();
    assert_eq!(again.rows_before, again.rows_after);
}

/// Found in review: for an SLO with a window shorter than the 3 days it takes samples for,
/// the hourly tier did not keep the sample's hour, so the hour's limit went unchecked and the
/// stored row could overflow.
#[test]
fn an_hour_older_than_the_window_is_still_held_to_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let t = now();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).unwrap();
    let catalog = Catalog {
        slos: vec![objective(
            "checkout-availability",
            SloWindow::Rolling(steward_model::Duration::days(1)),
            BudgetingMethod::Occurrences,
        )],
        ..Catalog::default()
    };
    let e = Engine::start(catalog, store, t).unwrap();
    let two_days_ago = t - 2 * 86_400;
    e.ingest(&[events(two_days_ago, MAX_HOUR_EVENTS, MAX_HOUR_EVENTS)], t)
        .unwrap();
    let Err(EngineError::Invalid(issues)) = e.ingest(&[events(two_days_ago, 1, 1)], t) else {
        panic!("the old hour took more than its limit");
    };
    assert_eq!(issues[0].index, 0);
}

/// A weekly adjustment, Sundays 03:00–04:00 in Berlin, over four Sundays across the spring DST
/// change (29 March 2026): every occurrence is excluded, at 02:00Z before the change and
/// 01:00Z after. Hourly samples are good except in exactly those four hours.
#[test]
fn a_recurring_adjustment_excludes_every_occurrence_across_a_dst_change() {
    let dir = tempfile::tempdir().unwrap();
    let ts = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_second();
    let now = ts("2026-04-10T00:00:00Z");
    let e = engine(&dir, now);
    e.rebuild(now).unwrap();
    let bad_hours = [
        ts("2026-03-15T02:00:00Z"),
        ts("2026-03-22T02:00:00Z"),
        ts("2026-03-29T01:00:00Z"),
        ts("2026-04-05T01:00:00Z"),
    ];
    let first = ts("2026-03-14T00:00:00Z");
    let samples: Vec<IncomingSample> = (0..27 * 24)
        .map(|h| {
            let t = first + h * 3600;
            if bad_hours.contains(&t) {
                events(t, 0, 100)
            } else {
                events(t, 100, 100)
            }
        })
        .collect();
    assert_eq!(e.ingest(&samples, now).unwrap(), 648);
    e.tick(now);
    let counts = |e: &Engine| {
        let c = e
            .snapshot()
            .get("checkout-availability")
            .unwrap()
            .status
            .window_counts;
        (c.good, c.total)
    };
    assert_eq!(counts(&e), (64_400, 64_800));
    let store = e.store().clone();
    store
        .transact(move |tx| {
            tx.put_adjustment(&steward_store::StoredAdjustment {
                id: 0,
                name: "sunday-backup".into(),
                description: "the weekly backup".into(),
                service: "checkout".into(),
                indicator: None,
                start_at: ts("2026-03-15T02:00:00Z"),
                duration: 3600,
                rrule: Some("FREQ=WEEKLY;BYDAY=SU".into()),
                time_zone: "Europe/Berlin".into(),
                created_by: "user:ann".into(),
                created_at: now,
                updated_by: "user:ann".into(),
                updated_at: now,
            })
        })
        .unwrap();
    e.adjustments_changed();
    e.tick(now);
    assert_eq!(
        counts(&e),
        (64_400, 64_400),
        "every bad hour is excluded, no good one"
    );
    let shown = e.exclusions();
    assert_eq!(shown[0].objectives, ["checkout-availability"]);
    assert_eq!(
        shown[0]
            .intervals
            .iter()
            .filter(|(a, _)| *a >= first && *a < now)
            .map(|(a, _)| *a)
            .collect::<Vec<_>>(),
        bad_hours
    );
    // Removed: every figure as before.
    store
        .transact(|tx| tx.delete_adjustment("sunday-backup"))
        .unwrap();
    e.adjustments_changed();
    e.tick(now);
    assert_eq!(counts(&e), (64_400, 64_800));
}
