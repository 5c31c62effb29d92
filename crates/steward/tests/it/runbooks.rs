//! Runbooks run, guarded: from a page to a postmortem through a dry run and an approved real
//! run; labels that reach a program only as literal arguments; the circuit breaker that
//! pages a human; causation ids; the kill switch; timeouts; and a run a `kill -9` cut.

use crate::support::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const HOOK_KEY: &str = "hook-key-0123456789abcdef";

/// An executable script (the program a step runs; the step itself never uses a shell).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// checkout (opens incidents by itself, ann on call, then bob), a webhook integration, an
/// SLO, and the runbooks given.
fn config(dir: &Path, ann: &str, bob: &str, runbooks: &str) -> PathBuf {
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
  incidents: {{automatic: true, severity: SEV2}}
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
---
{runbooks}
"#
        ),
    )
    .unwrap();
    config
}

fn wait_run(server: &Server, id: i64, done: impl Fn(&Value) -> bool) -> Value {
    server.wait_for(&format!("/api/v1/runs/{id}"), Duration::from_secs(20), done)
}

/// An alert through the generic webhook integration.
fn alert(server: &Server, key: &str, labels: Value) {
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        &json!({ "action": "trigger", "dedup_key": key, "summary": format!("checkout {key}"), "severity": "page", "labels": labels }).to_string(),
    );
    assert!(status < 300, "{status} {body}");
}

#[test]
fn an_outage_goes_from_page_to_postmortem_through_a_dry_run_and_an_approved_real_run() {
    let dir = tempfile::tempdir().unwrap();
    let (ann, bob) = (
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
    );
    let out = dir.path().join("restarted");
    let restart = script(
        dir.path(),
        "restart.sh",
        &format!(
            "for a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '{}'\necho restarted",
            out.display()
        ),
    );
    let runbooks = format!(
        r#"apiVersion: steward/v1
kind: Runbook
metadata: {{name: checkout-restart}}
spec:
  service: checkout
  alerts: ["slo=checkout-availability"]
  symptoms: [checkout fails]
  steps:
    - name: look at the dashboard
    - name: restart checkout
      run: {{program: {}, args: [restart, {{label: service}}]}}
      approval: true
      timeout: 10s
  approvers: [ann]
"#,
        restart.display()
    );
    let config = config(dir.path(), &ann.url, &bob.url, &runbooks);
    let server = Server::start_with(&config, &sqlite_url(dir.path()), &["--group-wait", "0s"]);

    // The outage: an hour of failures. The page opens the incident and reaches ann.
    let t0 = now();
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
    let path = format!("/api/v1/incidents/{id}");
    ann.wait_for(1, Duration::from_secs(10));
    let incident = server.wait_for(&path, Duration::from_secs(10), |b| {
        timeline_kinds(b).iter().any(|k| k == "notification")
    });
    let alert_id = incident["alerts"][0]["id"].as_i64().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let (code, text) = cli_as(&server, "ann", &["incident", "ack", &id.to_string()]);
    assert_eq!(code, 0, "{text}");

    // A dry run: every step recorded, nothing run.
    std::thread::sleep(Duration::from_millis(1100));
    let (code, text) = cli_as(
        &server,
        "ann",
        &[
            "runbook",
            "run",
            "checkout-restart",
            "--alert",
            &alert_id.to_string(),
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{text}");
    let dry = text
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let run = wait_run(&server, dry, |r| r["status"] == "succeeded");
    assert_eq!(run["mode"], "dry_run");
    assert_eq!(run["steps"][0]["status"], "manual");
    assert_eq!(run["steps"][1]["status"], "would_run");
    assert_eq!(
        run["steps"][1]["inputs"],
        json!([restart.display().to_string(), "restart", "checkout"])
    );
    assert!(!out.exists(), "a dry run ran the program");

    // The real run waits for an approver; bob is not one, ann is.
    let (code, text) = cli_as(
        &server,
        "ann",
        &[
            "runbook",
            "run",
            "checkout-restart",
            "--alert",
            &alert_id.to_string(),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let real = text
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<i64>()
        .unwrap();
    wait_run(&server, real, |r| r["status"] == "awaiting_approval");
    // One run at a time per runbook and target.
    let (status, body) = send_as(
        &server,
        "POST",
        "ann",
        "/api/v1/runbooks/checkout-restart/runs",
        &json!({ "alert": alert_id }),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["message"],
        format!("run {real} of runbook checkout-restart is already in progress on checkout")
    );
    // Step 1 is for a person: whoever did it confirms it (naming the step).
    let (status, body) = send_as(
        &server,
        "POST",
        "bob",
        &format!("/api/v1/runs/{real}/approve"),
        &json!({ "step": 2 }),
    );
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            409,
            Some(format!("run {real} waits on step 1, not step 2").as_str())
        )
    );
    let (status, body) = send_as(
        &server,
        "POST",
        "bob",
        &format!("/api/v1/runs/{real}/approve"),
        &json!({ "step": 1 }),
    );
    assert_eq!(status, 200, "{body}");
    // Step 2 needs an approver: bob is not one, ann is.
    wait_run(&server, real, |r| {
        r["status"] == "awaiting_approval" && r["steps"].as_array().unwrap().len() == 1
    });
    let (status, body) = send_as(
        &server,
        "POST",
        "bob",
        &format!("/api/v1/runs/{real}/approve"),
        &json!({ "step": 2 }),
    );
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            400,
            Some("bob may not approve runs of checkout-restart; its approvers are ann")
        )
    );
    assert!(!out.exists());
    std::thread::sleep(Duration::from_millis(1100));
    let (code, text) = cli_as(
        &server,
        "ann",
        &["runbook", "approve", &real.to_string(), "--step", "2"],
    );
    assert_eq!(code, 0, "{text}");
    let run = wait_run(&server, real, |r| r["status"] == "succeeded");
    assert_eq!(run["steps"][0]["status"], "manual");
    assert_eq!(run["steps"][0]["approved_by"], "user:bob");
    assert_eq!(run["steps"][1]["status"], "succeeded");
    assert_eq!(run["steps"][1]["exit_code"], 0);
    assert_eq!(run["steps"][1]["output"], "restarted\n");
    assert_eq!(run["steps"][1]["approved_by"], "user:ann");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "restart\ncheckout\n"
    );

    // Mitigated, resolved; the postmortem tells it in order.
    std::thread::sleep(Duration::from_millis(1100));
    let (status, _) = send_as(
        &server,
        "POST",
        "ann",
        &format!("{path}/mitigate"),
        &json!({}),
    );
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(1100));
    let (status, i) = send_as(
        &server,
        "POST",
        "ann",
        &format!("{path}/resolve"),
        &json!({}),
    );
    assert_eq!(status, 200, "{i}");
    let k = timeline_kinds(&i);
    let order = [
        "declared",
        "alert",
        "notification",
        "acknowledged",
        "runbook_run",
        "runbook_step",
        "runbook_step",
        "runbook_succeeded",
        "runbook_run",
        "runbook_waiting",
        "runbook_approved",
        "runbook_step",
        "runbook_waiting",
        "runbook_approved",
        "runbook_step",
        "runbook_succeeded",
        "mitigated",
        "resolved",
    ];
    let mut at = 0;
    for want in order {
        at += k[at..]
            .iter()
            .position(|x| x == want)
            .unwrap_or_else(|| panic!("no {want} at or after position {at} in {k:?}"))
            + 1;
    }
    let step = i["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "runbook_step" && e["details"]["status"] == "succeeded")
        .unwrap();
    assert_eq!(
        step["details"]["inputs"],
        json!([restart.display().to_string(), "restart", "checkout"])
    );
    assert_eq!(step["details"]["exit_code"], 0);
    assert_eq!(step["details"]["started_by"], "user:ann");
    assert!(step["details"]["duration_seconds"].as_f64().unwrap() < 10.0);
    let started = secs(&i["started_at"]);
    let d = &i["durations"];
    assert_eq!(
        d["time_to_acknowledge"],
        secs(&i["acknowledged_at"]) - started
    );
    assert_eq!(d["time_to_mitigate"], secs(&i["mitigated_at"]) - started);
    assert_eq!(d["time_to_resolve"], secs(&i["resolved_at"]) - started);
    assert!(d["time_to_mitigate"].as_i64().unwrap() > d["time_to_acknowledge"].as_i64().unwrap());
    assert!(d["time_to_resolve"].as_i64().unwrap() > d["time_to_mitigate"].as_i64().unwrap());
    let (status, md) = server.get_text(&format!("{path}/postmortem"));
    assert_eq!(status, 200, "{md}");
    let rows: Vec<&str> = md
        .lines()
        .skip_while(|l| *l != "## Timeline")
        .filter(|l| l.starts_with("| 20"))
        .map(|l| l.split(" | ").nth(1).unwrap())
        .collect();
    assert_eq!(
        rows, k,
        "the postmortem's timeline is the incident's, in order"
    );
    assert!(md.contains("- A runbook ran 2 time(s)."), "{md}");
    assert!(
        md.contains(&format!(
            "- Time to acknowledge: {}s",
            d["time_to_acknowledge"]
        )),
        "{md}"
    );
}

#[test]
fn alert_labels_with_shell_metacharacters_reach_the_program_as_literal_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Receiver::start(Answer::Status(200));
    let out = dir.path().join("args");
    let echo = script(
        dir.path(),
        "args.sh",
        &format!(
            "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > '{}'",
            out.display()
        ),
    );
    let runbooks = format!(
        r#"apiVersion: steward/v1
kind: Runbook
metadata: {{name: drain}}
spec:
  service: checkout
  alerts: ["alertname=NodeDown"]
  steps:
    - name: drain the node
      run: {{program: {}, args: [drain, {{label: instance}}, {{label: note}}]}}
  automatic: true
"#,
        echo.display()
    );
    let server = Server::start(
        &config(dir.path(), &sink.url, &sink.url, &runbooks),
        &sqlite_url(dir.path()),
    );
    let pwned = dir.path().join("pwned");
    let hostile = format!(
        "x; touch {p}; $(touch {p}2) `touch {p}3` | rm -rf {d}/nothing && echo hi > {p}4",
        p = pwned.display(),
        d = dir.path().display()
    );
    alert(
        &server,
        "node-1",
        json!({ "alertname": "NodeDown", "instance": hostile, "note": "'\" $HOME * ? ~ \\ {a,b}" }),
    );
    let runs = server.wait_for(
        "/api/v1/runbooks/drain/runs",
        Duration::from_secs(20),
        |b| b["runs"][0]["status"] == "succeeded",
    );
    assert_eq!(runs["runs"][0]["started_by"], "alert:1");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("[drain]\n[{hostile}]\n['\" $HOME * ? ~ \\ {{a,b}}]\n")
    );
    // A value the program would read as an option is refused, and nothing runs.
    alert(
        &server,
        "node-2",
        json!({ "alertname": "NodeDown", "instance": "--kubeconfig=/tmp/x", "note": "n" }),
    );
    let runs = server.wait_for(
        "/api/v1/runbooks/drain/runs",
        Duration::from_secs(20),
        |b| b["runs"][0]["status"] == "failed",
    );
    assert_eq!(
        runs["runs"][0]["reason"],
        "step 1 (drain the node) cannot run: label `instance` starts with `-`, which the program would read as an option"
    );
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("[drain]\n[x; touch "));
    for suffix in ["", "2", "3", "4"] {
        let p = format!("{}{suffix}", pwned.display());
        assert!(
            !Path::new(&p).exists(),
            "{p} exists: something ran in a shell"
        );
    }
}

#[test]
fn the_circuit_breaker_stops_runs_at_its_limit_and_pages_a_human_and_automation_never_feeds_itself()
{
    let dir = tempfile::tempdir().unwrap();
    let (ann, bob) = (
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
    );
    let ok = script(dir.path(), "ok.sh", "echo done");
    let runbooks = format!(
        r#"apiVersion: steward/v1
kind: Runbook
metadata: {{name: bounce}}
spec:
  service: checkout
  alerts: ["alertname=Flapping"]
  steps:
    - name: bounce
      run: {{program: {}, args: [{{label: instance}}]}}
  automatic: true
  maxRunsPerHour: 2
"#,
        ok.display()
    );
    let server = Server::start_with(
        &config(dir.path(), &ann.url, &bob.url, &runbooks),
        &sqlite_url(dir.path()),
        &["--group-wait", "0s", "--group-interval", "1s"],
    );
    for (n, instance) in ["a", "b"].iter().enumerate() {
        alert(
            &server,
            instance,
            json!({ "alertname": "Flapping", "instance": instance }),
        );
        server.wait_for(
            "/api/v1/runbooks/bounce/runs",
            Duration::from_secs(20),
            |b| {
                b["runs"].as_array().unwrap().len() == n + 1
                    && b["runs"][0]["status"] == "succeeded"
            },
        );
    }
    // The third in the hour: refused, and a human is paged about it.
    alert(
        &server,
        "c",
        json!({ "alertname": "Flapping", "instance": "c" }),
    );
    let runs = server.wait_for(
        "/api/v1/runbooks/bounce/runs",
        Duration::from_secs(20),
        |b| b["runs"].as_array().unwrap().len() == 3,
    );
    assert_eq!(runs["runs"][0]["status"], "refused");
    assert_eq!(
        runs["runs"][0]["reason"],
        "the circuit breaker is open: 2 real runs in the last hour, the limit"
    );
    let paged = server.wait_for("/api/v1/alerts?status=open", Duration::from_secs(10), |b| {
        b["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "RunbookNeedsHuman")
    });
    let human = paged["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "RunbookNeedsHuman")
        .unwrap();
    assert_eq!(human["source"], "runbook");
    assert_eq!(human["service"], "checkout");
    assert!(human["summary"]
        .as_str()
        .unwrap()
        .starts_with("runbook bounce ran 2 times in the last hour"));
    let start = std::time::Instant::now();
    while !ann
        .requests()
        .iter()
        // Alone, or grouped with the page that tripped it.
        .any(|r| {
            r.body
                .to_string()
                .contains(r#""alertname":"RunbookNeedsHuman""#)
        })
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ann was not paged about the breaker: {:?}",
            ann.requests()
                .iter()
                .map(|r| r.body.to_string())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A person's real run is refused too while the breaker is open.
    let (status, body) = send_as(
        &server,
        "POST",
        "ann",
        "/api/v1/runbooks/bounce/runs",
        &json!({ "labels": { "instance": "z" } }),
    );
    assert_eq!(status, 409, "{body}");

    // An alert caused by a run (it carries the run's causation id) starts no run, even of
    // a runbook whose breaker is closed.
    let (_, first) = server.get("/api/v1/runbooks/bounce/runs");
    let cause = first["runs"].as_array().unwrap().last().unwrap()["causation"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cause.starts_with("steward-run-"), "{cause}");
    let before = first["runs"].as_array().unwrap().len();
    alert(
        &server,
        "caused",
        json!({ "alertname": "Flapping", "instance": "d", "steward_causation": cause }),
    );
    let caused = server.wait_for("/api/v1/alerts?status=open", Duration::from_secs(10), |b| {
        b["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["dedup_key"] == "caused")
    });
    let caused_id = caused["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["dedup_key"] == "caused")
        .unwrap()["id"]
        .clone();
    let (_, history) = server.get(&format!("/api/v1/alerts/{caused_id}"));
    assert!(
        history["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["kind"] == "not_automated"),
        "{history}"
    );
    let (_, after) = server.get("/api/v1/runbooks/bounce/runs");
    assert_eq!(
        after["runs"].as_array().unwrap().len(),
        before,
        "no run for the caused alert"
    );
}

#[test]
fn the_kill_switch_timeouts_rehearsals_and_a_run_cut_by_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (ann, bob) = (
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
    );
    let slow = script(dir.path(), "slow.sh", "echo started\nsleep 30");
    let runbooks = format!(
        r#"apiVersion: steward/v1
kind: Runbook
metadata: {{name: slow}}
spec:
  service: checkout
  steps:
    - name: wait
      run: {{program: {slow}, args: []}}
      timeout: 1s
  escalate: {{onFailure: true}}
---
apiVersion: steward/v1
kind: Runbook
metadata: {{name: long}}
spec:
  service: checkout
  steps:
    - name: wait long
      run: {{program: {slow}, args: []}}
      timeout: 1m
"#,
        slow = slow.display()
    );
    let config = config(dir.path(), &ann.url, &bob.url, &runbooks);
    let db = sqlite_url(dir.path());
    let server = Server::start_with(&config, &db, &["--group-wait", "0s"]);

    // A step past its timeout is stopped, the run fails and a human is paged.
    let (status, run) = send_as(
        &server,
        "POST",
        "ann",
        "/api/v1/runbooks/slow/runs",
        &json!({}),
    );
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_i64().unwrap();
    let run = wait_run(&server, id, |r| r["status"] == "failed");
    assert_eq!(run["steps"][0]["status"], "timed_out");
    assert_eq!(run["steps"][0]["output"], "started\n");
    assert!(
        run["reason"]
            .as_str()
            .unwrap()
            .contains("timed out after 1s"),
        "{run}"
    );
    let got = ann.wait_for(1, Duration::from_secs(10));
    assert!(got[0].body["alert"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("runbook slow failed: "));

    // The kill switch: real runs are refused, rehearsals go on.
    let (code, text) = cli_as(
        &server,
        "test-admin",
        &[
            "runbook",
            "kill-switch",
            "on",
            "--reason",
            "automation misbehaves",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ON: no real run starts"), "{text}");
    let (status, body) = send_as(
        &server,
        "POST",
        "ann",
        "/api/v1/runbooks/slow/runs",
        &json!({}),
    );
    assert_eq!(status, 409);
    assert_eq!(
        body["error"]["message"],
        "the runbook kill switch is on (set by user:test-admin: automation misbehaves)"
    );
    let (code, text) = cli_as(&server, "ann", &["runbook", "rehearse", "slow"]);
    assert_eq!(code, 0, "{text}");
    let rehearsal = text
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let r = wait_run(&server, rehearsal, |r| r["status"] == "succeeded");
    assert_eq!(r["mode"], "rehearsal");
    assert_eq!(r["steps"][0]["status"], "would_run");
    let (_, rb) = server.get("/api/v1/runbooks/slow");
    assert!(rb["rehearsal_age_seconds"].as_i64().unwrap() <= 5, "{rb}");
    let (_, html) = server.get_text("/runbooks/slow");
    assert!(html.contains(" · last rehearsed "), "{html}");
    let (_, html) = server.get_text("/runbooks/long");
    assert!(html.contains("<b>never rehearsed</b>"), "{html}");
    let (_, never) = server.get("/api/v1/runbooks/long");
    assert_eq!(never["last_rehearsal"], Value::Null);
    let (_, metrics) = server.get_text("/metrics");
    assert!(
        metrics.contains("steward_runbook_last_rehearsal_timestamp_seconds{runbook=\"slow\"} "),
        "{metrics}"
    );
    cli_as(
        &server,
        "test-admin",
        &["runbook", "kill-switch", "off", "--reason", "fixed"],
    );
    // Turned on while a program runs, the switch stops it.
    let (status, run) = send_as(
        &server,
        "POST",
        "ann",
        "/api/v1/runbooks/long/runs",
        &json!({}),
    );
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_i64().unwrap();
    wait_run(&server, id, |r| r["steps"][0]["status"] == "running");
    cli_as(
        &server,
        "test-admin",
        &["runbook", "kill-switch", "on", "--reason", "stop it"],
    );
    let run = wait_run(&server, id, |r| r["status"] == "failed");
    assert_eq!(run["steps"][0]["status"], "killed");
    cli_as(
        &server,
        "test-admin",
        &["runbook", "kill-switch", "off", "--reason", "fixed"],
    );

    // A run cut by a kill -9 mid-step is not run again after the restart: it failed.
    let (status, run) = send_as(
        &server,
        "POST",
        "ann",
        "/api/v1/runbooks/long/runs",
        &json!({}),
    );
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_i64().unwrap();
    wait_run(&server, id, |r| r["steps"][0]["status"] == "running");
    server.kill9();
    let server = Server::start(&config, &db);
    let run = wait_run(&server, id, |r| r["status"] == "failed");
    assert_eq!(run["steps"][0]["status"], "interrupted");
    assert_eq!(
        run["reason"],
        "interrupted: Steward stopped during step 1 (wait long); not repeated"
    );
    assert_eq!(
        run["steps"].as_array().unwrap().len(),
        1,
        "the step ran once"
    );
}
