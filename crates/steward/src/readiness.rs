//! `steward readiness`, `steward evidence` and the policy half of `steward validate`: the
//! 3am test from a running server, for people and for CI.

use crate::client::{table, text, Client};
use crate::Output;
use serde_json::{json, Value};
use std::process::ExitCode;

/// One service's checks, or every service worst first.
pub fn show(
    c: &Client,
    service: Option<&str>,
    customer: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let Some(service) = service else {
        let path = match customer {
            Some(cu) => format!(
                "/api/v1/readiness?customer={}",
                steward_http::alerts::encode(cu)
            ),
            None => "/api/v1/readiness".to_string(),
        };
        let body = c.get(&path)?;
        if let Output::Json = output {
            println!("{}", serde_json::to_string_pretty(&body)?);
            return Ok(());
        }
        let mut rows = vec![["SERVICE", "LEVEL", "SCORE", "FAILING"]
            .map(String::from)
            .to_vec()];
        for s in body["services"].as_array().into_iter().flatten() {
            rows.push(vec![
                text(&s["service"]),
                text(&s["level"]),
                text(&s["score"]),
                names(&s["failing"]),
            ]);
        }
        print!("{}", table(&rows));
        return Ok(());
    };
    let r = c.get(&format!(
        "/api/v1/services/{}/readiness",
        steward_http::alerts::encode(service)
    ))?;
    if let Output::Json = output {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{}: {} ({}/100) — {}",
        text(&r["service"]),
        text(&r["level"]),
        text(&r["score"]),
        text(&r["since"])
    );
    for ch in r["checks"].as_array().into_iter().flatten() {
        let passed = ch["passed"].as_bool() == Some(true);
        println!(
            "  {} {:<18} {}",
            if passed { "pass" } else { "FAIL" },
            text(&ch["name"]),
            text(&ch["reason"])
        );
        if !passed {
            println!("       {:<18} fix: {}", "", text(&ch["fix"]));
        }
    }
    Ok(())
}

fn names(v: &Value) -> String {
    let list: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
    if list.is_empty() {
        "-".into()
    } else {
        list.join(", ")
    }
}

/// The live answer against the policies: exit 0 when every service passes what its
/// policies require, 3 when some fail, 1 when the server cannot be asked.
pub fn check(c: &Client, customer: Option<&str>) -> ExitCode {
    let path = match customer {
        Some(cu) => format!(
            "/api/v1/readiness?customer={}",
            steward_http::alerts::encode(cu)
        ),
        None => "/api/v1/readiness".to_string(),
    };
    let body = match c.get(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let services = body["services"].as_array().cloned().unwrap_or_default();
    // A check of nothing is no pass: a token that sees no service, or a customer with none.
    if services.is_empty() {
        eprintln!(
            "error: no service to check: the token sees none{}",
            if customer.is_some() {
                " of that customer"
            } else {
                ""
            }
        );
        return ExitCode::FAILURE;
    }
    let mut broken = 0;
    for s in &services {
        for v in s["violations"].as_array().into_iter().flatten() {
            broken += 1;
            println!("{}", text(&v["message"]));
        }
    }
    println!(
        "{} service{} checked, {broken} violation{} of policy",
        services.len(),
        if services.len() == 1 { "" } else { "s" },
        if broken == 1 { "" } else { "s" }
    );
    if broken == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

/// Records evidence that a control of a service is done.
pub fn add_evidence(
    c: &Client,
    service: &str,
    control: &str,
    link: &str,
    note: Option<&str>,
    at: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let e = c.post(
        &format!(
            "/api/v1/services/{}/evidence",
            steward_http::alerts::encode(service)
        ),
        &json!({ "control": control, "link": link, "note": note, "at": at }),
    )?;
    if let Output::Json = output {
        println!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        println!(
            "evidence {} recorded for {} of {}: done {}, by {}",
            text(&e["id"]),
            text(&e["control"]),
            text(&e["service"]),
            text(&e["at"]),
            text(&e["recorded_by"])
        );
    }
    Ok(())
}

/// A service's evidence, newest first.
pub fn list_evidence(c: &Client, service: &str, output: Output) -> anyhow::Result<()> {
    let body = c.get(&format!(
        "/api/v1/services/{}/evidence",
        steward_http::alerts::encode(service)
    ))?;
    if let Output::Json = output {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let mut rows = vec![["ID", "CONTROL", "DONE", "BY", "LINK"]
        .map(String::from)
        .to_vec()];
    for e in body["evidence"].as_array().into_iter().flatten() {
        rows.push(vec![
            text(&e["id"]),
            text(&e["control"]),
            text(&e["at"]),
            text(&e["recorded_by"]),
            text(&e["link"]),
        ]);
    }
    print!("{}", table(&rows));
    Ok(())
}

/// What the configuration alone tells of its Policies: `file:line:col: message` for every
/// service a policy selects that fails a check the configuration decides (or is kept below
/// the level the policy requires by one), pointing at the service's declaration.
pub fn policy_violations(loaded: &steward_config::Loaded, now: i64) -> Vec<String> {
    use steward_engine::readiness::{assess_all, violations, Facts, FROM_CONFIGURATION};
    let catalog = &loaded.catalog;
    let list = assess_all(catalog, &Facts::default(), now);
    let mut out = Vec::new();
    for r in &list {
        let place = loaded
            .places
            .get(&("steward/v1 Service", r.service.clone()))
            .or_else(|| {
                loaded
                    .places
                    .get(&("openslo/v1 Service", r.service.clone()))
            });
        for v in violations(catalog, r, |c| FROM_CONFIGURATION.contains(&c)) {
            out.push(match place {
                Some(l) => format!("{}:{}:{}: {}", l.file, l.mark.line, l.mark.col, v.message),
                None => v.message,
            });
        }
    }
    out
}
