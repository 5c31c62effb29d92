//! Readiness, the responsibility map and the catalog views against a running server: the
//! example shop with a customer's users and a second customer beside it.

use crate::support::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const EXTRA: &str = r#"
apiVersion: steward/v1
kind: User
metadata: {name: acme-ops}
spec: {role: responder, customer: acme-shop}
---
apiVersion: steward/v1
kind: Customer
metadata: {name: globex}
spec: {}
---
apiVersion: steward/v1
kind: Team
metadata: {name: globex-team}
spec: {members: [gina]}
---
apiVersion: steward/v1
kind: User
metadata: {name: gina}
spec: {role: responder, customer: globex}
---
apiVersion: steward/v1
kind: Service
metadata: {name: globex-api}
spec: {owner: globex-team, tier: 3, customer: globex, class: internal-api}
---
# The provider's own tool: no customer, so the provider answers for every control of it.
apiVersion: steward/v1
kind: Service
metadata: {name: ops-tool}
spec: {owner: storefront-team, tier: 4, class: internal-api}
---
# Checkout's runbook must have been rehearsed: `readiness check` fails until it is.
apiVersion: steward/v1
kind: Policy
metadata: {name: rehearsed-checkout}
spec:
  select: {tags: [customer-facing], tier: [1], class: [internal-api]}
  require: {checks: [runbook-rehearsal]}
---
# Search deploys only once it is intermediate.
apiVersion: steward/v1
kind: ErrorBudgetPolicy
metadata: {name: search-ready}
spec:
  services: [search]
  minimumReadiness: intermediate
"#;

/// The example shop, with the documents above beside it.
fn config(dir: &Path) -> PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    for e in std::fs::read_dir(example_config()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, config.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(config.join("extra.yaml"), EXTRA).unwrap();
    config
}

fn checks(r: &Value) -> Vec<(String, bool)> {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["passed"] == true))
        .collect()
}

fn failing(r: &Value) -> Vec<&str> {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

fn reason<'a>(r: &'a Value, check: &str) -> &'a str {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == check)
        .unwrap()["reason"]
        .as_str()
        .unwrap()
}

#[test]
fn readiness_evidence_and_the_catalog_through_the_api_and_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let s = Server::start(&config, &sqlite_url(dir.path()));

    // Every service, worst first, with what each fails.
    let (status, all) = s.get("/api/v1/readiness");
    assert_eq!(status, 200, "{all}");
    let order: Vec<(&str, &str)> = all["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["service"].as_str().unwrap(), r["level"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            ("globex-api", "beginner"),
            ("ops-tool", "beginner"),
            ("search", "beginner"),
            ("catalog-db", "beginner"),
            ("checkout", "intermediate"),
            ("payments", "intermediate"),
        ]
    );

    // One service's answer, as the contract writes it.
    let (status, checkout) = s.get("/api/v1/services/checkout/readiness");
    assert_eq!(status, 200);
    assert_eq!(checkout["service"], "checkout");
    assert_eq!(checkout["level"], "intermediate");
    assert_eq!(checkout["score"], 83);
    assert_eq!(checks(&checkout).len(), 12);
    assert_eq!(failing(&checkout), ["runbook-rehearsal", "evidence"]);
    for c in checkout["checks"].as_array().unwrap() {
        assert!(c["reason"].as_str().is_some_and(|r| !r.is_empty()), "{c}");
        assert_eq!(c["fix"].is_null(), c["passed"] == true, "{c}");
    }
    assert_eq!(
        checkout["violations"],
        json!([{
            "policy": "rehearsed-checkout",
            "check": "runbook-rehearsal",
            "message": "service `checkout` fails check `runbook-rehearsal`, which policy `rehearsed-checkout` requires: never rehearsed: `checkout-payment-timeouts`; fix: rehearse it: steward runbook rehearse checkout-payment-timeouts"
        }])
    );

    // CI: the live answer fails a policy (exit 3) until the runbook is rehearsed.
    let (code, out) = cli_as(&s, "ana", &["readiness", "check"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("6 services checked, 1 violation of policy"),
        "{out}"
    );
    let (status, run) = s.post("/api/v1/runbooks/checkout-payment-timeouts/rehearse", "{}");
    assert_eq!(status, 201, "{run}");
    s.wait_for(
        "/api/v1/services/checkout/readiness",
        Duration::from_secs(30),
        |r| failing(r) == ["evidence"],
    );
    let (code, out) = cli_as(&s, "ana", &["readiness", "check"]);
    assert_eq!(code, 0, "{out}");
    // Checking nothing is no pass: globex's user sees none of acme-shop's services.
    let (code, out) = cli_as(
        &s,
        "gina",
        &["readiness", "check", "--customer", "acme-shop"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no service to check"), "{out}");

    // Evidence: the provider's staff record the provider's controls...
    let (status, e) = send_as(
        &s,
        "POST",
        "ana",
        "/api/v1/services/checkout/evidence",
        &json!({"control": "log-review-and-alerting", "link": "https://wiki.example.com/log-review/42", "note": "November's review"}),
    );
    assert_eq!(status, 201, "{e}");
    assert_eq!(e["recorded_by"], "user:ana");
    // In the audit trail once, with what was recorded (written in the evidence's transaction).
    let (_, trail) = s.get("/api/v1/audit?subject=service:checkout");
    let adds: Vec<&Value> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "evidence.add")
        .collect();
    assert_eq!(adds.len(), 1, "{trail}");
    assert_eq!(adds[0]["actor"], "user:ana");
    assert_eq!(adds[0]["after"]["control"], "log-review-and-alerting");
    assert_eq!(e["control"], "log-review-and-alerting");
    let (_, checkout) = s.get("/api/v1/services/checkout/readiness");
    assert_eq!(
        reason(&checkout, "evidence"),
        "no evidence for `deploys-and-rollback` (the provider's, a rollback-drill every 90 days), \
         `access-policy-and-admin-scope` (the provider's, a access-review every 90 days), \
         `dependency-updates` (the provider's, a dependency-scan every 30 days)"
    );
    // ... not the customer's; the customer's users record theirs, not the provider's.
    let body = json!({"control": "backup-usage-and-recovery-objectives", "link": "https://wiki.example.com/drill/7"});
    let (status, e) = send_as(
        &s,
        "POST",
        "ana",
        "/api/v1/services/catalog-db/evidence",
        &body,
    );
    assert_eq!(status, 403, "{e}");
    assert_eq!(
        e["error"]["message"],
        "control `backup-usage-and-recovery-objectives` is the customer's: its evidence is recorded by the customer's users"
    );
    let (_, db) = s.get("/api/v1/services/catalog-db/readiness");
    assert!(failing(&db).contains(&"recovery-test"));
    // Every service's answer is shared for a few seconds; recorded evidence is seen at once.
    let failing_of = |all: &Value, service: &str| -> Vec<String> {
        all["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["service"] == service)
            .unwrap()["failing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = s.get("/api/v1/readiness");
    assert!(failing_of(&all, "catalog-db").contains(&"recovery-test".to_string()));
    let (code, out) = cli_as(
        &s,
        "acme-ops",
        &[
            "evidence",
            "add",
            "catalog-db",
            "backup-usage-and-recovery-objectives",
            "--link",
            "https://wiki.example.com/drill/7",
            "--note",
            "restored last night's backup to a scratch instance in 12 minutes",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("recorded for backup-usage-and-recovery-objectives of catalog-db"),
        "{out}"
    );
    let (_, db2) = s.get("/api/v1/services/catalog-db/readiness");
    assert!(!failing(&db2).contains(&"recovery-test"), "{db2}");
    let (_, all) = s.get("/api/v1/readiness");
    assert!(!failing_of(&all, "catalog-db").contains(&"recovery-test".to_string()));
    let provider = json!({"control": "managed-patching", "link": "https://wiki.example.com/patch"});
    let (status, _) = send_as(
        &s,
        "POST",
        "acme-ops",
        "/api/v1/services/catalog-db/evidence",
        &provider,
    );
    assert_eq!(status, 403);
    // A service of no customer: the provider records even the controls its class gives the
    // customer, or they could never be proved.
    let body = json!({"control": "data-classification", "link": "https://wiki.example.com/data"});
    let (status, e) = send_as(
        &s,
        "POST",
        "ana",
        "/api/v1/services/ops-tool/evidence",
        &body,
    );
    assert_eq!(status, 201, "{e}");
    // Bad input is refused with what was wrong.
    for (body, message) in [
        (json!({"control": "nope", "link": "https://x"}), "service `checkout` has no control `nope`; its controls are deploys-and-rollback, access-policy-and-admin-scope, dependency-updates, log-review-and-alerting, data-classification"),
        (json!({"control": "dependency-updates"}), "link is required: where the evidence is (a report, a ticket, a log)"),
        (json!({"control": "dependency-updates", "link": "javascript:alert(1)"}), "link must be an http:// or https:// URL"),
        (json!({"control": "dependency-updates", "link": "https://x", "by": "me"}), "unknown field `by`; expected control, link, note, at"),
        (json!({"control": "dependency-updates", "link": "https://x", "at": "2999-01-01T00:00:00Z"}), "at is in the future: evidence records work that was done"),
    ] {
        let (status, e) = send_as(&s, "POST", "ana", "/api/v1/services/checkout/evidence", &body);
        assert_eq!((status, e["error"]["message"].as_str().unwrap()), (400, message), "{body}");
    }

    // A customer's users see their own services only.
    let (status, mine) = send_as(&s, "GET", "gina", "/api/v1/readiness", &Value::Null);
    assert_eq!(status, 200);
    assert_eq!(mine["services"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["services"][0]["service"], "globex-api");
    for path in [
        "/api/v1/services/checkout/readiness",
        "/api/v1/services/checkout",
        "/api/v1/services/checkout/evidence",
        "/api/v1/services/catalog-db/dependents",
    ] {
        let (status, _) = send_as(&s, "GET", "gina", path, &Value::Null);
        assert_eq!(status, 404, "{path}");
    }
    let (_, acme) = send_as(
        &s,
        "GET",
        "acme-ops",
        "/api/v1/readiness?customer=globex",
        &Value::Null,
    );
    assert_eq!(acme["services"], json!([]));
    // The provider filters by customer.
    let (_, only) = s.get("/api/v1/readiness?customer=globex");
    let only: Vec<&str> = only["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert_eq!(only, ["globex-api"]);
    let (status, e) = s.get("/api/v1/readiness?customer=globx");
    assert_eq!(
        (status, e["error"]["message"].as_str()),
        (400, Some("there is no customer `globx`"))
    );
    // The provider's on-call arrangements (its people, schedules and policies) are the
    // provider's: a customer reads whether those checks pass, not the names behind them.
    let (_, theirs) = send_as(
        &s,
        "GET",
        "acme-ops",
        "/api/v1/services/checkout/readiness",
        &Value::Null,
    );
    assert_eq!(
        reason(&theirs, "owner"),
        "a team with people in it owns the service"
    );
    assert_eq!(
        reason(&theirs, "oncall-coverage"),
        "someone is reached at every hour of the next 14 days"
    );
    let (_, ours) = s.get("/api/v1/services/checkout/readiness");
    assert_eq!(
        reason(&ours, "owner"),
        "owned by team `storefront-team` (3 members: chen, dara, eli)"
    );
    let (_, entry) = send_as(
        &s,
        "GET",
        "acme-ops",
        "/api/v1/services/checkout",
        &Value::Null,
    );
    assert_eq!(entry["escalation_policy"], Value::Null);
    // Who on the provider's staff recorded the provider's evidence is the provider's.
    let log = entry["responsibilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["control"] == "log-review-and-alerting")
        .unwrap();
    assert_eq!(log["last_evidence"]["recorded_by"], Value::Null, "{log}");
    assert_eq!(
        log["last_evidence"]["link"],
        "https://wiki.example.com/log-review/42"
    );

    // The catalog: entries, and the dependency graph both ways.
    let (_, list) = send_as(&s, "GET", "acme-ops", "/api/v1/services", &Value::Null);
    let names: Vec<&str> = list["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["catalog-db", "checkout", "payments", "search"]);
    let (_, entry) = s.get("/api/v1/services/checkout");
    assert_eq!(entry["owner"], "storefront-team");
    assert_eq!(entry["tier"], 1);
    assert_eq!(entry["customer"], "acme-shop");
    assert_eq!(entry["class"], "internal-api");
    assert_eq!(
        entry["failure_modes"][0]["name"],
        "payment-provider-timeout"
    );
    assert_eq!(entry["slos"][0]["name"], "checkout-availability");
    let log_review = entry["responsibilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["control"] == "log-review-and-alerting")
        .unwrap();
    assert_eq!(log_review["owner"], "provider");
    assert_eq!(log_review["fresh"], true);
    assert_eq!(
        log_review["last_evidence"]["link"],
        "https://wiki.example.com/log-review/42"
    );
    let (_, deps) = s.get("/api/v1/services/checkout/dependencies?transitive=true");
    let deps: Vec<&str> = deps["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(deps, ["payments", "catalog-db"]);
    let (_, up) = s.get("/api/v1/services/catalog-db/dependents?transitive=true");
    let up: Vec<&str> = up["dependents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(up, ["checkout", "search"]);
    let (status, e) = s.get("/api/v1/services/checkout/dependencies?transitive=maybe");
    assert_eq!(status, 400, "{e}");
    let (status, _) = s.get("/api/v1/services/nope/readiness");
    assert_eq!(status, 404);

    // The deploy gate holds search back until it is intermediate.
    let (_, gate) = s.get("/api/v1/services/search/deploy-gate");
    assert_eq!(gate["allowed"], false, "{gate}");
    assert!(
        gate["reasons"].as_array().unwrap().iter().any(|r| r
            == "service search is at readiness level beginner, below the intermediate that policy search-ready requires: it fails `runbooks`"),
        "{gate}"
    );

    // /metrics carries each service's score and checks once the worker's pass has run, and
    // the day's snapshot is kept.
    let metrics = (0..60)
        .find_map(|_| {
            let (_, text) = s.get_text("/metrics");
            if text.contains("steward_readiness_score{service=\"checkout\"}") {
                return Some(text);
            }
            std::thread::sleep(Duration::from_millis(500));
            None
        })
        .expect("readiness in /metrics within 30 s");
    assert!(
        metrics.contains("steward_readiness_check_passed{service=\"search\",check=\"runbooks\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("steward_readiness_check_passed{service=\"search\",check=\"owner\"} 1")
    );
    let (_, checkout) = s.get("/api/v1/services/checkout/readiness");
    assert_eq!(checkout["trend"].as_array().unwrap().len(), 1, "{checkout}");

    // The command line shows the same answer.
    let (code, out) = cli_as(&s, "ana", &["readiness", "search"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("search: beginner (58/100)"), "{out}");
    assert!(out.contains("FAIL runbooks"), "{out}");
    let (code, out) = cli_as(
        &s,
        "ana",
        &["readiness", "--customer", "globex", "--output", "json"],
    );
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["services"][0]["service"], "globex-api");
}

#[test]
fn validate_with_a_policy_names_each_service_and_check_that_breaks_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: steward/v1\nkind: Policy\nmetadata: {name: production-runbooks}\nspec:\n  select: {lifecycle: [production]}\n  require: {checks: [runbooks], level: intermediate}\n",
    )
    .unwrap();
    let out = steward()
        .args(["validate"])
        .arg(example_config())
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("policy `production-runbooks`"))
        .collect();
    let services = example_config().join("services.yaml");
    assert_eq!(
        lines,
        [
            format!("{}:61:9: service `catalog-db` fails check `runbooks`, which policy `production-runbooks` requires: no runbook for failure mode `replica-lag`; fix: write a Runbook with service: catalog-db and failureMode: replica-lag for each", services.display()),
            format!("{}:61:9: service `catalog-db` is below level intermediate, which policy `production-runbooks` requires: it fails `runbooks`", services.display()),
            format!("{}:47:9: service `search` fails check `runbooks`, which policy `production-runbooks` requires: no failure modes declared: nobody has written down what breaks; fix: list what can go wrong under spec.failureModes and write a Runbook for each", services.display()),
            format!("{}:47:9: service `search` is below level intermediate, which policy `production-runbooks` requires: it fails `runbooks`", services.display()),
        ]
    );
    // The example's own policy holds.
    let out = steward()
        .args(["validate"])
        .arg(example_config())
        .arg("--policy")
        .arg(example_config().join("policies.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
