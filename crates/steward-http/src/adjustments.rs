//! Budget adjustments through the API: list (the configuration's and the API's), add,
//! change, remove, and make from a maintenance window. Each is read by the same reader as an
//! OpenSLO v2alpha document, recorded in the audit trail, and makes the engine compute every
//! figure of the SLOs it names again.

use crate::access::{Actor, Principal};
use crate::alerts::{bad, blocking, json_body, now};
use crate::error::ApiError;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde_json::{json, Value};
use steward_model::adjustment::BudgetAdjustment;
use steward_model::catalog::Recurrence as Window;
use steward_store::StoredAdjustment;

fn adjustment_json(
    a: &BudgetAdjustment,
    source: &str,
    objectives: &[String],
    intervals: &[(i64, i64)],
) -> Value {
    json!({
        "name": a.name,
        "source": source,
        "description": a.description,
        "service": a.service,
        "indicatorRef": a.indicator,
        "startTime": rfc3339(a.start),
        "duration_seconds": a.duration,
        "rrule": a.recurrence.as_ref().map(ToString::to_string),
        "timeZone": a.time_zone.iana_name(),
        "slos": objectives,
        "intervals": intervals.iter().rev().take(100).rev().map(|(s, e)| json!({ "start": rfc3339(*s), "end": rfc3339(*e) })).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/budget-adjustments`: every adjustment as it applies, with its intervals
/// (the last 100 of them).
pub async fn list(State(app): State<AppState>, scope: crate::access::Scope) -> Json<Value> {
    let engine = app.engine();
    let catalog = engine.catalog();
    let all: Vec<Value> = engine
        .exclusions()
        .iter()
        .filter(|e| scope.sees_service(catalog, &e.adjustment.service))
        .map(|e| adjustment_json(&e.adjustment, e.source, &e.objectives, &e.intervals))
        .collect();
    Json(json!({ "budget_adjustments": all }))
}

/// The body read as an OpenSLO v2alpha BudgetAdjustment (`name` beside the spec's fields),
/// with every mistake in one answer.
fn read(app: &AppState, body: &[u8], name: Option<&str>) -> Result<StoredAdjustment, ApiError> {
    let b = json_body(body)?;
    let Some(fields) = b.as_object() else {
        return Err(bad("the body must be an object"));
    };
    let mut spec = fields.clone();
    let name = match (name, spec.remove("name")) {
        (Some(n), None) => n.to_string(),
        (Some(n), Some(Value::String(m))) if m == n => n.to_string(),
        (Some(n), Some(_)) => return Err(bad(format!("the name is `{n}`, as in the path"))),
        (None, Some(Value::String(m))) => m,
        (None, _) => return Err(bad("an adjustment needs a name")),
    };
    // The draft's document requires indicatorRef; through the API it is optional, and its
    // absence means every SLO of the service. The draft's reader gets a stand-in, dropped
    // after.
    let whole_service = !spec.contains_key("indicatorRef");
    if whole_service {
        spec.insert("indicatorRef".into(), json!("all-slos-of-the-service"));
    }
    let doc = json!({
        "apiVersion": "openslo.com/v2alpha",
        "kind": "BudgetAdjustment",
        "metadata": { "name": name },
        "spec": spec,
    });
    let mut diags = steward_config::Diagnostics::default();
    let docs = steward_config::parse_text("request", &doc.to_string(), &mut diags);
    if diags.has_errors() {
        let messages: Vec<String> = diags.items.iter().map(|d| d.message.clone()).collect();
        return Err(bad(messages.join("; ")));
    }
    let Some(steward_config::docs::Document::BudgetAdjustment(d)) = docs.into_iter().next() else {
        return Err(bad("the body is not a budget adjustment"));
    };
    let mut a = d.adjustment;
    if whole_service {
        a.indicator = None;
    }
    if app.engine().catalog().service(&a.service).is_none() {
        return Err(bad(format!(
            "service `{}` is not in the catalog",
            a.service
        )));
    }
    if app
        .engine()
        .catalog()
        .objectives_for(&a.service, a.indicator.as_deref())
        .is_empty()
    {
        return Err(bad(match &a.indicator {
            Some(i) => format!(
                "indicatorRef `{i}` names no SLI or SLO of service `{}`",
                a.service
            ),
            None => format!("service `{}` has no SLOs to adjust", a.service),
        }));
    }
    Ok(StoredAdjustment {
        id: 0,
        name: a.name,
        description: a.description,
        service: a.service,
        indicator: a.indicator,
        start_at: a.start,
        duration: a.duration,
        rrule: spec
            .get("rrule")
            .and_then(Value::as_str)
            .map(str::to_string),
        time_zone: a.time_zone.iana_name().unwrap_or("UTC").to_string(),
        created_by: String::new(),
        created_at: 0,
        updated_by: String::new(),
        updated_at: 0,
    })
}

fn stored_json(a: &StoredAdjustment) -> Value {
    json!({
        "name": a.name,
        "source": "api",
        "description": a.description,
        "service": a.service,
        "indicatorRef": a.indicator,
        "startTime": rfc3339(a.start_at),
        "duration_seconds": a.duration,
        "rrule": a.rrule,
        "timeZone": a.time_zone,
        "created_by": a.created_by,
        "created_at": rfc3339(a.created_at),
        "updated_by": a.updated_by,
        "updated_at": rfc3339(a.updated_at),
    })
}

/// Stores an adjustment (new, or replacing one), audits it and has the figures computed again.
async fn put(
    app: &AppState,
    mut a: StoredAdjustment,
    who: String,
    principal: &Principal,
    from: Value,
    new: bool,
) -> Result<StoredAdjustment, ApiError> {
    crate::access::may_steer(principal, app.engine().catalog(), &a.service)?;
    if app
        .engine()
        .catalog()
        .budget_adjustments
        .iter()
        .any(|c| c.name == a.name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "adjustment `{}` is declared in the configuration; change it there",
                a.name
            ),
        ));
    }
    if who == "user:api" {
        return Err(bad("say who changes the budget: the X-Steward-User header"));
    }
    let t = now();
    a.updated_by = who.clone();
    a.updated_at = t;
    let store = app.engine().store().clone();
    let stored = blocking(move || {
        Ok(store.transact(move |tx| {
            let before = tx.adjustment(&a.name)?;
            if before.is_some() == new {
                return Ok(Err(before.is_some()));
            }
            let s = tx.put_adjustment(&a)?;
            let action = if new {
                "budget_adjustment.add"
            } else {
                "budget_adjustment.change"
            };
            let details =
                json!({ "after": stored_json(&s), "before": before.as_ref().map(stored_json), "from": from })
                    .to_string();
            tx.audit(
                t,
                &who,
                action,
                &format!("budget_adjustment:{}", s.name),
                &details,
            )?;
            Ok(Ok(s))
        })?)
    })
    .await?;
    match stored {
        Ok(s) => {
            app.engine().adjustments_changed();
            Ok(s)
        }
        Err(true) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "an adjustment of that name exists; PUT /api/v1/budget-adjustments/NAME changes it",
        )),
        Err(false) => Err(ApiError::not_found(
            "there is no such adjustment; POST /api/v1/budget-adjustments adds one",
        )),
    }
}

/// `POST /api/v1/budget-adjustments` `{"name","description","service","indicatorRef",
/// "startTime","endTime"|"duration","rrule","timeZone"}` → 201.
pub async fn add(
    State(app): State<AppState>,
    Actor(by): Actor,
    Extension(who): Extension<Principal>,
    client: crate::login::Client,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let a = read(&app, &body, None)?;
    let mut s = put(&app, a, by.clone(), &who, client.details(), true).await?;
    s.created_by = s.updated_by.clone();
    let mut body = stored_json(&s);
    body["warning"] = json!(coarse_edges(s.start_at, s.duration, now()));
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `PUT /api/v1/budget-adjustments/{name}`: changes one the API added.
pub async fn change(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Actor(by): Actor,
    Extension(who): Extension<Principal>,
    client: crate::login::Client,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let a = read(&app, &body, Some(&name))?;
    let old = {
        let (store, n) = (app.engine().store().clone(), name.clone());
        blocking(move || Ok(store.transact(move |tx| tx.adjustment(&n))?)).await?
    };
    if let Some(old) = old {
        // Moving an adjustment off a service is a change of that service's budget too.
        crate::access::may_steer(&who, app.engine().catalog(), &old.service)?;
    }
    Ok(Json(stored_json(
        &put(&app, a, by.clone(), &who, client.details(), false).await?,
    )))
}

/// `DELETE /api/v1/budget-adjustments/{name}`: removes one the API added.
pub async fn remove(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Actor(by): Actor,
    Extension(principal): Extension<Principal>,
    client: crate::login::Client,
) -> Result<Json<Value>, ApiError> {
    let (who, t, n) = (by.clone(), now(), name.clone());
    let from = client.details();
    if who == "user:api" {
        return Err(bad("say who changes the budget: the X-Steward-User header"));
    }
    let old = {
        let (store, n) = (app.engine().store().clone(), name.clone());
        blocking(move || Ok(store.transact(move |tx| tx.adjustment(&n))?)).await?
    };
    if let Some(old) = old {
        crate::access::may_steer(&principal, app.engine().catalog(), &old.service)?;
    }
    let store = app.engine().store().clone();
    let removed = blocking(move || {
        Ok(store.transact(move |tx| {
            let Some(old) = tx.adjustment(&n)? else {
                return Ok(None);
            };
            tx.delete_adjustment(&n)?;
            let details =
                json!({ "before": stored_json(&old), "after": null, "from": from }).to_string();
            tx.audit(
                t,
                &who,
                "budget_adjustment.remove",
                &format!("budget_adjustment:{n}"),
                &details,
            )?;
            Ok(Some(old))
        })?)
    })
    .await?
    .ok_or_else(|| {
        if app
            .engine()
            .catalog()
            .budget_adjustments
            .iter()
            .any(|c| c.name == name)
        {
            ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("adjustment `{name}` is declared in the configuration; remove it there"),
            )
        } else {
            ApiError::not_found(format!(
                "there is no adjustment `{name}` made through the API"
            ))
        }
    })?;
    app.engine().adjustments_changed();
    Ok(Json(json!({ "removed": stored_json(&removed) })))
}

/// `POST /api/v1/maintenance/{name}/budget-adjustments`: the maintenance window's time
/// excluded from every SLO of its services, one adjustment per service, recurring as the
/// window does.
pub async fn from_maintenance(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Actor(by): Actor,
    Extension(principal): Extension<Principal>,
    client: crate::login::Client,
) -> Result<Response, ApiError> {
    let Some(w) = app
        .engine()
        .catalog()
        .maintenance
        .iter()
        .find(|m| m.name == name)
        .cloned()
    else {
        return Err(ApiError::not_found(format!(
            "there is no maintenance window `{name}`"
        )));
    };
    let start = w
        .start
        .to_zoned(w.time_zone.clone())
        .map_err(|e| bad(format!("the window's start is not a time in its zone: {e}")))?
        .timestamp()
        .as_second();
    let rrule = match &w.recurrence {
        Window::Once => None,
        Window::Daily => Some("FREQ=DAILY".to_string()),
        Window::Weekly(days) => {
            let names = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
            let by: Vec<&str> = names
                .iter()
                .zip(days)
                .filter(|(_, on)| **on)
                .map(|(n, _)| *n)
                .collect();
            Some(format!("FREQ=WEEKLY;BYDAY={}", by.join(",")))
        }
    };
    // All or nothing: every service's budget must be the caller's to change.
    for service in &w.services {
        crate::access::may_steer(&principal, app.engine().catalog(), service)?;
    }
    let mut made = Vec::new();
    for service in &w.services {
        if app
            .engine()
            .catalog()
            .objectives_for(service, None)
            .is_empty()
        {
            continue;
        }
        let a = StoredAdjustment {
            id: 0,
            name: format!("maintenance-{name}-{service}"),
            description: format!("maintenance window {name}"),
            service: service.clone(),
            indicator: None,
            start_at: start,
            duration: w.duration,
            rrule: rrule.clone(),
            time_zone: w.time_zone.iana_name().unwrap_or("UTC").to_string(),
            created_by: String::new(),
            created_at: 0,
            updated_by: String::new(),
            updated_at: 0,
        };
        let exists = {
            let store = app.engine().store().clone();
            let n = a.name.clone();
            blocking(move || Ok(store.transact(move |tx| tx.adjustment(&n))?))
                .await?
                .is_some()
        };
        made.push(stored_json(
            &put(&app, a, by.clone(), &principal, client.details(), !exists).await?,
        ));
    }
    if made.is_empty() {
        return Err(bad(format!(
            "maintenance window `{name}` covers no service with an SLO"
        )));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "budget_adjustments": made })),
    )
        .into_response())
}

/// The resolution the store keeps samples at, by their age: 5 s for about an hour, then
/// 1 min, 10 min and 1 h as rows roll up (the engine's roll-up schedule).
fn resolution_at(age: i64) -> i64 {
    match age {
        a if a < 3600 + 600 => 5,
        a if a < 6 * 3600 + 600 => 60,
        a if a < 3 * 86_400 + 600 => 600,
        _ => 3600,
    }
}

/// Says so when an adjustment's edges fall inside rows the store already keeps coarser than
/// them: such a row counts as excluded when it starts inside the adjustment.
fn coarse_edges(start: i64, duration: i64, now: i64) -> Option<String> {
    let end = start + duration;
    let res = resolution_at(now - start).max(resolution_at(now - end.min(now)));
    (start % res != 0 || end % res != 0).then(|| {
        format!(
            "samples this old are kept in rows of {res}s: an edge inside a row applies at the row (a row counts as excluded when it starts inside)"
        )
    })
}
