//! The command line: validate, slo status.

use crate::api::one_slo_config;
use crate::support::*;
use serde_json::json;

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
    let table = steward()
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
    let json_out = steward()
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
    let missing = steward()
        .args(["slo", "status", "nope", "--server", &server.base])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no SLO named `nope`"));
}
