//! The command line: validate, slo status.

use crate::api::one_slo_config;
use crate::support::*;
use serde_json::{json, Value};

#[test]
fn validate_accepts_and_rejects_the_openslo_fixtures() {
    let fx = fixtures().join("openslo/schema-tests");
    let ok = steward()
        .arg("validate")
        .arg(fx.join("slo/slo-indicatorref-calendar-alerts.yaml"))
        .arg(fx.join("alert-policy/alert-policy.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = steward()
        .arg("validate")
        .arg(fx.join("alert-policy/alert-policy-many-cond.yaml"))
        .arg(fx.join("invalid-apiversion.yaml"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains(
            "alert-policy-many-cond.yaml:12:5: conditions must hold exactly one condition, found 9"
        ),
        "{out}"
    );
    assert!(
        out.contains("invalid-apiversion.yaml:1:13: unsupported apiVersion `openslo/v1alpha`"),
        "{out}"
    );
}

#[test]
fn validate_accepts_the_example_directory() {
    let out = steward()
        .arg("validate")
        .arg(example_config())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 SLO objectives"));
}

#[test]
fn slo_status_prints_a_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&one_slo_config(dir.path()), &sqlite_url(dir.path()));
    let (status, _) = server.post(
        "/api/v1/samples",
        &json!({ "samples": [{ "slo": "api-availability", "good": 999, "total": 1000 }] })
            .to_string(),
    );
    assert_eq!(status, 202);
    server.wait_for(
        "/api/v1/slos/api-availability",
        std::time::Duration::from_secs(5),
        |b| b["sli"]["total"] == json!(1000),
    );
    let table = server
        .cli()
        .args(["slo", "status", "--server", &server.base])
        .output()
        .unwrap();
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("SLO"), "{text}");
    assert!(
        lines[1].starts_with("api-availability  99.900%    30d     99.900%  0.000%"),
        "{text}"
    );
    let json_out = server
        .cli()
        .args([
            "slo",
            "status",
            "api-availability",
            "--output",
            "json",
            "--server",
            &server.base,
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(v["sli"]["good"], json!(999));
    let missing = server
        .cli()
        .args(["slo", "status", "nope", "--server", &server.base])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no SLO named `nope`"));
}

/// Follows a one-time login link: the session cookie (`steward_session=…`) it sets.
fn login_with_link(link: &str) -> String {
    let resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
        .get(link)
        .call()
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        303,
        "the link redirects to the console"
    );
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("steward_session=") && !c.starts_with("steward_session=;"))
        .and_then(|c| c.split(';').next())
        .expect("the link sets a session cookie")
        .to_string()
}

/// The demo's whole story: the budget burns, the page fires, and the notification lands at
/// the demo's own receiver, shown on the alert's page (the webhook's JSON beside the chat
/// message) — all within two minutes.
#[test]
fn demo_shows_a_budget_burn_and_a_delivered_page_within_two_minutes() {
    let mut child = KillOnDrop(
        steward()
            .args(["demo", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok);
    // The demo prints a one-time login link before it serves.
    let link = lines
        .by_ref()
        .find_map(|l| {
            l.strip_prefix("demo: log in to the console once at ")
                .and_then(|l| l.split_whitespace().next())
                .map(str::to_string)
        })
        .expect("the demo printed its login link");
    let base = lines
        .find_map(|l| {
            l.strip_prefix("steward is serving on ")
                .map(|a| a.trim_end_matches('/').to_string())
        })
        .expect("the demo printed its URL");
    std::thread::spawn(move || lines.for_each(drop));
    // The link's host is the --listen address, port 0 here: take the path to the real one.
    let link = format!("{base}{}", &link[link.find("/login/once").unwrap()..]);
    let session = login_with_link(&link);
    // The link works once.
    let again = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
        .get(&link)
        .call()
        .unwrap();
    assert_eq!(again.status().as_u16(), 401);
    let request = |method: &str, url: &str, _: Option<&str>| -> (u16, Value) {
        let mut resp = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .get(url)
            .header("cookie", &session)
            .call()
            .unwrap();
        assert_eq!(method, "GET");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    };
    let get_text_of = |url: &str| -> String {
        ureq::get(url)
            .header("cookie", &session)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    let started = std::time::Instant::now();
    let page = loop {
        let (status, slo) = request(
            "GET",
            &format!("{base}/api/v1/slos/checkout-availability"),
            None,
        );
        // 503 while the demo's history is read in.
        assert!(
            status == 200 || slo["error"]["code"] == json!("rebuilding"),
            "{status} {slo}"
        );
        if slo["alerts"][0]["firing"] == json!(true) {
            break slo;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no page within two minutes: {slo}"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    assert!(page["burn_rates"]["5m"].as_f64().unwrap() > 14.4, "{page}");
    loop {
        let (_, alerts) = request("GET", &format!("{base}/api/v1/alerts?status=open"), None);
        let id = alerts["alerts"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|a| a["dedup_key"] == json!("slo/checkout-availability/page"))
            })
            .map(|a| a["id"].clone());
        if let Some(id) = id {
            let text = get_text_of(&format!("{base}/alerts/{id}"));
            if text.matches("delivered 20").count() >= 2 {
                assert!(text.contains("<b>webhook</b>"), "{text}");
                assert!(
                    text.contains("<b>slack</b>") || text.contains("<b>teams</b>"),
                    "{text}"
                );
                break;
            }
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no delivered page within two minutes"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// A child process that is killed when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Regression: an escalation whose people have no contacts (or only email while no SMTP relay
/// is set up) passed `steward validate` without a word, so a tier-1 page reached no one.
#[test]
fn validate_fails_when_a_tier_1_service_would_page_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let config = |ann_contacts: &str| {
        format!(
            r#"apiVersion: steward/v1
kind: Team
metadata: {{name: web}}
spec: {{members: [ann]}}
---
apiVersion: steward/v1
kind: Service
metadata: {{name: checkout}}
spec: {{owner: web, tier: 1, escalationPolicy: web}}
---
apiVersion: steward/v1
kind: Service
metadata: {{name: blog}}
spec: {{owner: web, tier: 3, escalationPolicy: web}}
---
apiVersion: steward/v1
kind: User
metadata: {{name: ann}}
spec: {{contacts: {ann_contacts}}}
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
  steps: [{{delay: 5m, targets: [{{schedule: primary}}]}}]
"#
        )
    };
    let validate = |contacts: &str, smtp: bool| {
        std::fs::write(dir.path().join("all.yaml"), config(contacts)).unwrap();
        let mut cmd = steward();
        cmd.arg("validate")
            .arg(dir.path())
            .env_remove("STEWARD_SMTP_URL");
        if smtp {
            cmd.args(["--smtp-url", "smtp://127.0.0.1:25"]);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, text) = validate("[]", false);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("error: tier-1 service `checkout`: escalation policy `web` reaches no one: ann have no contact Steward can deliver to"),
        "{text}"
    );
    assert!(
        text.contains("warning: service `blog`: escalation policy `web` reaches no one"),
        "{text}"
    );
    let email = "[{type: email, address: ann@example.com}]";
    let (code, text) = validate(email, false);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("(ann only email, and no SMTP relay is set up: --smtp-url)"),
        "{text}"
    );
    assert_eq!(validate(email, true).0, Some(0));
    let (code, text) = validate("[{type: webhook, url: \"http://127.0.0.1:9/ann\"}]", false);
    assert_eq!(code, Some(0), "{text}");
}
