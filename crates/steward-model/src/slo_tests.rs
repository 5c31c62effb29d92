//! Data-driven tests of SLO state: hand-computed figures for the edges that matter.

use crate::slo::RATIO_SLICE_SCALE;
use crate::window::{CalendarUnit, CalendarWindow};
use crate::*;
use expect_test::{expect, Expect};
use jiff::tz::TimeZone;

/// 2026-11-01T23:59:59Z: the last second of a bucket of every tier, so that every window
/// is exactly `(NOW − W, NOW]`.
const NOW: i64 = 1_793_577_599;
const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn def(target: f64, window: SloWindow, method: BudgetingMethod) -> SloDefinition {
    SloDefinition {
        name: "checkout-availability".into(),
        display_name: None,
        description: None,
        service: "checkout".into(),
        objective: Objective::new(target).unwrap(),
        window,
        method,
        indicator: Indicator::Ratio,
    }
}

fn rolling(days: i64) -> SloWindow {
    SloWindow::Rolling(Duration::days(days))
}

fn render(s: &SloStatus) -> String {
    let mut out = format!(
        "window good={} total={} remaining={:.4} consumed={:.4}\n",
        s.window_counts.good,
        s.window_counts.total,
        s.budget.remaining_ratio,
        s.budget.consumed_ratio
    );
    let burns: Vec<String> = s
        .burn_rates
        .iter()
        .map(|(w, b)| format!("{w}={b:.3}"))
        .collect();
    out.push_str(&format!("burn {}\n", burns.join(" ")));
    for a in &s.alerts {
        out.push_str(&format!(
            "{} {}/{} x{:.2} {}\n",
            a.rule.severity.as_str(),
            a.rule.long,
            a.rule.short,
            a.factor,
            if a.firing { "FIRING" } else { "ok" }
        ));
    }
    out
}

/// Feeds `(seconds before NOW, good, total)` samples and renders the status at NOW.
fn check(d: &SloDefinition, samples: &[(i64, u64, u64)], expect: Expect) {
    let mut st = SloState::new(d, d.history_start(NOW), NOW);
    for &(ago, good, total) in samples {
        st.add(NOW - ago, Counts::new(good, total));
    }
    st.advance(d, NOW);
    expect.assert_eq(&render(&st.status(d, NOW)));
}

#[test]
fn no_traffic_burns_nothing_and_fires_nothing() {
    check(
        &def(0.999, rolling(30), BudgetingMethod::Occurrences),
        &[],
        expect![[r#"
            window good=0 total=0 remaining=1.0000 consumed=0.0000
            burn 5m=0.000 30m=0.000 1h=0.000 2h=0.000 6h=0.000 1d=0.000 3d=0.000
            page 1h/5m x14.40 ok
            page 6h/30m x6.00 ok
            ticket 1d/2h x3.00 ok
            ticket 3d/6h x1.00 ok
        "#]],
    );
}

#[test]
fn all_bad_for_the_last_minute_pages() {
    // A steady 1000 good events a minute for 3 days, then 1 minute of pure failure:
    // 5m: 1000 bad of 5000 = 0.2 → burn 200; 1h: 1000 of 60_000 → 16.67 > 14.4.
    // Samples sit mid-minute, clear of every window's start edge.
    let mut samples: Vec<(i64, u64, u64)> = (2..=3 * 24 * 60)
        .map(|m| (m * MIN - 30, 1000, 1000))
        .collect();
    samples.push((30, 0, 1000));
    check(
        &def(0.999, rolling(30), BudgetingMethod::Occurrences),
        &samples,
        expect![[r#"
            window good=4319000 total=4320000 remaining=0.7685 consumed=0.2315
            burn 5m=200.000 30m=33.333 1h=16.667 2h=8.333 6h=2.778 1d=0.694 3d=0.231
            page 1h/5m x14.40 FIRING
            page 6h/30m x6.00 ok
            ticket 1d/2h x3.00 ok
            ticket 3d/6h x1.00 ok
        "#]],
    );
}

#[test]
fn errors_that_stopped_ten_minutes_ago_no_longer_page() {
    // Six bad minutes 15 to 10 minutes ago, then clean traffic: the 1h window still burns
    // fast, the 5m window does not, so the page stops.
    let samples: Vec<(i64, u64, u64)> = (1..=3 * 24 * 60)
        .map(|m| {
            (
                m * MIN - 30,
                if (10..=15).contains(&m) { 0 } else { 1000 },
                1000,
            )
        })
        .collect();
    check(
        &def(0.999, rolling(30), BudgetingMethod::Occurrences),
        &samples,
        expect![[r#"
            window good=4314000 total=4320000 remaining=-0.3889 consumed=1.3889
            burn 5m=0.000 30m=200.000 1h=100.000 2h=50.000 6h=16.667 1d=4.167 3d=1.389
            page 1h/5m x14.40 ok
            page 6h/30m x6.00 FIRING
            ticket 1d/2h x3.00 FIRING
            ticket 3d/6h x1.00 FIRING
        "#]],
    );
}

#[test]
fn window_boundary_excludes_the_sample_exactly_one_window_old() {
    // A window is (now − W, now]: the bad event exactly 5 minutes old is out of the 5m window,
    // the good one 4m55s old is in; both are in 30m.
    check(
        &def(0.99, rolling(28), BudgetingMethod::Occurrences),
        &[(5 * MIN, 0, 1), (4 * MIN + 55, 1, 1)],
        expect![[r#"
            window good=1 total=2 remaining=-49.0000 consumed=50.0000
            burn 5m=0.000 30m=50.000 1h=50.000 2h=50.000 6h=50.000 1d=50.000 3d=50.000
            page 1h/5m x13.44 ok
            page 6h/30m x5.60 FIRING
            ticket 1d/2h x2.80 FIRING
            ticket 3d/6h x0.93 FIRING
        "#]],
    );
}

#[test]
fn late_sample_lands_in_its_own_window() {
    // Samples arrive out of order: the 2-day-old one is counted in 3d and the SLO window,
    // not in 1d.
    let d = def(0.99, rolling(30), BudgetingMethod::Occurrences);
    let mut st = SloState::new(&d, d.history_start(NOW), NOW);
    st.add(NOW - 30, Counts::new(100, 100));
    st.add(NOW - 2 * DAY, Counts::new(0, 100));
    st.advance(&d, NOW);
    let s = st.status(&d, NOW);
    assert_eq!(s.window_counts, Counts::new(100, 200));
    assert_eq!(s.burn_rates[5], (Duration::days(1), 0.0));
    assert_eq!(s.burn_rates[6].0, Duration::days(3));
    assert!((s.burn_rates[6].1 - 50.0).abs() < 1e-9);
}

#[test]
fn timeslices_count_good_slices() {
    // 1-minute slices, a slice is good at ≥ 95% good. Ten closed slices: 8 good, 2 bad (90%)
    // ending 3 and 4 minutes ago. The slice holding NOW is still open, so the 5m window holds
    // 4 judged slices, 2 of them bad: burn 0.5 / 0.1 = 5.
    let d = def(
        0.9,
        rolling(7),
        BudgetingMethod::Timeslices {
            slice: Duration::minutes(1),
            slice_target: 0.95,
        },
    );
    let samples: Vec<(i64, u64, u64)> = (1..=10)
        .map(|m| {
            if m == 3 || m == 4 {
                (m * MIN, 90, 100)
            } else {
                (m * MIN, 95, 100)
            }
        })
        .collect();
    check(
        &d,
        &samples,
        expect![[r#"
            window good=8 total=10 remaining=-1.0000 consumed=2.0000
            burn 5m=5.000 30m=2.000 1h=2.000 2h=2.000 6h=2.000 1d=2.000 3d=2.000
            page 1h/5m x3.36 ok
            page 6h/30m x1.40 FIRING
            ticket 1d/2h x0.70 FIRING
            ticket 3d/6h x0.23 FIRING
        "#]],
    );
}

#[test]
fn late_sample_rejudges_its_slice() {
    let d = def(
        0.9,
        rolling(7),
        BudgetingMethod::Timeslices {
            slice: Duration::minutes(1),
            slice_target: 0.95,
        },
    );
    let mut st = SloState::new(&d, d.history_start(NOW), NOW);
    st.add(NOW - 2 * MIN, Counts::new(10, 10));
    st.advance(&d, NOW);
    assert_eq!(st.status(&d, NOW).window_counts, Counts::new(1, 1));
    // 20 failures for that minute arrive late: the slice turns bad, it is not counted twice.
    st.add(NOW - 2 * MIN - 30, Counts::new(0, 20));
    st.advance(&d, NOW);
    assert_eq!(st.status(&d, NOW).window_counts, Counts::new(0, 1));
}

#[test]
fn open_slice_is_not_judged_until_it_closes() {
    let d = def(
        0.9,
        rolling(7),
        BudgetingMethod::Timeslices {
            slice: Duration::minutes(5),
            slice_target: 0.5,
        },
    );
    // The slice [NOW − 4m59s, NOW] closes at NOW + 1.
    let mut st = SloState::new(&d, d.history_start(NOW), NOW);
    st.add(NOW - 60, Counts::new(1, 1));
    st.advance(&d, NOW);
    assert_eq!(st.status(&d, NOW).window_counts, Counts::ZERO);
    st.advance(&d, NOW + 1);
    assert_eq!(st.status(&d, NOW + 1).window_counts, Counts::new(1, 1));
}

#[test]
fn ratio_timeslices_average_the_slice_ratios() {
    // Slice 1: 1 of 1 good (ratio 1.0); slice 2: 50 of 100 (0.5). Average 0.75, not 51/101.
    let d = def(
        0.9,
        rolling(7),
        BudgetingMethod::RatioTimeslices {
            slice: Duration::minutes(1),
        },
    );
    let mut st = SloState::new(&d, d.history_start(NOW), NOW);
    st.add(NOW - 2 * MIN, Counts::new(1, 1));
    st.add(NOW - MIN, Counts::new(50, 100));
    st.advance(&d, NOW);
    let s = st.status(&d, NOW);
    assert_eq!(s.window_counts.ratio(), Some(0.75));
    assert_eq!(s.window_counts.total, 2 * RATIO_SLICE_SCALE);
}

#[test]
fn calendar_month_counts_only_this_month_across_dst() {
    // Europe/Berlin, November 2026: the month began 2026-10-31T23:00Z, after the October DST
    // change. A sample before midnight local time belongs to October.
    let w = SloWindow::Calendar(CalendarWindow::aligned(
        CalendarUnit::Month,
        1,
        TimeZone::get("Europe/Berlin").unwrap(),
    ));
    let d = def(0.999, w, BudgetingMethod::Occurrences);
    let month_start = 1_793_487_600; // 2026-10-31T23:00:00Z
    let mut st = SloState::new(&d, d.history_start(NOW), NOW);
    st.add(month_start - 1, Counts::new(0, 7));
    st.add(month_start, Counts::new(9, 10));
    st.advance(&d, NOW);
    let s = st.status(&d, NOW);
    assert_eq!(s.period.start, month_start);
    assert_eq!(s.period.length(), Duration::days(30));
    assert_eq!(s.window_counts, Counts::new(9, 10));
    // The 3d burn window still sees October's failures.
    // 8 bad of 17 events over an allowance of 0.001.
    assert!((s.burn_rates[6].1 - 8.0 / 17.0 / 0.001).abs() < 1e-6);
}

#[test]
fn calendar_period_rolls_over_at_local_midnight() {
    let w = SloWindow::Calendar(CalendarWindow::aligned(
        CalendarUnit::Day,
        1,
        TimeZone::get("America/New_York").unwrap(),
    ));
    let d = def(0.99, w, BudgetingMethod::Occurrences);
    let midnight = 1_793_595_600; // 2026-11-02T05:00:00Z = 00:00 EST
    let mut st = SloState::new(&d, NOW, NOW);
    st.add(midnight - 10, Counts::new(0, 1));
    st.add(midnight + 100, Counts::new(1, 1)); // stamped ahead of the evaluator
    st.advance(&d, midnight - 5);
    assert_eq!(st.status(&d, midnight - 5).window_counts, Counts::new(0, 1));
    st.advance(&d, midnight + 1);
    assert_eq!(st.status(&d, midnight + 1).window_counts, Counts::new(1, 1));
}

#[test]
fn sample_times_are_checked_against_the_window() {
    let d = def(0.99, rolling(30), BudgetingMethod::Occurrences);
    assert_eq!(d.check_time(NOW + 300, NOW), Ok(()));
    assert_eq!(
        d.check_time(NOW + 301, NOW),
        Err(SampleError::InFuture {
            max: Duration::minutes(5)
        })
    );
    assert_eq!(d.check_time(NOW - 30 * DAY, NOW), Ok(()));
    assert_eq!(
        d.check_time(NOW - 30 * DAY - 1, NOW),
        Err(SampleError::TooOld {
            oldest: NOW - 30 * DAY
        })
    );
    let ts = def(
        0.99,
        rolling(30),
        BudgetingMethod::Timeslices {
            slice: Duration::minutes(1),
            slice_target: 0.9,
        },
    );
    assert!(matches!(
        ts.check_time(NOW - HOUR - 1, NOW),
        Err(SampleError::SliceFinal { .. })
    ));
}

#[test]
fn threshold_values_are_judged_per_objective() {
    let mut d = def(0.99, rolling(30), BudgetingMethod::Occurrences);
    d.indicator = Indicator::Threshold {
        op: Op::Lt,
        value: 500.0,
    };
    assert_eq!(d.judge(Measurement::Value(499.9)), Ok(Counts::new(1, 1)));
    assert_eq!(d.judge(Measurement::Value(500.0)), Ok(Counts::new(0, 1)));
    assert!(d.judge(Measurement::Value(f64::NAN)).is_err());
    assert!(d.judge(Measurement::Events { good: 1, total: 1 }).is_err());
}

#[test]
fn rebuild_by_replay_equals_live_state() {
    let d = def(
        0.95,
        rolling(30),
        BudgetingMethod::Timeslices {
            slice: Duration::minutes(1),
            slice_target: 0.9,
        },
    );
    let samples: Vec<(i64, Counts)> = (0..5000)
        .map(|i| (NOW - 3 * DAY + i * 50, Counts::new((i % 7) as u64, 6)))
        .map(|(t, c)| (t, Counts::new(c.good.min(c.total), c.total)))
        .collect();
    // Live: state created at the first sample's time, advanced as time goes by.
    let mut live = SloState::new(&d, samples[0].0, samples[0].0);
    for &(t, c) in &samples {
        live.advance(&d, t);
        live.add(t, c);
    }
    live.advance(&d, NOW);
    // Rebuilt: all rows fed at once after a restart.
    let mut rebuilt = SloState::new(&d, d.history_start(NOW), NOW);
    for &(t, c) in &samples {
        rebuilt.add(t, c);
    }
    rebuilt.advance(&d, NOW);
    assert_eq!(live.status(&d, NOW), rebuilt.status(&d, NOW));
}

#[test]
fn memory_per_thirty_day_slo_is_under_64_kib() {
    let d = def(0.999, rolling(30), BudgetingMethod::Occurrences);
    let st = SloState::new(&d, NOW, NOW);
    assert_eq!(st.heap_bytes(), 36_896);
}

/// Problem 1 of the spine issue: after a quiet period longer than the slice ring, the
/// eviction emitted slices that had been judged already, a second time (101/121, not 51/61).
#[test]
fn slices_are_not_counted_twice_after_a_quiet_period() {
    let d = def(
        0.9,
        rolling(7),
        BudgetingMethod::Timeslices {
            slice: Duration::minutes(1),
            slice_target: 0.95,
        },
    );
    let start = NOW - 6 * HOUR;
    let mut st = SloState::new(&d, start, start);
    // 60 slices, judged as they close: 50 good, 10 bad.
    for m in 0..60 {
        let t = start + m * MIN;
        st.advance(&d, t);
        st.add(
            t,
            if m < 50 {
                Counts::new(1, 1)
            } else {
                Counts::new(0, 1)
            },
        );
    }
    st.advance(&d, start + 60 * MIN);
    assert_eq!(
        st.status(&d, start + 60 * MIN).window_counts,
        Counts::new(50, 60)
    );
    // Three hours of silence, then one good sample; its slice closes a minute later.
    let t = start + 4 * HOUR;
    st.advance(&d, t);
    st.add(t, Counts::new(1, 1));
    st.advance(&d, t + MIN);
    assert_eq!(st.status(&d, t + MIN).window_counts, Counts::new(51, 61));
    // A rebuild from the same samples agrees.
    let mut rebuilt = SloState::new(&d, start, t + MIN);
    for m in 0..60 {
        rebuilt.add(
            start + m * MIN,
            if m < 50 {
                Counts::new(1, 1)
            } else {
                Counts::new(0, 1)
            },
        );
    }
    rebuilt.add(t, Counts::new(1, 1));
    rebuilt.advance(&d, t + MIN);
    assert_eq!(
        rebuilt.status(&d, t + MIN).window_counts,
        Counts::new(51, 61)
    );
}

/// Found by the reference test: when the evaluator skipped to the last minutes of a calendar
/// period, a sample stamped at the future limit, in the period after, was counted in this
/// one, and then lost from its own.
#[test]
fn calendar_rollover_keeps_a_future_sample_for_its_own_period() {
    let w = CalendarWindow::aligned(
        CalendarUnit::Day,
        1,
        TimeZone::get("America/New_York").unwrap(),
    );
    let d = def(0.99, SloWindow::Calendar(w), BudgetingMethod::Occurrences);
    let midnight = 1_797_829_200; // 2026-12-21T05:00:00Z, midnight in New York
    let two_days_before = midnight - 2 * DAY + 100;
    let mut st = SloState::new(&d, d.history_start(two_days_before), two_days_before);
    st.advance(&d, two_days_before);
    // The evaluator next runs a second before midnight; a sample 4m55s ahead came first.
    st.add(midnight + 295, Counts::new(29, 29));
    st.advance(&d, midnight - 1);
    assert_eq!(st.status(&d, midnight - 1).window_counts, Counts::ZERO);
    st.add(midnight + 5, Counts::new(25, 25));
    st.advance(&d, midnight + 7);
    assert_eq!(
        st.status(&d, midnight + 7).window_counts,
        Counts::new(54, 54)
    );
}
