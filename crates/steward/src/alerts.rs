//! `steward alerts`, `steward silence` and `steward oncall`: alerts, silences and on-call of
//! a running server.

use crate::client::{table, text, Client};
use crate::Output;
use serde_json::{json, Value};

fn print(
    body: &Value,
    output: Output,
    rows: impl FnOnce(&Value) -> Vec<Vec<String>>,
) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(body)?),
        Output::Table => print!("{}", table(&rows(body))),
    }
    Ok(())
}

fn alert_rows(alerts: &[Value]) -> Vec<Vec<String>> {
    let mut rows = vec![["ID", "STATUS", "SEVERITY", "SERVICE", "OPENED", "SUMMARY"]
        .map(String::from)
        .to_vec()];
    for a in alerts {
        rows.push(vec![
            text(&a["id"]),
            text(&a["status"]),
            text(&a["severity"]),
            text(&a["service"]),
            text(&a["opened_at"]),
            text(&a["summary"]),
        ]);
    }
    rows
}

pub fn list(c: &Client, status: &str, service: Option<&str>, output: Output) -> anyhow::Result<()> {
    let mut path = format!("/api/v1/alerts?status={status}");
    if let Some(s) = service {
        path.push_str(&format!("&service={s}"));
    }
    let body = c.get(&path)?;
    print(&body, output, |b| {
        alert_rows(b["alerts"].as_array().map_or(&[][..], Vec::as_slice))
    })
}

/// `ack` or `resolve`.
pub fn set(c: &Client, ids: &[i64], action: &str, output: Output) -> anyhow::Result<()> {
    let mut done = Vec::new();
    for id in ids {
        done.push(c.post(&format!("/api/v1/alerts/{id}/{action}"), &json!({}))?);
    }
    let body = json!({ "alerts": done });
    print(&body, output, |_| alert_rows(&done))
}

fn silence_rows(silences: &[Value]) -> Vec<Vec<String>> {
    let mut rows = vec![["ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"]
        .map(String::from)
        .to_vec()];
    for s in silences {
        let matchers: Vec<String> = s["matchers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let op = match (
                    m["isRegex"].as_bool() == Some(true),
                    m["isEqual"].as_bool() != Some(false),
                ) {
                    (false, true) => "=",
                    (false, false) => "!=",
                    (true, true) => "=~",
                    (true, false) => "!~",
                };
                format!("{}{op}{:?}", text(&m["name"]), text(&m["value"]))
            })
            .collect();
        rows.push(vec![
            text(&s["id"]),
            text(&s["state"]),
            matchers.join(","),
            text(&s["ends_at"]),
            text(&s["created_by"]),
            text(&s["comment"]),
        ]);
    }
    rows
}

pub fn silence_add(
    c: &Client,
    matchers: &[String],
    duration: &str,
    comment: &str,
    output: Output,
) -> anyhow::Result<()> {
    let body = c.post(
        "/api/v1/silences",
        &json!({ "matchers": matchers, "duration": duration, "comment": comment }),
    )?;
    print(&body, output, |b| silence_rows(std::slice::from_ref(b)))
}

pub fn silence_list(c: &Client, output: Output) -> anyhow::Result<()> {
    let body = c.get("/api/v1/silences")?;
    print(&body, output, |b| {
        silence_rows(b["silences"].as_array().map_or(&[][..], Vec::as_slice))
    })
}

pub fn silence_expire(c: &Client, id: i64, output: Output) -> anyhow::Result<()> {
    let body = c.post(&format!("/api/v1/silences/{id}/expire"), &json!({}))?;
    print(&body, output, |b| silence_rows(std::slice::from_ref(b)))
}

pub fn oncall_who(
    c: &Client,
    schedule: Option<&str>,
    at: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let mut q = Vec::new();
    if let Some(s) = schedule {
        q.push(format!("schedule={s}"));
    }
    if let Some(t) = at {
        q.push(format!("at={t}"));
    }
    let body = c.get(&format!("/api/v1/oncall?{}", q.join("&")))?;
    print(&body, output, |b| {
        let mut rows = vec![["SCHEDULE", "ON CALL", "UNTIL", "NEXT", "FROM"]
            .map(String::from)
            .to_vec()];
        for o in b["oncall"].as_array().into_iter().flatten() {
            rows.push(vec![
                text(&o["schedule"]),
                text(&o["on_call"]["user"]).replace("-", "nobody"),
                text(&o["on_call"]["until"]),
                text(&o["next"]["user"]),
                text(&o["next"]["from"]),
            ]);
        }
        rows
    })
}

pub fn oncall_gaps(
    c: &Client,
    schedule: &str,
    from: Option<&str>,
    to: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let mut q = Vec::new();
    if let Some(f) = from {
        q.push(format!("from={f}"));
    }
    if let Some(t) = to {
        q.push(format!("to={t}"));
    }
    let body = c.get(&format!(
        "/api/v1/schedules/{schedule}/gaps?{}",
        q.join("&")
    ))?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&body)?),
        Output::Table => {
            let gaps = body["gaps"].as_array().cloned().unwrap_or_default();
            if gaps.is_empty() {
                println!(
                    "{schedule}: somebody is on call all the time from {} to {}",
                    text(&body["from"]),
                    text(&body["to"])
                );
            } else {
                let mut rows = vec![["FROM", "TO", "HOURS"].map(String::from).to_vec()];
                for g in gaps {
                    rows.push(vec![
                        text(&g["from"]),
                        text(&g["to"]),
                        format!("{:.1}", g["seconds"].as_f64().unwrap_or(0.0) / 3600.0),
                    ]);
                }
                print!("{}", table(&rows));
            }
        }
    }
    Ok(())
}
