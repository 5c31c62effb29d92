//! Incidents: declare, list, show, move on (ack, mitigate, resolve), notes and status
//! updates, roles, edits, and action items.

use crate::access::{Actor, Scope};
use crate::alerts::{
    alert_json, bad, blocking, json_body, now, opt_time, parse_id, parse_time, query,
};
use crate::error::ApiError;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use steward_engine::alerting::postmortem::SloImpact;
use steward_engine::alerting::{IncidentView, SEVERITIES};
use steward_store::{ActionItem, Incident, IncidentStatus};

const MAX_TITLE: usize = 200;
const MAX_TEXT: usize = 10_000;

pub fn incident_json(i: &Incident) -> Value {
    json!({
        "id": i.id,
        "title": i.title,
        "severity": i.severity,
        "service": i.service,
        "customer": i.customer,
        "status": i.status.as_str(),
        "started_at": rfc3339(i.started_at),
        "impact_started_at": opt_time(i.impact_started_at),
        "acknowledged_at": opt_time(i.acknowledged_at),
        "acknowledged_by": i.acknowledged_by,
        "mitigated_at": opt_time(i.mitigated_at),
        "mitigated_by": i.mitigated_by,
        "resolved_at": opt_time(i.resolved_at),
        "resolved_by": i.resolved_by,
        "created_by": i.created_by,
        "updated_at": rfc3339(i.updated_at),
    })
}

pub fn view_json(v: &IncidentView) -> Value {
    let mut body = incident_json(&v.incident);
    body["roles"] = v
        .roles
        .iter()
        .map(|r| (r.role.clone(), json!(r.person)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    body["alerts"] = v.alerts.iter().map(alert_json).collect();
    body["timeline"] = v
        .timeline
        .iter()
        .map(|e| {
            json!({
                "time": rfc3339(e.at),
                "kind": e.kind,
                "summary": e.summary,
                "actor": e.actor,
                "details": e.details,
            })
        })
        .collect();
    let d = v.durations;
    body["durations"] = json!({
        "time_to_detect": d.time_to_detect,
        "time_to_acknowledge": d.time_to_acknowledge,
        "time_to_mitigate": d.time_to_mitigate,
        "time_to_resolve": d.time_to_resolve,
    });
    body
}

fn item_json(a: &ActionItem) -> Value {
    json!({
        "id": a.id,
        "incident": a.incident,
        "title": a.title,
        "owner": a.owner,
        "due": opt_time(a.due_at),
        "status": a.status,
        "verified": a.verified,
        "created_at": rfc3339(a.created_at),
        "created_by": a.created_by,
        "closed_at": opt_time(a.closed_at),
        "closed_by": a.closed_by,
    })
}

/// A required, non-empty string of at most `max` bytes.
fn text(b: &Value, key: &str, max: usize) -> Result<String, ApiError> {
    match &b[key] {
        Value::String(s) if !s.trim().is_empty() && s.len() <= max => Ok(s.trim().to_string()),
        Value::String(s) if s.len() > max => Err(bad(format!("{key} is longer than {max} bytes"))),
        Value::Null => Err(bad(format!("{key} is required"))),
        _ => Err(bad(format!("{key} must be a non-empty string"))),
    }
}

fn severity(v: &Value) -> Result<String, ApiError> {
    match v.as_str() {
        Some(s) if SEVERITIES.contains(&s) => Ok(s.to_string()),
        _ => Err(bad(format!(
            "severity must be one of {}",
            SEVERITIES.join(", ")
        ))),
    }
}

fn opt_time_field(b: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match b.get(key).filter(|v| !v.is_null()) {
        Some(v) => {
            let t = parse_time(v, key)?;
            if t > now() + 300 {
                return Err(bad(format!("{key} is in the future")));
            }
            Ok(Some(t))
        }
        None => Ok(None),
    }
}

async fn view(app: &AppState, id: i64, scope: &Scope) -> Result<Value, ApiError> {
    let alerting = app.engine().alerting.clone();
    let mut v = blocking(move || Ok(alerting.incident_view(id, now())?)).await?;
    let engine = app.engine();
    for_scope(&mut v, scope, engine.catalog());
    let mut body = view_json(&v);
    // What holds an alert back may be another's: as its own API says it.
    if let Some(alerts) = body["alerts"].as_array_mut() {
        for a in alerts {
            if let Some(why) = a["suppressed"].as_str().map(str::to_string) {
                a["suppressed"] = json!(crate::alerts::seen_text(&why, scope, engine.catalog()));
            }
        }
    }
    Ok(body)
}

/// What of an incident a customer's user sees: not who was notified where (the staff's
/// contacts), nor changes of services that are not its customer's (a dependency may be the
/// provider's or another customer's).
pub fn for_scope(v: &mut IncidentView, scope: &Scope, catalog: &steward_config::Catalog) {
    if *scope == Scope::All {
        return;
    }
    for e in &mut v.timeline {
        e.summary = crate::alerts::seen_text(&e.summary, scope, catalog);
    }
    v.timeline.retain(|e| match e.kind.as_str() {
        "notification" | "notification_failed" => false,
        "change" => e.details["service"]
            .as_str()
            .is_some_and(|s| scope.sees_service(catalog, s)),
        _ => true,
    });
}

/// `POST /api/v1/incidents` `{"title","severity","service","impact_started","commander"}` →
/// 201 with the incident.
pub async fn declare(
    State(app): State<AppState>,
    Actor(by): Actor,
    scope: Scope,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b = json_body(&body)?;
    let title = text(&b, "title", MAX_TITLE)?;
    let sev = severity(&b["severity"])?;
    let service = text(&b, "service", 255)?;
    if !scope.sees_service(app.engine().catalog(), &service) {
        return Err(ApiError::not_found(format!(
            "there is no service `{service}`"
        )));
    }
    let impact = opt_time_field(&b, "impact_started")?;
    let commander = match &b["commander"] {
        Value::Null => None,
        v => Some(
            v.as_str()
                .ok_or_else(|| bad("commander must be a user's name"))?
                .to_string(),
        ),
    };
    if let Some(c) = commander.as_deref() {
        // A customer's user names its customer's users only (the staff's names are not its
        // to find out).
        let known = app.engine().catalog().user(c).is_some_and(|u| {
            scope
                .customer()
                .is_none_or(|mine| u.customer.as_deref() == Some(mine))
        });
        if !known {
            return Err(bad(format!("commander `{c}` is not a user of the catalog")));
        }
    }
    let alerting = app.engine().alerting.clone();
    let who = by.clone();
    let id = blocking(move || {
        let t = now();
        let i = alerting.declare(title, sev, service, impact, who.clone(), t)?;
        if let Some(c) = commander {
            alerting.set_role(i.id, "commander".into(), c, who, t)?;
        }
        Ok(i.id)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(&app, id, &scope).await?)).into_response())
}

/// `GET /api/v1/incidents?status=open|all&service=NAME`: newest first (open ones by default).
pub async fn list(
    State(app): State<AppState>,
    scope: Scope,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(&raw);
    let open = match q.get("status").map(String::as_str) {
        None | Some("open") => true,
        Some("all") => false,
        Some(s) => return Err(bad(format!("status `{s}` is not one of open, all"))),
    };
    let service = q.get("service").cloned();
    let store = app.engine().store().clone();
    let list = blocking(move || {
        Ok(store.transact(move |tx| {
            tx.incidents_of(open, service.as_deref(), scope.customer(), 1000)
        })?)
    })
    .await?;
    Ok(Json(json!({
        "incidents": list.iter().map(incident_json).collect::<Vec<_>>()
    })))
}

/// `GET /api/v1/incidents/{id}`: the incident, its roles, alerts, timeline (oldest first)
/// and durations.
pub async fn get(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "incident")?;
    Ok(Json(view(&app, id, &scope).await?))
}

/// `PATCH /api/v1/incidents/{id}` `{"title","severity","impact_started"}`.
pub async fn edit(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "incident")?;
    let b = json_body(&body)?;
    let title = match b["title"] {
        Value::Null => None,
        _ => Some(text(&b, "title", MAX_TITLE)?),
    };
    let sev = match b["severity"] {
        Value::Null => None,
        ref v => Some(severity(v)?),
    };
    let impact = opt_time_field(&b, "impact_started")?;
    let alerting = app.engine().alerting.clone();
    let who = by.clone();
    blocking(move || Ok(alerting.edit_incident(id, title, sev, impact, who, now())?)).await?;
    Ok(Json(view(&app, id, &scope).await?))
}

async fn move_to(
    app: AppState,
    scope: Scope,
    id: String,
    by: String,
    to: IncidentStatus,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "incident")?;
    let alerting = app.engine().alerting.clone();
    let who = by.clone();
    blocking(move || Ok(alerting.move_incident(id, to, who, now())?)).await?;
    Ok(Json(view(&app, id, &scope).await?))
}

/// `POST /api/v1/incidents/{id}/ack`: also acknowledges its alerts.
pub async fn ack(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
) -> Result<Json<Value>, ApiError> {
    move_to(app, scope, id, by, IncidentStatus::Acknowledged).await
}

/// `POST /api/v1/incidents/{id}/mitigate`
pub async fn mitigate(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
) -> Result<Json<Value>, ApiError> {
    move_to(app, scope, id, by, IncidentStatus::Mitigated).await
}

/// `POST /api/v1/incidents/{id}/resolve`
pub async fn resolve(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
) -> Result<Json<Value>, ApiError> {
    move_to(app, scope, id, by, IncidentStatus::Resolved).await
}

async fn say(
    app: AppState,
    scope: Scope,
    id: String,
    by: String,
    body: axum::body::Bytes,
    kind: &'static str,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "incident")?;
    let t = text(&json_body(&body)?, "text", MAX_TEXT)?;
    let alerting = app.engine().alerting.clone();
    let who = by.clone();
    blocking(move || Ok(alerting.incident_note(id, kind, t, who, now())?)).await?;
    Ok((StatusCode::CREATED, Json(view(&app, id, &scope).await?)).into_response())
}

/// `POST /api/v1/incidents/{id}/notes` `{"text"}`
pub async fn note(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    say(app, scope, id, by, body, "note").await
}

/// `POST /api/v1/incidents/{id}/updates` `{"text"}`: a status update for those affected.
pub async fn update(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    say(app, scope, id, by, body, "status_update").await
}

/// `POST /api/v1/incidents/{id}/roles` `{"role","person"}`: `commander`, `communications`
/// or any other role name.
pub async fn role(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "incident")?;
    let b = json_body(&body)?;
    let role = text(&b, "role", 64)?;
    if !role
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ' ')
    {
        return Err(bad(
            "role may hold letters, digits, spaces, `-` and `_` only",
        ));
    }
    let person = text(&b, "person", 255)?;
    let alerting = app.engine().alerting.clone();
    let who = by.clone();
    blocking(move || Ok(alerting.set_role(id, role, person, who, now())?)).await?;
    Ok(Json(view(&app, id, &scope).await?))
}

/// `POST /api/v1/incidents/{id}/action-items` `{"title","owner","due"}` → 201.
pub async fn add_item(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "incident")?;
    let b = json_body(&body)?;
    let title = text(&b, "title", MAX_TITLE)?;
    let owner = text(&b, "owner", 255)?;
    let known = app.engine().catalog().user(&owner).is_some_and(|u| {
        scope
            .customer()
            .is_none_or(|mine| u.customer.as_deref() == Some(mine))
    });
    if !known {
        return Err(bad(format!("owner `{owner}` is not a user of the catalog")));
    }
    let due_at = match b.get("due").filter(|v| !v.is_null()) {
        Some(v) => Some(parse_time(v, "due")?),
        None => None,
    };
    let store = app.engine().store().clone();
    let t = now();
    let item = ActionItem {
        id: 0,
        incident: id,
        title,
        owner,
        due_at,
        status: "open".into(),
        verified: None,
        created_at: t,
        created_by: by.clone(),
        closed_at: None,
        closed_by: None,
    };
    let stored = blocking(move || {
        Ok(store.transact(move |tx| match tx.incident(id)? {
            Some(_) => tx.add_action_item(&item).map(Some),
            None => Ok(None),
        })?)
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("there is no incident {id}")))?;
    Ok((StatusCode::CREATED, Json(item_json(&stored))).into_response())
}

/// `GET /api/v1/action-items?incident=ID` or `?overdue=true`; open ones otherwise.
pub async fn items(
    State(app): State<AppState>,
    scope: Scope,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(&raw);
    let incident = match q.get("incident") {
        Some(i) => Some(
            i.parse::<i64>()
                .ok()
                .filter(|i| *i > 0)
                .ok_or_else(|| bad(format!("incident `{i}` is not an incident id")))?,
        ),
        None => None,
    };
    let overdue = match (crate::alerts::flag(&q, "overdue")?, incident) {
        (false, _) => None,
        (true, None) => Some(now()),
        (true, Some(_)) => return Err(bad("use either incident or overdue, not both")),
    };
    let store = app.engine().store().clone();
    let list = blocking(move || {
        Ok(store.transact(move |tx| {
            let mut items = tx.action_items(incident, overdue)?;
            if scope != Scope::All {
                // Only the items of the customer's own incidents.
                let mut seen = std::collections::HashMap::new();
                let mut kept = Vec::with_capacity(items.len());
                for item in items {
                    let ours = match seen.get(&item.incident) {
                        Some(o) => *o,
                        None => {
                            let c = tx.incident(item.incident)?.and_then(|i| i.customer);
                            let o = scope.sees(c.as_deref());
                            seen.insert(item.incident, o);
                            o
                        }
                    };
                    if ours {
                        kept.push(item);
                    }
                }
                items = kept;
            }
            Ok(items)
        })?)
    })
    .await?;
    Ok(Json(json!({
        "action_items": list.iter().map(item_json).collect::<Vec<_>>()
    })))
}

/// `POST /api/v1/action-items/{id}/close` `{"verified"}`: how the fix was verified.
pub async fn close_item(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Actor(by): Actor,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "action item")?;
    let verified = text(&json_body(&body)?, "verified", MAX_TEXT).map_err(|_| {
        bad("closing an action item needs `verified`: a note of how the fix was verified")
    })?;
    let store = app.engine().store().clone();
    let who = by.clone();
    let item = blocking(move || {
        Ok(store.transact(move |tx| tx.close_action_item(id, &verified, &who, now()))?)
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("there is no action item {id}")))?;
    Ok(Json(item_json(&item)))
}

/// `GET /api/v1/incidents/{id}/postmortem`: the postmortem of a resolved incident, drafted
/// in Markdown.
pub async fn postmortem(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let md = postmortem_markdown(&app, &id, &scope).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/markdown; charset=utf-8",
        )],
        md,
    )
        .into_response())
}

/// The postmortem of a resolved incident (409 before it is resolved).
pub async fn postmortem_markdown(
    app: &AppState,
    id: &str,
    scope: &Scope,
) -> Result<String, ApiError> {
    let id = parse_id(id, "incident")?;
    let engine = app.engine().clone();
    let scope = scope.clone();
    let md = blocking(move || {
        let t = now();
        let mut v = engine.alerting.incident_view(id, t)?;
        for_scope(&mut v, &scope, engine.catalog());
        let i = &v.incident;
        let Some(resolved) = i.resolved_at else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "incident {id} is {}: its postmortem is written once it is resolved",
                    i.status.as_str()
                ),
            ));
        };
        let (from, to) = (
            i.impact_started_at.unwrap_or(i.started_at),
            i.mitigated_at.unwrap_or(resolved),
        );
        let snap = engine.snapshot();
        let impact: Vec<SloImpact> = snap
            .slos()
            .filter(|r| r.def.service == i.service)
            .filter_map(|r| {
                let c = engine.counts_between(&r.def.name, from, to)?;
                let allowed =
                    r.def.objective.error_allowance() * r.status.window_counts.total as f64;
                let bad = c.total.saturating_sub(c.good);
                Some(SloImpact {
                    slo: r.def.name.clone(),
                    bad,
                    total: c.total,
                    budget_spent: (allowed > 0.0).then(|| bad as f64 / allowed),
                })
            })
            .collect();
        let store = engine.store().clone();
        let items = store.transact(move |tx| tx.action_items(Some(id), None))?;
        Ok(steward_engine::alerting::postmortem::markdown(
            &v, &impact, &items, t,
        ))
    })
    .await?;
    Ok(md)
}
