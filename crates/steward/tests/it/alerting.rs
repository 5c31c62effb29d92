//! From an alert to a person: a real Alertmanager, a real Prometheus and amtool, a real
//! PagerDuty client, burn-rate pages, escalation across a `kill -9`, and receivers that fail.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const AM_KEY: &str = "am-key-0123456789abcdef";
const PD_KEY: &str = "pd-routing-key-0123456789";
const HOOK_KEY: &str = "hook-key-0123456789abcdef";

/// A shop with one service, three people (ann on call, then bob, then cid), each reached by
/// a webhook, an escalation policy of three steps `delay` apart, and one integration of each
/// kind.
fn config(dir: &Path, urls: [&str; 3], delay: &str) -> std::path::PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let [a, b, c] = urls;
    std::fs::write(
        config.join("steward.yaml"),
        format!(
            r#"
apiVersion: steward/v1
kind: Team
metadata: {{name: web}}
spec: {{members: [ann, bob, cid]}}
---
apiVersion: steward/v1
kind: Service
metadata: {{name: checkout}}
spec: {{owner: web, tier: 1, escalationPolicy: web}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: ann}}
spec: {{role: responder, contacts: [{{type: webhook, url: "{a}"}}]}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: bob}}
spec: {{role: responder, contacts: [{{type: webhook, url: "{b}"}}]}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: cid}}
spec: {{role: responder, contacts: [{{type: webhook, url: "{c}"}}]}}
---
apiVersion: steward/v1
kind: Schedule
metadata: {{name: primary}}
spec:
  layers: [{{participants: [ann], shift: 1w, start: "2020-01-06"}}]
---
apiVersion: steward/v1
kind: EscalationPolicy
metadata: {{name: web}}
spec:
  steps:
    - {{delay: {delay}, targets: [{{schedule: primary}}]}}
    - {{delay: {delay}, targets: [{{user: bob}}]}}
    - {{delay: {delay}, targets: [{{user: cid}}]}}
---
apiVersion: steward/v1
kind: Integration
metadata: {{name: prometheus}}
spec: {{kind: alertmanager, service: checkout, key: {{value: {AM_KEY}}}}}
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
---
apiVersion: openslo/v1
kind: SLO
metadata: {{name: checkout-availability}}
spec:
  service: checkout
  indicator:
    metadata: {{name: checkout-requests}}
    spec:
      ratioMetric:
        counter: true
        good: {{metricSource: {{type: steward, spec: {{}}}}}}
        total: {{metricSource: {{type: steward, spec: {{}}}}}}
  timeWindow: [{{duration: 28d, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.999}}]
"#
        ),
    )
    .unwrap();
    config
}

fn fast_delivery() -> Vec<&'static str> {
    vec![
        "--group-wait",
        "0s",
        "--notify-timeout",
        "2s",
        "--notify-retry-base",
        "1s",
        "--notify-give-up",
        "8s",
    ]
}

fn wait_alerts(
    server: &Server,
    query: &str,
    limit: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let alerts = server.alerts(query);
        if done(&alerts) {
            return alerts;
        }
        assert!(
            start.elapsed() < limit,
            "timed out waiting for alerts ({query}): {alerts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_real_alertmanager_opens_dedupes_and_resolves_alerts_in_steward() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let config = config(dir.path(), [&sink.url, &sink.url, &sink.url], "1h");
    let server = Server::start(&config, &sqlite_url(dir.path()));
    let am_port = free_port();
    let am_dir = dir.path().join("alertmanager");
    std::fs::create_dir_all(&am_dir).unwrap();
    std::fs::write(
        am_dir.join("alertmanager.yml"),
        format!(
            r#"
route:
  receiver: steward
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: steward
    webhook_configs:
      - url: {}/api/v1/integrations/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {AM_KEY}
"#,
            server.base
        ),
    )
    .unwrap();
    let _am = Daemon(
        Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                am_dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", am_dir.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager is installed (scripts/test.sh installs it)"),
    );
    let am = format!("http://127.0.0.1:{am_port}");
    wait_http_ok(&format!("{am}/-/ready"), Duration::from_secs(30));
    let post = |alerts: Value| {
        let (status, body) = post_text(&format!("{am}/api/v2/alerts"), &alerts.to_string());
        assert_eq!(status, 200, "{body}");
    };
    let disk = json!({ "alertname": "DiskFull", "service": "checkout", "severity": "page", "instance": "db-1" });
    post(json!([{ "labels": disk, "annotations": { "summary": "the disk of db-1 is full" } }]));
    let open = wait_alerts(&server, "status=open", Duration::from_secs(30), |a| {
        a.len() == 1
    });
    assert_eq!(open[0]["summary"], "the disk of db-1 is full");
    assert_eq!(open[0]["source"], "alertmanager");
    assert_eq!(open[0]["service"], "checkout");
    assert_eq!(open[0]["labels"]["instance"], "db-1");
    let id = open[0]["id"].clone();
    // A second alert in the same group: Alertmanager sends the group again, the first alert
    // with it. Steward keeps one alert per fingerprint.
    let disk2 = json!({ "alertname": "DiskFull", "service": "checkout", "severity": "page", "instance": "db-2" });
    post(json!([{ "labels": disk2, "annotations": { "summary": "the disk of db-2 is full" } }]));
    let open = wait_alerts(&server, "status=open", Duration::from_secs(30), |a| {
        a.len() == 2
    });
    let first = open.iter().find(|a| a["id"] == id).unwrap();
    assert!(
        first["events"].as_i64().unwrap() >= 2,
        "the repeat updated the open alert: {first}"
    );
    // Resolved in Alertmanager: resolved in Steward.
    let past = rfc3339(now() - 1);
    post(json!([
        { "labels": disk, "endsAt": past },
        { "labels": disk2, "endsAt": past },
    ]));
    let resolved = wait_alerts(&server, "status=resolved", Duration::from_secs(30), |a| {
        a.len() == 2
    });
    assert!(
        resolved
            .iter()
            .all(|a| a["resolved_by"] == "integration:prometheus"),
        "{resolved:?}"
    );
    assert!(server.alerts("status=unresolved").is_empty());
}

#[test]
fn prometheus_posts_to_steward_as_its_alertmanager_and_amtool_manages_silences() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let config = config(dir.path(), [&sink.url, &sink.url, &sink.url], "1h");
    let server = Server::start(&config, &sqlite_url(dir.path()));
    let authority = server.base.trim_start_matches("http://").to_string();
    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    std::fs::write(
        prom_dir.join("rules.yml"),
        r#"
groups:
  - name: always
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: page, service: checkout}
        annotations: {summary: "this rule always fires"}
"#,
    )
    .unwrap();
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            r#"
global: {{evaluation_interval: 1s, scrape_interval: 1m}}
rule_files: [{}]
alerting:
  alertmanagers:
    - api_version: v2
      authorization: {{credentials: {AM_KEY}}}
      static_configs: [{{targets: ["{authority}"]}}]
"#,
            prom_dir.join("rules.yml").display()
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let _prom = Daemon(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            // The first alert may go out before the Alertmanager is discovered and be
            // dropped; resend every second rather than after a minute.
            .arg("--rules.alert.resend-delay=1s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (scripts/test.sh installs it)"),
    );
    let open = wait_alerts(&server, "status=open", Duration::from_secs(60), |a| {
        a.iter().any(|x| x["labels"]["alertname"] == "AlwaysFiring")
    });
    let alert = open
        .iter()
        .find(|x| x["labels"]["alertname"] == "AlwaysFiring")
        .unwrap();
    assert_eq!(alert["summary"], "this rule always fires");
    assert_eq!(alert["service"], "checkout");

    // amtool, pointed at Steward with the integration's key.
    let http_config = dir.path().join("amtool-http.yml");
    std::fs::write(
        &http_config,
        format!("authorization:\n  credentials: {AM_KEY}\n"),
    )
    .unwrap();
    let amtool = |args: &[&str]| {
        let out = Command::new("amtool")
            .arg(format!("--alertmanager.url={}", server.base))
            .arg(format!("--http.config.file={}", http_config.display()))
            .args(args)
            .output()
            .expect("amtool is installed (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "amtool {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let id = amtool(&[
        "silence",
        "add",
        "alertname=AlwaysFiring",
        "--comment=maintenance",
        "--author=ann",
        "--duration=1h",
    ]);
    assert_eq!(
        id.len(),
        36,
        "a silence id as Alertmanager's clients expect: {id}"
    );
    let listed = amtool(&["silence", "query", "-o", "json"]);
    let silences: Value = serde_json::from_str(&listed).unwrap();
    let s = silences
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .expect("the new silence is listed");
    assert_eq!(s["createdBy"], "ann");
    assert_eq!(s["status"]["state"], "active");
    assert_eq!(s["matchers"][0]["name"], "alertname");
    let (_, v1) = server.get("/api/v1/silences");
    assert_eq!(v1["silences"][0]["comment"], "maintenance");
    // The trail names the integration whose key made it, and what it silences.
    let (_, audit) = server.get("/api/v1/audit?actor=integration:prometheus");
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "silences.create", "{audit}");
    assert_eq!(entry["after"]["comment"], "maintenance", "{audit}");
    assert_eq!(entry["from"]["remote"], "127.0.0.1", "{audit}");
    // amtool reads alerts too, active or silenced: the silence just made quiets this one as
    // soon as the alert worker applies it, and amtool shows active ones only by default
    // (which raced the worker).
    let alerts = amtool(&["alert", "query", "--active", "--silenced", "-o", "json"]);
    assert!(alerts.contains("AlwaysFiring"), "{alerts}");
    // It ends when Prometheus said it would unless refreshed (a few seconds ahead for a rule
    // evaluated every second), not hours later.
    let v2: Value = serde_json::from_str(&alerts).unwrap();
    let ends = v2
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "AlwaysFiring")
        .map(|a| {
            let t: jiff::Timestamp = a["endsAt"].as_str().unwrap().parse().unwrap();
            t.as_second()
        })
        .unwrap();
    assert!(
        (now() - 5..now() + 120).contains(&ends),
        "endsAt {ends} is Prometheus's, now {}",
        now()
    );
    amtool(&["silence", "expire", &id]);
    let listed: Value =
        serde_json::from_str(&amtool(&["silence", "query", "--expired", "-o", "json"])).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str() && s["status"]["state"] == "expired"),
        "{listed}"
    );
}

#[test]
fn a_real_pagerduty_client_triggers_acknowledges_resolves_and_dedupes() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let config = config(dir.path(), [&sink.url, &sink.url, &sink.url], "1h");
    let server = Server::start(&config, &sqlite_url(dir.path()));
    let script = r#"
import json, sys, warnings
warnings.simplefilter("ignore")
import pdpyras
base, key = sys.argv[1], sys.argv[2]
s = pdpyras.EventsAPISession(key)
s.url = base
out = {}
out["generated"] = s.trigger("checkout is down", "lb-1", severity="critical", custom_details={"errors": 42})
out["again"] = s.trigger("checkout is still down", "lb-1", dedup_key=out["generated"], severity="critical")
s.acknowledge(out["generated"])
s.resolve(out["generated"])
out["explicit"] = s.trigger("payments slow", "lb-2", dedup_key="payments-slow", severity="warning")
try:
    s.trigger("bad", "lb-3", severity="bogus")
    out["invalid"] = "accepted"
except pdpyras.PDClientError as e:
    out["invalid"] = e.response.status_code if e.response is not None else str(e)
    out["invalid_body"] = e.response.json() if e.response is not None else None
bad = pdpyras.EventsAPISession("not-a-routing-key-of-steward")
bad.url = base
try:
    bad.trigger("x", "y")
    out["wrong_key"] = "accepted"
except pdpyras.PDClientError as e:
    out["wrong_key"] = e.response.status_code if e.response is not None else str(e)
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &server.base, PD_KEY])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = r["generated"].as_str().unwrap();
    assert_eq!(key.len(), 32, "a dedup key is generated and returned: {r}");
    assert_eq!(r["again"], key);
    assert_eq!(r["explicit"], "payments-slow");
    assert_eq!(r["invalid"], 400);
    assert_eq!(r["invalid_body"]["status"], "invalid event");
    assert_eq!(
        r["invalid_body"]["errors"][0],
        "'payload.severity' is invalid (`bogus`); must be one of critical, error, warning, info"
    );
    assert_eq!(r["wrong_key"], 400);
    let all = server.alerts("status=all");
    assert_eq!(all.len(), 2, "{all:?}");
    let down = all.iter().find(|a| a["dedup_key"] == key).unwrap();
    assert_eq!(down["status"], "resolved");
    assert_eq!(down["events"], 2);
    assert_eq!(down["summary"], "checkout is still down");
    assert_eq!(down["acknowledged_by"], "integration:pd");
    assert_eq!(down["resolved_by"], "integration:pd");
    assert_eq!(
        down["details"]["custom_details"],
        Value::Null,
        "the repeat's details replace the first's"
    );
    let slow = all
        .iter()
        .find(|a| a["dedup_key"] == "payments-slow")
        .unwrap();
    assert_eq!(
        (slow["status"].as_str(), slow["severity"].as_str()),
        (Some("open"), Some("warning"))
    );
}

/// Sends every minute of the last hour as all bad: both page conditions fire at once.
fn burn(server: &Server) {
    let t = now();
    let samples: Vec<Value> = (0..60)
        .map(|m| json!({ "slo": "checkout-availability", "time": rfc3339(t - m * 60), "good": 0, "total": 100 }))
        .collect();
    let (status, body) = server.post(
        "/api/v1/samples",
        &json!({ "samples": samples }).to_string(),
    );
    assert_eq!(status, 202, "{body}");
}

#[test]
fn a_burning_slo_pages_the_on_call_escalates_and_stops_when_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
    );
    let config = config(dir.path(), [&a.url, &b.url, &c.url], "3s");
    let server = Server::start_with(
        &config,
        &sqlite_url(dir.path()),
        &[
            "--public-url",
            "https://steward.example.com",
            "--group-wait",
            "0s",
        ],
    );
    burn(&server);
    let got = a.wait_for(1, Duration::from_secs(10));
    let body = &got[0].body;
    assert_eq!(body["alert"]["source"], "slo");
    assert_eq!(body["alert"]["labels"]["slo"], "checkout-availability");
    assert_eq!(body["alert"]["severity"], "page");
    assert_eq!(body["service_owner"], "web");
    assert_eq!(body["paged"], json!(["ann"]));
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("Burn rate: "), "{text}");
    assert!(text.contains("Error budget left: "), "{text}");
    let id = body["alert"]["id"].as_i64().unwrap();
    assert_eq!(
        body["links"]["acknowledge"],
        format!("https://steward.example.com/api/v1/alerts/{id}/ack")
    );
    assert!(got[0]
        .header("idempotency-key")
        .is_some_and(|k| k.starts_with(&format!("steward-alert-{id}-")) && k.contains("-r0-s0-")));
    // Not acknowledged within 3 s: the next step.
    let got_b = b.wait_for(1, Duration::from_secs(10));
    // Steps are due in whole seconds: a 3 s delay is at least 2 s after the first delivery.
    let waited = got_b[0].at.duration_since(got[0].at);
    assert!(
        waited >= Duration::from_millis(1900),
        "the second step came after {waited:?}"
    );
    // Acknowledged: no third step.
    let (status, acked) = server.post(&format!("/api/v1/alerts/{id}/ack"), "");
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        c.requests().is_empty(),
        "cid was paged after the acknowledgement"
    );
    let (_, alert) = server.get(&format!("/api/v1/alerts/{id}"));
    let kinds: Vec<&str> = alert["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        &kinds[..5],
        [
            "triggered",
            "routed",
            "notified",
            "notified",
            "acknowledged"
        ],
        "{alert}"
    );
    // Both page conditions of the burn fire: one page. The ticket conditions fire too: one
    // ticket, which pages no one.
    let all = server.alerts("status=all&service=checkout");
    let severities: Vec<&str> = all
        .iter()
        .map(|a| a["severity"].as_str().unwrap())
        .collect();
    assert_eq!(
        severities.iter().filter(|s| **s == "page").count(),
        1,
        "{all:?}"
    );
    let ticket = all
        .iter()
        .find(|a| a["severity"] == "ticket")
        .expect("a ticket alert");
    let (_, ticket) = server.get(&format!("/api/v1/alerts/{}", ticket["id"]));
    assert!(
        ticket["notifications"].as_array().unwrap().is_empty(),
        "{ticket}"
    );
}

#[test]
fn an_escalation_goes_on_at_the_right_step_after_a_kill_and_retries_keep_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        Receiver::start(Answer::Status(500)),
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
    );
    let config = config(dir.path(), [&a.url, &b.url, &c.url], "4s");
    let db = sqlite_url(dir.path());
    let mut args = fast_delivery();
    *args.last_mut().unwrap() = "1h"; // --notify-give-up: this test's receiver recovers
    assert_eq!(args[args.len() - 2], "--notify-give-up");
    let server = Server::start_with(&config, &db, &args);
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"summary": "checkout returns 502", "dedup_key": "lb-502"}"#,
    );
    assert_eq!(status, 202, "{body}");
    // ann's receiver fails; Steward retries it. Kill Steward mid-escalation, after step 1.
    a.wait_for(1, Duration::from_secs(10));
    server.kill9();
    a.set_answer(Answer::Status(200));
    let server = Server::start_with(&config, &db, &args);
    let got_a = a.wait_for(2, Duration::from_secs(20));
    let got_b = b.wait_for(1, Duration::from_secs(20));
    let got_c = c.wait_for(1, Duration::from_secs(20));
    let keys: Vec<&str> = got_a
        .iter()
        .map(|r| r.header("idempotency-key").unwrap())
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "every attempt carries the same key: {keys:?}"
    );
    assert_eq!(got_b.len(), 1);
    assert_eq!(got_c.len(), 1);
    let step = |r: &Received| r.body["escalation"]["step"].as_i64().unwrap();
    assert_eq!(
        (step(&got_a[0]), step(&got_b[0]), step(&got_c[0])),
        (1, 2, 3),
        "no step skipped"
    );
    assert!(got_c[0].at >= got_b[0].at && got_b[0].at >= got_a[0].at);
    let id = got_a[0].body["alert"]["id"].as_i64().unwrap();
    let (_, alert) = server.get(&format!("/api/v1/alerts/{id}"));
    let notified = alert["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["kind"] == "notified")
        .count();
    assert_eq!(notified, 3, "each step notified once: {alert}");
}

#[test]
fn a_failing_or_hanging_receiver_delays_no_one_and_ends_in_the_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let (good, failing, hanging) = (
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(500)),
        Receiver::start(Answer::Hang),
    );
    // Every step's targets at once: a policy of one step that pages all three.
    let config = config(dir.path(), [&good.url, &failing.url, &hanging.url], "1h");
    let text = std::fs::read_to_string(config.join("steward.yaml"))
        .unwrap()
        .replace(
            "    - {delay: 1h, targets: [{schedule: primary}]}\n    - {delay: 1h, targets: [{user: bob}]}\n    - {delay: 1h, targets: [{user: cid}]}",
            "    - {delay: 1h, targets: [{user: cid}, {user: bob}, {user: ann}]}",
        );
    std::fs::write(config.join("steward.yaml"), text).unwrap();
    // The hanging receiver holds each attempt for 5 s: the healthy one must not wait for it.
    let args = [
        "--group-wait",
        "0s",
        "--notify-timeout",
        "5s",
        "--notify-retry-base",
        "1s",
        "--notify-give-up",
        "12s",
    ];
    let server = Server::start_with(&config, &sqlite_url(dir.path()), &args);
    let sent = Instant::now();
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"summary": "checkout is down"}"#,
    );
    assert_eq!(status, 202, "{body}");
    let got = good.wait_for(1, Duration::from_secs(5));
    let took = got[0].at.duration_since(sent);
    assert!(
        took < Duration::from_secs(2),
        "the healthy receiver waited {took:?} behind the others"
    );
    // The failing and the hanging receivers are retried with back-off, then given up on.
    let dead = server.wait_for("/api/v1/notifications/dead", Duration::from_secs(60), |b| {
        b["notifications"].as_array().is_some_and(|n| n.len() == 2)
    });
    let dead = dead["notifications"].as_array().unwrap();
    // A webhook's URL is its secret: the API shows its host only.
    assert!(
        !Value::Array(dead.clone()).to_string().contains("/hook"),
        "{dead:?}"
    );
    let by_dest = |url: &str| {
        let shown = format!("{}/…", url.trim_end_matches("/hook"));
        dead.iter()
            .find(|m| m["destination"] == shown.as_str())
            .unwrap()
            .clone()
    };
    let f = by_dest(&failing.url);
    assert!(
        f["last_error"].as_str().unwrap().contains("HTTP 500"),
        "{f}"
    );
    assert!(f["attempts"].as_i64().unwrap() >= 2, "{f}");
    let h = by_dest(&hanging.url);
    assert!(
        h["last_error"]
            .as_str()
            .unwrap()
            .contains("no answer within 5s"),
        "{h}"
    );
    let attempts = failing.requests();
    assert!(attempts.len() >= 2);
    assert!(attempts
        .iter()
        .all(|r| r.header("idempotency-key") == attempts[0].header("idempotency-key")));
    let gap = attempts[1].at.duration_since(attempts[0].at);
    assert!(
        gap >= Duration::from_millis(400),
        "retries back off: {gap:?}"
    );
    assert_eq!(
        good.requests().len(),
        1,
        "a delivered notification is not sent again"
    );
    // A dead letter can be sent again, with its key.
    failing.set_answer(Answer::Status(200));
    let (status, retried) = server.post(&format!("/api/v1/notifications/{}/retry", f["id"]), "");
    assert_eq!(status, 200, "{retried}");
    let before = attempts.len();
    let after = failing.wait_for(before + 1, Duration::from_secs(10));
    assert_eq!(
        after.last().unwrap().header("idempotency-key"),
        attempts[0].header("idempotency-key")
    );
}

#[test]
fn an_alert_storm_is_one_notification_then_one_gathered_then_one_per_group_interval() {
    let dir = tempfile::tempdir().unwrap();
    let ann = Receiver::start(Answer::Status(200));
    let config = config(dir.path(), [&ann.url, &ann.url, &ann.url], "1h");
    let server = Server::start_with(
        &config,
        &sqlite_url(dir.path()),
        &["--group-wait", "2s", "--group-interval", "4s"],
    );
    let storm: Vec<Value> = (0..50)
        .map(|i| json!({ "summary": format!("pod {i} is crash-looping"), "dedup_key": format!("pod-{i}") }))
        .collect();
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        &Value::Array(storm).to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let first = ann.wait_for(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(ann.requests().len(), 1, "fifty alerts, one notification");
    assert_eq!(first[0].body["event"], "alert.notify.group");
    assert_eq!(first[0].body["count"], 50);
    assert!(first[0].body["text"]
        .as_str()
        .unwrap()
        .starts_with("50 alerts"));
    // One more right after the first: gathered for the group wait.
    let post = |summary: &str| {
        let (status, body) = server.post_key(
            "/api/v1/integrations/webhook",
            HOOK_KEY,
            &json!({ "summary": summary }).to_string(),
        );
        assert_eq!(status, 202, "{body}");
    };
    post("pod 50 is crash-looping");
    let two = ann.wait_for(2, Duration::from_secs(10));
    let gap = two[1].at.duration_since(two[0].at);
    // Due times are whole seconds: 2 s after a delivery stamped at its second's start.
    assert!(
        gap >= Duration::from_millis(900),
        "the gathered notification came {gap:?} after the group's first"
    );
    assert_eq!(two[1].body["alert"]["summary"], "pod 50 is crash-looping");
    // And one after that waits the group interval.
    post("pod 51 is crash-looping");
    let three = ann.wait_for(3, Duration::from_secs(10));
    let gap = three[2].at.duration_since(three[1].at);
    assert!(
        gap >= Duration::from_millis(2900),
        "the next notification came {gap:?} after the group's last"
    );
    assert_eq!(three[2].body["alert"]["summary"], "pod 51 is crash-looping");
}

/// A webhook's URL is the secret that lets anyone post to the channel: it is shown and
/// logged by its host only — in the dead letters, on the alert's page, and in the log of
/// every attempt; nor does an API token reach the log.
#[test]
fn a_webhook_url_never_reaches_an_answer_a_page_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Receiver::start(Answer::Status(500));
    let secret_url = format!("{}/T0001/B0001/s3cr3t-webhook-path", failing.url);
    let config = config(dir.path(), [&secret_url, &secret_url, &secret_url], "1h");
    let log = dir.path().join("steward.log");
    let args = [
        "--group-wait",
        "0s",
        "--notify-retry-base",
        "1s",
        "--notify-give-up",
        "3s",
    ];
    let server = Server::start_logging(&config, &sqlite_url(dir.path()), &args, Some(&log));
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"summary": "checkout is down"}"#,
    );
    assert_eq!(status, 202, "{body}");
    let dead = server.wait_for("/api/v1/notifications/dead", Duration::from_secs(30), |b| {
        b["notifications"].as_array().is_some_and(|n| !n.is_empty())
    });
    assert!(failing.requests().len() >= 2, "it was tried");
    let id = dead["notifications"][0]["alert"].as_i64().unwrap();
    let (_, alert) = server.get(&format!("/api/v1/alerts/{id}"));
    let (_, page) = server.get_text(&format!("/alerts/{id}"));
    let logged = std::fs::read_to_string(&log).unwrap();
    let shown = format!("{}/…", failing.url.trim_end_matches("/hook"));
    assert!(
        logged.contains("notification") && logged.contains(&shown),
        "the attempts are logged, with the host they went to: {logged}"
    );
    for (what, text) in [
        ("the dead letters", dead.to_string()),
        ("the alert", alert.to_string()),
        ("the alert's page", page),
        ("the log", logged.clone()),
    ] {
        assert!(
            !text.contains("s3cr3t"),
            "{what} shows the webhook's secret: {text}"
        );
    }
    assert!(!logged.contains(&server.admin), "the log holds a token");
}
