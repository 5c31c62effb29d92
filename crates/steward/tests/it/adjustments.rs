//! Budget adjustments: an adjustment over a past outage gives back exactly the budget the
//! outage spent, and removing it takes it away again; who did each is audited; the SLO's
//! answer shows what is excluded; a maintenance window becomes adjustments.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("steward.yaml"),
        r#"
apiVersion: steward/v1
kind: Team
metadata: {name: web}
spec: {members: [ann]}
---
apiVersion: steward/v1
kind: User
metadata: {name: ann}
spec: {role: responder}
---
apiVersion: steward/v1
kind: Service
metadata: {name: checkout}
spec: {owner: web, tier: 2}
---
apiVersion: steward/v1
kind: MaintenanceWindow
metadata: {name: sunday-upgrades}
spec: {services: [checkout], start: "2026-01-04T03:00", duration: 1h, repeat: weekly, days: [sunday], timeZone: Europe/Berlin}
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
"#,
    )
    .unwrap();
    config
}

fn figures(server: &Server) -> (u64, u64, f64, bool) {
    let (_, s) = server.get("/api/v1/slos/checkout-availability");
    (
        s["sli"]["good"].as_u64().unwrap(),
        s["sli"]["total"].as_u64().unwrap(),
        s["error_budget"]["remaining_ratio"].as_f64().unwrap(),
        s["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["firing"] == true),
    )
}

#[test]
fn an_adjustment_over_a_past_outage_gives_back_exactly_the_budget_it_spent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()), &sqlite_url(dir.path()));
    // An hour of traffic, 1,000 requests a minute; from 30 to 21 minutes ago, all failed.
    let t0 = now() - now() % 60;
    let samples: Vec<Value> = (1..=60)
        .map(|m| {
            let good = if (21..=30).contains(&m) { 0 } else { 1000 };
            json!({ "slo": "checkout-availability", "time": rfc3339(t0 - m * 60), "good": good, "total": 1000 })
        })
        .collect();
    let (status, body) = server.post(
        "/api/v1/samples",
        &json!({ "samples": samples }).to_string(),
    );
    assert_eq!(status, 202, "{body}");
    // 10,000 bad of 60,000; 1% may fail: 600 allowed, 10,000 / 600 spent.
    let before = server.wait_for(
        "/api/v1/slos/checkout-availability",
        Duration::from_secs(10),
        |s| s["sli"]["total"] == 60_000,
    );
    assert_eq!(before["sli"]["good"], 50_000);
    let (good, total, left, firing) = figures(&server);
    assert_eq!((good, total), (50_000, 60_000));
    assert!((left - (1.0 - 10_000.0 / 600.0)).abs() < 1e-9, "{left}");
    assert!(firing, "the outage burns fast enough to page");

    // The outage was the provider's, announced: adjusted away.
    let (status, a) = send_as(
        &server,
        "POST",
        "ann",
        "/api/v1/budget-adjustments",
        &json!({
            "name": "provider-outage",
            "description": "the card network was down, acknowledged by the provider",
            "service": "checkout",
            "indicatorRef": "checkout-requests",
            "startTime": rfc3339(t0 - 1800),
            "endTime": rfc3339(t0 - 1200),
        }),
    );
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["created_by"], "user:ann");
    let after = server.wait_for(
        "/api/v1/slos/checkout-availability",
        Duration::from_secs(15),
        |s| s["sli"]["total"] == 50_000,
    );
    assert_eq!(after["sli"]["good"], 50_000);
    assert_eq!(after["error_budget"]["remaining_ratio"], 1.0);
    assert_eq!(
        after["excluded"],
        json!([{ "adjustment": "provider-outage", "start": rfc3339(t0 - 1800), "end": rfc3339(t0 - 1200) }])
    );
    let firing = server.wait_for(
        "/api/v1/slos/checkout-availability",
        Duration::from_secs(10),
        |s| {
            s["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["firing"] == false)
        },
    );
    assert_eq!(
        firing["sli"]["total"], 50_000,
        "no condition fires on excluded time"
    );

    // Removed: the outage counts again, exactly as before.
    let (status, body) = send_as(
        &server,
        "DELETE",
        "ann",
        "/api/v1/budget-adjustments/provider-outage",
        &json!({}),
    );
    assert_eq!(status, 200, "{body}");
    server.wait_for(
        "/api/v1/slos/checkout-availability",
        Duration::from_secs(15),
        |s| s["sli"]["total"] == 60_000,
    );
    let (good, total, left2, _) = figures(&server);
    assert_eq!((good, total), (50_000, 60_000));
    assert_eq!(left2, left);
    let (_, audit) = server.get("/api/v1/audit?subject=budget_adjustment:provider-outage");
    let actions: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("budget_adjustment.add", "user:ann"),
            ("budget_adjustment.remove", "user:ann")
        ]
    );
}

#[test]
fn adjustments_are_checked_like_the_draft_and_a_maintenance_window_becomes_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()), &sqlite_url(dir.path()));
    let t = now();
    for (body, message) in [
        (
            json!({ "name": "a", "service": "checkout", "indicatorRef": "checkout-requests", "startTime": rfc3339(t), "duration": "1h" }),
            "BudgetAdjustment spec is missing `description`",
        ),
        (
            json!({ "name": "a", "description": "d", "service": "checkout", "indicatorRef": "checkout-requests", "startTime": rfc3339(t) }),
            "a BudgetAdjustment needs endTime or duration",
        ),
        (
            json!({ "name": "a", "description": "d", "service": "checkout", "indicatorRef": "nope", "startTime": rfc3339(t), "duration": "1h" }),
            "indicatorRef `nope` names no SLI or SLO of service `checkout`",
        ),
        (
            json!({ "name": "a", "description": "d", "service": "checkout", "indicatorRef": "checkout-requests", "startTime": rfc3339(t), "duration": "1h", "rrule": "FREQ=SECONDLY" }),
            "rrule: FREQ `SECONDLY` is not one of DAILY, WEEKLY, MONTHLY",
        ),
        (
            json!({ "name": "a", "description": "d", "service": "checkout", "indicatorRef": "checkout-requests", "startTime": rfc3339(t), "duration": "1h", "colour": "red" }),
            "unknown field `colour` in BudgetAdjustment spec",
        ),
        (json!({ "description": "d" }), "an adjustment needs a name"),
    ] {
        let (status, answer) = send_as(&server, "POST", "ann", "/api/v1/budget-adjustments", &body);
        assert_eq!(status, 400, "{body}: {answer}");
        let m = answer["error"]["message"].as_str().unwrap();
        assert!(m.starts_with(message), "{body}: {m}");
    }
    let (status, _) = send_as(
        &server,
        "DELETE",
        "ann",
        "/api/v1/budget-adjustments/none",
        &json!({}),
    );
    assert_eq!(status, 404);
    // Regression: the API demanded indicatorRef, which is optional there: without it, an
    // adjustment covers every SLO of its service.
    let whole = json!({ "name": "whole", "description": "planned failover", "service": "checkout", "startTime": rfc3339(t + 86_400), "duration": "1h" });
    let (status, made) = send_as(&server, "POST", "ann", "/api/v1/budget-adjustments", &whole);
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["indicatorRef"], json!(null));
    let (status, _) = send_as(
        &server,
        "DELETE",
        "ann",
        "/api/v1/budget-adjustments/whole",
        &json!({}),
    );
    assert_eq!(status, 200);

    // The Sunday maintenance window, excluded from checkout's SLOs, recurring in Berlin time.
    let (status, made) = send_as(
        &server,
        "POST",
        "ann",
        "/api/v1/maintenance/sunday-upgrades/budget-adjustments",
        &json!({}),
    );
    assert_eq!(status, 201, "{made}");
    let a = &made["budget_adjustments"][0];
    assert_eq!(a["name"], "maintenance-sunday-upgrades-checkout");
    assert_eq!(a["rrule"], "FREQ=WEEKLY;BYDAY=SU");
    assert_eq!(a["timeZone"], "Europe/Berlin");
    let listed = server.wait_for("/api/v1/budget-adjustments", Duration::from_secs(10), |b| {
        b["budget_adjustments"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });
    let l = &listed["budget_adjustments"][0];
    assert_eq!(l["slos"], json!(["checkout-availability"]));
    // Every interval is an hour that starts at 03:00 in Berlin on a Sunday.
    for i in l["intervals"].as_array().unwrap() {
        let start: jiff::Timestamp = i["start"].as_str().unwrap().parse().unwrap();
        let local = start.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        assert_eq!(
            (local.weekday(), local.hour(), local.minute()),
            (jiff::civil::Weekday::Sunday, 3, 0),
            "{i}"
        );
    }
}
