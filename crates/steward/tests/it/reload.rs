//! Reloading the configuration without a restart, through the API and through SIGHUP: an SLO
//! added, an SLO with an open page removed, a policy changed in the middle of an escalation,
//! and a broken file refused while the running configuration stays.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const HOOK_KEY: &str = "hook-key-0123456789abcdef";

/// Three people with webhooks; step 2 of the policy reaches `second`; the SLOs given.
fn write_config(dir: &Path, urls: [&str; 3], second: &str, slos: &[&str]) {
    let [a, b, c] = urls;
    let mut text = format!(
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
kind: EscalationPolicy
metadata: {{name: web}}
spec:
  steps:
    - {{delay: 12s, targets: [{{user: ann}}]}}
    - {{delay: 12s, targets: [{{user: {second}}}]}}
---
apiVersion: steward/v1
kind: Integration
metadata: {{name: hook}}
spec: {{kind: webhook, service: checkout, key: {{value: {HOOK_KEY}}}}}
"#
    );
    for s in slos {
        text.push_str(&ratio_slo(s, "checkout", "28d"));
    }
    std::fs::write(dir.join("steward.yaml"), text).unwrap();
}

fn reload(server: &Server) -> (u16, Value) {
    server.post("/api/v1/config/reload", "")
}

fn config_hash(server: &Server) -> String {
    let (_, ready) = server.get("/readyz");
    ready["config"]["hash"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn metric(server: &Server, name: &str) -> Option<f64> {
    let (_, text) = server.get_text("/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

fn sighup(server: &Server) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_reload_adds_and_removes_slos_changes_a_policy_mid_escalation_and_refuses_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let (ann, bob, cid) = (
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
        Receiver::start(Answer::Status(200)),
    );
    let urls = [ann.url.as_str(), bob.url.as_str(), cid.url.as_str()];
    write_config(
        &config,
        urls,
        "bob",
        &["checkout-availability", "legacy-availability"],
    );
    let server = Server::start_with(
        &config,
        &sqlite_url(dir.path()),
        &["--group-wait", "0s", "--notify-retry-base", "1s"],
    );
    let first_hash = config_hash(&server);
    assert_eq!(first_hash.len(), 16, "{first_hash}");

    // An SLO that will be removed pages: every minute of the last hour is bad.
    let t = jiff::Timestamp::now().as_second();
    let samples: Vec<Value> = (0..60)
        .map(|m| json!({ "slo": "legacy-availability", "time": rfc3339(t - m * 60), "good": 0, "total": 100 }))
        .collect();
    let (status, body) = server.post(
        "/api/v1/samples",
        &json!({ "samples": samples }).to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let legacy = server.wait_for_alert("slo/legacy-availability/page");
    ann.wait_for(1, Duration::from_secs(10));

    // An outside page starts its escalation: ann now, step 2 in 12 s (time for the reload,
    // on a busy machine, to take over before it).
    let (status, body) = server.post_key(
        "/api/v1/integrations/webhook",
        HOOK_KEY,
        r#"{"summary": "checkout is down", "dedup_key": "down"}"#,
    );
    assert_eq!(status, 202, "{body}");
    ann.wait_for(2, Duration::from_secs(10));

    // The reload: legacy removed, search added, step 2 now reaches cid instead of bob.
    write_config(
        &config,
        urls,
        "cid",
        &["checkout-availability", "search-availability"],
    );
    let (status, body) = reload(&server);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "reloaded");
    assert_ne!(body["hash"], json!(first_hash));
    assert_eq!(config_hash(&server), body["hash"].as_str().unwrap());
    let (_, slos) = server.get("/api/v1/slos");
    let names: Vec<&str> = slos["slos"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["checkout-availability", "search-availability"]);
    // The removed SLO's page resolves.
    wait_until(
        Duration::from_secs(10),
        "the removed SLO's page resolves",
        || {
            let (_, a) = server.get(&format!("/api/v1/alerts/{legacy}"));
            a["status"] == json!("resolved")
        },
    );
    // The escalation carries on under the new policy: step 2 reaches cid, not bob.
    cid.wait_for(1, Duration::from_secs(30));
    assert!(bob.requests().is_empty(), "bob is no longer step 2");
    // Samples are taken again after the swap.
    let (status, body) = server.post(
        "/api/v1/samples",
        &json!({ "samples": [{ "slo": "search-availability", "good": 10, "total": 10 }] })
            .to_string(),
    );
    assert_eq!(status, 202, "{body}");

    // A broken file is refused with its place; the running configuration stays.
    let running = config_hash(&server);
    std::fs::write(
        config.join("broken.yaml"),
        "apiVersion: steward/v1\nkind: Nonsense\n",
    )
    .unwrap();
    let (status, body) = reload(&server);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_config");
    let details = body["error"]["details"].to_string();
    assert!(details.contains("broken.yaml:2:"), "{details}");
    assert_eq!(config_hash(&server), running);
    assert_eq!(
        metric(&server, "steward_config_last_reload_successful"),
        Some(0.0)
    );

    // SIGHUP reloads too (a refusal is recorded), and never stops the server.
    let tried = |s: &Server| s.get("/readyz").1["config"]["last_reload_at"].clone();
    let before = tried(&server);
    std::thread::sleep(Duration::from_millis(1100));
    sighup(&server);
    wait_until(Duration::from_secs(10), "the refused SIGHUP reload", || {
        tried(&server) != before
    });
    assert_eq!(server.get("/healthz").0, 200);
    assert_eq!(config_hash(&server), running);
    assert_eq!(
        metric(&server, "steward_config_last_reload_successful"),
        Some(0.0)
    );
    std::fs::remove_file(config.join("broken.yaml")).unwrap();
    write_config(&config, urls, "bob", &["checkout-availability"]);
    sighup(&server);
    wait_until(Duration::from_secs(10), "the SIGHUP reload", || {
        metric(&server, "steward_config_last_reload_successful") == Some(1.0)
            && config_hash(&server) != running
    });
    let (_, slos) = server.get("/api/v1/slos");
    assert_eq!(slos["slos"].as_array().unwrap().len(), 1);
    assert_eq!(server.get("/healthz").0, 200);
}
