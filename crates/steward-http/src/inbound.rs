//! Alerts from outside, each source in its own protocol: the Alertmanager webhook (payload
//! version 4), a generic JSON webhook, PagerDuty Events API v2 (`POST /v2/enqueue`),
//! heartbeats, and the Alertmanager v2 API that Prometheus and `amtool` talk to, so Steward
//! can stand in for an Alertmanager.

use crate::alerts::{bad, blocking, now, parse_time, query_values, read_silence, silence_state};
use crate::error::ApiError;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use steward_engine::alerting::{silence_matchers, Action, AlertError, Event, Outcome};
use steward_model::catalog::{Integration, IntegrationKind};
use steward_model::matcher::{all_match, Labels, Matcher};
use steward_model::Suppression;
use steward_store::AlertFilter;

/// Alerts in one request at most.
const MAX_ALERTS: usize = 1000;
const MAX_LABELS: usize = 128;
const MAX_TEXT: usize = 16 * 1024;

/// The key or token of `Authorization: Bearer ...`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, key) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
    kinds: &[IntegrationKind],
) -> Result<Integration, ApiError> {
    let key = bearer(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the integration's key as Authorization: Bearer KEY",
        )
    })?;
    Ok(app
        .engine()
        .alerting
        .authenticate(key, kinds, now())?
        .clone())
}

/// Whether a JSON body holds a NUL character in a string: no store keeps one in text.
fn has_nul(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| crate::alerts::holds_nul(&v))
}

fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    crate::alerts::json_body(body)
}

/// A label set: an object of strings.
fn labels(v: &Value, what: &str) -> Result<Labels, ApiError> {
    let Some(map) = v.as_object() else {
        return if v.is_null() {
            Ok(Labels::new())
        } else {
            Err(bad(format!("{what} must be an object of strings")))
        };
    };
    if map.len() > MAX_LABELS {
        return Err(bad(format!(
            "{what} has {} entries; at most {MAX_LABELS}",
            map.len()
        )));
    }
    map.iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) if s.len() <= MAX_TEXT && k.len() <= 1024 => Ok((k.clone(), s.to_string())),
            Some(_) => Err(bad(format!("{what}.{k} is longer than {MAX_TEXT} bytes"))),
            None => Err(bad(format!("{what}.{k} must be a string"))),
        })
        .collect()
}

/// Alertmanager's fingerprint stand-in: a stable hash of the sorted label set.
fn fingerprint(labels: &Labels) -> String {
    let mut text = String::new();
    for (k, v) in labels {
        text.push_str(k);
        text.push('\u{1}');
        text.push_str(v);
        text.push('\u{2}');
    }
    format!("{:016x}", steward_engine::body_hash(text.as_bytes()))
}

fn text(v: &Value, max: usize) -> Option<String> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(max).collect())
}

/// The catalog service an alert names in its `service` label, else the integration's.
fn service_of(app: &AppState, labels: &Labels, integ: &Integration) -> Option<String> {
    labels
        .get("service")
        .filter(|s| app.engine().catalog().service(s).is_some())
        .cloned()
        .or_else(|| integ.service.clone())
}

fn summary_of(labels: &Labels, annotations: &Labels, fallback: &str) -> String {
    annotations
        .get("summary")
        .or_else(|| annotations.get("description"))
        .or_else(|| labels.get("alertname"))
        .cloned()
        .unwrap_or_else(|| fallback.to_string())
}

async fn handle(app: &AppState, events: Vec<Event>) -> Result<Vec<Outcome>, ApiError> {
    let alerting = app.engine().alerting.clone();
    blocking(move || Ok(alerting.handle(events)?)).await
}

/// `POST /api/v1/integrations/{kind}` for `alertmanager` (webhook payload version 4) and
/// `webhook` (generic JSON).
pub async fn integration(
    State(app): State<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    match kind.as_str() {
        "alertmanager" => alertmanager_webhook(app, headers, body).await,
        "webhook" => generic_webhook(app, headers, body).await,
        "pagerduty" => Err(ApiError::not_found(
            "PagerDuty events are posted to /v2/enqueue, with the key as routing_key",
        )),
        "heartbeat" => Err(ApiError::not_found(
            "heartbeats ping POST /api/v1/heartbeats/{integration-name}",
        )),
        other => Err(ApiError::not_found(format!(
            "there is no integration kind `{other}`; use alertmanager or webhook"
        ))),
    }
}

async fn alertmanager_webhook(
    app: AppState,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let integ = authenticate(&app, &headers, &[IntegrationKind::Alertmanager])?;
    let body = json_body(&body)?;
    match body.get("version") {
        Some(Value::String(v)) if v == "4" => {}
        Some(Value::Number(n)) if n.as_u64() == Some(4) => {}
        Some(v) if !v.is_null() => {
            return Err(bad(format!(
                "webhook payload version {v} is not supported; Alertmanager sends version 4"
            )))
        }
        _ => {
            return Err(bad(
                "the body is not an Alertmanager webhook payload: `version` is missing",
            ))
        }
    }
    let alerts = body["alerts"]
        .as_array()
        .ok_or_else(|| bad("`alerts` must be a list"))?;
    if alerts.len() > MAX_ALERTS {
        return Err(bad(format!(
            "{} alerts in one payload; at most {MAX_ALERTS}",
            alerts.len()
        )));
    }
    let t = now();
    let mut events = Vec::with_capacity(alerts.len());
    for (i, a) in alerts.iter().enumerate() {
        let l = labels(&a["labels"], &format!("alerts[{i}].labels"))?;
        let ann = labels(&a["annotations"], &format!("alerts[{i}].annotations"))?;
        let action = match a["status"].as_str() {
            Some("firing") => Action::Trigger,
            Some("resolved") => Action::Resolve,
            other => {
                return Err(bad(format!(
                    "alerts[{i}].status is {other:?}; expected firing or resolved"
                )))
            }
        };
        let dedup_key = text(&a["fingerprint"], 255).unwrap_or_else(|| fingerprint(&l));
        events.push(Event {
            action,
            source: "alertmanager",
            integration: integ.name.clone(),
            service: service_of(&app, &l, &integ),
            dedup_key,
            severity: l.get("severity").cloned().unwrap_or_else(|| "page".into()),
            summary: summary_of(&l, &ann, "alert from Alertmanager"),
            details: json!({
                "annotations": ann,
                "startsAt": a["startsAt"],
                "endsAt": a["endsAt"],
                "generatorURL": a["generatorURL"],
                "groupKey": body["groupKey"],
                "externalURL": body["externalURL"],
                "receiver": body["receiver"],
            }),
            labels: l,
            at: t,
            expires_at: None,
            actor: format!("integration:{}", integ.name),
        });
    }
    let outcomes = handle(&app, events).await?;
    Ok(Json(json!({ "status": "success", "alerts": outcomes.len() })).into_response())
}

/// The generic webhook: `{"action": "trigger"|"acknowledge"|"resolve", "dedup_key",
/// "summary", "severity", "service", "labels", "details"}`, or a list of them.
async fn generic_webhook(
    app: AppState,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let integ = authenticate(&app, &headers, &[IntegrationKind::Webhook])?;
    let body = json_body(&body)?;
    let items: Vec<Value> = match body {
        Value::Array(items) => items,
        one @ Value::Object(_) => vec![one],
        _ => return Err(bad("the body must be an event object or a list of them")),
    };
    if items.len() > MAX_ALERTS {
        return Err(bad(format!(
            "{} events in one request; at most {MAX_ALERTS}",
            items.len()
        )));
    }
    let t = now();
    let mut events = Vec::with_capacity(items.len());
    for (i, e) in items.iter().enumerate() {
        let action = match e["action"].as_str().unwrap_or("trigger") {
            "trigger" => Action::Trigger,
            "acknowledge" => Action::Acknowledge,
            "resolve" => Action::Resolve,
            other => {
                return Err(bad(format!(
                    "events[{i}].action `{other}` is not one of trigger, acknowledge, resolve"
                )))
            }
        };
        let l = labels(&e["labels"], &format!("events[{i}].labels"))?;
        let summary = text(&e["summary"], 1024);
        if e["dedup_key"].as_str().is_some_and(|k| k.len() > 255) {
            return Err(bad(format!(
                "events[{i}].dedup_key is longer than 255 bytes"
            )));
        }
        let dedup_key = match (text(&e["dedup_key"], 255), &summary) {
            (Some(k), _) => k,
            (None, _) if action != Action::Trigger => {
                return Err(bad(format!(
                    "events[{i}] needs a dedup_key to {}",
                    e["action"].as_str().unwrap_or_default()
                )))
            }
            (None, Some(s)) => format!("{:016x}", steward_engine::body_hash(s.as_bytes())),
            (None, None) => return Err(bad(format!("events[{i}] needs a summary"))),
        };
        let service = match e["service"].as_str() {
            Some(s) if app.engine().catalog().service(s).is_some() => Some(s.to_string()),
            Some(s) => {
                return Err(bad(format!(
                    "events[{i}].service `{s}` is not in the catalog"
                )))
            }
            None => service_of(&app, &l, &integ),
        };
        events.push(Event {
            action,
            source: "webhook",
            integration: integ.name.clone(),
            service,
            dedup_key,
            severity: text(&e["severity"], 32).unwrap_or_else(|| "page".into()),
            summary: summary.unwrap_or_default(),
            labels: l,
            details: e.get("details").cloned().unwrap_or(Value::Null),
            at: t,
            expires_at: None,
            actor: format!("integration:{}", integ.name),
        });
    }
    let outcomes = handle(&app, events).await?;
    let alerts: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            json!({
                "result": match o {
                    Outcome::Opened(_) => "opened",
                    Outcome::Updated(_) => "updated",
                    Outcome::Acknowledged(_) => "acknowledged",
                    Outcome::Resolved(_) => "resolved",
                    Outcome::NoOpenAlert => "no_open_alert",
                },
                "alert": o.alert().map(|a| a.id),
                "dedup_key": o.alert().map(|a| a.dedup_key.clone()),
            })
        })
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "success", "events": alerts })),
    )
        .into_response())
}

/// `POST /api/v1/heartbeats/{name}`: the heartbeat is alive.
pub async fn heartbeat(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let integ = authenticate(&app, &headers, &[IntegrationKind::Heartbeat])?;
    if integ.name != name {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("the key is not the key of heartbeat `{name}`"),
        ));
    }
    let alerting = app.engine().alerting.clone();
    let t = now();
    let outcome = blocking(move || Ok(alerting.beat(&integ, t)?)).await?;
    Ok(Json(json!({
        "status": "ok",
        "integration": name,
        "at": rfc3339(t),
        "resolved": outcome.alert().map(|a| a.id),
    })))
}

// --- PagerDuty Events API v2 ---

fn pd_error(status: StatusCode, kind: &str, message: &str, errors: Vec<String>) -> Response {
    (
        status,
        Json(json!({ "status": kind, "message": message, "errors": errors })),
    )
        .into_response()
}

/// `POST /v2/enqueue`, as PagerDuty's Events API v2 answers it.
pub async fn enqueue(State(app): State<AppState>, body: axum::body::Bytes) -> Response {
    if has_nul(&body) {
        return pd_error(
            StatusCode::BAD_REQUEST,
            "invalid event",
            "Event object is invalid",
            vec!["the event holds a NUL character (\\u0000)".into()],
        );
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return pd_error(
                StatusCode::BAD_REQUEST,
                "invalid event",
                "Event object is invalid",
                vec!["the event must be a JSON object".into()],
            )
        }
        Err(e) => {
            return pd_error(
                StatusCode::BAD_REQUEST,
                "invalid request",
                "Invalid JSON",
                vec![e.to_string()],
            )
        }
    };
    let mut errors = Vec::new();
    let key = body["routing_key"].as_str().unwrap_or_default().to_string();
    if key.is_empty() {
        errors.push("'routing_key' is missing or blank".to_string());
    }
    let action = match body["event_action"].as_str() {
        Some("trigger") => Some(Action::Trigger),
        Some("acknowledge") => Some(Action::Acknowledge),
        Some("resolve") => Some(Action::Resolve),
        Some(other) => {
            errors.push(format!("'event_action' is invalid (`{other}`); must be one of trigger, acknowledge, resolve"));
            None
        }
        None => {
            errors.push("'event_action' is missing".to_string());
            None
        }
    };
    let dedup_key = match &body["dedup_key"] {
        Value::String(k) if k.len() > 255 => {
            errors.push("'dedup_key' is longer than 255 characters".into());
            None
        }
        Value::String(k) if !k.is_empty() => Some(k.clone()),
        Value::Null | Value::String(_) => None,
        _ => {
            errors.push("'dedup_key' must be a string".into());
            None
        }
    };
    let payload = &body["payload"];
    let mut summary = String::new();
    let mut severity = String::from("error");
    if action == Some(Action::Trigger) {
        if !payload.is_object() {
            errors.push("'payload' is missing or not an object".into());
        } else {
            match payload["summary"].as_str() {
                Some(s) if !s.trim().is_empty() => summary = s.chars().take(1024).collect(),
                _ => errors.push("'payload.summary' is missing or blank".into()),
            }
            if payload["source"]
                .as_str()
                .is_none_or(|s| s.trim().is_empty())
            {
                errors.push("'payload.source' is missing or blank".into());
            }
            match payload["severity"].as_str() {
                Some(s @ ("critical" | "error" | "warning" | "info")) => severity = s.to_string(),
                Some(s) => errors.push(format!("'payload.severity' is invalid (`{s}`); must be one of critical, error, warning, info")),
                None => errors.push("'payload.severity' is missing".into()),
            }
            if let Some(ts) = payload.get("timestamp").filter(|v| !v.is_null()) {
                if parse_time(ts, "payload.timestamp").is_err() {
                    errors.push("'payload.timestamp' is not an ISO 8601 time".into());
                }
            }
        }
    } else if action.is_some() && dedup_key.is_none() {
        errors.push("'dedup_key' is required to acknowledge or resolve".into());
    }
    if !errors.is_empty() {
        return pd_error(
            StatusCode::BAD_REQUEST,
            "invalid event",
            "Event object is invalid",
            errors,
        );
    }
    let integ = match app
        .engine()
        .alerting
        .authenticate(&key, &[IntegrationKind::Pagerduty], now())
    {
        Ok(i) => i.clone(),
        Err(AlertError::RateLimited(..)) => {
            return pd_error(
                StatusCode::TOO_MANY_REQUESTS,
                "throttle event",
                "Requests for this service are arriving too quickly. Please retry later.",
                Vec::new(),
            )
        }
        Err(_) => {
            return pd_error(
                StatusCode::BAD_REQUEST,
                "invalid event",
                "Event object is invalid",
                vec!["'routing_key' is not the key of a pagerduty integration".into()],
            )
        }
    };
    let t = now();
    let dedup_key = dedup_key.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!(
            "{:016x}{:016x}",
            steward_engine::body_hash(format!("{key}/{nanos}").as_bytes()),
            steward_engine::body_hash(summary.as_bytes())
        )
    });
    let mut labels: Labels = BTreeMap::new();
    for (k, field) in [
        ("source", "source"),
        ("component", "component"),
        ("group", "group"),
        ("class", "class"),
    ] {
        if let Some(v) = text(&payload[field], 255) {
            labels.insert(k.into(), v);
        }
    }
    let event = Event {
        action: action.expect("checked above"),
        source: "pagerduty",
        integration: integ.name.clone(),
        service: integ.service.clone(),
        dedup_key: dedup_key.clone(),
        severity,
        summary,
        labels,
        details: json!({
            "custom_details": payload.get("custom_details"),
            "timestamp": payload.get("timestamp"),
            "links": body.get("links"),
            "images": body.get("images"),
            "client": body.get("client"),
            "client_url": body.get("client_url"),
        }),
        at: t,
        expires_at: None,
        actor: format!("integration:{}", integ.name),
    };
    match handle(&app, vec![event]).await {
        Ok(_) => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "success", "message": "Event processed", "dedup_key": dedup_key })),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

// --- the Alertmanager v2 API ---

/// Silence ids as Alertmanager's clients expect them (UUIDs), over integer keys.
fn silence_uuid(id: i64) -> String {
    format!("00000000-0000-4000-8000-{:012x}", id)
}

fn silence_id(text: &str) -> Option<i64> {
    match text.strip_prefix("00000000-0000-4000-8000-") {
        Some(hex) if hex.len() == 12 => i64::from_str_radix(hex, 16).ok(),
        _ => text.parse().ok(),
    }
    .filter(|i| *i > 0)
}

fn am_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(Value::String(message.into()))).into_response()
}

/// An Alertmanager integration's key: writes count against its rate limit, reads do not.
fn am_auth(app: &AppState, headers: &HeaderMap, write: bool) -> Result<Integration, ApiError> {
    if write {
        return authenticate(app, headers, &[IntegrationKind::Alertmanager]);
    }
    let key = bearer(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the integration's key as Authorization: Bearer KEY",
        )
    })?;
    Ok(app
        .engine()
        .alerting
        .identify(key, &[IntegrationKind::Alertmanager])?
        .1
        .clone())
}

/// Alertmanager's resolve_timeout: an alert posted without `endsAt` resolves this long after
/// it was last sent.
const RESOLVE_TIMEOUT: i64 = 300;

/// Splits `a="x,y",b=~c` at the commas outside quotes.
fn split_matchers(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ',' && !quoted {
            parts.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The `filter` matchers of a query, as Alertmanager's clients send them.
fn filters(raw: &Option<String>) -> Result<Vec<Matcher>, ApiError> {
    let mut out = Vec::new();
    for f in query_values(raw, "filter") {
        let text = f.trim().trim_start_matches('{').trim_end_matches('}');
        for part in split_matchers(text) {
            out.push(Matcher::parse(&part).map_err(|e| bad(format!("bad filter: {e}")))?);
        }
    }
    Ok(out)
}

/// `POST /api/v2/alerts`: Prometheus's alerts. An alert whose `endsAt` has passed is resolved.
pub async fn post_alerts(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let integ = match am_auth(&app, &headers, true) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    if has_nul(&body) {
        return am_error(
            StatusCode::BAD_REQUEST,
            "the body holds a NUL character (\\u0000)",
        );
    }
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return am_error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON list of alerts",
        );
    };
    if items.len() > MAX_ALERTS {
        return am_error(
            StatusCode::BAD_REQUEST,
            format!(
                "{} alerts in one request; at most {MAX_ALERTS}",
                items.len()
            ),
        );
    }
    let t = now();
    let mut events = Vec::with_capacity(items.len());
    for (i, a) in items.iter().enumerate() {
        let l = match labels(&a["labels"], &format!("[{i}].labels")) {
            Ok(l) if !l.is_empty() => l,
            Ok(_) => {
                return am_error(
                    StatusCode::BAD_REQUEST,
                    format!("[{i}]: an alert needs labels"),
                )
            }
            Err(e) => return am_error(StatusCode::BAD_REQUEST, e.message),
        };
        let ann = match labels(&a["annotations"], &format!("[{i}].annotations")) {
            Ok(a) => a,
            Err(e) => return am_error(StatusCode::BAD_REQUEST, e.message),
        };
        // Go's zero time (0001-01-01) is how an unset endsAt is written.
        let ends = match a.get("endsAt").filter(|v| !v.is_null()) {
            Some(v) => match parse_time(v, "endsAt") {
                Ok(t) if t <= -62_135_596_800 => None,
                Ok(t) => Some(t),
                Err(e) => {
                    return am_error(StatusCode::BAD_REQUEST, format!("[{i}]: {}", e.message))
                }
            },
            None => None,
        };
        let resolved = ends.is_some_and(|e| e <= t);
        events.push(Event {
            action: if resolved {
                Action::Resolve
            } else {
                Action::Trigger
            },
            source: "alertmanager",
            integration: integ.name.clone(),
            service: service_of(&app, &l, &integ),
            dedup_key: fingerprint(&l),
            severity: l.get("severity").cloned().unwrap_or_else(|| "page".into()),
            summary: summary_of(&l, &ann, "alert from Prometheus"),
            details: json!({
                "annotations": ann,
                "startsAt": a["startsAt"],
                "endsAt": a["endsAt"],
                "generatorURL": a["generatorURL"],
            }),
            labels: l,
            at: t,
            expires_at: if resolved {
                None
            } else {
                Some(ends.unwrap_or(t + RESOLVE_TIMEOUT))
            },
            actor: format!("integration:{}", integ.name),
        });
    }
    match handle(&app, events).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

fn flag(raw: &Option<String>, key: &str, default: bool) -> bool {
    query_values(raw, key)
        .last()
        .map_or(default, |v| v != "false")
}

/// A read of the Alertmanager API: its key checked, its `filter` matchers read.
/// The integration whose key the caller sent, and the request's `filter` matchers.
fn read_with_filters(
    app: &AppState,
    headers: &HeaderMap,
    raw: &Option<String>,
) -> Result<(Integration, Vec<Matcher>), Box<Response>> {
    let integration = am_auth(app, headers, false).map_err(|e| Box::new(e.into_response()))?;
    let filters =
        filters(raw).map_err(|e| Box::new(am_error(StatusCode::BAD_REQUEST, e.message)))?;
    Ok((integration, filters))
}

/// `GET /api/v2/alerts`: the open alerts of the caller's integration (a key reads no other
/// integration's), in Alertmanager's shape; `filter` matchers, and `active`, `silenced`,
/// `inhibited` as Alertmanager reads them.
pub async fn get_alerts(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (integration, filters) = match read_with_filters(&app, &headers, &raw) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let (active, silenced, inhibited) = (
        flag(&raw, "active", true),
        flag(&raw, "silenced", true),
        flag(&raw, "inhibited", true),
    );
    let store = app.engine().store().clone();
    let t = now();
    // Up to 10,000 alerts' labels and details are parsed: off the async workers.
    match blocking(move || {
        let mut alerts = store.transact(|tx| {
            tx.alerts(&AlertFilter {
                unresolved: true,
                limit: Some(10_000),
                ..AlertFilter::default()
            })
        })?;
        alerts.retain(|a| a.integration == integration.name);
        Ok(am_alerts(
            &alerts,
            &filters,
            (active, silenced, inhibited),
            t,
        ))
    })
    .await
    {
        Ok(out) => Json(out).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Open alerts in Alertmanager's shape, those the filters and the active, silenced and
/// inhibited flags keep. An alert its source refreshes ends when it expires; one Steward
/// resolves itself is reported as ending a resolve timeout from now, as Alertmanager does.
fn am_alerts(
    alerts: &[steward_store::Alert],
    filters: &[Matcher],
    (active, silenced, inhibited): (bool, bool, bool),
    t: i64,
) -> Vec<Value> {
    alerts
        .iter()
        .filter_map(|a| {
            if !all_match(filters, &a.labels) {
                return None;
            }
            let why = a.suppressed.as_ref();
            let is_silenced = why.is_some_and(Suppression::is_silence);
            let is_inhibited = why.is_some_and(|w| !w.is_silence());
            let keep = match (is_silenced, is_inhibited) {
                (true, _) => silenced,
                (_, true) => inhibited,
                _ => active,
            };
            if !keep {
                return None;
            }
            let details: Value = serde_json::from_str(&a.details).unwrap_or(Value::Null);
            let silenced_by: Vec<String> = match why {
                Some(Suppression::Silenced { silence }) => vec![silence_uuid(*silence)],
                _ => Vec::new(),
            };
            // The inhibiting alert, by its id in Steward.
            let inhibited_by: Vec<String> = why
                .and_then(Suppression::alert)
                .map(|id| id.to_string())
                .into_iter()
                .collect();
            Some(json!({
                "labels": a.labels,
                "annotations": details.get("annotations").filter(|v| v.is_object()).cloned().unwrap_or_else(|| json!({})),
                "startsAt": rfc3339(a.opened_at),
                "updatedAt": rfc3339(a.updated_at),
                "endsAt": rfc3339(a.expires_at.unwrap_or(t + RESOLVE_TIMEOUT)),
                "fingerprint": a.dedup_key,
                "generatorURL": details.get("generatorURL").and_then(Value::as_str).unwrap_or_default(),
                "receivers": [{ "name": a.policy.clone().unwrap_or_else(|| "steward".into()) }],
                "status": {
                    "state": if a.suppressed.is_some() { "suppressed" } else { "active" },
                    "silencedBy": silenced_by,
                    "inhibitedBy": inhibited_by,
                },
            }))
        })
        .collect()
}

fn am_silence(s: &steward_store::Silence, t: i64) -> Value {
    json!({
        "id": silence_uuid(s.id),
        "status": { "state": silence_state(s, t) },
        "updatedAt": rfc3339(s.updated_at),
        "matchers": serde_json::from_str::<Value>(&s.matchers).unwrap_or_else(|_| json!([])),
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

/// `GET /api/v2/silences` (with `filter` matchers: a silence is listed when every filter
/// matches one of its equality matchers).
pub async fn get_silences(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (integ, filters) = match read_with_filters(&app, &headers, &raw) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let store = app.engine().store().clone();
    match blocking(move || Ok(store.transact(|tx| tx.silences())?)).await {
        Ok(silences) => {
            let t = now();
            // A key sees its own integration's silences only.
            let out: Vec<Value> = silences
                .iter()
                .filter(|s| s.integration.as_deref() == Some(integ.name.as_str()))
                .filter(|s| {
                    let ms = silence_matchers(&s.matchers).unwrap_or_default();
                    let as_labels: Labels = ms
                        .iter()
                        .filter(|m| !m.op.is_regex() && m.op.is_equal())
                        .map(|m| (m.name.clone(), m.value.clone()))
                        .collect();
                    all_match(&filters, &as_labels)
                })
                .map(|s| am_silence(s, t))
                .collect();
            Json(out).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /api/v2/silences`: creates a silence, or replaces the one its `id` names.
pub async fn post_silences(
    State(app): State<AppState>,
    client: crate::login::Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let integ = match am_auth(&app, &headers, true) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let body: Value = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return am_error(StatusCode::BAD_REQUEST, e.message),
    };
    let t = now();
    let mut silence = match read_silence(&body, &format!("user:{}", integ.name), t) {
        Ok(s) => s,
        Err(e) => return am_error(StatusCode::BAD_REQUEST, e.message),
    };
    // It silences this integration's alerts only (and only this key sees or changes it).
    silence.integration = Some(integ.name.clone());
    let replace = body["id"].as_str().filter(|s| !s.is_empty());
    if let Some(text) = replace {
        match silence_id(text) {
            Some(id) => silence.id = id,
            None => return am_error(StatusCode::NOT_FOUND, format!("there is no silence {text}")),
        }
    }
    let store = app.engine().store().clone();
    let alerting = app.engine().alerting.clone();
    let from = client.details();
    let actor = format!("integration:{}", integ.name);
    let result = blocking(move || {
        let id = store.transact(move |tx| {
            let id = if silence.id > 0 {
                tx.update_silence(&silence)?.then_some(silence.id)
            } else {
                Some(tx.add_silence(&silence)?)
            };
            if let Some(id) = id {
                let after = json!({
                    "matchers": serde_json::from_str::<Value>(&silence.matchers).unwrap_or(Value::Null),
                    "starts_at": rfc3339(silence.starts_at),
                    "ends_at": rfc3339(silence.ends_at),
                    "created_by": silence.created_by,
                    "comment": silence.comment,
                });
                let action = if silence.id > 0 { "silences.change" } else { "silences.create" };
                let details = json!({ "after": after, "from": from }).to_string();
                tx.audit(silence.updated_at, &actor, action, &format!("silences/{id}"), &details)?;
            }
            Ok(id)
        })?;
        alerting.wake();
        Ok(id)
    })
    .await;
    match result {
        Ok(Some(id)) => Json(json!({ "silenceID": silence_uuid(id) })).into_response(),
        Ok(None) => am_error(StatusCode::NOT_FOUND, "there is no such silence to update"),
        Err(e) => e.into_response(),
    }
}

/// One silence of the v2 API, by its id: found, or the answer to give instead.
async fn with_silence<T: Send + 'static>(
    app: &AppState,
    headers: &HeaderMap,
    id: &str,
    write: bool,
    f: impl FnOnce(&mut steward_store::Tx<'_>, i64) -> steward_store::Result<Option<T>> + Send + 'static,
) -> Result<T, Box<Response>> {
    let integ = am_auth(app, headers, write).map_err(|e| Box::new(e.into_response()))?;
    let missing = || {
        Box::new(am_error(
            StatusCode::NOT_FOUND,
            format!("there is no silence {id}"),
        ))
    };
    let n = silence_id(id).ok_or_else(missing)?;
    let store = app.engine().store().clone();
    // Another integration's silence is not found, as one that does not exist.
    let ours = move |tx: &mut steward_store::Tx<'_>| -> steward_store::Result<Option<T>> {
        match tx.silence(n)? {
            Some(s) if s.integration.as_deref() == Some(integ.name.as_str()) => f(tx, n),
            _ => Ok(None),
        }
    };
    match blocking(move || Ok(store.transact(ours)?)).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(missing()),
        Err(e) => Err(Box::new(e.into_response())),
    }
}

/// `GET /api/v2/silence/{id}`
pub async fn get_silence(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match with_silence(&app, &headers, &id, false, |tx, n| tx.silence(n)).await {
        Ok(s) => Json(am_silence(&s, now())).into_response(),
        Err(r) => *r,
    }
}

/// `DELETE /api/v2/silence/{id}`: expires it now.
pub async fn delete_silence(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let t = now();
    match with_silence(&app, &headers, &id, true, move |tx, n| {
        Ok(tx.expire_silence(n, t)?.then_some(()))
    })
    .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        Err(r) => *r,
    }
}

/// `GET /api/v2/status`
pub async fn status(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = am_auth(&app, &headers, false) {
        return e.into_response();
    }
    Json(json!({
        "cluster": { "name": "steward", "status": "ready", "peers": [] },
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "steward",
            "branch": "main",
            "buildUser": "steward",
            "buildDate": "",
            "goVersion": "none (Steward is written in Rust)",
        },
        "config": { "original": "# Steward: alert routing is configured in steward/v1 documents\n" },
        "uptime": rfc3339(app.started_at),
    }))
    .into_response()
}

/// `GET /api/v2/receivers`: the escalation policies.
pub async fn receivers(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = am_auth(&app, &headers, false) {
        return e.into_response();
    }
    let names: Vec<Value> = app
        .engine()
        .catalog()
        .policies
        .iter()
        .map(|p| json!({ "name": p.name }))
        .collect();
    Json(names).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in review: `job=~"a,b"` was cut at its comma.
    #[test]
    fn filters_split_at_commas_outside_quotes_only() {
        assert_eq!(
            split_matchers(r#"job=~"a,b", env="p\"x,y", team!=web"#),
            vec![r#"job=~"a,b""#, r#"env="p\"x,y""#, "team!=web"]
        );
        let raw = Some("filter=job%3D~%22a%2Cb%22&filter=team%21%3Dweb".to_string());
        let f = filters(&raw).unwrap();
        assert_eq!((f[0].value.as_str(), f[1].name.as_str()), ("a,b", "team"));
        assert!(filters(&Some("filter=job%3D~%22(%22".into())).is_err());
    }

    #[test]
    fn a_nul_anywhere_in_a_body_is_found() {
        assert!(has_nul(br#"{"a":"x\u0000"}"#));
        assert!(has_nul(br#"{"a\u0000":"x"}"#));
        assert!(has_nul(br#"[{"a":["x\u0000"]}]"#));
        assert!(!has_nul(br#"{"a":"x\u0001"}"#));
        assert!(
            !has_nul(br#"{"path":"C:\\u0000"}"#),
            "an escaped backslash, then text"
        );
    }
}
