//! Changes as CI reports them, and the deploy gate CI asks before it deploys.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Two services with an SLO each (99.9% over 28 days) and a third without one.
fn config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let mut text = String::from(
        "apiVersion: steward/v1\nkind: Team\nmetadata: {name: web}\nspec: {members: [ann]}\n---\napiVersion: steward/v1\nkind: User\nmetadata: {name: ann}\nspec: {role: responder}\n---\napiVersion: steward/v1\nkind: User\nmetadata: {name: val}\nspec: {role: responder}\n---\napiVersion: steward/v1\nkind: Service\nmetadata: {name: docs}\nspec: {owner: web, tier: 3}\n",
    );
    for s in ["checkout", "search"] {
        text.push_str(&format!(
            r#"---
apiVersion: steward/v1
kind: Service
metadata: {{name: {s}}}
spec: {{owner: web, tier: 2}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {{name: {s}-availability}}
spec:
  service: {s}
  indicator:
    metadata: {{name: {s}-requests}}
    spec:
      ratioMetric:
        counter: true
        good: {{metricSource: {{type: steward, spec: {{}}}}}}
        total: {{metricSource: {{type: steward, spec: {{}}}}}}
  timeWindow: [{{duration: 28d, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.999}}]
"#
        ));
    }
    // search freezes early (at half its budget) and takes no fixes.
    text.push_str(
        "---\napiVersion: steward/v1\nkind: ErrorBudgetPolicy\nmetadata: {name: careful}\nspec:\n  services: [search]\n  freezeWhen: {budgetRemainingBelow: 0.5}\n  allowFixes: false\n",
    );
    std::fs::write(config.join("steward.yaml"), text).unwrap();
    config
}

fn gate(server: &Server, args: &[&str]) -> (i32, String) {
    let out = server
        .cli()
        .args(["gate", "check", "--server", &server.base])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_deploy_gate_denies_a_service_whose_budget_is_spent_except_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()), &sqlite_url(dir.path()));
    let t = now();
    // checkout: an hour all bad spends far more than its budget; search: all good.
    let samples: Vec<Value> = (0..60)
        .flat_map(|m| {
            [
                json!({ "slo": "checkout-availability", "time": rfc3339(t - m * 60), "good": 0, "total": 100 }),
                json!({ "slo": "search-availability", "time": rfc3339(t - m * 60), "good": 100, "total": 100 }),
            ]
        })
        .collect();
    let (status, body) = server.post(
        "/api/v1/samples",
        &json!({ "samples": samples }).to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let denied = server.wait_for(
        "/api/v1/services/checkout/deploy-gate",
        Duration::from_secs(10),
        |b| b["allowed"] == false,
    );
    let reason = denied["reasons"][0].as_str().unwrap();
    assert!(
        reason.starts_with("SLO checkout-availability has spent its error budget (")
            && reason.ends_with("left): deploys are frozen except fixes"),
        "{reason}"
    );
    let (_, allowed) = server.get("/api/v1/services/search/deploy-gate");
    assert_eq!(allowed["allowed"], true);
    assert_eq!(
        allowed["reasons"][0],
        "SLO search-availability has 100.0% of its error budget left"
    );
    let (_, none) = server.get("/api/v1/services/docs/deploy-gate");
    assert_eq!(
        (none["allowed"].as_bool(), none["reasons"][0].as_str()),
        (Some(true), Some("service docs has no SLOs"))
    );

    // The command CI runs: exit 3 denied, 0 allowed (and for a fix), 1 when it cannot ask.
    let (code, text) = gate(&server, &["--service", "checkout"]);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.starts_with("checkout: deploy denied\n  SLO checkout-availability has spent"),
        "{text}"
    );
    let (code, text) = gate(&server, &["--service", "checkout", "--fix"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("a fix: allowed while the budget is spent"),
        "{text}"
    );
    assert_eq!(gate(&server, &["--service", "search"]).0, 0);
    let (code, text) = gate(&server, &["--service", "nope"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("there is no service `nope`"), "{text}");
    let out = steward()
        .args([
            "gate",
            "check",
            "--service",
            "search",
            "--server",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn changes_are_stored_as_reported_and_bad_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()), &sqlite_url(dir.path()));
    let (status, c) = server.post(
        "/api/v1/changes",
        r#"{"service": "checkout", "kind": "deploy", "version": "v1.4.2", "status": "succeeded",
            "link": "https://ci.example.com/run/7", "time": "2026-11-20T10:00:00Z",
            "commit_time": "2026-11-20T09:30:00Z", "labels": {"fix": "true"}}"#,
    );
    assert_eq!(status, 201, "{c}");
    assert_eq!(
        (
            c["service"].as_str(),
            c["kind"].as_str(),
            c["version"].as_str(),
            c["time"].as_str(),
            c["commit_time"].as_str()
        ),
        (
            Some("checkout"),
            Some("deploy"),
            Some("v1.4.2"),
            Some("2026-11-20T10:00:00Z"),
            Some("2026-11-20T09:30:00Z")
        )
    );
    assert_eq!(c["labels"]["fix"], "true");
    assert!(c["id"].as_i64().unwrap() > 0);
    let (_, listed) = server.get("/api/v1/changes?service=checkout");
    assert_eq!(listed["changes"].as_array().unwrap().len(), 1);
    for (body, message) in [
        (
            r#"{"service": "nope", "kind": "deploy"}"#,
            "service `nope` is not in the catalog",
        ),
        (
            r#"{"service": "checkout", "kind": "rollout"}"#,
            "kind must be one of deploy, config, flag",
        ),
        (
            r#"{"service": "checkout", "kind": "deploy", "status": "done"}"#,
            "status must be one of started, succeeded, failed",
        ),
        (
            r#"{"service": "checkout", "kind": "deploy", "time": "yesterday"}"#,
            "time `yesterday` is not an RFC 3339 time",
        ),
        (r#"{"kind": "deploy"}"#, "a change needs a service"),
    ] {
        let (status, err) = server.post("/api/v1/changes", body);
        assert_eq!(status, 400, "{body}: {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{body}: {err}"
        );
    }
}

#[test]
fn an_error_budget_policy_freezes_early_refuses_fixes_and_an_override_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()), &sqlite_url(dir.path()));
    let t = now();
    // 6,000 events allow 6 bad ones (99.9%); 4 bad leave a third of the budget.
    let samples: Vec<Value> = (0..60)
        .map(|m| json!({ "slo": "search-availability", "time": rfc3339(t - m * 60), "good": if m < 4 { 99 } else { 100 }, "total": 100 }))
        .collect();
    let (status, body) = server.post(
        "/api/v1/samples",
        &json!({ "samples": samples }).to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let denied = server.wait_for(
        "/api/v1/services/search/deploy-gate?fix=true",
        Duration::from_secs(10),
        |b| b["allowed"] == false,
    );
    assert_eq!(denied["policy"], "careful");
    assert_eq!(
        denied["reasons"][0],
        "SLO search-availability has 33.3% of its error budget left, at or below the 50.0% of policy careful: deploys are frozen"
    );
    let (code, text) = gate(&server, &["--service", "search", "--fix"]);
    assert_eq!(code, 3, "{text}");

    // An override lets it deploy, and the audit trail says who and why.
    let out = steward()
        .args([
            "gate",
            "override",
            "--service",
            "search",
            "--reason",
            "the fix for incident 7",
            "--duration",
            "2h",
        ])
        .args(["--server", &server.base])
        .env("STEWARD_TOKEN", server.token_of("ann"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("search: deploys allowed through the freeze until "),
        "{text}"
    );
    let (_, allowed) = server.get("/api/v1/services/search/deploy-gate");
    assert_eq!(allowed["allowed"], true);
    let first = allowed["reasons"][0].as_str().unwrap();
    assert!(
        first.starts_with("overridden by user:ann until ")
            && first.ends_with(": the fix for incident 7"),
        "{first}"
    );
    assert_eq!(gate(&server, &["--service", "search"]).0, 0);
    let (_, audit) = server.get("/api/v1/audit?subject=service:search");
    let entry = &audit["entries"][0];
    assert_eq!(
        (
            entry["actor"].as_str(),
            entry["action"].as_str(),
            entry["after"]["reason"].as_str()
        ),
        (
            Some("user:ann"),
            Some("deploy_gate.override"),
            Some("the fix for incident 7")
        )
    );
    assert_eq!(entry["from"]["remote"], "127.0.0.1", "{entry}");
    // An override needs a reason, and an admin or a responder of the owning team: val
    // responds, not for web.
    let (status, body) = send_as(
        &server,
        "POST",
        "val",
        "/api/v1/services/search/deploy-gate/overrides",
        &json!({ "reason": "x" }),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["message"],
        "changing `search`'s gate or budget needs an admin or a responder of its owning team `web`"
    );
    let (status, _) = server.post("/api/v1/services/search/deploy-gate/overrides", "{}");
    assert_eq!(status, 400);
    let (_, overrides) = server.get("/api/v1/services/search/deploy-gate/overrides");
    assert_eq!(overrides["overrides"].as_array().unwrap().len(), 1);
}

#[test]
fn delivery_metrics_count_deploys_failures_lead_time_and_time_to_restore() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()), &sqlite_url(dir.path()));
    let t = now();
    let deploy = |at: i64, commit: Option<i64>, status: &str| {
        let mut c = json!({ "service": "checkout", "kind": "deploy", "status": status, "time": rfc3339(at) });
        if let Some(k) = commit {
            c["commit_time"] = json!(rfc3339(k));
        }
        let (s, b) = server.post("/api/v1/changes", &c.to_string());
        assert_eq!(s, 201, "{b}");
    };
    deploy(t - 5 * 86_400, Some(t - 5 * 86_400 - 600), "succeeded");
    deploy(t - 4 * 86_400, Some(t - 4 * 86_400 - 1200), "succeeded");
    deploy(t - 2 * 86_400, Some(t - 2 * 86_400 - 1800), "succeeded");
    deploy(t - 86_400, None, "failed");
    deploy(t - 600, Some(t - 600 - 3000), "succeeded");
    deploy(t - 40 * 86_400, None, "succeeded"); // outside the 30 days
    let (s, _) = server.post(
        "/api/v1/changes",
        &json!({ "service": "checkout", "kind": "config", "time": rfc3339(t - 60) }).to_string(),
    );
    assert_eq!(s, 201);
    // An incident ten minutes after the last deploy, its impact from five minutes before.
    let (s, i) = server.post(
        "/api/v1/incidents",
        &json!({ "title": "checkout down", "severity": "SEV2", "service": "checkout", "impact_started": rfc3339(t - 300) }).to_string(),
    );
    assert_eq!(s, 201, "{i}");
    let (s, _) = server.post(&format!("/api/v1/incidents/{}/resolve", i["id"]), "");
    assert_eq!(s, 200);
    let (s, d) = server.get("/api/v1/services/checkout/delivery");
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["deploys"], 5);
    assert_eq!(
        d["deploy_frequency_per_day"],
        4.0 / 30.0,
        "successful deploys"
    );
    assert_eq!(
        d["failed_deploys"], 2,
        "the failed one and the one the incident followed"
    );
    assert_eq!(d["change_failure_rate"], 0.4);
    assert_eq!(d["lead_time_seconds"]["median"], 1500.0);
    assert_eq!(d["lead_time_seconds"]["deploys_with_commit_time"], 4);
    let ttr = d["time_to_restore_seconds"]["median"].as_f64().unwrap();
    assert!((300.0..=305.0).contains(&ttr), "{d}");
    let (s, e) = server.get("/api/v1/services/checkout/delivery?days=0");
    assert_eq!(
        (s, e["error"]["message"].as_str()),
        (400, Some("days `0` is not a whole number from 1 to 366"))
    );
}
