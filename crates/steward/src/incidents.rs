//! `steward incident` and `steward postmortem`: incidents of a running server.

use crate::client::{table, text, Client};
use crate::Output;
use serde_json::{json, Value};

fn rows(incidents: &[Value]) -> Vec<Vec<String>> {
    let mut rows = vec![["ID", "STATUS", "SEVERITY", "SERVICE", "STARTED", "TITLE"]
        .map(String::from)
        .to_vec()];
    for i in incidents {
        rows.push(
            ["id", "status", "severity", "service", "started_at", "title"]
                .iter()
                .map(|k| text(&i[*k]))
                .collect(),
        );
    }
    rows
}

/// One incident as people read it: the head, roles, derived times and the timeline.
fn show_text(i: &Value) -> String {
    let mut out = format!(
        "incident {} [{}] {} — {}\nservice {}, started {}\n",
        text(&i["id"]),
        text(&i["severity"]),
        text(&i["status"]),
        text(&i["title"]),
        text(&i["service"]),
        text(&i["started_at"]),
    );
    if let Some(roles) = i["roles"].as_object().filter(|r| !r.is_empty()) {
        let r: Vec<String> = roles
            .iter()
            .map(|(k, v)| format!("{k}: {}", text(v)))
            .collect();
        out.push_str(&format!("roles: {}\n", r.join(", ")));
    }
    let d = &i["durations"];
    out.push_str(&format!(
        "time to acknowledge {}s, mitigate {}s, resolve {}s\n\n",
        text(&d["time_to_acknowledge"]),
        text(&d["time_to_mitigate"]),
        text(&d["time_to_resolve"]),
    ));
    let mut lines = vec![["TIME", "KIND", "BY", "WHAT"].map(String::from).to_vec()];
    for e in i["timeline"].as_array().into_iter().flatten() {
        lines.push(
            ["time", "kind", "actor", "summary"]
                .iter()
                .map(|k| text(&e[*k]))
                .collect(),
        );
    }
    out.push_str(&table(&lines));
    out
}

fn print_one(body: &Value, output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(body)?),
        Output::Table => print!("{}", show_text(body)),
    }
    Ok(())
}

pub fn declare(
    c: &Client,
    title: &str,
    severity: &str,
    service: &str,
    commander: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let body = c.post(
        "/api/v1/incidents",
        &json!({ "title": title, "severity": severity, "service": service, "commander": commander }),
    )?;
    print_one(&body, output)
}

pub fn list(c: &Client, all: bool, service: Option<&str>, output: Output) -> anyhow::Result<()> {
    let mut path = format!(
        "/api/v1/incidents?status={}",
        if all { "all" } else { "open" }
    );
    if let Some(s) = service {
        let encoded: String = s
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        path.push_str(&format!("&service={encoded}"));
    }
    let body = c.get(&path)?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&body)?),
        Output::Table => print!(
            "{}",
            table(&rows(
                body["incidents"].as_array().map_or(&[][..], Vec::as_slice)
            ))
        ),
    }
    Ok(())
}

pub fn show(c: &Client, id: i64, output: Output) -> anyhow::Result<()> {
    print_one(&c.get(&format!("/api/v1/incidents/{id}"))?, output)
}

/// `ack`, `mitigate` or `resolve`.
pub fn move_on(c: &Client, id: i64, action: &str, output: Output) -> anyhow::Result<()> {
    print_one(
        &c.post(&format!("/api/v1/incidents/{id}/{action}"), &json!({}))?,
        output,
    )
}

/// A note, or with `update` a status update for those affected.
pub fn note(c: &Client, id: i64, words: &str, update: bool, output: Output) -> anyhow::Result<()> {
    let what = if update { "updates" } else { "notes" };
    print_one(
        &c.post(
            &format!("/api/v1/incidents/{id}/{what}"),
            &json!({ "text": words }),
        )?,
        output,
    )
}

/// The postmortem of an incident, in Markdown.
pub fn postmortem(c: &Client, id: i64) -> anyhow::Result<()> {
    print!(
        "{}",
        c.get_text(&format!("/api/v1/incidents/{id}/postmortem"))?
    );
    Ok(())
}
