//! Runbooks as the catalog declares them.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use steward_model::runbook::{Action, Arg, Runbook};

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

/// `GET /api/v1/runbooks`
pub async fn list(State(app): State<AppState>) -> Json<Value> {
    Json(json!({
        "runbooks": app.engine.catalog().runbooks.iter().map(runbook_json).collect::<Vec<_>>()
    }))
}

/// `GET /api/v1/runbooks/{name}`
pub async fn get(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.engine
        .catalog()
        .runbook(&name)
        .map(|r| Json(runbook_json(r)))
        .ok_or_else(|| ApiError::not_found(format!("there is no runbook `{name}`")))
}
