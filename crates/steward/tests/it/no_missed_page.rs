//! Regressions of "no page goes missing", each through the public API as it was reproduced on
//! the release binary: paths on which a real outage paged nobody.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const PD_KEY: &str = "pd-routing-key-0123456789";
const HOOK_KEY: &str = "hook-key-0123456789abcdef";

/// db ← checkout (checkout depends on db); shop opens incidents; ann is on call, bob is
/// step 2; a PagerDuty and a webhook integration.
fn config(dir: &Path, ann: &str, bob: &str) -> std::path::PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let slo = ratio_slo("checkout-availability", "checkout", "30d");
    std::fs::write(
        config.join("steward.yaml"),
        format!(
            r#"
apiVersion: steward/v1
kind: Team
metadata: {{name: web}}
spec: {{members: [ann, bob]}}
---
apiVersion: steward/v1
kind: Service
metadata: {{name: db}}
spec: {{owner: web, tier: 1, escalationPolicy: web}}
---
apiVersion: steward/v1
kind: Service
metadata: {{name: checkout}}
spec: {{owner: web, tier: 1, escalationPolicy: web, dependsOn: [db]}}
---
apiVersion: steward/v1
kind: Service
metadata: {{name: shop}}
spec: {{owner: web, tier: 1, escalationPolicy: web, incidents: {{automatic: true, severity: SEV2}}}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: ann}}
spec: {{role: responder, contacts: [{{type: webhook, url: "{ann}"}}]}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: bob}}
spec: {{role: responder, contacts: [{{type: webhook, url: "{bob}"}}]}}
---
apiVersion: steward/v1
kind: EscalationPolicy
metadata: {{name: web}}
spec:
  steps:
    - {{delay: 5m, targets: [{{user: ann}}]}}
    - {{delay: 5m, targets: [{{user: bob}}]}}
---
apiVersion: steward/v1
kind: Schedule
metadata: {{name: solo}}
spec:
  layers: [{{participants: [ann], shift: 1w, start: "2020-01-06"}}]
---
apiVersion: steward/v1
kind: Integration
metadata: {{name: pd}}
spec: {{kind: pagerduty, service: checkout, key: {{value: {PD_KEY}}}}}
---
apiVersion: steward/v1
kind: Integration
metadata: {{name: hook}}
spec: {{kind: webhook, service: checkout, key: {{value: {HOOK_KEY}}}}}
{slo}"#
        ),
    )
    .unwrap();
    config
}

struct Shop {
    _dir: tempfile::TempDir,
    server: Server,
    ann: Receiver,
    bob: Receiver,
}

/// At the default grouping (the first notification of a quiet group leaves at once).
fn shop(extra: &[&str]) -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let (ann, bob) = (
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
    );
    let config = config(dir.path(), &ann.url, &bob.url);
    let server = Server::start_with(&config, &sqlite_url(dir.path()), extra);
    Shop {
        _dir: dir,
        server,
        ann,
        bob,
    }
}

fn hook(server: &Server, event: Value) {
    let (status, body) =
        server.post_key("/api/v1/integrations/webhook", HOOK_KEY, &event.to_string());
    assert_eq!(status, 202, "{body}");
}

/// A person's action on the API (acknowledge, resolve, ...): its status and answer.
fn act(server: &Server, user: &str, path: &str) -> (u16, Value) {
    send_as(server, "POST", user, path, &json!({}))
}

fn alert_by_key(server: &Server, key: &str) -> Value {
    server
        .alerts("status=all")
        .into_iter()
        .find(|a| a["dedup_key"] == json!(key))
        .unwrap_or_else(|| panic!("no alert {key}"))
}

/// A PagerDuty event re-sent with a higher severity under the same dedup key (`info`
/// "latency", then `critical` "PAY DOWN") updated the alert and routed it nowhere.
#[test]
fn a_pagerduty_event_raised_from_info_to_critical_under_one_key_pages() {
    let s = shop(&[]);
    let event = |severity: &str, summary: &str| {
        json!({ "routing_key": PD_KEY, "event_action": "trigger", "dedup_key": "pay",
                "payload": { "summary": summary, "source": "lb-1", "severity": severity } })
        .to_string()
    };
    let (status, _) = post_text(
        &format!("{}/v2/enqueue", s.server.base),
        &event("info", "latency"),
    );
    assert_eq!(status, 202);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(s.ann.requests().is_empty(), "info is a ticket");
    let (status, _) = post_text(
        &format!("{}/v2/enqueue", s.server.base),
        &event("critical", "PAY DOWN"),
    );
    assert_eq!(status, 202);
    let got = s.ann.wait_for(1, Duration::from_secs(5));
    assert_eq!(got[0].body["alert"]["summary"], "PAY DOWN");
    assert_eq!(
        alert_by_key(&s.server, "pay")["events"],
        2,
        "one alert, updated"
    );
}

/// Any open alert of a dependency — even an acknowledged warning ("TLS certificate expires
/// in 20 days") — held back every page of the services depending on it, for ever.
#[test]
fn an_acknowledged_warning_of_a_dependency_holds_back_no_page() {
    let s = shop(&[]);
    hook(
        &s.server,
        json!({ "dedup_key": "tls", "summary": "TLS certificate expires in 20 days", "severity": "warning", "service": "db" }),
    );
    let tls = alert_by_key(&s.server, "tls")["id"].as_i64().unwrap();
    let (status, _) = act(&s.server, "ann", &format!("/api/v1/alerts/{tls}/ack"));
    assert_eq!(status, 200);
    hook(
        &s.server,
        json!({ "dedup_key": "down", "summary": "checkout is DOWN", "severity": "critical", "service": "checkout" }),
    );
    let got = s.ann.wait_for(1, Duration::from_secs(5));
    assert_eq!(got[0].body["alert"]["summary"], "checkout is DOWN");
}

/// A dependency's page holds its dependents' pages back for a limited time only; then they
/// page, naming the page they waited on.
#[test]
fn a_dependency_page_holds_a_dependents_page_back_only_for_the_hold() {
    let s = shop(&["--dependency-hold", "8s"]);
    hook(
        &s.server,
        json!({ "dedup_key": "db-down", "summary": "db is down", "severity": "critical", "service": "db", "labels": { "alertname": "DbDown" } }),
    );
    s.ann.wait_for(1, Duration::from_secs(5));
    hook(
        &s.server,
        json!({ "dedup_key": "corrupt", "summary": "checkout writes corrupt orders", "severity": "critical", "service": "checkout", "labels": { "alertname": "CorruptOrders" } }),
    );
    let id = alert_by_key(&s.server, "corrupt")["id"].as_i64().unwrap();
    let (_, held) = s.server.get(&format!("/api/v1/alerts/{id}"));
    assert!(
        held["suppressed"]
            .as_str()
            .is_some_and(|w| w.starts_with("held back by alert")),
        "held back behind db's page: {held}"
    );
    assert_eq!(s.ann.requests().len(), 1);
    let got = s.ann.wait_for(2, Duration::from_secs(20));
    assert_eq!(
        got[1].body["alert"]["summary"],
        "checkout writes corrupt orders"
    );
    let (_, alert) = s.server.get(&format!("/api/v1/alerts/{id}"));
    assert!(
        alert.to_string().contains("held back by alert"),
        "the page names what it waited on: {alert}"
    );
}

/// An SLO page resolved by hand while its conditions still fired never came back.
#[test]
fn a_person_cannot_resolve_an_slo_page_that_still_burns() {
    let s = shop(&[]);
    let t = jiff::Timestamp::now().as_second();
    let samples: Vec<Value> = (0..60)
        .map(|m| json!({ "slo": "checkout-availability", "time": rfc3339(t - m * 60), "good": 0, "total": 100 }))
        .collect();
    let (status, body) = s.server.post(
        "/api/v1/samples",
        &json!({ "samples": samples }).to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let id = s.server.wait_for_alert("slo/checkout-availability/page");
    let (status, body) = act(&s.server, "ann", &format!("/api/v1/alerts/{id}/resolve"));
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("still burns its budget too fast"),
        "{message}"
    );
    assert!(message.contains("acknowledge it"), "{message}");
    let (status, _) = act(&s.server, "ann", &format!("/api/v1/alerts/{id}/ack"));
    assert_eq!(status, 200);
}

/// An acknowledged incident absorbed every later page of its service and marked each one
/// acknowledged by a person who never saw it ("checkout writes corrupt orders" paged
/// nobody).
#[test]
fn a_page_joining_an_acknowledged_incident_reaches_who_has_it() {
    let s = shop(&[]);
    hook(
        &s.server,
        json!({ "dedup_key": "slow", "summary": "shop is slow", "severity": "critical", "service": "shop" }),
    );
    s.ann.wait_for(1, Duration::from_secs(5));
    let incident = alert_by_key(&s.server, "slow")["incident"]
        .as_i64()
        .unwrap();
    let (status, _) = act(
        &s.server,
        "bob",
        &format!("/api/v1/incidents/{incident}/ack"),
    );
    assert_eq!(status, 200);
    hook(
        &s.server,
        json!({ "dedup_key": "corrupt", "summary": "shop writes corrupt orders", "severity": "critical", "service": "shop" }),
    );
    let got = s.bob.wait_for(1, Duration::from_secs(5));
    assert_eq!(
        got[0].body["alert"]["summary"],
        "shop writes corrupt orders"
    );
    let a = alert_by_key(&s.server, "corrupt");
    assert_eq!(
        (a["status"].as_str(), &a["acknowledged_by"]),
        (Some("open"), &Value::Null),
        "{a}"
    );
    assert_eq!(a["incident"], json!(incident));
}

/// Grouping was per policy and service whatever the alert: a critical "SEARCH IS DOWN"
/// waited up to 5 minutes behind an unrelated alert sent just before it, and the first page
/// of a quiet service waited the whole group_wait (30 s).
#[test]
fn at_the_default_grouping_a_first_page_leaves_at_once_and_another_kind_is_not_held_back() {
    let s = shop(&[]);
    let sent = Instant::now();
    hook(
        &s.server,
        json!({ "dedup_key": "cert", "summary": "certificate renewal failed", "severity": "critical", "labels": { "alertname": "CertRenewal" } }),
    );
    let first = s.ann.wait_for(1, Duration::from_secs(5));
    assert!(first[0].at.duration_since(sent) < Duration::from_secs(3));
    let sent = Instant::now();
    hook(
        &s.server,
        json!({ "dedup_key": "search", "summary": "SEARCH IS DOWN", "severity": "critical", "labels": { "alertname": "SearchDown" } }),
    );
    let both = s.ann.wait_for(2, Duration::from_secs(5));
    assert_eq!(both[1].body["alert"]["summary"], "SEARCH IS DOWN");
    assert!(both[1].at.duration_since(sent) < Duration::from_secs(3));
}

/// Retries of a failed delivery went on after the alert was acknowledged.
#[test]
fn a_failing_delivery_stops_being_retried_once_the_alert_is_acknowledged() {
    let s = shop(&["--notify-retry-base", "1s", "--notify-timeout", "2s"]);
    s.ann.set_answer(Answer::Status(503));
    hook(
        &s.server,
        json!({ "dedup_key": "disk", "summary": "disk full", "severity": "critical" }),
    );
    s.ann.wait_for(1, Duration::from_secs(5));
    let id = alert_by_key(&s.server, "disk")["id"].as_i64().unwrap();
    let (status, _) = act(&s.server, "ann", &format!("/api/v1/alerts/{id}/ack"));
    assert_eq!(status, 200);
    let after_ack = s.ann.requests().len();
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        s.ann.requests().len() <= after_ack + 1,
        "at most the attempt already in flight: {} then {}",
        after_ack,
        s.ann.requests().len()
    );
}

/// On-call "until" was cut at now + 31 days: a person alone on a rotation seemed to hand off
/// within the month.
#[test]
fn oncall_until_is_the_real_hand_off_not_a_month_away() {
    let s = shop(&[]);
    let (status, body) = s.server.get("/api/v1/oncall?schedule=solo");
    assert_eq!(status, 200, "{body}");
    let until: jiff::Timestamp = body["oncall"][0]["on_call"]["until"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .parse()
        .unwrap();
    let now = jiff::Timestamp::now().as_second();
    assert!(until.as_second() > now + 100 * 86_400, "{body}");
}
