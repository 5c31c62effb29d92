//! Durability: what was acknowledged survives `kill -9`, and the status after a restart is
//! the status before it.

use crate::api::{one_slo_config, push_three_day_pattern};
use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The SLO figures, without what moves with the clock by itself.
fn comparable(mut slos: Value) -> Value {
    for s in slos["slos"].as_array_mut().unwrap() {
        let o = s.as_object_mut().unwrap();
        o.remove("evaluated_at");
        o.remove("period");
    }
    slos
}

fn kill_and_restart_keeps_the_status(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = one_slo_config(dir.path());
    let server = Server::start(&config, db);
    push_three_day_pattern(&server, now());
    server.wait_for(
        "/api/v1/slos/api-availability",
        Duration::from_secs(10),
        |b| b["sli"]["total"] == json!(428_400) && b["alerts"][0]["firing"] == json!(true),
    );
    // One more evaluation, so the firing conditions are recorded.
    std::thread::sleep(Duration::from_millis(1500));
    let (_, before) = server.get("/api/v1/slos");
    server.kill9();
    let server = Server::start(&config, db);
    let (_, after) = server.get("/api/v1/slos");
    assert_eq!(comparable(after), comparable(before));
}

#[test]
fn sqlite_status_is_identical_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    kill_and_restart_keeps_the_status(&sqlite_url(dir.path()));
}

#[test]
fn postgres_status_is_identical_after_kill_9() {
    let (url, _schema) = postgres_url();
    kill_and_restart_keeps_the_status(&url);
}
