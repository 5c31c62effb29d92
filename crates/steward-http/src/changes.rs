//! Changes to services as CI reports them, and the deploy gate CI asks before it deploys.

use crate::alerts::{actor, bad, blocking, json_body, now, parse_time, query};
use crate::error::ApiError;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use steward_store::Change;

fn change_json(c: &Change) -> Value {
    json!({
        "id": c.id,
        "service": c.service,
        "kind": c.kind,
        "version": c.version,
        "status": c.status,
        "link": c.link,
        "labels": serde_json::from_str::<Value>(&c.labels).unwrap_or(Value::Null),
        "time": rfc3339(c.at),
        "commit_time": c.commit_at.map(rfc3339),
        "created_by": c.created_by,
    })
}

fn one_of(
    v: &Value,
    what: &str,
    allowed: &[&str],
    default: Option<&str>,
) -> Result<String, ApiError> {
    match (v.as_str(), default) {
        (Some(s), _) if allowed.contains(&s) => Ok(s.to_string()),
        (None, Some(d)) if v.is_null() => Ok(d.to_string()),
        _ => Err(bad(format!("{what} must be one of {}", allowed.join(", ")))),
    }
}

fn short_text(v: &Value, what: &str, max: usize) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.len() <= max => Ok(Some(s.clone())),
        Value::String(_) => Err(bad(format!("{what} is longer than {max} bytes"))),
        _ => Err(bad(format!("{what} must be a string"))),
    }
}

/// `POST /api/v1/changes` `{"service","kind","version","status","link","time","commit_time","labels"}`
/// → 201 with the stored change.
pub async fn add(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b = json_body(&body)?;
    let service = b["service"]
        .as_str()
        .ok_or_else(|| bad("a change needs a service"))?
        .to_string();
    let customer = match app.engine.catalog().service(&service) {
        Some(s) => s.customer.clone(),
        None => return Err(bad(format!("service `{service}` is not in the catalog"))),
    };
    let kind = one_of(&b["kind"], "kind", &["deploy", "config", "flag"], None)?;
    let status = one_of(
        &b["status"],
        "status",
        &["started", "succeeded", "failed"],
        Some("succeeded"),
    )?;
    let t = now();
    let at = match b.get("time").filter(|v| !v.is_null()) {
        Some(v) => parse_time(v, "time")?,
        None => t,
    };
    let commit_at = match b.get("commit_time").filter(|v| !v.is_null()) {
        Some(v) => Some(parse_time(v, "commit_time")?),
        None => None,
    };
    if (at - t).abs() > 366 * 86_400 || commit_at.is_some_and(|c| c > at) {
        return Err(bad(
            "time must be within a year of now, and commit_time before it",
        ));
    }
    let labels = match &b["labels"] {
        Value::Null => json!({}),
        Value::Object(m)
            if m.len() <= 64
                && m.values()
                    .all(|v| v.as_str().is_some_and(|s| s.len() <= 1024)) =>
        {
            Value::Object(m.clone())
        }
        _ => return Err(bad("labels must be an object of at most 64 strings")),
    };
    let c = Change {
        id: 0,
        service,
        customer,
        kind,
        version: short_text(&b["version"], "version", 255)?,
        status,
        link: short_text(&b["link"], "link", 2048)?,
        labels: labels.to_string(),
        at,
        commit_at,
        created_by: actor(&headers),
        created_at: t,
    };
    let store = app.engine.store().clone();
    let stored = blocking(move || Ok(store.transact(move |tx| tx.add_change(&c))?)).await?;
    Ok((StatusCode::CREATED, Json(change_json(&stored))).into_response())
}

/// `GET /api/v1/changes?service=NAME`: the last 30 days' changes, newest first.
pub async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(&raw);
    let service = q.get("service").cloned();
    let t = now();
    let store = app.engine.store().clone();
    let changes = blocking(move || {
        Ok(store.transact(move |tx| {
            tx.changes(service.as_deref(), t - 30 * 86_400, t + 86_400, 1000)
        })?)
    })
    .await?;
    Ok(Json(
        json!({ "changes": changes.iter().map(change_json).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/v1/services/{name}/deploy-gate[?fix=true]` → `{"allowed", "reasons"}`. The
/// default policy: deploys are denied while any SLO of the service has no error budget left,
/// except fixes.
pub async fn gate(
    State(app): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    if app.engine.catalog().service(&name).is_none() {
        return Err(ApiError::not_found(format!("there is no service `{name}`")));
    }
    crate::slos::ready(&app)?;
    let fix = query(&raw)
        .get("fix")
        .is_some_and(|v| v == "true" || v == "1");
    let snap = app.engine.snapshot();
    let mut spent = Vec::new();
    let mut fine = Vec::new();
    for r in snap.slos().filter(|r| r.def.service == name) {
        let left = r.status.budget.remaining_ratio;
        if left.is_nan() {
            fine.push(format!(
                "SLO {} has no events in its window yet: no budget is spent",
                r.def.name
            ));
        } else if left > 0.0 {
            fine.push(format!(
                "SLO {} has {:.1}% of its error budget left",
                r.def.name,
                left * 100.0
            ));
        } else {
            spent.push(format!(
                "SLO {} has spent its error budget ({:.1}% left): deploys are frozen except fixes",
                r.def.name,
                left * 100.0
            ));
        }
    }
    let (allowed, reasons) = match (spent.is_empty(), fix) {
        (true, _) if fine.is_empty() => (true, vec![format!("service {name} has no SLOs")]),
        (true, _) => (true, fine),
        (false, true) => {
            let mut r = vec!["a fix: allowed while the budget is spent".to_string()];
            r.extend(spent);
            (true, r)
        }
        (false, false) => (false, spent),
    };
    Ok(Json(json!({
        "service": name,
        "allowed": allowed,
        "reasons": reasons,
        "evaluated_at": rfc3339(snap.at),
    })))
}
