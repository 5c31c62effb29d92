//! Changes to services as CI reports them, and the deploy gate CI asks before it deploys.

use crate::access::Actor;
use crate::alerts::{bad, blocking, json_body, now, parse_time, query};
use crate::error::ApiError;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use steward_model::Labels;
use steward_store::{Change, ChangeKind, ChangeStatus, GateOverride};

fn change_json(c: &Change) -> Value {
    json!({
        "id": c.id,
        "service": c.service,
        "kind": c.kind.as_str(),
        "version": c.version,
        "status": c.status.as_str(),
        "link": c.link,
        "labels": c.labels,
        "time": rfc3339(c.at),
        "commit_time": c.commit_at.map(rfc3339),
        "created_by": c.created_by,
    })
}

/// One of `all`, by its word; `default` when absent.
fn one_of<T: Copy + std::fmt::Display>(
    v: &Value,
    what: &str,
    all: &[T],
    default: Option<T>,
) -> Result<T, ApiError> {
    let found = match (v.as_str(), default) {
        (Some(s), _) => all.iter().copied().find(|x| x.to_string() == s),
        (None, Some(d)) if v.is_null() => Some(d),
        _ => None,
    };
    found.ok_or_else(|| {
        let words: Vec<String> = all.iter().map(T::to_string).collect();
        bad(format!("{what} must be one of {}", words.join(", ")))
    })
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
    Actor(by): Actor,
    scope: crate::access::Scope,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b = json_body(&body)?;
    let service = b["service"]
        .as_str()
        .ok_or_else(|| bad("a change needs a service"))?
        .to_string();
    let customer = match app.engine().catalog().service(&service) {
        Some(s) if scope.sees(s.customer.as_deref()) => s.customer.clone(),
        _ => return Err(bad(format!("service `{service}` is not in the catalog"))),
    };
    let kind = one_of(&b["kind"], "kind", ChangeKind::ALL, None)?;
    let status = one_of(
        &b["status"],
        "status",
        ChangeStatus::ALL,
        Some(ChangeStatus::Succeeded),
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
        Value::Null => Labels::new(),
        Value::Object(m)
            if m.len() <= 64
                && m.values()
                    .all(|v| v.as_str().is_some_and(|s| s.len() <= 1024)) =>
        {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
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
        labels,
        at,
        commit_at,
        created_by: by.clone(),
        created_at: t,
    };
    let store = app.engine().store().clone();
    let stored = blocking(move || Ok(store.transact(move |tx| tx.add_change(&c))?)).await?;
    Ok((StatusCode::CREATED, Json(change_json(&stored))).into_response())
}

/// `GET /api/v1/changes?service=NAME`: the last 30 days' changes, newest first.
pub async fn list(
    State(app): State<AppState>,
    scope: crate::access::Scope,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(&raw);
    let service = q.get("service").cloned();
    let t = now();
    let store = app.engine().store().clone();
    let changes = blocking(move || {
        Ok(store.transact(move |tx| {
            tx.changes_of(
                service.as_deref(),
                scope.customer(),
                t - 30 * 86_400,
                t + 86_400,
                1000,
            )
        })?)
    })
    .await?;
    Ok(Json(
        json!({ "changes": changes.iter().map(change_json).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/v1/services/{name}/deploy-gate[?fix=true]` → `{"allowed", "reasons"}`, by the
/// service's ErrorBudgetPolicy (else the default: deploys are denied while any SLO of the
/// service has no error budget left), except fixes where the policy allows them and while an
/// override is in force.
pub async fn gate(
    State(app): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    if app.engine().catalog().service(&name).is_none() {
        return Err(ApiError::not_found(format!("there is no service `{name}`")));
    }
    crate::slos::ready(&app)?;
    let fix = crate::alerts::flag(&query(&raw), "fix")?;
    let policy = app.engine().catalog().budget_policy(&name);
    let snap = app.engine().snapshot();
    let mut spent = Vec::new();
    let mut fine = Vec::new();
    for r in snap.slos().filter(|r| r.def.service == name) {
        let left = r.status.budget.remaining_ratio;
        let hour = r
            .status
            .burn_rates
            .iter()
            .find(|(w, _)| w.secs() == 3600)
            .map(|(_, b)| *b);
        if left.is_nan() {
            fine.push(format!(
                "SLO {} has no events in its window yet: no budget is spent",
                r.def.name
            ));
        } else if left <= policy.remaining_below {
            spent.push(if policy.remaining_below == 0.0 {
                format!(
                    "SLO {} has spent its error budget ({:.1}% left): deploys are frozen{}",
                    r.def.name,
                    left * 100.0,
                    if policy.allow_fixes { " except fixes" } else { "" }
                )
            } else {
                format!(
                    "SLO {} has {:.1}% of its error budget left, at or below the {:.1}% of policy {}: deploys are frozen{}",
                    r.def.name,
                    left * 100.0,
                    policy.remaining_below * 100.0,
                    policy.name,
                    if policy.allow_fixes { " except fixes" } else { "" }
                )
            });
        } else if let (Some(limit), Some(b)) =
            (policy.burn_rate_above, hour.filter(|b| b.is_finite()))
        {
            if b > limit {
                spent.push(format!(
                    "SLO {} burns its error budget {b:.1}x too fast over the last hour, above the {limit}x of policy {}: deploys are frozen{}",
                    r.def.name,
                    policy.name,
                    if policy.allow_fixes { " except fixes" } else { "" }
                ));
            } else {
                fine.push(format!(
                    "SLO {} has {:.1}% of its error budget left",
                    r.def.name,
                    left * 100.0
                ));
            }
        } else {
            fine.push(format!(
                "SLO {} has {:.1}% of its error budget left",
                r.def.name,
                left * 100.0
            ));
        }
    }
    // A policy's minimum readiness: a service below it does not deploy (fixes and overrides
    // aside), so an unready service cannot ship its way around the 3am test.
    if let Some(level) = policy.minimum_readiness {
        let r = crate::services::assess_one(&app, name.clone()).await?;
        if let Some(r) = r {
            let missing: Vec<String> = steward_model::readiness::needs(level)
                .into_iter()
                .filter(|c| r.check(c).is_some_and(|c| !c.passed))
                .map(|c| format!("`{c}`"))
                .collect();
            if r.level < level {
                spent.push(format!(
                    "service {name} is at readiness level {}, below the {level} that policy {} requires: it fails {}",
                    r.level,
                    policy.name,
                    missing.join(", ")
                ));
            } else {
                fine.push(format!(
                    "service {name} is at readiness level {}, at least the {level} that policy {} requires",
                    r.level, policy.name
                ));
            }
        }
    }
    let store = app.engine().store().clone();
    let (service, t) = (name.clone(), now());
    let overridden = blocking(move || {
        Ok(store
            .transact(move |tx| tx.gate_overrides(&service, Some(t)))?
            .into_iter()
            .next())
    })
    .await?;
    let (allowed, reasons) = match (spent.is_empty(), fix && policy.allow_fixes, &overridden) {
        (true, _, _) if fine.is_empty() => (true, vec![format!("service {name} has no SLOs")]),
        (true, _, _) => (true, fine),
        (false, true, _) => {
            let mut r = vec!["a fix: allowed while the budget is spent or the service is below its readiness level".to_string()];
            r.extend(spent);
            (true, r)
        }
        (false, false, Some(o)) => {
            let mut r = vec![format!(
                "overridden by {} until {}: {}",
                o.created_by,
                rfc3339(o.expires_at),
                o.reason
            )];
            r.extend(spent);
            (true, r)
        }
        (false, false, None) => (false, spent),
    };
    Ok(Json(json!({
        "service": name,
        "allowed": allowed,
        "reasons": reasons,
        "policy": policy.name,
        "override": overridden.map(|o| override_json(&o)),
        "evaluated_at": rfc3339(snap.at),
    })))
}

fn override_json(o: &GateOverride) -> Value {
    json!({
        "id": o.id,
        "service": o.service,
        "reason": o.reason,
        "created_by": o.created_by,
        "created_at": rfc3339(o.created_at),
        "expires_at": rfc3339(o.expires_at),
    })
}

/// `POST /api/v1/services/{name}/deploy-gate/overrides` `{"reason", "duration"}`: lets the
/// service deploy through a freeze for a while (1h unless said; at most 7 days). Audited.
pub async fn add_override(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Actor(by): Actor,
    axum::Extension(who): axum::Extension<crate::access::Principal>,
    client: crate::login::Client,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if app.engine().catalog().service(&name).is_none() {
        return Err(ApiError::not_found(format!("there is no service `{name}`")));
    }
    crate::access::may_steer(&who, app.engine().catalog(), &name)?;
    let b = json_body(&body)?;
    let reason = match &b["reason"] {
        Value::String(s) if !s.trim().is_empty() && s.len() <= 1000 => s.trim().to_string(),
        _ => {
            return Err(bad(
                "an override needs a reason: a non-empty string of at most 1000 bytes",
            ))
        }
    };
    let secs = match &b["duration"] {
        Value::Null => 3600,
        Value::String(d) => match steward_model::Duration::parse(d).map(|d| d.secs()) {
            Ok(s) if s > 0 && s <= 7 * 86_400 => s,
            _ => {
                return Err(bad(format!(
                    "duration `{d}` is not a duration from 1s to 7d, e.g. 2h"
                )))
            }
        },
        _ => return Err(bad("duration must be a string such as 2h")),
    };
    let actor = by.clone();
    if actor == "user:api" {
        return Err(bad("say who overrides the gate: the X-Steward-User header (steward gate override --user NAME)"));
    }
    let t = now();
    let o = GateOverride {
        id: 0,
        service: name,
        reason,
        created_by: actor,
        created_at: t,
        expires_at: t + secs,
    };
    let details = json!({
        "after": { "reason": o.reason, "expires_at": rfc3339(o.expires_at) },
        "from": client.details(),
    })
    .to_string();
    let store = app.engine().store().clone();
    let stored =
        blocking(move || Ok(store.transact(move |tx| tx.add_gate_override(&o, &details))?)).await?;
    Ok((StatusCode::CREATED, Json(override_json(&stored))).into_response())
}

/// `GET /api/v1/services/{name}/deploy-gate/overrides`: every override, newest first.
pub async fn overrides(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if app.engine().catalog().service(&name).is_none() {
        return Err(ApiError::not_found(format!("there is no service `{name}`")));
    }
    let store = app.engine().store().clone();
    let list =
        blocking(move || Ok(store.transact(move |tx| tx.gate_overrides(&name, None))?)).await?;
    Ok(Json(
        json!({ "overrides": list.iter().map(override_json).collect::<Vec<_>>() }),
    ))
}

/// The median of some numbers (`None` for none).
fn median(mut v: Vec<i64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    })
}

/// `GET /api/v1/services/{name}/delivery?days=30`: the four delivery figures over the last
/// days. Deploys are finished ones (succeeded or failed); a deploy fails when it reported
/// failure or an incident of the service started within an hour after it; lead time is from
/// commit to deploy (deploys that carry a commit time); time to restore from an incident's
/// impact start (else its start) to its resolution.
pub async fn delivery(
    State(app): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    if app.engine().catalog().service(&name).is_none() {
        return Err(ApiError::not_found(format!("there is no service `{name}`")));
    }
    let days = match query(&raw).get("days") {
        None => 30,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=366).contains(d))
            .ok_or_else(|| bad(format!("days `{d}` is not a whole number from 1 to 366")))?,
    };
    let t = now();
    let from = t - days * 86_400;
    let store = app.engine().store().clone();
    let service = name.clone();
    let (changes, incidents) = blocking(move || {
        Ok(store.transact(move |tx| {
            Ok((
                tx.changes(Some(&service), from, t + 1, 100_000)?,
                tx.incidents(false, Some(&service), 10_000)?,
            ))
        })?)
    })
    .await?;
    let mut deploys: Vec<&Change> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Deploy && c.status != ChangeStatus::Started)
        .collect();
    deploys.sort_by_key(|c| (c.at, c.id));
    // An incident is put on the last successful deploy within the hour before its impact
    // began (else its start): one incident fails one deploy, not every deploy of the hour.
    let mut blamed = std::collections::HashSet::new();
    for i in &incidents {
        let began = i
            .impact_started_at
            .unwrap_or(i.started_at)
            .min(i.started_at);
        if let Some(d) = deploys
            .iter()
            .rfind(|c| c.status == ChangeStatus::Succeeded && c.at <= began && began < c.at + 3600)
        {
            blamed.insert(d.id);
        }
    }
    let failed = deploys
        .iter()
        .filter(|c| c.status == ChangeStatus::Failed || blamed.contains(&c.id))
        .count();
    let succeeded = deploys
        .iter()
        .filter(|c| c.status == ChangeStatus::Succeeded)
        .count();
    let lead: Vec<i64> = deploys
        .iter()
        .filter(|c| c.status == ChangeStatus::Succeeded)
        .filter_map(|c| c.commit_at.map(|k| c.at - k))
        .collect();
    let restore: Vec<i64> = incidents
        .iter()
        .filter(|i| i.started_at >= from)
        .filter_map(|i| {
            i.resolved_at.map(|r| {
                r - i
                    .impact_started_at
                    .unwrap_or(i.started_at)
                    .min(i.started_at)
            })
        })
        .collect();
    let n = deploys.len();
    Ok(Json(json!({
        "service": name,
        "days": days,
        "deploys": n,
        "deploy_frequency_per_day": succeeded as f64 / days as f64,
        "change_failure_rate": (n > 0).then(|| failed as f64 / n as f64),
        "failed_deploys": failed,
        "lead_time_seconds": { "median": median(lead.clone()), "deploys_with_commit_time": lead.len() },
        "time_to_restore_seconds": { "median": median(restore.clone()), "incidents_resolved": restore.len() },
    })))
}
