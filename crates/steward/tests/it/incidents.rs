//! Incidents: opened by a burning SLO's page or by hand, run by people to resolution, with
//! a timeline that writes itself, derived times, a postmortem, and all of it kept across a
//! `kill -9`.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// checkout opens SEV2 incidents from its pages; ann is on call (a webhook), bob a second
/// step; an SLO of 99.9% over 28 days. checkout depends on db.
fn config(dir: &Path, ann: &str, bob: &str) -> std::path::PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
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
metadata: {{name: checkout}}
spec:
  owner: web
  tier: 1
  escalationPolicy: web
  dependsOn: [db]
  incidents: {{automatic: true, severity: SEV2}}
  failureModes: [{{name: payment-timeouts}}]
---
apiVersion: steward/v1
kind: Service
metadata: {{name: db}}
spec: {{owner: web, tier: 1, escalationPolicy: web, failureModes: [{{name: full-disk}}]}}
---
apiVersion: steward/v1
kind: Runbook
metadata: {{name: checkout-payments}}
spec:
  service: checkout
  failureMode: payment-timeouts
  alerts: ["slo=checkout-availability"]
  symptoms: [checkout-availability burns]
  checks: [the provider's status page]
  steps:
    - name: switch to the fallback provider
      description: set checkout.payments.fallback
  escalate: {{after: 15m}}
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
    - {{delay: 1h, targets: [{{user: ann}}]}}
    - {{delay: 1h, targets: [{{user: bob}}]}}
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

#[test]
fn a_burning_slo_opens_an_incident_that_people_run_to_resolution_and_it_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (ann, bob) = (
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
    );
    let config = config(dir.path(), &ann.url, &bob.url);
    let db = sqlite_url(dir.path());
    let server = Server::start_with(&config, &db, &["--group-wait", "0s"]);
    // A deploy of what checkout depends on, ten minutes before: it belongs on the timeline.
    let t0 = now();
    let (status, change) = server.post(
        "/api/v1/changes",
        &json!({ "service": "db", "kind": "deploy", "version": "v42", "time": rfc3339(t0 - 600) })
            .to_string(),
    );
    assert_eq!(status, 201, "{change}");
    // An hour of failures: the page condition fires, the alert opens the incident.
    let samples: Vec<Value> = (0..60)
        .map(|m| json!({ "slo": "checkout-availability", "time": rfc3339(t0 - m * 60), "good": 0, "total": 100 }))
        .collect();
    let (status, body) = server.post(
        "/api/v1/samples",
        &json!({ "samples": samples }).to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let list = server.wait_for("/api/v1/incidents", Duration::from_secs(10), |b| {
        b["incidents"].as_array().is_some_and(|l| !l.is_empty())
    });
    let id = list["incidents"][0]["id"].as_i64().unwrap();
    assert_eq!(list["incidents"][0]["severity"], "SEV2");
    assert_eq!(list["incidents"][0]["status"], "triggered");
    assert_eq!(list["incidents"][0]["service"], "checkout");
    // The page links the runbook that answers it.
    let page = ann.wait_for(1, Duration::from_secs(10));
    let body = &page[0].body;
    assert!(
        body["links"]["runbook"]
            .as_str()
            .is_some_and(|l| l.ends_with("/runbooks/checkout-payments")),
        "{body}"
    );
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("Runbook: checkout-payments "),
        "{body}"
    );
    let path = format!("/api/v1/incidents/{id}");
    let incident = server.wait_for(&path, Duration::from_secs(10), |b| {
        timeline_kinds(b).iter().any(|k| k == "notification")
    });
    let alert = incident["alerts"][0]["id"].as_i64().unwrap();
    assert_eq!(incident["alerts"][0]["incident"], id);
    // The console lists it and shows its page.
    let (_, html) = server.get_text("/");
    assert!(
        html.contains(&format!(r#"<a href="/incidents/{id}">{id}</a>"#)),
        "{html}"
    );
    let (status, html) = server.get_text(&format!("/incidents/{id}"));
    assert_eq!(status, 200);
    assert!(
        html.contains("<h2>Timeline</h2>") && html.contains("Acknowledge</button>"),
        "{html}"
    );
    let (_, a) = server.get(&format!("/api/v1/alerts/{alert}"));
    assert_eq!(a["runbook"], "checkout-payments");
    let (status, html) = server.get_text(&format!("/alerts/{alert}"));
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"runbook <a href="/runbooks/checkout-payments">"#),
        "{html}"
    );
    let (status, html) = server.get_text("/runbooks/checkout-payments");
    assert_eq!(status, 200);
    assert!(
        html.contains("<h2>Symptoms</h2><ul><li>checkout-availability burns</li>"),
        "{html}"
    );
    assert!(
        html.contains("Page a human after 15m 0s without mitigation"),
        "{html}"
    );
    let (_, rb) = server.get("/api/v1/runbooks/checkout-payments");
    assert_eq!(rb["failure_mode"], "payment-timeouts");
    assert_eq!(rb["alerts"], json!(["slo=\"checkout-availability\""]));

    // ann acknowledges from the command line: the incident and its alert, and bob is not paged.
    std::thread::sleep(Duration::from_millis(1100));
    let (code, text) = cli_as(&server, "ann", &["incident", "ack", &id.to_string()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("acknowledged"), "{text}");
    let (_, a) = server.get(&format!("/api/v1/alerts/{alert}"));
    assert_eq!(a["status"], "acknowledged");
    assert_eq!(a["acknowledged_by"], "user:ann");
    // Roles, a note, a status update; then mitigated and resolved over the API.
    let (status, body) = server.post(
        &format!("{path}/roles"),
        &json!({ "role": "commander", "person": "ann" }).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["roles"]["commander"], "ann");
    let (code, text) = cli_as(
        &server,
        "ann",
        &["incident", "note", &id.to_string(), "rolled back db to v41"],
    );
    assert_eq!(code, 0, "{text}");
    std::thread::sleep(Duration::from_millis(1100));
    let (status, body) = server.post(&format!("{path}/mitigate"), "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "mitigated");
    // Moving back is refused; repeating a move changes nothing.
    let (status, body) = server.post(&format!("{path}/ack"), "");
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["message"],
        format!("incident {id} is already mitigated; it cannot become acknowledged again")
    );
    std::thread::sleep(Duration::from_millis(1100));
    let (status, body) = server.post(&format!("{path}/resolve"), "");
    assert_eq!(status, 200, "{body}");
    let (status, again) = server.post(&format!("{path}/resolve"), "");
    assert_eq!((status, &again["resolved_at"]), (200, &body["resolved_at"]));

    // Everything is still there after a kill -9.
    server.kill9();
    let server = Server::start(&config, &db);
    let (status, i) = server.get(&path);
    assert_eq!(status, 200, "{i}");
    assert_eq!(i["status"], "resolved");
    assert_eq!(i["acknowledged_by"], "user:ann");
    assert_eq!(i["resolved_by"], "user:test-admin");
    let k = timeline_kinds(&i);
    let order = [
        "change",
        "declared",
        "alert",
        "notification",
        "acknowledged",
        "role",
        "note",
        "mitigated",
        "resolved",
    ];
    let mut at = 0;
    for want in order {
        at += k[at..]
            .iter()
            .position(|x| x == want)
            .unwrap_or_else(|| panic!("no {want} after position {at} in {k:?}"));
    }
    let times: Vec<i64> = i["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| secs(&e["time"]))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    let change_line = i["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "change")
        .unwrap();
    assert_eq!(
        change_line["summary"],
        "deploy of db v42 succeeded (10 min before the start)"
    );
    let started = secs(&i["started_at"]);
    let d = &i["durations"];
    assert_eq!(
        d["time_to_acknowledge"],
        secs(&i["acknowledged_at"]) - started
    );
    assert_eq!(d["time_to_mitigate"], secs(&i["mitigated_at"]) - started);
    assert_eq!(d["time_to_resolve"], secs(&i["resolved_at"]) - started);
    assert!(d["time_to_acknowledge"].as_i64().unwrap() >= 1);
    assert!(d["time_to_resolve"].as_i64().unwrap() > d["time_to_mitigate"].as_i64().unwrap());
    assert_eq!(d["time_to_detect"], Value::Null, "no impact start was set");
    assert!(
        bob.requests().is_empty(),
        "bob was paged after the acknowledgement"
    );

    let (status, html) = server.get_text(&format!("/incidents/{id}/postmortem"));
    assert_eq!(status, 200);
    assert!(html.contains("# Postmortem: incident"), "{html}");
    // The postmortem, in Markdown, with the timeline in the same order.
    let (code, md) = cli_as(&server, "ann", &["postmortem", "export", &id.to_string()]);
    assert_eq!(code, 0, "{md}");
    assert!(
        md.starts_with(&format!("# Postmortem: incident {id} — ")),
        "{md}"
    );
    for section in [
        "## Impact",
        "## Timeline",
        "## Derived times",
        "## Contributing factors",
        "## Action items",
    ] {
        assert!(md.contains(section), "{section} missing:\n{md}");
    }
    assert!(
        md.contains("- deploy of db v42 succeeded (10 min before the start)"),
        "{md}"
    );
    assert!(md.contains("- SLO checkout-availability: "), "{md}");
    let rows: Vec<&str> = md
        .lines()
        .skip_while(|l| *l != "## Timeline")
        .filter(|l| l.starts_with("| 20"))
        .map(|l| l.split(" | ").nth(1).unwrap())
        .collect();
    assert_eq!(rows, k, "the postmortem's timeline is the incident's");
}

#[test]
fn incidents_declared_by_hand_take_roles_action_items_and_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let server = Server::start(
        &config(dir.path(), &sink.url, &sink.url),
        &sqlite_url(dir.path()),
    );
    let (code, text) = cli_as(
        &server,
        "ann",
        &[
            "incident",
            "declare",
            "--title",
            "db is slow",
            "--severity",
            "SEV3",
            "--service",
            "db",
            "--commander",
            "bob",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("incident 1 [SEV3] triggered — db is slow"),
        "{text}"
    );
    assert!(text.contains("roles: commander: bob"), "{text}");
    let (_, i) = server.get("/api/v1/incidents/1");
    assert_eq!(i["created_by"], "user:ann");
    assert_eq!(timeline_kinds(&i), ["declared", "role"]);
    // Impact started before anyone declared it: time to detect follows.
    let impact = rfc3339(secs(&i["started_at"]) - 300);
    let (status, body) = server.post_patch(
        "/api/v1/incidents/1",
        &json!({ "impact_started": impact, "severity": "SEV2" }).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["severity"], "SEV2");
    assert_eq!(body["durations"]["time_to_detect"], 300);
    assert_eq!(
        timeline_kinds(&body),
        ["declared", "role", "severity", "impact_started"]
    );

    for (body, message) in [
        (
            json!({ "title": "x", "severity": "SEV5", "service": "db" }),
            "severity must be one of SEV1, SEV2, SEV3, SEV4",
        ),
        (
            json!({ "title": "", "severity": "SEV1", "service": "db" }),
            "title must be a non-empty string",
        ),
        (
            json!({ "severity": "SEV1", "service": "db" }),
            "title is required",
        ),
        (
            json!({ "title": "x", "severity": "SEV1", "service": "nope" }),
            "service `nope` is not in the catalog",
        ),
        (
            json!({ "title": "x".repeat(201), "severity": "SEV1", "service": "db" }),
            "title is longer than 200 bytes",
        ),
    ] {
        let (status, answer) = server.post("/api/v1/incidents", &body.to_string());
        assert_eq!(
            (status, answer["error"]["message"].as_str()),
            (400, Some(message)),
            "{body}"
        );
    }
    // An unknown commander is refused before anything is declared (a retry makes no twin).
    let (status, answer) = server.post(
        "/api/v1/incidents",
        &json!({ "title": "x", "severity": "SEV1", "service": "db", "commander": "zed" })
            .to_string(),
    );
    assert_eq!(
        (status, answer["error"]["message"].as_str()),
        (400, Some("commander `zed` is not a user of the catalog"))
    );
    let (_, list) = server.get("/api/v1/incidents");
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1);
    let (status, answer) = server.post_patch(
        "/api/v1/incidents/1",
        &json!({ "impact_started": rfc3339(secs(&i["started_at"]) + 60) }).to_string(),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("impact_started must be at or before the incident started ("));
    let (status, _) = server.get("/api/v1/action-items?overdue=yes");
    assert_eq!(status, 400);
    let (status, body) = server.post("/api/v1/incidents/99/ack", "");
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (404, Some("there is no incident 99"))
    );
    let (status, _) = server.post("/api/v1/incidents/x/ack", "");
    assert_eq!(status, 404);
    let (status, body) = server.post("/api/v1/incidents/1/notes", r#"{"text": "  "}"#);
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("text must be a non-empty string"))
    );
    let (status, body) = server.post(
        "/api/v1/incidents/1/roles",
        r#"{"role": "commander", "person": "zed"}"#,
    );
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("`zed` is not a user of the catalog"))
    );
    let (status, body) = server.get("/api/v1/incidents/1/postmortem");
    assert_eq!(status, 409, "{body}");

    // Action items: overdue ones are listed; closing one needs how it was verified.
    let (status, item) = server.post(
        "/api/v1/incidents/1/action-items",
        &json!({ "title": "add an index", "owner": "bob", "due": rfc3339(now() - 60) }).to_string(),
    );
    assert_eq!(status, 201, "{item}");
    let (_, overdue) = server.get("/api/v1/action-items?overdue=true");
    assert_eq!(overdue["action_items"][0]["title"], "add an index");
    let path = format!("/api/v1/action-items/{}/close", item["id"]);
    let (status, body) = server.post(&path, "{}");
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"],
        "closing an action item needs `verified`: a note of how the fix was verified"
    );
    let (status, closed) = server.post(&path, r#"{"verified": "p99 of the slow query is 4 ms"}"#);
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closed_by"], "user:test-admin");
    let (_, overdue) = server.get("/api/v1/action-items?overdue=true");
    assert_eq!(overdue["action_items"], json!([]));
    let (code, text) = cli_as(&server, "ann", &["incident", "list"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("db is slow"), "{text}");

    // validate flags a declared failure mode that no runbook answers.
    let out = steward()
        .arg("validate")
        .arg(dir.path().join("config"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "warning: service `db` declares failure mode `full-disk` but no runbook answers it"
        ),
        "{text}"
    );
    assert!(!text.contains("payment-timeouts"), "{text}");
}
