//! `steward runbook`: run, rehearse and approve runbooks of a running server, and flip the
//! kill switch.

use crate::client::{table, text, Client};
use crate::Output;
use anyhow::Context;
use serde_json::{json, Value};

fn show_run(run: &Value, output: Output) -> anyhow::Result<()> {
    if let Output::Json = output {
        println!("{}", serde_json::to_string_pretty(run)?);
        return Ok(());
    }
    println!(
        "run {} of {} ({}) on {}: {}{}",
        text(&run["id"]),
        text(&run["runbook"]),
        text(&run["mode"]),
        text(&run["target"]),
        text(&run["status"]),
        run["reason"]
            .as_str()
            .map(|r| format!(" — {r}"))
            .unwrap_or_default()
    );
    let mut rows = vec![["STEP", "NAME", "STATUS", "EXIT", "INPUTS"]
        .map(String::from)
        .to_vec()];
    for s in run["steps"].as_array().into_iter().flatten() {
        rows.push(vec![
            text(&s["step"]),
            text(&s["name"]),
            text(&s["status"]),
            text(&s["exit_code"]),
            text(&s["inputs"]),
        ]);
    }
    if rows.len() > 1 {
        print!("{}", table(&rows));
    }
    Ok(())
}

/// A run started here: refused runs are an error (exit 1) that says why.
fn started(c: &Client, path: &str, body: &Value, output: Output) -> anyhow::Result<()> {
    let run = c.post(path, body)?;
    show_run(&run, output)
}

pub fn run(
    c: &Client,
    name: &str,
    alert: Option<i64>,
    incident: Option<i64>,
    dry_run: bool,
    labels: &[String],
    output: Output,
) -> anyhow::Result<()> {
    let mut l = serde_json::Map::new();
    for kv in labels {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("label `{kv}` is not NAME=VALUE"))?;
        l.insert(k.to_string(), json!(v));
    }
    started(
        c,
        &format!("/api/v1/runbooks/{name}/runs"),
        &json!({ "alert": alert, "incident": incident, "dry_run": dry_run, "labels": l }),
        output,
    )
}

pub fn rehearse(c: &Client, name: &str, output: Output) -> anyhow::Result<()> {
    started(
        c,
        &format!("/api/v1/runbooks/{name}/rehearse"),
        &json!({}),
        output,
    )
}

pub fn approve(c: &Client, id: i64, step: i64, output: Output) -> anyhow::Result<()> {
    show_run(
        &c.post(
            &format!("/api/v1/runs/{id}/approve"),
            &json!({ "step": step }),
        )?,
        output,
    )
}

pub fn show(c: &Client, id: i64, output: Output) -> anyhow::Result<()> {
    show_run(&c.get(&format!("/api/v1/runs/{id}"))?, output)
}

pub fn kill_switch(c: &Client, on: bool, reason: &str) -> anyhow::Result<()> {
    let s = c.put(
        "/api/v1/kill-switch",
        &json!({ "on": on, "reason": reason }),
    )?;
    println!(
        "runbook kill switch {} (set by {}: {})",
        if s["on"] == true {
            "ON: no real run starts"
        } else {
            "off"
        },
        text(&s["set_by"]),
        text(&s["reason"])
    );
    Ok(())
}
