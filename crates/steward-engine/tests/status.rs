//! A status page's 90 days of bars and a month's SLO report, against values computed by hand
//! over a generated quarter (September to November 2026, days told in Berlin): traffic
//! every hour, one day with none, days over and exactly at their share of the budget, a bad
//! hour a budget adjustment excludes, and the 25-hour day when summer time ends. The SLO's
//! window is 28 days, so most of the quarter is older than anything it reports: the store
//! keeps it for the status page and the report all the same.

use steward_config::catalog::{build, Scope};
use steward_config::{Catalog, Diagnostics};
use steward_engine::{Engine, IncomingSample};
use steward_model::slo::Measurement;
use steward_model::status::{month_bounds, DayState};
use steward_store::Store;

fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

const YAML: &str = r#"
apiVersion: steward/v1
kind: Customer
metadata: {name: acme, displayName: ACME}
spec:
  contacts: [{type: email, address: ops@acme.example.com}]
  statusPage: {public: true, timeZone: Europe/Berlin}
---
apiVersion: steward/v1
kind: Team
metadata: {name: shop}
spec: {members: []}
---
apiVersion: steward/v1
kind: Service
metadata: {name: checkout}
spec: {owner: shop, customer: acme, tier: 2, lifecycle: production}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout-availability}
spec:
  service: checkout
  indicator:
    metadata: {name: checkout-requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: steward, spec: {}}}
        total: {metricSource: {type: steward, spec: {}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
"#;

fn catalog() -> Catalog {
    let mut d = Diagnostics::default();
    let docs = steward_config::parse_text("status.yaml", YAML, &mut d);
    let c = build(&docs, Scope::Complete, &mut d);
    assert!(!d.has_errors(), "{:?}", d.items);
    c
}

/// Bad events of the hour starting at `t` (each hour has 100 events), by the plan above.
fn bad_in_hour(t: i64) -> Option<u64> {
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let local = jiff::Timestamp::from_second(t).unwrap().to_zoned(berlin);
    match (local.date().to_string().as_str(), local.hour()) {
        ("2026-09-15", _) => None,      // no traffic at all
        ("2026-10-07", _) => Some(2),   // 48 of 2,400: over its 24
        ("2026-10-14", _) => Some(1),   // 24 of 2,400: exactly its share
        ("2026-10-21", 12) => Some(30), // excluded by the adjustment
        ("2026-11-03", 9) => Some(25),  // 25 of 2,400: over
        _ => Some(0),
    }
}

#[test]
fn ninety_days_of_bars_and_a_months_attainment_match_the_hand_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).unwrap();
    // From 2026-09-01 00:00 Berlin to 2026-11-30 23:00 Berlin, one UTC hour at a time,
    // ingested a day at a time with the clock following and the roll-up running, as a
    // server would have.
    let first = at("2026-08-31T22:00:00Z");
    let end = at("2026-11-30T23:00:00Z");
    let e = Engine::start(catalog(), store, first).unwrap();
    let mut t = first;
    while t < end {
        let day_end = (t + 86_400).min(end);
        let samples: Vec<IncomingSample> = (t..day_end)
            .step_by(3600)
            .filter_map(|h| {
                bad_in_hour(h).map(|bad| IncomingSample {
                    slo: "checkout-availability".into(),
                    time: Some(h),
                    measurement: Measurement::Events {
                        good: 100 - bad,
                        total: 100,
                    },
                })
            })
            .collect();
        let now = (day_end + 60).min(end - 60);
        if !samples.is_empty() {
            e.ingest(&samples, now).unwrap();
        }
        e.roll_up(now).unwrap();
        t = day_end;
    }
    let now = end - 60; // 2026-11-30 23:59 in Berlin
    let bad_hour = at("2026-10-21T10:00:00Z"); // 12:00 in Berlin, summer time
    let store = e.store().clone();
    store
        .transact(move |tx| {
            tx.put_adjustment(&steward_store::StoredAdjustment {
                id: 0,
                name: "load-test".into(),
                description: "a load test we ran on purpose".into(),
                service: "checkout".into(),
                indicator: None,
                start_at: bad_hour,
                duration: 3600,
                rrule: None,
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

    let page = e.status_page("acme", now).unwrap().unwrap();
    assert_eq!(page.days.len(), 90);
    assert_eq!(page.days[0].0, jiff::civil::date(2026, 9, 2));
    assert_eq!(page.days[89].0, jiff::civil::date(2026, 11, 30));
    let checkout = &page.services[0];
    assert_eq!(checkout.name, "checkout");
    let state_on = |d: &str| {
        let i = page.days.iter().position(|x| x.0.to_string() == d).unwrap();
        checkout.days[i]
    };
    assert_eq!(state_on("2026-09-15"), DayState::NoTraffic);
    assert_eq!(state_on("2026-10-07"), DayState::OverBudget);
    assert_eq!(state_on("2026-10-14"), DayState::WithinBudget);
    assert_eq!(state_on("2026-10-21"), DayState::WithinBudget);
    assert_eq!(state_on("2026-11-03"), DayState::OverBudget);
    // Every other day is within budget, the oldest (89 days back) included.
    let over: Vec<String> = page
        .days
        .iter()
        .zip(&checkout.days)
        .filter(|(_, s)| **s != DayState::WithinBudget)
        .map(|(d, s)| format!("{} {s}", d.0))
        .collect();
    assert_eq!(
        over,
        [
            "2026-09-15 no-traffic",
            "2026-10-07 over-budget",
            "2026-11-03 over-budget"
        ]
    );
    // The counts under the bars, by hand: 89 days with traffic, one of them 25 hours long,
    // less the excluded hour; bad = 48 + 24 + 25.
    let days: Vec<(i64, i64)> = page.days.iter().map(|d| (d.1, d.2)).collect();
    let counts = e
        .counts_in(|d| d.service == "checkout", &days)
        .unwrap()
        .remove(0)
        .counts;
    let oct25 = page
        .days
        .iter()
        .position(|d| d.0 == jiff::civil::date(2026, 10, 25))
        .unwrap();
    assert_eq!(counts[oct25].total, 2_500, "25 hours when summer time ends");
    let sum = counts
        .iter()
        .fold(steward_model::Counts::default(), |a, b| a + *b);
    assert_eq!(sum.total, (89 * 24 + 1) * 100 - 100);
    assert_eq!(sum.total - sum.good, 48 + 24 + 25);

    // October in Berlin: 745 hours (the hour given back on the 25th), less the excluded
    // one; bad = 48 + 24.
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let (_, from, to) = month_bounds("2026-10", &berlin).unwrap();
    let report = e.month_report("acme", from, to).unwrap().unwrap();
    assert_eq!(report.slos.len(), 1);
    let a = report.slos[0].attainment;
    assert_eq!((a.counts.good, a.counts.total), (74_328, 74_400));
    assert_eq!(a.ratio, Some(74_328.0 / 74_400.0));
    assert!((a.budget_spent.unwrap() - 72.0 / 744.0).abs() < 1e-12);
    assert_eq!(a.met, Some(true));
    // September: 29 days of traffic from the 1st (the 15th had none).
    let (_, from, to) = month_bounds("2026-09", &berlin).unwrap();
    let report = e.month_report("acme", from, to).unwrap().unwrap();
    let a = report.slos[0].attainment;
    assert_eq!((a.counts.good, a.counts.total), (69_600, 69_600));
    assert_eq!(
        e.month_report("nobody", from, to).unwrap().map(|_| ()),
        None
    );
}
