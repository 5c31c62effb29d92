//! The HTTP surface on a real listener and a real (SQLite) store: what clients see while the
//! engine rebuilds, retried batches, and readers that never wait for the evaluator.

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use steward_config::Catalog;
use steward_engine::Engine;
use steward_model::{BudgetingMethod, Indicator, Objective, SloDefinition, SloWindow};
use steward_store::Store;

fn slo(name: String) -> SloDefinition {
    SloDefinition {
        name,
        display_name: None,
        description: None,
        service: "checkout".into(),
        objective: Objective::new(0.999).unwrap(),
        window: SloWindow::Rolling(steward_model::Duration::days(30)),
        method: BudgetingMethod::Occurrences,
        indicator: Indicator::Ratio,
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

struct Served {
    engine: Arc<Engine>,
    base: String,
    _dir: tempfile::TempDir,
}

/// An engine with `n` SLOs (`slo-0` …), not rebuilt yet, served on a free port.
fn serve(n: usize) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).unwrap();
    let catalog = Catalog {
        slos: (0..n).map(|i| slo(format!("slo-{i}"))).collect(),
        ..Catalog::default()
    };
    let engine = Arc::new(Engine::new(catalog, store, now()).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let served = engine.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let runtime = Arc::new(steward_engine::runtime::Runtime::fixed(served));
            steward_http::serve(
                runtime,
                steward_http::access::AccessMode::Open,
                listener,
                std::future::pending(),
            )
            .await
            .unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Served {
        engine,
        base: format!("http://{addr}"),
        _dir: dir,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// (status, headers we look at, JSON body)
fn call(
    method: &str,
    url: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let agent = agent();
    let mut resp = match (method, body) {
        ("POST", Some(b)) => {
            let mut req = agent.post(url).header("content-type", "application/json");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(b).unwrap()
        }
        _ => agent.get(url).call().unwrap(),
    };
    let status = resp.status().as_u16();
    let retry_or_replayed = resp
        .headers()
        .get("retry-after")
        .or(resp.headers().get("idempotent-replayed"))
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.body_mut().read_to_string().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry_or_replayed, value)
}

/// Problem 7 of the spine issue: a restart read every stored row before the listener bound,
/// so with many SLOs there was no `/healthz` for minutes. The listener now answers at once,
/// and says what it is doing.
#[test]
fn the_listener_answers_while_the_engine_rebuilds() {
    let s = serve(3);
    let (status, _, body) = call("GET", &format!("{}/healthz", s.base), None, &[]);
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, retry, body) = call("GET", &format!("{}/readyz", s.base), None, &[]);
    assert_eq!(status, 503);
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(body["status"], json!("rebuilding"));
    assert_eq!(body["series_total"], json!(3));
    // Samples are refused, not lost, until the rebuild is done; figures do not pretend.
    let sample = r#"{"samples":[{"slo":"slo-0","good":1,"total":1}]}"#;
    let (status, retry, body) = call(
        "POST",
        &format!("{}/api/v1/samples", s.base),
        Some(sample),
        &[],
    );
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    assert_eq!(body["error"]["code"], json!("rebuilding"));
    let (status, _, body) = call("GET", &format!("{}/api/v1/slos", s.base), None, &[]);
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("rebuilding"))
    );
    s.engine.rebuild(now()).unwrap();
    let (status, _, body) = call("GET", &format!("{}/readyz", s.base), None, &[]);
    assert_eq!((status, &body["status"]), (200, &json!("ready")));
    let (status, _, _) = call(
        "POST",
        &format!("{}/api/v1/samples", s.base),
        Some(sample),
        &[],
    );
    assert_eq!(status, 202);
}

#[test]
fn a_batch_retried_with_its_idempotency_key_is_counted_once() {
    let s = serve(1);
    s.engine.rebuild(now()).unwrap();
    let url = format!("{}/api/v1/samples", s.base);
    let batch =
        r#"{"samples":[{"slo":"slo-0","good":9,"total":10},{"slo":"slo-0","good":1,"total":1}]}"#;
    let key = [("Idempotency-Key", "3f1c7a52-batch-1")];
    let (status, replayed, body) = call("POST", &url, Some(batch), &key);
    assert_eq!(
        (status, replayed, body),
        (202, None, json!({"accepted": 2}))
    );
    let (status, replayed, body) = call("POST", &url, Some(batch), &key);
    assert_eq!(
        (status, replayed.as_deref(), body),
        (202, Some("true"), json!({"accepted": 2}))
    );
    // The same key for another batch is a client's bug: refused, nothing stored.
    let other = r#"{"samples":[{"slo":"slo-0","good":0,"total":5}]}"#;
    let (status, _, body) = call("POST", &url, Some(other), &key);
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("idempotency_key_reused"))
    );
    let (status, _, body) = call("POST", &url, Some(other), &[("Idempotency-Key", "")]);
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_idempotency_key"))
    );
    s.engine.evaluate(now());
    let (_, _, slo) = call("GET", &format!("{}/api/v1/slos/slo-0", s.base), None, &[]);
    assert_eq!(
        (&slo["sli"]["good"], &slo["sli"]["total"]),
        (&json!(10), &json!(11))
    );
    assert!((slo["sli"]["ratio"].as_f64().unwrap() - 10.0 / 11.0).abs() < 1e-12);
}

/// Problem 8 of the spine issue: one lock for everything; the evaluator held it for a whole
/// tick and the console took it once per SLO card. Now an evaluation that holds one shard
/// keeps neither readers nor ingest into other shards waiting.
#[test]
fn readers_and_other_shards_do_not_wait_for_an_evaluation() {
    let s = serve(steward_engine::SHARD + 10);
    s.engine.rebuild(now()).unwrap();
    s.engine.stall_next_evaluation(Duration::from_secs(5));
    let evaluating = {
        let engine = s.engine.clone();
        std::thread::spawn(move || engine.evaluate(now()))
    };
    // Give the evaluation time to take the first shard.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    for path in [
        "/",
        "/metrics",
        "/api/v1/slos",
        "/api/v1/slos/slo-0",
        "/readyz",
    ] {
        let (status, _, _) = call("GET", &format!("{}{path}", s.base), None, &[]);
        assert_eq!(status, 200, "{path}");
    }
    let other_shard = format!(
        r#"{{"samples":[{{"slo":"slo-{}","good":1,"total":1}}]}}"#,
        steward_engine::SHARD + 1
    );
    let (status, _, _) = call(
        "POST",
        &format!("{}/api/v1/samples", s.base),
        Some(&other_shard),
        &[],
    );
    assert_eq!(status, 202);
    assert!(
        !evaluating.is_finished(),
        "the evaluation ended before the requests were answered ({:?}); the test proves nothing",
        started.elapsed()
    );
    evaluating.join().unwrap();
}
