//! The audit trail end to end: every change through the API leaves an entry naming who,
//! what, when and from where; the API reads it oldest first with filters and as JSON lines;
//! `steward audit export` prints the same lines; and one row edited or deleted with a
//! database client makes `steward audit verify` fail naming that entry.

use crate::support::*;
use serde_json::{json, Value};

fn entries(server: &Server, query: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/api/v1/audit?{query}"));
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

fn verify(server: &Server) -> (bool, String) {
    let out = steward()
        .args(["audit", "verify", "--db", &server.db])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_change_is_in_the_trail_with_who_what_and_where_from_and_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&example_config(), &sqlite_url(dir.path()));
    let start = now();

    // bo responds for payments: an incident, edited, a note; a silence; an override.
    let (status, incident) = send_as(
        &server,
        "POST",
        "bo",
        "/api/v1/incidents",
        &json!({ "title": "card payments fail", "severity": "SEV2", "service": "payments" }),
    );
    assert_eq!(status, 201, "{incident}");
    let id = incident["id"].as_i64().unwrap();
    let path = format!("/api/v1/incidents/{id}");
    assert_eq!(
        send_as(
            &server,
            "PATCH",
            "bo",
            &path,
            &json!({ "severity": "SEV1" })
        )
        .0,
        200
    );
    assert_eq!(
        send_as(
            &server,
            "POST",
            "bo",
            &format!("{path}/notes"),
            &json!({ "text": "rolled back" })
        )
        .0,
        201
    );
    let (status, silence) = send_as(
        &server,
        "POST",
        "bo",
        "/api/v1/silences",
        &json!({ "matchers": ["service=payments", "alertname=CardDeclines"], "duration": "1h", "comment": "failover" }),
    );
    assert_eq!(status, 201, "{silence}");
    // The admin turns the kill switch on and makes a token (the trail keeps no token).
    assert_eq!(
        server
            .send(
                "PUT",
                "/api/v1/kill-switch",
                Some(r#"{"on": true, "reason": "audit test"}"#)
            )
            .0,
        200
    );
    let (status, made) = server.post("/api/v1/tokens", r#"{"name":"ci"}"#);
    assert_eq!(status, 201, "{made}");
    // A refused request changes nothing and leaves no entry.
    assert_eq!(
        send_as(
            &server,
            "PATCH",
            "bo",
            &path,
            &json!({ "severity": "SEV9" })
        )
        .0,
        400
    );

    let bo = entries(&server, "actor=user:bo");
    let seen: Vec<(&str, &str)> = bo
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
            )
        })
        .collect();
    let silence_subject = format!("silences/{}", silence["id"]);
    let incident_subject = format!("incidents/{id}");
    assert_eq!(
        seen,
        [
            ("incidents.create", incident_subject.as_str()),
            ("incidents.change", incident_subject.as_str()),
            ("incidents.notes", incident_subject.as_str()),
            ("silences.create", silence_subject.as_str()),
        ],
        "oldest first"
    );
    for e in &bo {
        assert_eq!(e["from"]["remote"], "127.0.0.1", "{e}");
        assert!(
            e["from"]["agent"].as_str().unwrap().starts_with("ureq"),
            "{e}"
        );
        assert!(secs(&e["at"]) >= start, "{e}");
    }
    assert_eq!(bo[1]["after"]["severity"], "SEV1", "{}", bo[1]);
    assert_eq!(bo[3]["after"]["comment"], "failover", "{}", bo[3]);

    let all = entries(&server, "");
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["config.load", "tokens.create", "runbooks.kill_switch"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let kill = all
        .iter()
        .find(|e| e["action"] == "runbooks.kill_switch")
        .unwrap();
    assert_eq!(kill["after"], json!({ "on": true, "reason": "audit test" }));
    assert_eq!(kill["before"], Value::Null);
    assert_eq!(kill["from"]["remote"], "127.0.0.1");
    assert!(!Value::Array(all.clone())
        .to_string()
        .contains(made["token"].as_str().unwrap()));
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");

    // Filters, and the same entries as JSON lines from the API and from the store.
    assert_eq!(
        entries(&server, &format!("subject={incident_subject}")).len(),
        3
    );
    assert!(entries(&server, "since=2100-01-01T00:00:00Z").is_empty());
    let (status, lines) = server.get_text("/api/v1/audit?format=jsonl");
    assert_eq!(status, 200);
    let from_api: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(from_api, all);
    let out = steward()
        .args(["audit", "export", "--db", &server.db, "--actor", "user:bo"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let exported: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported, bo);

    // A database client edits one row, then deletes another: verify names each.
    assert!(verify(&server).0);
    let db = dir.path().join("steward.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let victim = bo[1]["id"].as_i64().unwrap();
    c.execute(
        "UPDATE audit SET details = replace(details, 'SEV1', 'SEV3') WHERE id = ?1",
        [victim],
    )
    .unwrap();
    let (ok, said) = verify(&server);
    assert!(!ok);
    assert!(
        said.contains(&format!(
            "broken at entry {victim}: its fields do not match its hash"
        )),
        "{said}"
    );
    c.execute(
        "UPDATE audit SET details = replace(details, 'SEV3', 'SEV1') WHERE id = ?1",
        [victim],
    )
    .unwrap();
    assert!(verify(&server).0);
    c.execute("DELETE FROM audit WHERE id = ?1", [victim])
        .unwrap();
    let (ok, said) = verify(&server);
    assert!(!ok);
    assert!(
        said.contains(&format!("broken at entry {}", victim + 1)),
        "the entry after the gap: {said}"
    );
}
