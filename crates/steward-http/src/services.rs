//! The service catalog as the API shows it: entries with their SLOs, open alerts and
//! incidents; the dependency graph; the responsibility map and its evidence; readiness.

use crate::access::{Actor, Principal, Scope};
use crate::alerts::{bad, blocking, json_body, now, opt_time, parse_time, query};
use crate::error::ApiError;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use steward_config::Catalog;
use steward_model::catalog::Service;
use steward_model::readiness::{worst_first, ControlOwner, Readiness};
use steward_store::{AlertFilter, Evidence};

fn service_or_404<'c>(catalog: &'c Catalog, name: &str) -> Result<&'c Service, ApiError> {
    catalog
        .service(name)
        .ok_or_else(|| ApiError::not_found(format!("there is no service `{name}`")))
}

/// A catalog entry as declared; a customer's user sees no other customer's service among
/// its dependencies.
pub fn service_json(catalog: &Catalog, s: &Service, scope: &Scope) -> Value {
    json!({
        "name": s.name,
        "display_name": s.display_name,
        "description": s.description,
        "owner": s.owner,
        "tier": s.tier,
        "lifecycle": s.lifecycle,
        "customer": s.customer,
        "class": s.class,
        "system": s.system,
        "tags": s.tags,
        // The provider's on-call arrangements are the provider's.
        "escalation_policy": if scope.customer().is_some() { None } else { s.escalation_policy.as_deref() },
        "depends_on": s.depends_on.iter().filter(|d| scope.sees_service(catalog, d)).collect::<Vec<_>>(),
        "links": s.links.iter().map(|l| json!({"title": l.title, "url": l.url})).collect::<Vec<_>>(),
        "failure_modes": s.failure_modes.iter().map(|m| json!({"name": m.name, "description": m.description})).collect::<Vec<_>>(),
        "slos": catalog.slos.iter().filter(|d| d.service == s.name).map(|d| d.name.as_str()).collect::<Vec<_>>(),
        "runbooks": catalog.runbooks.iter().filter(|r| r.service == s.name).map(|r| r.name.as_str()).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/services`: every service the caller sees, with its open alerts and
/// incidents counted.
pub async fn list(State(app): State<AppState>, scope: Scope) -> Result<Json<Value>, ApiError> {
    let engine = app.engine();
    let store = engine.store().clone();
    let customer = scope.customer().map(str::to_string);
    let counts =
        blocking(move || Ok(store.transact(move |tx| tx.open_by_service(customer.as_deref()))?))
            .await?;
    let catalog = engine.catalog();
    let open: std::collections::HashMap<&str, (i64, i64)> = counts
        .iter()
        .map(|(s, a, i)| (s.as_str(), (*a, *i)))
        .collect();
    let services: Vec<Value> = catalog
        .services
        .iter()
        .filter(|s| scope.sees_service(catalog, &s.name))
        .map(|s| {
            let mut v = service_json(catalog, s, &scope);
            let (a, i) = open.get(s.name.as_str()).copied().unwrap_or_default();
            v["open_alerts"] = json!(a);
            v["open_incidents"] = json!(i);
            v
        })
        .collect();
    Ok(Json(json!({ "services": services })))
}

/// `GET /api/v1/services/{name}`: the entry, its SLOs' state, its open alerts and incidents,
/// and its responsibility map with each control's newest evidence.
pub async fn get(
    State(app): State<AppState>,
    scope: Scope,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let engine = app.engine();
    let s = service_or_404(engine.catalog(), &name)?.clone();
    let store = engine.store().clone();
    let n = name.clone();
    let (alerts, incidents, evidence) = blocking(move || {
        Ok(store.transact(move |tx| {
            let alerts = tx.alerts(&AlertFilter {
                unresolved: true,
                service: Some(n.clone()),
                limit: Some(100),
                ..AlertFilter::default()
            })?;
            let incidents = tx.incidents(true, Some(&n), 100)?;
            let evidence = tx.newest_evidence(&n)?;
            Ok((alerts, incidents, evidence))
        })?)
    })
    .await?;
    let catalog = engine.catalog();
    let t = now();
    let snap = engine.snapshot();
    let mut v = service_json(catalog, &s, &scope);
    v["slos"] = json!(snap
        .slos()
        .filter(|r| r.def.service == s.name)
        .map(|r| json!({
            "name": r.def.name,
            "objective": r.def.objective.target(),
            "budget_remaining": crate::slos::num(r.status.budget.remaining_ratio),
        }))
        .collect::<Vec<_>>());
    v["open_alerts"] = json!(alerts
        .iter()
        .map(|a| crate::alerts::alert_json_for(a, &scope, catalog))
        .collect::<Vec<_>>());
    v["open_incidents"] = json!(incidents
        .iter()
        .map(crate::incidents::incident_json)
        .collect::<Vec<_>>());
    v["responsibilities"] = responsibilities(catalog, &s, &evidence, t, &scope);
    v["dependents"] = json!(catalog
        .dependents(&s.name, false)
        .into_iter()
        .filter(|d| scope.sees_service(catalog, d))
        .collect::<Vec<_>>());
    Ok(Json(v))
}

/// Each control: who owns it, what proves it, its newest evidence (`newest`: one a control)
/// and whether that is fresh.
fn responsibilities(
    catalog: &Catalog,
    s: &Service,
    newest: &[Evidence],
    t: i64,
    scope: &Scope,
) -> Value {
    json!(catalog
        .controls_of(s)
        .iter()
        .map(|c| {
            let newest = newest.iter().find(|e| e.control == c.name);
            json!({
                "control": c.name,
                "owner": c.owner.map(ControlOwner::as_str),
                "evidence": c.evidence.as_ref().map(|e| json!({"kind": e.kind, "every_seconds": e.every})),
                "last_evidence": newest.map(|e| evidence_json(e, sees_recorder(catalog, s, &e.control, scope))),
                "fresh": match (&c.evidence, newest) {
                    (None, _) => Value::Null,
                    (Some(_), None) => json!(false),
                    (Some(r), Some(e)) => json!(t - e.done_at <= r.every),
                },
            })
        })
        .collect::<Vec<_>>())
}

/// Evidence as the API shows it; `by` says who recorded it (a customer is not told which of
/// the provider's staff recorded the provider's evidence).
fn evidence_json(e: &Evidence, by: bool) -> Value {
    json!({
        "id": e.id,
        "service": e.service,
        "control": e.control,
        "link": e.link,
        "note": e.note,
        "at": rfc3339(e.done_at),
        "recorded_by": if by { Some(e.recorded_by.as_str()) } else { None },
        "recorded_at": rfc3339(e.recorded_at),
    })
}

/// Whether `scope` reads who recorded a control's evidence: the provider always; a customer
/// for the controls it owns.
fn sees_recorder(catalog: &Catalog, s: &Service, control: &str, scope: &Scope) -> bool {
    scope.customer().is_none()
        || catalog
            .controls_of(s)
            .iter()
            .any(|c| c.name == control && c.owner == Some(ControlOwner::Customer))
}

/// `GET /api/v1/services/{name}/dependencies?transitive=true` (and `.../dependents`).
pub async fn dependencies(
    State(app): State<AppState>,
    scope: Scope,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    graph(app, scope, name, raw, false).await
}

pub async fn dependents(
    State(app): State<AppState>,
    scope: Scope,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    graph(app, scope, name, raw, true).await
}

async fn graph(
    app: AppState,
    scope: Scope,
    name: String,
    raw: Option<String>,
    up: bool,
) -> Result<Json<Value>, ApiError> {
    let transitive = crate::alerts::flag(&query(&raw), "transitive")?;
    let engine = app.engine();
    let catalog = engine.catalog();
    service_or_404(catalog, &name)?;
    let list = if up {
        catalog.dependents(&name, transitive)
    } else {
        catalog.dependencies(&name, transitive)
    };
    // A customer's user sees the services of its customer only, whatever the graph holds.
    let seen: Vec<Value> = list
        .into_iter()
        .filter(|n| scope.sees_service(catalog, n))
        .map(|n| {
            let s = catalog.service(n);
            json!({
                "name": n,
                "owner": s.and_then(|s| s.owner.as_deref()),
                "tier": s.and_then(|s| s.tier),
                "depends_on": s.map(|s| &s.depends_on[..]).unwrap_or_default().iter().filter(|d| scope.sees_service(catalog, d)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let key = if up { "dependents" } else { "dependencies" };
    Ok(Json(
        json!({ "service": name, "transitive": transitive, key: seen }),
    ))
}

/// `GET /api/v1/services/{name}/evidence`: its evidence, newest first.
pub async fn evidence(
    State(app): State<AppState>,
    scope: Scope,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let engine = app.engine();
    let s = service_or_404(engine.catalog(), &name)?.clone();
    let store = engine.store().clone();
    let list = blocking(move || Ok(store.transact(move |tx| tx.evidence_of(&name, 1000))?)).await?;
    let catalog = engine.catalog();
    Ok(Json(json!({
        "evidence": list
            .iter()
            .map(|e| evidence_json(e, sees_recorder(catalog, &s, &e.control, &scope)))
            .collect::<Vec<_>>()
    })))
}

/// `POST /api/v1/services/{name}/evidence` `{"control","link","note","at"}`: evidence that a
/// control is done (`at`, when the work was done, defaults to now). A customer's users
/// record the controls their customer owns; the provider's staff those it owns.
pub async fn add_evidence(
    State(app): State<AppState>,
    axum::Extension(who): axum::Extension<Principal>,
    Path(name): Path<String>,
    Actor(by): Actor,
    client: crate::login::Client,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b = json_body(&body)?;
    let Some(obj) = b.as_object() else {
        return Err(bad(
            "the body must be an object: {\"control\", \"link\", \"note\", \"at\"}",
        ));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["control", "link", "note", "at"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "unknown field `{k}`; expected control, link, note, at"
        )));
    }
    let engine = app.engine();
    let catalog = engine.catalog();
    let s = service_or_404(catalog, &name)?;
    let control_name = match &b["control"] {
        Value::String(c) if !c.is_empty() => c.clone(),
        Value::Null => return Err(bad("control is required")),
        _ => return Err(bad("control must be a non-empty string")),
    };
    let controls = catalog.controls_of(s);
    let Some(control) = controls.iter().find(|c| c.name == control_name) else {
        let known: Vec<&str> = controls.iter().map(|c| c.name.as_str()).collect();
        return Err(bad(if known.is_empty() {
            format!("service `{name}` has no controls (it names no class): there is no `{control_name}` to record")
        } else {
            format!(
                "service `{name}` has no control `{control_name}`; its controls are {}",
                known.join(", ")
            )
        }));
    };
    let link = match &b["link"] {
        Value::String(l) if l.starts_with("https://") || l.starts_with("http://") => {
            if l.len() > 2048 || l.chars().any(char::is_control) {
                return Err(bad("link must be an http(s) URL of at most 2048 bytes"));
            }
            l.clone()
        }
        Value::Null => {
            return Err(bad(
                "link is required: where the evidence is (a report, a ticket, a log)",
            ))
        }
        _ => return Err(bad("link must be an http:// or https:// URL")),
    };
    let note = match &b["note"] {
        Value::Null => String::new(),
        Value::String(n) if n.len() <= 4096 => n.trim().to_string(),
        Value::String(_) => return Err(bad("note is longer than 4096 bytes")),
        _ => return Err(bad("note must be a string")),
    };
    let t = now();
    let at = match &b["at"] {
        Value::Null => t,
        v => parse_time(v, "at")?,
    };
    if at > t + 300 {
        return Err(bad(
            "at is in the future: evidence records work that was done",
        ));
    }
    // Who may record: the side that owns the control. A service of no customer is the
    // provider's alone: its staff record every control of it.
    let customer_side = who.scope().customer().is_some();
    let owner = match (control.owner, &s.customer) {
        (Some(ControlOwner::Customer), None) => Some(ControlOwner::Provider),
        (o, _) => o,
    };
    match owner {
        None => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no_owner",
                format!("control `{control_name}` of `{name}` has no owner: set owner: provider or customer before recording its evidence"),
            ))
        }
        Some(ControlOwner::Customer) if !customer_side && !matches!(who, Principal::Anonymous) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("control `{control_name}` is the customer's: its evidence is recorded by the customer's users"),
            ))
        }
        Some(ControlOwner::Provider) if customer_side => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("control `{control_name}` is the provider's: its evidence is recorded by the provider's staff"),
            ))
        }
        _ => {}
    }
    let e = Evidence {
        id: 0,
        service: name.clone(),
        customer: s.customer.clone(),
        control: control_name,
        link,
        note,
        done_at: at,
        recorded_by: by,
        recorded_at: t,
    };
    let store = engine.store().clone();
    let from = client.details();
    // The evidence and its audit entry commit together: proof is never kept unrecorded.
    let saved = blocking(move || {
        Ok(store.transact(move |tx| {
            let saved = tx.add_evidence(&e)?;
            tx.audit(
                saved.recorded_at,
                &saved.recorded_by,
                "evidence.add",
                &format!("service:{}", saved.service),
                &json!({ "after": evidence_json(&saved, true), "from": from }).to_string(),
            )?;
            Ok(saved)
        })?)
    })
    .await?;
    engine.alerting.forget_readiness();
    Ok((StatusCode::CREATED, Json(evidence_json(&saved, true))).into_response())
}

/// One service's readiness, as of now (computed afresh: what was just recorded counts).
pub(crate) async fn assess_one(
    app: &AppState,
    name: String,
) -> Result<Option<Readiness>, ApiError> {
    let engine = app.engine();
    blocking(move || {
        let t = now();
        let facts = steward_engine::readiness::gather_of(engine.store(), Some(&name), t)?;
        let catalog = engine.catalog();
        Ok(catalog
            .service(&name)
            .map(|s| steward_engine::readiness::assess(catalog, &facts, s, t)))
    })
    .await
}

/// What a customer's user reads of a check that judges the provider's on-call arrangements
/// (its team, schedules and escalation policies are the provider's): whether it passes, not
/// the names and hours behind it.
fn for_customer(c: &mut steward_model::readiness::Check) {
    let (pass, fail) = match c.name {
        "owner" => (
            "a team with people in it owns the service",
            "no team with people in it owns the service",
        ),
        "oncall-coverage" => (
            "someone is reached at every hour of the next 14 days",
            "there are hours in the next 14 days when nobody would be reached",
        ),
        "escalation" => (
            "a page that is not answered reaches someone else",
            "a page that is not answered reaches nobody else",
        ),
        "slo-paging" => (
            "the SLOs' pages reach people",
            "the SLOs' pages reach no person",
        ),
        _ => return,
    };
    c.reason = (if c.passed { pass } else { fail }).to_string();
    if !c.passed {
        c.fix = Some("ask your provider: the on-call arrangements are theirs".into());
    }
}

/// A readiness as `scope` may read it.
fn scoped(mut r: Readiness, scope: &Scope) -> Readiness {
    if scope.customer().is_some() {
        r.checks.iter_mut().for_each(for_customer);
    }
    r
}

/// What the service breaks of the Policies that select it.
fn violations_json(catalog: &Catalog, r: &Readiness) -> Value {
    json!(steward_engine::readiness::violations(catalog, r, |_| true)
        .iter()
        .map(|v| json!({"policy": v.policy, "check": v.check, "message": v.message}))
        .collect::<Vec<_>>())
}

pub fn readiness_json(r: &Readiness) -> Value {
    json!({
        "service": r.service,
        "level": r.level.as_str(),
        "score": r.score,
        "checks": r.checks.iter().map(|c| json!({
            "name": c.name,
            "passed": c.passed,
            "reason": c.reason,
            "fix": c.fix,
        })).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/services/{name}/readiness`: the checks, level and score, and the trend of
/// the last 90 days' snapshots.
pub async fn readiness(
    State(app): State<AppState>,
    scope: Scope,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    service_or_404(app.engine().catalog(), &name)?;
    let r = assess_one(&app, name.clone())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no service `{name}`")))?;
    let r = scoped(r, &scope);
    let store = app.engine().store().clone();
    let since = steward_engine::readiness::day_of(now() - 90 * 86_400);
    let days =
        blocking(move || Ok(store.transact(move |tx| tx.readiness_days(&name, &since))?)).await?;
    let mut v = readiness_json(&r);
    v["trend"] = json!(days
        .iter()
        .map(|d| json!({"day": d.day, "level": d.level, "score": d.score, "failing": d.failing}))
        .collect::<Vec<_>>());
    v["since"] = json!(steward_engine::readiness::trend_sentence(&r, &days));
    v["violations"] = violations_json(app.engine().catalog(), &r);
    Ok(Json(v))
}

/// `GET /api/v1/readiness[?customer=C]`: every service the caller sees, worst first.
pub async fn all(
    State(app): State<AppState>,
    scope: Scope,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(&raw);
    if let Some(k) = q.keys().find(|k| k.as_str() != "customer") {
        return Err(bad(format!("unknown parameter `{k}`; expected customer")));
    }
    let customer = q.get("customer").cloned();
    let engine = app.engine();
    if let Some(c) = &customer {
        if !engine.catalog().customers.iter().any(|x| &x.name == c) {
            return Err(bad(format!("there is no customer `{c}`")));
        }
    }
    // Filtering, judging the policies and writing the answer run off the async workers.
    Ok(Json(
        blocking(move || {
            let (at, all) = engine.alerting.readiness_now(now())?;
            let catalog = engine.catalog();
            let of: std::collections::HashMap<&str, &Service> = catalog
                .services
                .iter()
                .map(|s| (s.name.as_str(), s))
                .collect();
            let mut list: Vec<Readiness> = all
                .iter()
                .filter(|r| {
                    let service = of.get(r.service.as_str());
                    scope.sees(service.and_then(|s| s.customer.as_deref()))
                        && customer
                            .as_deref()
                            .is_none_or(|c| service.and_then(|s| s.customer.as_deref()) == Some(c))
                })
                .map(|r| scoped(r.clone(), &scope))
                .collect();
            worst_first(&mut list);
            Ok(json!({
                "services": list.iter().map(|r| json!({
                    "service": r.service,
                    "level": r.level.as_str(),
                    "score": r.score,
                    "failing": r.failing(),
                    "violations": violations_json(catalog, r),
                })).collect::<Vec<_>>(),
                "at": opt_time(Some(at)),
            }))
        })
        .await?,
    ))
}
