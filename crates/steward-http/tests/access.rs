//! Authorization, route by route: every row of the router's own table × every kind of caller,
//! on a server that requires tokens. A route added without a row here fails
//! `every_route_has_a_row_here`.

use std::sync::Arc;
use std::time::Duration;
use steward_config::{catalog, parse_text, Diagnostics, Scope};
use steward_engine::Engine;
use steward_http::access::{AccessMode, Need};
use steward_store::{NewToken, Store, TokenKind};

const CONFIG: &str = "apiVersion: steward/v1
kind: Team
metadata: {name: shop-team}
spec: {members: [rick]}
---
apiVersion: steward/v1
kind: Customer
metadata: {name: acme}
spec: {}
---
apiVersion: steward/v1
kind: Customer
metadata: {name: globex}
spec: {}
---
apiVersion: steward/v1
kind: Team
metadata: {name: team-a}
spec: {members: [carl]}
---
apiVersion: steward/v1
kind: Team
metadata: {name: team-b}
spec: {members: [rick]}
---
apiVersion: steward/v1
kind: User
metadata: {name: cara}
spec: {customer: acme}
---
apiVersion: steward/v1
kind: User
metadata: {name: carl}
spec: {role: responder, customer: acme}
---
apiVersion: steward/v1
kind: Service
metadata: {name: svc-a}
spec: {owner: team-a, tier: 2, customer: acme, dependsOn: [svc-b]}
---
apiVersion: steward/v1
kind: Service
metadata: {name: svc-b}
spec: {owner: team-b, tier: 2, customer: globex}
---
apiVersion: steward/v1
kind: Integration
metadata: {name: hook}
spec: {kind: webhook, key: {value: key-of-the-hook-0123456789}}
---
apiVersion: steward/v1
kind: Schedule
metadata: {name: primary}
spec:
  layers:
    - {name: all, participants: [ada, rick], shift: 1w, start: \"2020-01-06\"}
---
apiVersion: steward/v1
kind: Runbook
metadata: {name: rb-a}
spec:
  service: svc-a
  steps: [{name: look at the dashboard}]
---
apiVersion: steward/v1
kind: Runbook
metadata: {name: rb-b}
spec:
  service: svc-b
  steps: [{name: look at the b-secret dashboard}]
---
apiVersion: steward/v1
kind: MaintenanceWindow
metadata: {name: mw-a}
spec: {services: [svc-a], start: \"2026-01-04T03:00\", duration: 1h, repeat: weekly, days: [sunday], timeZone: Europe/Berlin}
---
apiVersion: steward/v1
kind: MaintenanceWindow
metadata: {name: mw-b}
spec: {services: [svc-b], start: \"2026-01-04T03:00\", duration: 1h, repeat: weekly, days: [sunday], timeZone: Europe/Berlin}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: slo-a}
spec:
  service: svc-a
  indicator:
    metadata: {name: slo-a-requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: steward, spec: {}}}
        total: {metricSource: {type: steward, spec: {}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.999}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: slo-b}
spec:
  service: svc-b
  indicator:
    metadata: {name: slo-b-requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: steward, spec: {}}}
        total: {metricSource: {type: steward, spec: {}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.999}]
---
apiVersion: steward/v1
kind: User
metadata: {name: vera}
spec: {}
---
apiVersion: steward/v1
kind: User
metadata: {name: rick}
spec: {role: responder}
---
apiVersion: steward/v1
kind: User
metadata: {name: ada}
spec: {role: admin, contacts: [{type: webhook, url: \"https://hooks.staff.example/ada\"}]}
---
apiVersion: steward/v1
kind: Service
metadata: {name: checkout}
spec: {owner: shop-team, tier: 2}
---
apiVersion: steward/v1
kind: Service
metadata: {name: search}
spec: {owner: shop-team, tier: 2}
---
apiVersion: steward/v1
kind: Integration
metadata: {name: prom-a}
spec: {kind: alertmanager, key: {value: key-of-prom-a-0123456789}}
---
apiVersion: steward/v1
kind: Integration
metadata: {name: prom-b}
spec: {kind: alertmanager, key: {value: key-of-prom-b-0123456789}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: search-availability}
spec:
  service: search
  indicator:
    metadata: {name: search-requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: steward, spec: {}}}
        total: {metricSource: {type: steward, spec: {}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.999}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: search-quality}
spec:
  service: search
  indicator:
    metadata: {name: search-good}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: steward, spec: {}}}
        total: {metricSource: {type: steward, spec: {}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{displayName: most, target: 0.9}, {displayName: nearly-all, target: 0.99}]
";

/// What each route needs, by method and path: the table the router must have.
const EXPECTED: &[(&str, &str, Need)] = {
    use Need::*;
    &[
        ("GET", "/", Read),
        ("GET", "/alerts/{id}", Read),
        ("POST", "/alerts/{id}/{action}", Respond),
        ("GET", "/runbooks/{name}", Read),
        ("GET", "/incidents/{id}", Read),
        ("GET", "/incidents/{id}/postmortem", Read),
        ("POST", "/incidents/{id}/{action}", Respond),
        ("GET", "/login", Anyone),
        ("POST", "/login", Anyone),
        ("GET", "/login/once", Anyone),
        ("GET", "/login/oidc", Anyone),
        ("GET", "/login/oidc/callback", Anyone),
        ("POST", "/logout", Read),
        ("GET", "/healthz", Anyone),
        ("GET", "/readyz", Anyone),
        ("GET", "/metrics", Metrics),
        ("GET", "/api/v1/me", Read),
        ("GET", "/api/v1/tokens", Read),
        ("POST", "/api/v1/tokens", Read),
        ("DELETE", "/api/v1/tokens/{id}", Read),
        ("POST", "/api/v1/config/reload", Admin),
        ("POST", "/api/v1/samples", Samples),
        ("GET", "/api/v1/slos", Read),
        ("GET", "/api/v1/slos/{name}", Read),
        ("GET", "/api/v1/services", Read),
        ("GET", "/api/v1/services/{name}", Read),
        ("GET", "/api/v1/services/{name}/dependencies", Read),
        ("GET", "/api/v1/services/{name}/dependents", Read),
        ("GET", "/api/v1/services/{name}/evidence", Read),
        ("POST", "/api/v1/services/{name}/evidence", Respond),
        ("GET", "/api/v1/services/{name}/readiness", Read),
        ("GET", "/api/v1/readiness", Read),
        ("GET", "/api/v1/runbooks", Read),
        ("GET", "/api/v1/runbooks/{name}", Read),
        ("GET", "/api/v1/runbooks/{name}/runs", Read),
        ("POST", "/api/v1/runbooks/{name}/runs", Respond),
        ("POST", "/api/v1/runbooks/{name}/rehearse", Respond),
        ("GET", "/api/v1/runs/{id}", Read),
        ("POST", "/api/v1/runs/{id}/approve", Respond),
        ("GET", "/api/v1/kill-switch", StaffRead),
        ("PUT", "/api/v1/kill-switch", Admin),
        ("GET", "/api/v1/alerts", Read),
        ("GET", "/api/v1/alerts/{id}", Read),
        ("POST", "/api/v1/alerts/{id}/ack", Respond),
        ("POST", "/api/v1/alerts/{id}/resolve", Respond),
        ("GET", "/api/v1/silences", StaffRead),
        ("POST", "/api/v1/silences", StaffRespond),
        ("POST", "/api/v1/silences/{id}/expire", StaffRespond),
        ("GET", "/api/v1/notifications/dead", Admin),
        ("POST", "/api/v1/notifications/{id}/retry", Admin),
        ("GET", "/api/v1/oncall", StaffRead),
        ("GET", "/api/v1/schedules/{name}/gaps", StaffRead),
        ("POST", "/api/v1/schedules/{name}/overrides", StaffRespond),
        ("DELETE", "/api/v1/overrides/{id}", StaffRespond),
        ("GET", "/api/v1/schedules/{name}/ical", StaffRead),
        ("GET", "/api/v1/users/{name}/ical", StaffRead),
        ("POST", "/api/v1/schedules/{name}/ical-feeds", StaffRead),
        ("POST", "/api/v1/users/{name}/ical-feeds", StaffRead),
        ("GET", "/ical/{file}", OwnKey),
        ("GET", "/api/v1/incidents", Read),
        ("POST", "/api/v1/incidents", Respond),
        ("GET", "/api/v1/incidents/{id}", Read),
        ("PATCH", "/api/v1/incidents/{id}", Respond),
        ("POST", "/api/v1/incidents/{id}/ack", Respond),
        ("POST", "/api/v1/incidents/{id}/mitigate", Respond),
        ("POST", "/api/v1/incidents/{id}/resolve", Respond),
        ("POST", "/api/v1/incidents/{id}/notes", Respond),
        ("POST", "/api/v1/incidents/{id}/updates", Respond),
        ("POST", "/api/v1/incidents/{id}/roles", Respond),
        ("GET", "/api/v1/incidents/{id}/postmortem", Read),
        ("POST", "/api/v1/incidents/{id}/action-items", Respond),
        ("GET", "/api/v1/action-items", Read),
        ("POST", "/api/v1/action-items/{id}/close", Respond),
        ("GET", "/api/v1/changes", Read),
        ("POST", "/api/v1/changes", Respond),
        ("GET", "/api/v1/services/{name}/deploy-gate", Read),
        ("GET", "/api/v1/services/{name}/deploy-gate/overrides", Read),
        (
            "POST",
            "/api/v1/services/{name}/deploy-gate/overrides",
            Respond,
        ),
        ("GET", "/api/v1/services/{name}/delivery", Read),
        ("GET", "/api/v1/audit", Admin),
        ("GET", "/api/v1/budget-adjustments", Read),
        ("POST", "/api/v1/budget-adjustments", Respond),
        ("PUT", "/api/v1/budget-adjustments/{name}", Respond),
        ("DELETE", "/api/v1/budget-adjustments/{name}", Respond),
        (
            "POST",
            "/api/v1/maintenance/{name}/budget-adjustments",
            Respond,
        ),
        ("POST", "/api/v1/integrations/{kind}", OwnKey),
        ("POST", "/api/v1/heartbeats/{name}", OwnKey),
        ("POST", "/v2/enqueue", OwnKey),
        ("GET", "/api/v2/alerts", OwnKey),
        ("POST", "/api/v2/alerts", OwnKey),
        ("GET", "/api/v2/silences", OwnKey),
        ("POST", "/api/v2/silences", OwnKey),
        ("GET", "/api/v2/silence/{id}", OwnKey),
        ("DELETE", "/api/v2/silence/{id}", OwnKey),
        ("GET", "/api/v2/status", OwnKey),
        ("GET", "/api/v2/receivers", OwnKey),
    ]
};

struct Served {
    base: String,
    table: Vec<steward_http::access::Rule>,
    /// Tokens: the sender's, vera's (viewer), rick's (responder), ada's (admin), cara's
    /// (acme's viewer), carl's (acme's responder); and a revoked and an expired one of ada's.
    tokens: Vec<String>,
    revoked: String,
    expired: String,
    _dir: tempfile::TempDir,
}

fn serve() -> Served {
    serve_with(AccessMode::Required.into())
}

fn serve_with(access: steward_http::access::Access) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).unwrap();
    let mut diags = Diagnostics::default();
    let docs = parse_text("access.yaml", CONFIG, &mut diags);
    let catalog = catalog::build(&docs, Scope::Complete, &mut diags);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    let now = jiff::Timestamp::now().as_second();
    let make = |kind, who: &str, expires_at| {
        let new = NewToken {
            kind,
            principal: who.into(),
            name: "test".into(),
            services: if kind == TokenKind::Sender {
                vec!["checkout".into()]
            } else {
                Vec::new()
            },
            created_by: "test".into(),
            at: now,
            expires_at,
            role: None,
        };
        store.transact(move |tx| tx.create_token(&new)).unwrap()
    };
    let mut tokens = Vec::new();
    for (kind, who) in [
        (TokenKind::Sender, "prom"),
        (TokenKind::User, "vera"),
        (TokenKind::User, "rick"),
        (TokenKind::User, "ada"),
        (TokenKind::User, "cara"),
        (TokenKind::User, "carl"),
    ] {
        tokens.push(make(kind, who, None).1);
    }
    let (gone, revoked) = make(TokenKind::User, "ada", None);
    store
        .transact(move |tx| tx.revoke_token(gone.id, now))
        .unwrap();
    let expired = make(TokenKind::User, "ada", Some(now - 1)).1;
    let engine = Arc::new(Engine::start(catalog, store, now).unwrap());
    let runtime = Arc::new(steward_engine::runtime::Runtime::fixed(engine));
    runtime.start();
    let table = steward_http::routes(runtime.clone(), AccessMode::Required)
        .1
        .as_ref()
        .clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            steward_http::serve(runtime, access, listener, std::future::pending())
                .await
                .unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Served {
        base: format!("http://{addr}"),
        table,
        tokens,
        revoked,
        expired,
        _dir: dir,
    }
}

/// Status and body of a request, with the token if any.
fn call(method: &str, url: &str, token: Option<&str>) -> (u16, String, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = if method == "GET" || method == "DELETE" {
        String::new()
    } else {
        "{}".to_string()
    };
    let mut resp = agent.run(req.body(body).unwrap()).unwrap();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .or_else(|| resp.headers().get("location"))
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), text, challenge)
}

fn concrete(path: &str) -> String {
    // No object has this id: a route that acts on one answers 404, and changes nothing.
    path.replace("{id}", "999999")
        .replace("{name}", "checkout")
        .replace("{kind}", "alertmanager")
        .replace("{action}", "ack")
}

#[test]
fn every_route_has_a_row_here() {
    let s = serve();
    let table: Vec<(&str, &str, Need)> = s
        .table
        .iter()
        .map(|r| (r.method.as_str(), r.path, r.need))
        .collect();
    let missing: Vec<_> = table.iter().filter(|r| !EXPECTED.contains(r)).collect();
    let gone: Vec<_> = EXPECTED.iter().filter(|r| !table.contains(r)).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "routes whose need is not written in EXPECTED: {missing:?}; rows of routes that are not served as written: {gone:?}"
    );
}

#[test]
fn each_caller_gets_exactly_what_its_role_allows_on_every_route() {
    let s = serve();
    let callers: Vec<(&str, Option<&str>)> = vec![
        ("anonymous", None),
        ("sender", Some(&s.tokens[0])),
        ("viewer", Some(&s.tokens[1])),
        ("responder", Some(&s.tokens[2])),
        ("admin", Some(&s.tokens[3])),
    ];
    // Columns as in `callers`: what each may do by the route's need.
    let allowed = |need: Need| -> [bool; 5] {
        match need {
            Need::Anyone | Need::OwnKey => [true; 5],
            Need::Samples => [false, true, false, true, true],
            Need::Metrics | Need::Read | Need::StaffRead => [false, false, true, true, true],
            Need::Respond | Need::StaffRespond => [false, false, false, true, true],
            Need::Admin => [false, false, false, false, true],
        }
    };
    let mut wrong = Vec::new();
    for rule in &s.table {
        let url = format!("{}{}", s.base, concrete(rule.path));
        let page = !rule.path.starts_with("/api/")
            && !matches!(
                rule.path,
                "/metrics" | "/healthz" | "/readyz" | "/v2/enqueue"
            );
        for ((who, token), may) in callers.iter().zip(allowed(rule.need)) {
            let (status, body, challenge) = call(rule.method.as_str(), &url, *token);
            let ok = match (rule.need, may) {
                // A login post without its form's nonce is refused, whoever sends it.
                (Need::Anyone, _) if rule.path == "/login" && rule.method == "POST" => {
                    status == 403 && body.contains("came from another page")
                }
                // The route checks its own key: ours is never the answer there.
                (Need::OwnKey | Need::Anyone, _) => status != 403 && status < 500,
                (_, true) => status != 401 && status != 403 && status < 500,
                // A browser without a session is sent to log in, and back afterwards.
                (_, false) if token.is_none() && page && rule.method == "GET" => {
                    status == 303
                        && challenge.as_deref()
                            == Some(format!("/login?next={}", concrete(rule.path)).as_str())
                }
                (_, false) if token.is_none() => {
                    status == 401 && challenge.as_deref() == Some("Bearer realm=\"steward\"")
                }
                (_, false) => status == 403,
            };
            if !ok {
                wrong.push(format!(
                    "{} {} as {who}: {status} {body}",
                    rule.method, rule.path
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_revoked_an_expired_and_an_unknown_token_are_refused_even_for_reading() {
    let s = serve();
    let url = format!("{}/api/v1/slos", s.base);
    for (token, why) in [
        (s.revoked.as_str(), "the token was revoked"),
        (s.expired.as_str(), "the token has expired"),
        (
            "stw_0000000000000000000000000000000000000000000000000000000000000000",
            "the bearer token is not known",
        ),
        ("hunter2", "not a Steward token"),
    ] {
        let (status, body, challenge) = call("GET", &url, Some(token));
        assert_eq!(status, 401, "{token}: {body}");
        assert!(body.contains(why), "{token}: {body}");
        assert!(challenge.is_some());
    }
    // The health endpoints need nothing, whatever is sent.
    assert_eq!(
        call("GET", &format!("{}/healthz", s.base), Some("hunter2")).0,
        200
    );
}

#[test]
fn me_names_the_caller_and_its_role() {
    let s = serve();
    let (status, body, _) = call("GET", &format!("{}/api/v1/me", s.base), Some(&s.tokens[2]));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({ "user": "rick", "role": "responder", "customer": null })
    );
}

#[test]
fn a_sender_posts_samples_for_its_own_services_only() {
    let s = serve();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |token: &str, slo: &str| {
        let mut resp = agent
            .post(&format!("{}/api/v1/samples", s.base))
            .header("authorization", &format!("Bearer {token}"))
            .send(&format!(
                r#"{{"samples":[{{"slo":"{slo}","good":9,"total":10}}]}}"#
            ))
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    // The sender's token is for checkout: search's SLOs are refused, by the SLO's name, an
    // objective's, or the name of an SLO with several objectives; nothing is stored.
    for slo in [
        "search-availability",
        "search-quality",
        "search-quality:most",
    ] {
        let (status, body) = post(&s.tokens[0], slo);
        assert_eq!(status, 400, "{slo}: {body}");
        assert!(
            body.contains(&format!(
                "SLO `{slo}` is of service `search`; this token posts samples for checkout only"
            )),
            "{body}"
        );
    }
    let (status, body) = post(&s.tokens[0], "no-such-slo");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("there is no SLO `no-such-slo`"), "{body}");
    // A responder may post for any service.
    for slo in ["search-availability", "search-quality"] {
        let (status, body) = post(&s.tokens[2], slo);
        assert_eq!(status, 202, "{slo}: {body}");
    }
}

#[test]
fn a_user_manages_its_own_tokens_and_an_admin_everyones() {
    let s = serve();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let send = |method: &str, path: &str, token: &str, body: &str| {
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", s.base))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .unwrap();
        let mut resp = agent.run(req).unwrap();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        (resp.status().as_u16(), v)
    };
    let (vera, ada) = (&s.tokens[1], &s.tokens[3]);
    // A viewer makes a token of its own, shown once.
    let (status, made) = send(
        "POST",
        "/api/v1/tokens",
        vera,
        r#"{"name":"phone","expires":"30d"}"#,
    );
    assert_eq!(status, 201, "{made}");
    let phone = made["token"].as_str().unwrap().to_string();
    assert!(phone.starts_with("stw_"));
    assert_eq!(made["user"], "vera");
    // ... but none for someone else, and sees only its own.
    let (status, _) = send("POST", "/api/v1/tokens", vera, r#"{"user":"ada"}"#);
    assert_eq!(status, 403);
    let (status, mine) = send("GET", "/api/v1/tokens", vera, "");
    assert_eq!(status, 200);
    let users: Vec<&str> = mine["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["vera", "vera"]);
    assert!(
        !mine.to_string().contains("stw_"),
        "a listed token shows no token"
    );
    assert_eq!(send("GET", "/api/v1/tokens?user=ada", vera, "").0, 403);
    // Another's token is not found by a user who may not see it.
    let ada_id = send("GET", "/api/v1/tokens?user=ada", ada, "").1["tokens"][0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        send("DELETE", &format!("/api/v1/tokens/{ada_id}"), vera, "").0,
        404
    );
    // The admin revokes vera's new token: refused on its next request.
    assert_eq!(send("GET", "/api/v1/me", &phone, "").0, 200);
    let id = made["id"].as_i64().unwrap();
    assert_eq!(
        send("DELETE", &format!("/api/v1/tokens/{id}"), ada, "").0,
        204
    );
    let (status, body) = send("GET", "/api/v1/me", &phone, "");
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "the token was revoked");
    assert_eq!(
        send("DELETE", &format!("/api/v1/tokens/{id}"), ada, "").0,
        204
    );
}

#[test]
fn an_integration_key_reads_only_its_own_integrations_alerts() {
    let s = serve();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let (a, b) = ("key-of-prom-a-0123456789", "key-of-prom-b-0123456789");
    let resp = agent
        .post(&format!("{}/api/v2/alerts", s.base))
        .header("authorization", &format!("Bearer {a}"))
        .send(r#"[{"labels":{"alertname":"SecretOfA","severity":"critical"},"annotations":{"summary":"a's own trouble"}}]"#)
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let read = |key: &str| {
        let mut resp = agent
            .get(&format!("{}/api/v2/alerts", s.base))
            .header("authorization", &format!("Bearer {key}"))
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.body_mut().read_to_string().unwrap()
    };
    assert!(read(a).contains("SecretOfA"));
    let seen_by_b = read(b);
    assert_eq!(seen_by_b, "[]", "prom-b's key read prom-a's alerts");

    // Silences too: prom-b's silence is prom-b's alone, and quiets none of prom-a's alerts.
    let silence = |key: &str| {
        let mut resp = agent
            .post(&format!("{}/api/v2/silences", s.base))
            .header("authorization", &format!("Bearer {key}"))
            .send(r#"{"matchers":[{"name":"alertname","value":"SecretOfA","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2100-01-01T00:00:00Z","createdBy":"x","comment":"x"}"#)
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let v: serde_json::Value =
            serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        v["silenceID"].as_str().unwrap().to_string()
    };
    let by_b = silence(b);
    let get = |key: &str, path: &str| {
        let mut resp = agent
            .get(&format!("{}{path}", s.base))
            .header("authorization", &format!("Bearer {key}"))
            .call()
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    assert!(get(b, "/api/v2/silences").1.contains(&by_b));
    assert!(!get(a, "/api/v2/silences").1.contains(&by_b));
    assert_eq!(get(a, &format!("/api/v2/silence/{by_b}")).0, 404);
    let delete = agent
        .delete(&format!("{}/api/v2/silence/{by_b}", s.base))
        .header("authorization", &format!("Bearer {a}"))
        .call()
        .unwrap();
    assert_eq!(delete.status().as_u16(), 404);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        read(a).contains(r#""silencedBy":[]"#),
        "prom-b's silence quieted prom-a's alert: {}",
        read(a)
    );
    // prom-a's own silence does quiet it.
    let by_a = silence(a);
    let started = std::time::Instant::now();
    while !read(a).contains(&by_a) {
        assert!(started.elapsed() < Duration::from_secs(10), "{}", read(a));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A request with a JSON body: status and the body as text.
fn send(method: &str, url: &str, token: &str, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_string())
        .unwrap();
    let mut resp = agent.run(req).unwrap();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), text)
}

/// The objects of one customer the matrix acts on: by the kind a path names.
struct Objects {
    alert: i64,
    incident: i64,
    item: i64,
    run: i64,
    suffix: &'static str,
}

impl Objects {
    /// Makes them as the admin: an alert, an incident with an action item, a change, a
    /// budget adjustment and a rehearsal run, of service `svc-{suffix}`.
    fn make(s: &Served, suffix: &'static str, text: &str) -> Objects {
        let admin = &s.tokens[3];
        let json = |r: (u16, String)| -> serde_json::Value {
            assert!(r.0 < 300, "{} {}", r.0, r.1);
            serde_json::from_str(&r.1).unwrap()
        };
        let url = |p: &str| format!("{}{p}", s.base);
        let (status, body) = send(
            "POST",
            &url("/api/v1/integrations/webhook"),
            "key-of-the-hook-0123456789",
            &serde_json::json!({ "dedup_key": format!("{text}-alert"), "summary": format!("{text} alert summary"), "severity": "page", "service": format!("svc-{suffix}") }).to_string(),
        );
        assert_eq!(status, 202, "{body}");
        let alerts = json(send("GET", &url("/api/v1/alerts"), admin, ""));
        let alert = alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["dedup_key"] == format!("{text}-alert"))
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let incident = json(send(
            "POST",
            &url("/api/v1/incidents"),
            admin,
            &serde_json::json!({ "title": format!("{text} incident"), "severity": "SEV2", "service": format!("svc-{suffix}") }).to_string(),
        ))["id"]
            .as_i64()
            .unwrap();
        let item = json(send(
            "POST",
            &url(&format!("/api/v1/incidents/{incident}/action-items")),
            admin,
            &serde_json::json!({ "title": format!("{text} item"), "owner": "ada" }).to_string(),
        ))["id"]
            .as_i64()
            .unwrap();
        json(send(
            "POST",
            &url("/api/v1/changes"),
            admin,
            &serde_json::json!({ "service": format!("svc-{suffix}"), "kind": "deploy", "version": format!("{text}-v1") }).to_string(),
        ));
        json(send(
            "POST",
            &url("/api/v1/budget-adjustments"),
            admin,
            &serde_json::json!({ "name": format!("adj-{suffix}"), "description": format!("{text} adjustment"), "service": format!("svc-{suffix}"), "startTime": "2026-01-01T00:00:00Z", "duration": "1h" }).to_string(),
        ));
        let run = json(send(
            "POST",
            &url(&format!("/api/v1/runbooks/rb-{suffix}/rehearse")),
            admin,
            "",
        ))["id"]
            .as_i64()
            .unwrap();
        Objects {
            alert,
            incident,
            item,
            run,
            suffix,
        }
    }

    /// `path` with its parameter naming this customer's object of the path's kind; `None`
    /// for a path whose object is no customer's (a token, a schedule, a silence...).
    fn path(&self, path: &str) -> (String, bool) {
        let kind = path
            .trim_start_matches("/api/v1")
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        let x = self.suffix;
        let (id, name, customers) = match kind {
            "alerts" => (self.alert.to_string(), String::new(), true),
            "incidents" => (self.incident.to_string(), String::new(), true),
            "action-items" => (self.item.to_string(), String::new(), true),
            "runs" => (self.run.to_string(), String::new(), true),
            "slos" => (String::new(), format!("slo-{x}"), true),
            "runbooks" => (String::new(), format!("rb-{x}"), true),
            "services" => (String::new(), format!("svc-{x}"), true),
            "budget-adjustments" => (String::new(), format!("adj-{x}"), true),
            "maintenance" => (String::new(), format!("mw-{x}"), true),
            "schedules" => (String::new(), "primary".into(), false),
            "users" => (String::new(), "ada".into(), false),
            _ => ("999999".into(), String::new(), false),
        };
        let has_param = path.contains('{');
        (
            path.replace("{id}", &id)
                .replace("{name}", &name)
                .replace("{kind}", "webhook")
                .replace("{action}", "ack"),
            has_param && customers,
        )
    }
}

/// What of customer B (and of the provider's staff) a customer-A caller must never read.
const SECRETS_OF_B: &[&str] = &[
    "svc-b",
    "slo-b",
    "rb-b",
    "adj-b",
    "mw-b",
    "globex",
    "b-secret",
    "hooks.staff.example",
];

#[test]
fn a_customers_users_see_and_touch_only_their_customers_objects_on_every_route() {
    let s = serve();
    let a = Objects::make(&s, "a", "a-visible");
    let b = Objects::make(&s, "b", "b-secret");
    // The lists are filtered, not emptied: customer A's own objects are in them.
    for (path, mine) in [
        ("/api/v1/alerts", "a-visible alert summary"),
        ("/api/v1/incidents?status=all", "a-visible incident"),
        ("/api/v1/action-items", "a-visible item"),
        ("/api/v1/changes", "a-visible-v1"),
        ("/api/v1/slos", "slo-a"),
        ("/api/v1/runbooks", "rb-a"),
        ("/api/v1/budget-adjustments", "adj-a"),
        ("/", "slo-a"),
    ] {
        // Adjustments are figured in the background: wait until the admin sees them.
        let started = std::time::Instant::now();
        while !send("GET", &format!("{}{path}", s.base), &s.tokens[3], "")
            .1
            .contains(mine)
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{path}: no {mine}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let (status, text) = send("GET", &format!("{}{path}", s.base), &s.tokens[4], "");
        assert_eq!(status, 200, "{path}: {text}");
        assert!(text.contains(mine), "{path} lacks {mine}: {text}");
    }
    let callers = [
        ("acme's viewer", &s.tokens[4]),
        ("acme's responder", &s.tokens[5]),
    ];
    let mut wrong = Vec::new();
    let mut leaks = Vec::new();
    for rule in &s.table {
        if matches!(rule.need, Need::Anyone | Need::OwnKey) {
            continue;
        }
        for (i, (who, token)) in callers.iter().enumerate() {
            let responder = i == 1;
            for (objects, ours) in [(&a, true), (&b, false)] {
                let (path, customers_object) = objects.path(rule.path);
                let body = if matches!(rule.method.as_str(), "GET" | "DELETE") {
                    ""
                } else {
                    "{}"
                };
                let (status, text) = send(
                    rule.method.as_str(),
                    &format!("{}{path}", s.base),
                    token,
                    body,
                );
                let role_enough = match rule.need {
                    Need::Read => true,
                    Need::Respond | Need::Samples => responder,
                    // The provider's staff's: schedules, silences, metrics, the kill switch.
                    _ => false,
                };
                let ok = if !role_enough {
                    status == 403
                } else if customers_object && !ours {
                    status == 404
                } else if rule.path.contains('{') && !customers_object {
                    // Tokens: another's (or none) is not found.
                    status == 404
                } else {
                    !matches!(status, 401 | 403 | 404) && status < 500
                };
                if !ok {
                    wrong.push(format!("{} {path} as {who}: {status} {text}", rule.method));
                }
                if let Some(secret) = SECRETS_OF_B.iter().find(|x| text.contains(*x)) {
                    leaks.push(format!(
                        "{} {path} as {who} shows `{secret}`: {text}",
                        rule.method
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));

    // A customer's responder posts samples for its own SLOs only (after the figures are
    // made again for the adjustments the matrix changed: 503 meanwhile).
    let post = |slo: &str| {
        let started = std::time::Instant::now();
        loop {
            let (status, text) = send(
                "POST",
                &format!("{}/api/v1/samples", s.base),
                &s.tokens[5],
                &format!(r#"{{"samples":[{{"slo":"{slo}","good":1,"total":1}}]}}"#),
            );
            if status != 503 || started.elapsed() > Duration::from_secs(10) {
                return (status, text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(post("slo-a").0, 202);
    let (status, text) = post("slo-b");
    assert_eq!(status, 400, "{text}");
    assert!(!text.contains("svc-b"), "{text}");
}

#[test]
fn a_token_past_its_rate_limit_waits_and_another_token_does_not() {
    let s = serve_with(steward_http::access::Access {
        mode: AccessMode::Required,
        metrics_public: false,
        rate_limit: 2,
    });
    let url = format!("{}/api/v1/me", s.base);
    // A burst of ten times the rate, then 429 with Retry-After.
    let statuses: Vec<u16> = (0..21)
        .map(|_| call("GET", &url, Some(&s.tokens[1])).0)
        .collect();
    assert_eq!(statuses[..20], [200; 20]);
    assert_eq!(statuses[20], 429);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .get(&url)
        .header("authorization", &format!("Bearer {}", s.tokens[1]))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers().get("retry-after").unwrap(), "1");
    assert_eq!(call("GET", &url, Some(&s.tokens[2])).0, 200);
    // Half a second later, one more.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(call("GET", &url, Some(&s.tokens[1])).0, 200);
}

#[test]
fn every_answer_carries_the_security_headers_and_a_foreign_host_is_refused() {
    let s = serve();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    for path in ["/login", "/", "/api/v1/slos", "/nothing-here"] {
        let resp = agent.get(&format!("{}{path}", s.base)).call().unwrap();
        let h = resp.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("script"),
            "{path}: {csp}"
        );
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{path}");
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{path}");
    }
    // A name that rebinds to this loopback address is refused; health still answers.
    let port = s.base.rsplit(':').next().unwrap();
    for (path, status) in [("/login", 421), ("/api/v1/slos", 421), ("/healthz", 200)] {
        let resp = agent
            .get(&format!("{}{path}", s.base))
            .header("host", &format!("rebind.attacker.example:{port}"))
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
    }
    let resp = agent
        .get(&format!("{}/login", s.base))
        .header("host", &format!("localhost:{port}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[test]
fn a_calendar_reads_its_feed_through_a_secret_url_until_it_is_revoked() {
    let s = serve();
    let (vera, rick, ada, cara) = (&s.tokens[1], &s.tokens[2], &s.tokens[3], &s.tokens[4]);
    let post = |path: &str, token: &str| send("POST", &format!("{}{path}", s.base), token, "");
    // rick makes his own feed, not ada's; vera, a viewer of the staff, a schedule's.
    let (status, made) = post("/api/v1/users/rick/ical-feeds", rick);
    assert_eq!(status, 201, "{made}");
    let made: serde_json::Value = serde_json::from_str(&made).unwrap();
    let url = made["url"].as_str().unwrap().to_string();
    // The public URL's (this test server keeps the default), at this server's address.
    assert!(
        url.starts_with("http://127.0.0.1:8580/ical/stw_") && url.ends_with(".ics"),
        "{url}"
    );
    let url = format!("{}{}", s.base, &url[url.find("/ical/").unwrap()..]);
    assert_eq!(post("/api/v1/users/ada/ical-feeds", rick).0, 403);
    assert_eq!(post("/api/v1/schedules/primary/ical-feeds", vera).0, 201);
    assert_eq!(post("/api/v1/schedules/nope/ical-feeds", vera).0, 404);
    // A customer's user has no feed of the staff's schedules.
    assert_eq!(post("/api/v1/schedules/primary/ical-feeds", cara).0, 403);

    // The calendar application sends no token.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.get(&url).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(
        text.starts_with("BEGIN:VCALENDAR") && text.contains("X-WR-CALNAME:On call: rick"),
        "{text}"
    );
    // The secret is no API token: as a bearer token it is refused.
    let secret = &url[url.find("stw_").unwrap()..url.len() - 4];
    let (status, _, _) = call("GET", &format!("{}/api/v1/me", s.base), Some(secret));
    assert_eq!(status, 401, "a feed's secret acted as its maker");
    // A guessed or mangled secret reads nothing.
    let wrong = format!("{}/ical/stw_{}.ics", s.base, "0".repeat(64));
    assert_eq!(agent.get(&wrong).call().unwrap().status().as_u16(), 404);

    // The trail has the feed's making, not its secret.
    let (_, audit) = send("GET", &format!("{}/api/v1/audit", s.base), ada, "");
    assert!(audit.contains("users.ical-feeds"), "{audit}");
    assert!(!audit.contains(secret), "{audit}");

    // Revoked like a token: the next read is refused.
    let id = made["id"].as_i64().unwrap();
    assert_eq!(
        send(
            "DELETE",
            &format!("{}/api/v1/tokens/{id}", s.base),
            rick,
            ""
        )
        .0,
        204
    );
    assert_eq!(agent.get(&url).call().unwrap().status().as_u16(), 404);
}
