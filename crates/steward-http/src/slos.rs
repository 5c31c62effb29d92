//! `GET /api/v1/slos` and `GET /api/v1/slos/{name}`: each SLO's figures as of the last
//! evaluation.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use steward_engine::SloReport;
use steward_model::slo::RATIO_SLICE_SCALE;
use steward_model::{BudgetingMethod, SloWindow};

/// SLO figures exist once the engine has read the store.
pub fn ready(app: &AppState) -> Result<(), ApiError> {
    let now = jiff::Timestamp::now().as_second();
    match app.engine().readiness(now) {
        steward_engine::Readiness::Rebuilding { .. } => Err(crate::error::rebuilding()),
        _ => Ok(()),
    }
}

pub fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A finite number, or null (JSON has no infinity).
pub(crate) fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

pub fn slo_json(r: &SloReport, at: i64) -> Value {
    let d = &r.def;
    let s = &r.status;
    let c = s.window_counts;
    // RatioTimeslices count slices in units of 1e-9: report slices and the sum of their ratios.
    let (good, total) = match d.method {
        BudgetingMethod::RatioTimeslices { .. } => (
            json!(c.good as f64 / RATIO_SLICE_SCALE as f64),
            json!(c.total / RATIO_SLICE_SCALE),
        ),
        _ => (json!(c.good), json!(c.total)),
    };
    let burn_rates: serde_json::Map<String, Value> = s
        .burn_rates
        .iter()
        .map(|(w, b)| (w.to_string(), num(*b)))
        .collect();
    let alerts: Vec<Value> = s
        .alerts
        .iter()
        .zip(r.since)
        .map(|(a, since)| {
            json!({
                "severity": a.rule.severity.as_str(),
                "long_window": a.rule.long.to_string(),
                "short_window": a.rule.short.to_string(),
                "factor": num(a.factor),
                "firing": a.firing,
                "since": since.map(rfc3339),
            })
        })
        .collect();
    let (window_kind, time_zone) = match &d.window {
        SloWindow::Rolling(_) => ("rolling", None),
        SloWindow::Calendar(c) => (
            "calendar",
            Some(
                c.anchor
                    .time_zone()
                    .iana_name()
                    .unwrap_or("UTC")
                    .to_string(),
            ),
        ),
    };
    let mut method = json!({ "name": d.method.as_str() });
    match d.method {
        BudgetingMethod::Occurrences => {}
        BudgetingMethod::Timeslices {
            slice,
            slice_target,
        } => {
            method["time_slice_window"] = json!(slice.to_string());
            method["time_slice_target"] = json!(slice_target);
        }
        BudgetingMethod::RatioTimeslices { slice } => {
            method["time_slice_window"] = json!(slice.to_string());
        }
    }
    json!({
        "name": d.name,
        "display_name": d.display_name,
        "service": d.service,
        "objective": d.objective.target(),
        "window": d.window.describe(),
        "window_kind": window_kind,
        "time_zone": time_zone,
        "period": { "start": rfc3339(s.period.start), "end": rfc3339(s.period.end) },
        "budgeting_method": d.method.as_str(),
        "budgeting": method,
        "sli": { "good": good, "total": total, "ratio": c.ratio().map(num) },
        "error_budget": {
            "remaining_ratio": num(s.budget.remaining_ratio),
            "consumed_ratio": num(s.budget.consumed_ratio),
        },
        "burn_rates": burn_rates,
        "alerts": alerts,
        "evaluated_at": rfc3339(at),
    })
}

/// The intervals budget adjustments exclude from each objective, within its window (and
/// two days ahead), by objective.
pub fn excluded_by_slo(app: &AppState) -> std::collections::HashMap<String, Vec<Value>> {
    let mut out: std::collections::HashMap<String, Vec<Value>> = Default::default();
    let engine = app.engine();
    for e in engine.exclusions().iter() {
        for o in &e.objectives {
            let Some(def) = engine.catalog().slo(o) else {
                continue;
            };
            let since = def.history_start(jiff::Timestamp::now().as_second());
            out.entry(o.clone()).or_default().extend(
                e.intervals
                    .iter()
                    .filter(|(_, end)| *end > since)
                    .map(|(a, b)| {
                        json!({
                            "adjustment": e.adjustment.name,
                            "start": rfc3339(*a),
                            "end": rfc3339(*b),
                        })
                    }),
            );
        }
    }
    out
}

pub async fn list(
    State(app): State<AppState>,
    scope: crate::access::Scope,
) -> Result<Json<Value>, ApiError> {
    ready(&app)?;
    // Every SLO's figures: built off the async workers.
    tokio::task::spawn_blocking(move || {
        let snap = app.engine().snapshot();
        let mut excluded = excluded_by_slo(&app);
        let engine = app.engine();
        let slos: Vec<Value> = snap
            .slos()
            .filter(|r| scope.sees_service(engine.catalog(), &r.def.service))
            .map(|r| {
                let mut v = slo_json(r, snap.at);
                v["excluded"] = json!(excluded.remove(&r.def.name).unwrap_or_default());
                v
            })
            .collect();
        Json(json!({ "slos": slos }))
    })
    .await
    .map_err(|e| ApiError::internal(format!("listing the SLOs failed: {e}")))
}

pub async fn get(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ready(&app)?;
    let snap = app.engine().snapshot();
    let mut excluded = excluded_by_slo(&app);
    snap.get(&name)
        .map(|r| {
            let mut v = slo_json(r, snap.at);
            v["excluded"] = json!(excluded.remove(&r.def.name).unwrap_or_default());
            Json(v)
        })
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no SLO named `{name}`; GET /api/v1/slos lists them"
            ))
        })
}
