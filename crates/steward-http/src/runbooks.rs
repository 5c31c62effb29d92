//! Runbooks as the catalog declares them.

use crate::access::Actor;
use crate::alerts::{bad, blocking, json_body, now, parse_id};
use crate::error::ApiError;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use steward_engine::alerting::Subject;
use steward_model::runbook::{Action, Arg, Runbook};
use steward_store::{Run, RunMode, RunStatus, RunStep, Switch};

pub fn runbook_json(r: &Runbook) -> Value {
    let steps: Vec<Value> = r
        .steps
        .iter()
        .map(|s| {
            let run = match &s.action {
                None => Value::Null,
                Some(Action::Program { program, args }) => json!({
                    "program": program,
                    "args": args.iter().map(|a| match a {
                        Arg::Text(t) => json!(t),
                        Arg::Label(l) => json!({ "label": l }),
                    }).collect::<Vec<_>>(),
                }),
                Some(Action::Http { method, url, body }) => {
                    json!({ "http": { "method": method, "url": url, "body": body } })
                }
            };
            json!({
                "name": s.name,
                "description": s.description,
                "run": run,
                "approval": s.approval,
                "timeout_seconds": s.timeout,
            })
        })
        .collect();
    json!({
        "name": r.name,
        "service": r.service,
        "failure_mode": r.failure_mode,
        "alerts": r.alerts.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        "symptoms": r.symptoms,
        "checks": r.checks,
        "steps": steps,
        "escalate": {
            "after_seconds": r.escalate.after,
            "on_failure": r.escalate.on_failure,
            "escalation_policy": r.escalate.policy,
        },
        "automatic": r.automatic,
        "max_runs_per_hour": r.max_runs_per_hour,
        "approvers": r.approvers,
    })
}

/// Each runbook's last successful rehearsal.
async fn rehearsals(app: &AppState) -> Result<std::collections::HashMap<String, i64>, ApiError> {
    let store = app.engine().store().clone();
    let list = blocking(move || Ok(store.transact(|tx| tx.last_rehearsals())?)).await?;
    Ok(list.into_iter().collect())
}

fn with_rehearsal(r: &Runbook, last: Option<i64>, t: i64) -> Value {
    let mut v = runbook_json(r);
    v["last_rehearsal"] = json!(last.map(rfc3339));
    v["rehearsal_age_seconds"] = json!(last.map(|l| t - l));
    v
}

/// `GET /api/v1/runbooks`: every runbook, with when it was last rehearsed.
pub async fn list(
    State(app): State<AppState>,
    scope: crate::access::Scope,
) -> Result<Json<Value>, ApiError> {
    let last = rehearsals(&app).await?;
    let t = now();
    let engine = app.engine();
    let catalog = engine.catalog();
    Ok(Json(json!({
        "runbooks": catalog
            .runbooks
            .iter()
            .filter(|r| scope.sees_service(catalog, &r.service))
            .map(|r| with_rehearsal(r, last.get(&r.name).copied(), t))
            .collect::<Vec<_>>()
    })))
}

/// `GET /api/v1/runbooks/{name}`
pub async fn get(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(r) = app.engine().catalog().runbook(&name).cloned() else {
        return Err(ApiError::not_found(format!("there is no runbook `{name}`")));
    };
    let last = rehearsals(&app).await?;
    Ok(Json(with_rehearsal(&r, last.get(&r.name).copied(), now())))
}

fn run_json(r: &Run, steps: &[RunStep]) -> Value {
    json!({
        "id": r.id,
        "runbook": r.runbook,
        "target": r.target,
        "alert": r.alert,
        "incident": r.incident,
        "mode": r.mode.as_str(),
        "status": r.status.as_str(),
        "reason": r.reason,
        "causation": r.causation,
        "labels": r.labels,
        "started_by": r.started_by,
        "started_at": rfc3339(r.started_at),
        "finished_at": r.finished_at.map(rfc3339),
        "steps": steps.iter().map(|s| json!({
            "step": s.step + 1,
            "name": s.name,
            "status": s.status.as_str(),
            "inputs": serde_json::from_str::<Value>(&s.inputs).unwrap_or(Value::Null),
            "output": s.output,
            "exit_code": s.exit_code,
            "approved_by": s.approved_by,
            "started_at": rfc3339(s.started_at),
            "finished_at": s.finished_at.map(rfc3339),
        })).collect::<Vec<_>>(),
    })
}

async fn run_view(app: &AppState, id: i64) -> Result<Value, ApiError> {
    let store = app.engine().store().clone();
    let (run, steps) =
        blocking(move || Ok(store.transact(move |tx| Ok((tx.run(id)?, tx.steps_of(id)?)))?))
            .await?;
    let run = run.ok_or_else(|| ApiError::not_found(format!("there is no run {id}")))?;
    Ok(run_json(&run, &steps))
}

/// A started run: 201, or 409 with the guard's reason when it was refused (recorded all
/// the same).
async fn started(app: &AppState, run: Run) -> Result<Response, ApiError> {
    let body = run_view(app, run.id).await?;
    if run.status == RunStatus::Refused {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            run.reason.unwrap_or_default(),
        )
        .with_details(vec![body]));
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /api/v1/runbooks/{name}/runs` `{"alert","incident","dry_run","labels"}`: a run
/// started by a person.
pub async fn start(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Actor(by): Actor,
    scope: crate::access::Scope,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b = if body.is_empty() {
        json!({})
    } else {
        json_body(&body)?
    };
    // A misspelt `dry_run` must not start a real run.
    let Some(fields) = b.as_object() else {
        return Err(bad(
            "the body must be an object: {\"alert\", \"incident\", \"dry_run\", \"labels\"}",
        ));
    };
    if let Some(k) = fields
        .keys()
        .find(|k| !["alert", "incident", "dry_run", "labels"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "unknown field `{k}`; expected alert, incident, dry_run, labels"
        )));
    }
    let id = |key: &str| -> Result<Option<i64>, ApiError> {
        match &b[key] {
            Value::Null => Ok(None),
            v => v
                .as_i64()
                .filter(|i| *i > 0)
                .map(Some)
                .ok_or_else(|| bad(format!("{key} must be an id (a positive number)"))),
        }
    };
    let mut subject = Subject {
        alert: id("alert")?,
        incident: id("incident")?,
        labels: Default::default(),
    };
    match &b["labels"] {
        Value::Null => {}
        Value::Object(m) if m.len() <= 64 => {
            for (k, v) in m {
                let v = v.as_str().filter(|v| v.len() <= 1024).ok_or_else(|| {
                    bad(format!(
                        "label `{k}` must be a string of at most 1024 bytes"
                    ))
                })?;
                subject.labels.insert(k.clone(), v.to_string());
            }
        }
        _ => return Err(bad("labels must be an object of at most 64 strings")),
    }
    let mode = match &b["dry_run"] {
        Value::Null | Value::Bool(false) => RunMode::Real,
        Value::Bool(true) => RunMode::DryRun,
        _ => return Err(bad("dry_run must be true or false")),
    };
    if scope.customer().is_some() {
        // A customer's user runs for its own alerts and incidents only.
        let (store, s, (alert, incident)) = (
            app.engine().store().clone(),
            scope.clone(),
            (subject.alert, subject.incident),
        );
        let ours = blocking(move || {
            Ok(store.transact(move |tx| {
                let a = match alert {
                    Some(id) => tx.alert(id)?.is_some_and(|a| s.sees(a.customer.as_deref())),
                    None => true,
                };
                let i = match incident {
                    Some(id) => tx
                        .incident(id)?
                        .is_some_and(|i| s.sees(i.customer.as_deref())),
                    None => true,
                };
                Ok(a && i)
            })?)
        })
        .await?;
        if !ours {
            return Err(ApiError::not_found(
                "there is no such alert or incident to run for",
            ));
        }
    }
    let alerting = app.engine().alerting.clone();
    let who = by.clone();
    let run = blocking(move || Ok(alerting.start_run(&name, subject, mode, who, now())?)).await?;
    started(&app, run).await
}

/// `POST /api/v1/runbooks/{name}/rehearse`: a dry run, recorded as a rehearsal.
pub async fn rehearse(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Actor(by): Actor,
) -> Result<Response, ApiError> {
    let alerting = app.engine().alerting.clone();
    let who = by.clone();
    let run = blocking(move || {
        Ok(alerting.start_run(&name, Subject::default(), RunMode::Rehearsal, who, now())?)
    })
    .await?;
    started(&app, run).await
}

/// `GET /api/v1/runbooks/{name}/runs`: its last 100 runs, newest first.
pub async fn runs(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if app.engine().catalog().runbook(&name).is_none() {
        return Err(ApiError::not_found(format!("there is no runbook `{name}`")));
    }
    let store = app.engine().store().clone();
    let list = blocking(move || Ok(store.transact(move |tx| tx.runs(Some(&name), 100))?)).await?;
    Ok(Json(json!({
        "runs": list.iter().map(|r| run_json(r, &[])).collect::<Vec<_>>()
    })))
}

/// `GET /api/v1/runs/{id}`: a run and its steps.
pub async fn run(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "run")?;
    Ok(Json(run_view(&app, id).await?))
}

/// `POST /api/v1/runs/{id}/approve` `{"step": N}`: an approver lets the waiting step N
/// (counted from 1) run, or a person confirms they did step N.
pub async fn approve(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Actor(by): Actor,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "run")?;
    let b = json_body(&body)?;
    let step = b["step"]
        .as_i64()
        .filter(|s| *s > 0)
        .ok_or_else(|| bad("say which step you approve: {\"step\": N}, counted from 1"))?;
    let who = by.clone();
    let Some(person) = who.strip_prefix("user:").filter(|p| *p != "api") else {
        return Err(bad(
            "say who approves: the X-Steward-User header (steward runbook approve --user NAME)",
        ));
    };
    let person = person.to_string();
    let alerting = app.engine().alerting.clone();
    blocking(move || Ok(alerting.approve_run(id, step, &person, now())?)).await?;
    Ok(Json(run_view(&app, id).await?))
}

fn switch_json(s: Option<&Switch>) -> Value {
    match s {
        Some(s) => {
            json!({ "on": s.on, "reason": s.reason, "set_by": s.set_by, "set_at": rfc3339(s.set_at) })
        }
        None => json!({ "on": false, "reason": null, "set_by": null, "set_at": null }),
    }
}

/// `GET /api/v1/kill-switch`: whether real runbook runs are stopped.
pub async fn kill_switch(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let alerting = app.engine().alerting.clone();
    let s = blocking(move || Ok(alerting.kill_switch()?)).await?;
    Ok(Json(switch_json(s.as_ref())))
}

/// `PUT /api/v1/kill-switch` `{"on": bool, "reason"}`: stops (or allows again) every real
/// runbook run; running ones stop before their next step.
pub async fn set_kill_switch(
    State(app): State<AppState>,
    Actor(by): Actor,
    client: crate::login::Client,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let b = json_body(&body)?;
    let on = b["on"]
        .as_bool()
        .ok_or_else(|| bad("on must be true or false"))?;
    let reason = match &b["reason"] {
        Value::String(s) if !s.trim().is_empty() && s.len() <= 1000 => s.trim().to_string(),
        _ => {
            return Err(bad(
                "reason is required: a non-empty string of at most 1000 bytes",
            ))
        }
    };
    let alerting = app.engine().alerting.clone();
    let who = by.clone();
    let from = client.details();
    let s = blocking(move || Ok(alerting.set_kill_switch(on, reason, who, from, now())?)).await?;
    Ok(Json(switch_json(Some(&s))))
}
