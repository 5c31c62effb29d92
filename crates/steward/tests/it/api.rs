//! The HTTP API: ingest, SLO figures against hand-computed values, errors for bad input.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

pub const ONE_SLO: &str = "apiVersion: openslo/v1
kind: Service
metadata:
  name: api
spec: {}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api-availability
spec:
  service: api
  indicator:
    metadata:
      name: api-requests
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: steward, spec: {}}}
        total: {metricSource: {type: steward, spec: {}}}
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.999
";

pub fn one_slo_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("slo.yaml"), ONE_SLO).unwrap();
    config
}

/// Three days of minute samples of 100 events, in segments that keep clear of every window's
/// start edge (so that no sample's membership depends on when the evaluation runs):
///
/// | minutes ago | samples | bad per sample |
/// |-------------|--------:|---------------:|
/// | 1–4         | 4       | 50             |
/// | 6–28        | 23      | 0              |
/// | 31–58       | 28      | 2              |
/// | 61–118      | 58      | 0              |
/// | 122–358     | 237     | 0              |
/// | 362–1428    | 1067    | 0              |
/// | 1442–4308   | 2867    | 0              |
pub fn push_three_day_pattern(server: &Server, now: i64) {
    let segments: [(i64, i64, u64); 7] = [
        (1, 4, 50),
        (6, 28, 0),
        (31, 58, 2),
        (61, 118, 0),
        (122, 358, 0),
        (362, 1428, 0),
        (1442, 4308, 0),
    ];
    let mut samples = Vec::new();
    for (from, to, bad) in segments {
        for m in from..=to {
            samples.push(json!({
                "slo": "api-availability",
                "time": rfc3339(now - m * 60 - 30),
                "good": 100 - bad,
                "total": 100,
            }));
        }
    }
    assert_eq!(samples.len(), 4284);
    for chunk in samples.chunks(1000) {
        let (status, body) =
            server.post("/api/v1/samples", &json!({ "samples": chunk }).to_string());
        assert_eq!(status, 202, "{body}");
        assert_eq!(body, json!({ "accepted": chunk.len() }));
    }
}

fn close(actual: &Value, expected: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|a| (a - expected).abs() <= 1e-9 * expected.abs().max(1.0))
}

#[test]
fn three_days_of_samples_give_the_hand_computed_budget_and_burn_rates() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&one_slo_config(dir.path()), &sqlite_url(dir.path()));
    let now = now();
    push_three_day_pattern(&server, now);
    let slo = server.wait_for(
        "/api/v1/slos/api-availability",
        Duration::from_secs(10),
        |b| b["sli"]["total"] == json!(428_400),
    );
    // 256 bad of 428,400 events in the window; the allowance is 0.001.
    assert_eq!(slo["sli"]["good"], json!(428_144));
    assert!(close(&slo["sli"]["ratio"], 428_144.0 / 428_400.0), "{slo}");
    assert!(
        close(
            &slo["error_budget"]["consumed_ratio"],
            256.0 / 428_400.0 / 0.001
        ),
        "{slo}"
    );
    assert!(
        close(
            &slo["error_budget"]["remaining_ratio"],
            1.0 - 256.0 / 428_400.0 / 0.001
        ),
        "{slo}"
    );
    let burn = &slo["burn_rates"];
    for (window, bad, total) in [
        ("5m", 200.0, 400.0),
        ("30m", 200.0, 2_700.0),
        ("1h", 256.0, 5_500.0),
        ("2h", 256.0, 11_300.0),
        ("6h", 256.0, 35_000.0),
        ("1d", 256.0, 141_700.0),
        ("3d", 256.0, 428_400.0),
    ] {
        assert!(
            close(&burn[window], bad / total / 0.001),
            "{window}: {} vs {}",
            burn[window],
            bad / total / 0.001
        );
    }
    let alerts: Vec<(String, String, String, bool)> = slo["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["severity"].as_str().unwrap().to_string(),
                a["long_window"].as_str().unwrap().to_string(),
                a["short_window"].as_str().unwrap().to_string(),
                a["firing"].as_bool().unwrap(),
            )
        })
        .collect();
    // 1h 46.5 and 5m 500 exceed 14.4; 6h 7.31 and 30m 74 exceed 6; 1d 1.81 is under 3 and
    // 3d 0.60 under 1.
    let expected = [
        ("page", "1h", "5m", true),
        ("page", "6h", "30m", true),
        ("ticket", "1d", "2h", false),
        ("ticket", "3d", "6h", false),
    ];
    assert_eq!(
        alerts,
        expected
            .map(|(s, l, sh, f)| (s.to_string(), l.to_string(), sh.to_string(), f))
            .to_vec()
    );
    let factors: Vec<f64> = slo["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["factor"].as_f64().unwrap())
        .collect();
    assert_eq!(factors, vec![14.4, 6.0, 3.0, 1.0]);
    assert!(slo["alerts"][0]["since"].is_string());
    assert!(slo["alerts"][2]["since"].is_null());
    assert_eq!(slo["objective"], json!(0.999));
    assert_eq!(slo["window"], json!("30d"));
    assert_eq!(slo["budgeting_method"], json!("Occurrences"));
}

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["error"]["details"].is_array(), "{body}");
}

#[test]
fn bad_batches_are_refused_whole_with_every_bad_index() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&one_slo_config(dir.path()), &sqlite_url(dir.path()));
    let now = now();
    let batch = json!({ "samples": [
        { "slo": "api-availability", "good": 1, "total": 1 },
        { "slo": "nope", "good": 1, "total": 1 },
        { "slo": "api-availability", "good": 2, "total": 1 },
        { "slo": "api-availability", "good": -1, "total": 1 },
        { "slo": "api-availability", "good": 1.5, "total": 2 },
        { "slo": "api-availability", "good": 1, "total": 1, "colour": "red" },
        { "slo": "api-availability", "time": rfc3339(now + 600), "good": 1, "total": 1 },
        { "slo": "api-availability", "time": rfc3339(now - 31 * 86_400), "good": 1, "total": 1 },
        { "slo": "api-availability", "time": "yesterday", "good": 1, "total": 1 },
        { "slo": "api-availability", "value": 3.0 },
        { "slo": "api-availability", "good": "1", "total": 1 },
    ]});
    let (status, body) = server.post("/api/v1/samples", &batch.to_string());
    assert_error(status, &body, 400, "invalid_samples");
    let indices: Vec<u64> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, (1..=10).collect::<Vec<u64>>());
    let messages: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].contains("unknown SLO `nope`"), "{messages:?}");
    assert!(
        messages[1].contains("good is greater than total"),
        "{messages:?}"
    );
    assert!(
        messages[2].contains("`good` must be a whole number"),
        "{messages:?}"
    );
    assert!(
        messages[4].contains("unknown field `colour`"),
        "{messages:?}"
    );
    assert!(messages[5].contains("in the future"), "{messages:?}");
    assert!(
        messages[6].contains("older than the SLO's window"),
        "{messages:?}"
    );
    assert!(messages[7].contains("RFC 3339"), "{messages:?}");
    assert!(
        messages[8].contains("takes \"good\" and \"total\""),
        "{messages:?}"
    );
    // Nothing of the batch was stored, not even the good first sample.
    std::thread::sleep(Duration::from_millis(1500));
    let (_, slo) = server.get("/api/v1/slos/api-availability");
    assert_eq!(slo["sli"]["total"], json!(0), "{slo}");
}

#[test]
fn malformed_bodies_get_a_4xx_with_the_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&one_slo_config(dir.path()), &sqlite_url(dir.path()));
    let cases: [(&str, &str); 6] = [
        ("{\"samples\": [", "invalid_json"),
        ("not json at all", "invalid_json"),
        ("[]", "invalid_body"),
        ("{\"samples\": {}}", "invalid_body"),
        ("{\"samples\": [], \"extra\": 1}", "invalid_body"),
        ("{\"sample\": []}", "invalid_body"),
    ];
    for (body, code) in cases {
        let (status, answer) = server.post("/api/v1/samples", body);
        assert_error(status, &answer, 400, code);
    }
    // Larger than the 16 MiB limit.
    let huge = format!("{{\"samples\": [{}]}}", "0,".repeat(9 << 20));
    let (status, answer) = server.post("/api/v1/samples", &huge);
    assert_error(status, &answer, 413, "payload_too_large");
    let (status, answer) = server.get("/api/v1/slos/nope");
    assert_error(status, &answer, 404, "not_found");
    let (status, answer) = server.get("/api/v1/nothing-here");
    assert_error(status, &answer, 404, "not_found");
    let (status, answer) = server.post("/api/v1/slos", "{}");
    assert_error(status, &answer, 405, "method_not_allowed");
    // The server is still well after all that.
    assert_eq!(server.get("/healthz"), (200, json!({ "status": "ok" })));
}

#[test]
fn health_readiness_metrics_and_console() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&example_config(), &sqlite_url(dir.path()));
    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 200);
    let config = ready["config"].clone();
    assert_eq!(config["hash"].as_str().map(str::len), Some(16), "{ready}");
    assert_eq!(config["last_reload_successful"], json!(true));
    assert_eq!(
        ready,
        json!({ "status": "ready", "store": "sqlite", "slos": 4, "config": config })
    );
    let (status, body) = server.post(
        "/api/v1/samples",
        &json!({ "samples": [
            { "slo": "checkout-availability", "good": 99, "total": 100 },
            { "slo": "search-latency", "value": 120.5 },
            { "slo": "search-latency", "value": 450 },
        ]})
        .to_string(),
    );
    assert_eq!((status, body), (202, json!({ "accepted": 3 })));
    let slo = server.wait_for("/api/v1/slos/search-latency", Duration::from_secs(5), |b| {
        b["sli"]["total"] == json!(2)
    });
    assert_eq!(slo["sli"]["good"], json!(1));
    let (status, metrics) = server.get_text("/metrics");
    assert_eq!(status, 200);
    for line in [
        "steward_slo_objective_ratio{slo=\"checkout-availability\",service=\"checkout\"} 0.999",
        "steward_slo_sli_ratio{slo=\"checkout-availability\",service=\"checkout\"} 0.99",
        "steward_slo_burn_rate{slo=\"checkout-availability\",service=\"checkout\",window=\"5m\"} 10",
        "steward_slo_alert_firing{slo=\"checkout-availability\",service=\"checkout\",severity=\"page\",long_window=\"1h\",short_window=\"5m\"} 0",
        "steward_samples_accepted_total 3",
        "steward_slos 4",
    ] {
        assert!(metrics.lines().any(|l| l.starts_with(line)), "missing {line:?} in\n{metrics}");
    }
    let (status, page) = server.get_text("/");
    assert_eq!(status, 200);
    assert!(page.contains("Checkout requests succeed"), "{page}");
    assert!(page.contains("<svg"), "{page}");
}

#[test]
fn postgres_backed_server_takes_and_serves_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _schema) = postgres_url();
    let server = Server::start(&one_slo_config(dir.path()), &url);
    let (status, ready) = server.get("/readyz");
    assert_eq!((status, &ready["store"]), (200, &json!("postgres")));
    let (status, _) = server.post(
        "/api/v1/samples",
        &json!({ "samples": [{ "slo": "api-availability", "good": 7, "total": 8 }] }).to_string(),
    );
    assert_eq!(status, 202);
    server.wait_for(
        "/api/v1/slos/api-availability",
        Duration::from_secs(5),
        |b| b["sli"]["good"] == json!(7) && b["sli"]["total"] == json!(8),
    );
}
