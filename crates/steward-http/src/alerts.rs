//! Alerts, silences, dead letters and on-call, under `/api/v1`.

use crate::access::{Actor, Scope};
use crate::error::ApiError;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use steward_engine::alerting::matchers_json;
use steward_model::matcher::Matcher;
use steward_store::{Alert, AlertFilter, AlertStatus, Message, Override, Silence};

/// Every value of `key` in a query string, decoded.
pub fn query_values(raw: &Option<String>, key: &str) -> Vec<String> {
    raw.as_deref()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == key).then(|| decode(v))
        })
        .collect()
}

/// Percent-encodes a query value (unreserved characters and `/` stay as they are).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes a percent-encoded query or form value (`+` is a space).
pub(crate) fn decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The last value of each key of a query string.
pub fn query(raw: &Option<String>) -> HashMap<String, String> {
    raw.as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// A query parameter that is true or false (`1`, `0`); absent is false.
pub fn flag(q: &HashMap<String, String>, key: &str) -> Result<bool, ApiError> {
    match q.get(key).map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(v) => Err(bad(format!("{key} `{v}` is not true or false"))),
    }
}

/// Whether a JSON value holds a NUL character in a string or key: no store keeps one.
pub fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// A JSON request body, without NUL characters.
pub fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    if holds_nul(&v) {
        return Err(bad(
            "the body holds a NUL character (\\u0000), which no label or text may hold",
        ));
    }
    Ok(v)
}

/// Runs store work off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a blocking task failed: {e}")))?
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub fn opt_time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| json!(rfc3339(t)))
}

/// `open` is a triggered alert nobody has acknowledged yet.
pub fn status_name(s: AlertStatus) -> &'static str {
    match s {
        AlertStatus::Triggered => "open",
        AlertStatus::Acknowledged => "acknowledged",
        AlertStatus::Resolved => "resolved",
    }
}

pub fn alert_json(a: &Alert) -> Value {
    json!({
        "id": a.id,
        "status": status_name(a.status),
        "dedup_key": a.dedup_key,
        "service": a.service,
        "customer": a.customer,
        "severity": a.severity,
        "summary": a.summary,
        "labels": a.labels,
        "details": serde_json::from_str::<Value>(&a.details).unwrap_or(Value::Null),
        "opened_at": rfc3339(a.opened_at),
        "acknowledged_at": opt_time(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "resolved_at": opt_time(a.resolved_at),
        "resolved_by": a.resolved_by,
        "updated_at": rfc3339(a.updated_at),
        "events": a.events,
        "source": a.source,
        "integration": a.integration,
        "suppressed": a.suppressed.as_ref().map(ToString::to_string),
        "escalation_policy": a.policy,
        "incident": a.incident,
    })
}

/// What a customer's user reads of a text Steward wrote about an alert (why it is held
/// back, a line of its history): the text, unless it names a service the user does not
/// see (a dependency may be another customer's or the provider's), then a general word.
pub fn seen_text(text: &str, scope: &Scope, catalog: &steward_config::Catalog) -> String {
    let hidden = *scope != Scope::All
        && catalog
            .services
            .iter()
            .any(|s| !scope.sees(s.customer.as_deref()) && text.contains(s.name.as_str()));
    if hidden {
        "held back by an alert of a service it depends on".into()
    } else {
        text.to_string()
    }
}

/// [`alert_json`] as `scope` sees it.
pub fn alert_json_for(a: &Alert, scope: &Scope, catalog: &steward_config::Catalog) -> Value {
    let mut v = alert_json(a);
    if let Some(why) = v["suppressed"].as_str().map(str::to_string) {
        v["suppressed"] = json!(seen_text(&why, scope, catalog));
    }
    v
}

fn message_json(m: &Message) -> Value {
    json!({
        "id": m.id,
        "alert": m.alert,
        "service": m.service,
        "channel": m.channel.as_str(),
        // A webhook's, Slack's or Teams' URL is its secret: shown by its host only.
        "destination": steward_engine::alerting::redact(&m.destination),
        "status": m.status.as_str(),
        "attempts": m.attempts,
        "idempotency_key": m.idempotency_key,
        "created_at": rfc3339(m.created_at),
        "next_attempt_at": rfc3339(m.next_attempt_at),
        "give_up_at": rfc3339(m.give_up_at),
        "last_error": m.last_error.as_deref().map(steward_engine::alerting::redact_urls),
        "delivered_at": opt_time(m.delivered_at),
    })
}

fn status_filter(s: &str) -> Result<AlertFilter, ApiError> {
    let status = match s {
        "open" | "triggered" => Some(AlertStatus::Triggered),
        "acknowledged" => Some(AlertStatus::Acknowledged),
        "resolved" => Some(AlertStatus::Resolved),
        "unresolved" | "all" => None,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!(
                    "status `{other}` is not one of open, acknowledged, resolved, unresolved, all"
                ),
            ))
        }
    };
    Ok(AlertFilter {
        status,
        unresolved: s == "unresolved",
        ..AlertFilter::default()
    })
}

/// `GET /api/v1/alerts?status=open|acknowledged|resolved|unresolved|all&service=NAME&limit=N`
pub async fn list(
    State(app): State<AppState>,
    scope: Scope,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(&raw);
    let mut filter = status_filter(q.get("status").map_or("all", String::as_str))?;
    filter.service = q.get("service").cloned();
    filter.customer = scope.customer().map(str::to_string);
    filter.limit = match q.get("limit") {
        None => Some(500),
        Some(l) => Some(
            l.parse::<u32>()
                .ok()
                .filter(|l| (1..=10_000).contains(l))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_query",
                        format!("limit `{l}` is not a number from 1 to 10000"),
                    )
                })?,
        ),
    };
    let store = app.engine().store().clone();
    let alerts = blocking(move || Ok(store.transact(move |tx| tx.alerts(&filter))?)).await?;
    let engine = app.engine();
    Ok(Json(json!({
        "alerts": alerts
            .iter()
            .map(|a| alert_json_for(a, &scope, engine.catalog()))
            .collect::<Vec<_>>()
    })))
}

pub fn parse_id(id: &str, what: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
        ApiError::not_found(format!(
            "there is no {what} `{id}`; ids are positive numbers"
        ))
    })
}

/// `GET /api/v1/alerts/{id}`: the alert, its history and its notifications.
pub async fn get(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "alert")?;
    let store = app.engine().store().clone();
    let (alert, history, messages) = blocking(move || {
        Ok(store.transact(move |tx| Ok((tx.alert(id)?, tx.history(id)?, tx.messages_of(id)?)))?)
    })
    .await?;
    let alert = alert.ok_or_else(|| ApiError::not_found(format!("there is no alert {id}")))?;
    let engine = app.engine();
    let catalog = engine.catalog();
    let mut body = alert_json_for(&alert, &scope, catalog);
    body["history"] = history
        .iter()
        .map(|e| json!({ "at": rfc3339(e.at), "kind": e.kind, "actor": e.actor, "detail": seen_text(&e.detail, &scope, catalog) }))
        .collect();
    // Where notifications went are the provider's people's contacts: not a customer's to see.
    body["notifications"] = match scope {
        Scope::All => messages.iter().map(message_json).collect(),
        Scope::Customer(_) => json!([]),
    };
    body["runbook"] = json!(app
        .engine()
        .catalog()
        .runbook_for(alert.service.as_deref(), &alert.labels)
        .map(|r| r.name.clone()));
    Ok(Json(body))
}

async fn set_status(
    app: AppState,
    scope: Scope,
    id: String,
    by: String,
    status: AlertStatus,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "alert")?;
    let alerting = app.engine().alerting.clone();
    let who = by.clone();
    let alert = blocking(move || Ok(alerting.set_status(id, status, who, now())?)).await?;
    Ok(Json(alert_json_for(&alert, &scope, app.engine().catalog())))
}

/// `POST /api/v1/alerts/{id}/ack`
pub async fn ack(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
) -> Result<Json<Value>, ApiError> {
    set_status(app, scope, id, by, AlertStatus::Acknowledged).await
}

/// `POST /api/v1/alerts/{id}/resolve`
pub async fn resolve(
    State(app): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Actor(by): Actor,
) -> Result<Json<Value>, ApiError> {
    set_status(app, scope, id, by, AlertStatus::Resolved).await
}

// --- silences ---

pub fn silence_state(s: &Silence, now: i64) -> &'static str {
    if now < s.starts_at {
        "pending"
    } else if now < s.ends_at {
        "active"
    } else {
        "expired"
    }
}

fn silence_json(s: &Silence, now: i64) -> Value {
    json!({
        "id": s.id,
        "matchers": serde_json::from_str::<Value>(&s.matchers).unwrap_or(Value::Null),
        "starts_at": rfc3339(s.starts_at),
        "ends_at": rfc3339(s.ends_at),
        "created_by": s.created_by,
        "comment": s.comment,
        "state": silence_state(s, now),
        "updated_at": rfc3339(s.updated_at),
    })
}

/// `GET /api/v1/silences`
pub async fn list_silences(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = app.engine().store().clone();
    let silences = blocking(move || Ok(store.transact(|tx| tx.silences())?)).await?;
    let t = now();
    Ok(Json(
        json!({ "silences": silences.iter().map(|s| silence_json(s, t)).collect::<Vec<_>>() }),
    ))
}

pub fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

pub fn parse_time(v: &Value, what: &str) -> Result<i64, ApiError> {
    let s = v.as_str().ok_or_else(|| {
        bad(format!(
            "{what} must be an RFC 3339 time such as 2026-01-02T15:04:05Z"
        ))
    })?;
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|e| bad(format!("{what} `{s}` is not an RFC 3339 time: {e}")))
}

/// Checks a silence's matchers (Alertmanager's shape, or `"name=~value"` strings) and
/// returns them in Alertmanager's shape.
pub fn silence_matchers(v: &Value) -> Result<String, ApiError> {
    let items = v
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("matchers must be a non-empty list"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, m) in items.iter().enumerate() {
        let matcher = match m {
            Value::String(text) => Matcher::parse(text),
            Value::Object(_) => {
                let name = m["name"].as_str().unwrap_or_default();
                let value = m["value"]
                    .as_str()
                    .ok_or_else(|| bad(format!("matchers[{i}] needs a string value")))?;
                let op = steward_model::matcher::MatchOp::from_flags(
                    m["isRegex"].as_bool().unwrap_or(false),
                    m["isEqual"].as_bool().unwrap_or(true),
                );
                Matcher::new(name, op, value)
            }
            _ => Err("a matcher is an object or a string such as service=checkout".into()),
        }
        .map_err(|e| bad(format!("matchers[{i}]: {e}")))?;
        out.push(matcher);
    }
    // As Alertmanager: a silence whose every matcher matches an alert without labels would
    // silence everything.
    if out
        .iter()
        .all(|m| m.matches(&steward_model::matcher::Labels::new()))
    {
        return Err(bad(
            "every matcher also matches an empty label; a silence needs at least one that names what it silences",
        ));
    }
    Ok(matchers_json(&out))
}

/// Reads a silence from a JSON body: matchers, startsAt (default now), endsAt, createdBy,
/// comment (camelCase as Alertmanager writes it, or snake_case).
pub fn read_silence(body: &Value, who: &str, now: i64) -> Result<Silence, ApiError> {
    let field = |camel: &str, snake: &str| body.get(camel).or_else(|| body.get(snake)).cloned();
    let matchers = silence_matchers(&field("matchers", "matchers").unwrap_or(Value::Null))?;
    let starts_at = match field("startsAt", "starts_at") {
        Some(v) => parse_time(&v, "startsAt")?,
        None => now,
    };
    let ends_at = match (field("endsAt", "ends_at"), field("duration", "duration")) {
        (Some(v), _) => parse_time(&v, "endsAt")?,
        (None, Some(Value::String(d))) => {
            let secs =
                steward_model::Duration::parse(&d).map_err(|e| bad(format!("duration: {e}")))?;
            starts_at + secs.secs()
        }
        _ => return Err(bad("a silence needs endsAt (or a duration such as 2h)")),
    };
    if ends_at <= starts_at {
        return Err(bad("endsAt must be after startsAt"));
    }
    if ends_at <= now {
        return Err(bad(
            "endsAt is in the past: the silence would never be active",
        ));
    }
    let created_by = field("createdBy", "created_by")
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| who.trim_start_matches("user:").to_string());
    let comment = field("comment", "comment")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    if comment.len() > 4096 || created_by.len() > 255 {
        return Err(bad(
            "comment is at most 4096 bytes and createdBy at most 255",
        ));
    }
    Ok(Silence {
        id: 0,
        matchers,
        starts_at,
        ends_at,
        created_by,
        comment,
        updated_at: now,
        integration: None,
    })
}

/// The labels that name particular alerts: a silence must match one of them for one value
/// to be a responder's to make.
const NAMING_LABELS: &[&str] = &[
    "alertname",
    "instance",
    "slo",
    "pod",
    "host",
    "node",
    "container",
    "deployment",
    "dedup_key",
];

/// Whether a silence would quiet every page of a service or more: none of its matchers
/// names particular alerts, that is, none is `label=value` (equality, not a pattern nor a
/// negation, and not empty) on one of [`NAMING_LABELS`]. `service=checkout`,
/// `severity=~.+`, `alertname=~[^x].*` or `job=node` silence too much to be sure.
pub fn broad(matchers: &[Matcher]) -> bool {
    !matchers.iter().any(|m| {
        NAMING_LABELS.contains(&m.name.as_str())
            && m.op == steward_model::matcher::MatchOp::Eq
            && !m.value.is_empty()
    })
}

/// `POST /api/v1/silences`: a responder silences particular alerts; a silence of every
/// page of a service or more ([`broad`]) needs an admin.
pub async fn add_silence(
    State(app): State<AppState>,
    Actor(by): Actor,
    axum::Extension(who): axum::Extension<crate::access::Principal>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: Value = json_body(&body)?;
    let t = now();
    let silence = read_silence(&body, &by.clone(), t)?;
    let matchers = steward_engine::alerting::silence_matchers(&silence.matchers).map_err(bad)?;
    let admin = crate::access::decide(crate::access::Need::Admin, &who, app.access).is_ok();
    if broad(&matchers) && !admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this silence would quiet every page of a service or more; it needs an admin. Name the alerts it is for (alertname=..., instance=..., slo=...)",
        ));
    }
    let store = app.engine().store().clone();
    let alerting = app.engine().alerting.clone();
    let saved = blocking(move || {
        let id = store.transact(move |tx| tx.add_silence(&silence))?;
        alerting.wake();
        Ok(store.transact(move |tx| tx.silence(id))?)
    })
    .await?
    .ok_or_else(|| ApiError::internal("the new silence vanished"))?;
    Ok((StatusCode::CREATED, Json(silence_json(&saved, t))).into_response())
}

/// `POST /api/v1/silences/{id}/expire`
pub async fn expire_silence(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "silence")?;
    let store = app.engine().store().clone();
    let t = now();
    let s = blocking(move || {
        Ok(store.transact(move |tx| {
            if tx.expire_silence(id, t)? {
                tx.silence(id)
            } else {
                Ok(None)
            }
        })?)
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("there is no silence {id}")))?;
    Ok(Json(silence_json(&s, t)))
}

// --- dead letters ---

/// `GET /api/v1/notifications/dead`
pub async fn dead_letters(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = app.engine().store().clone();
    let dead = blocking(move || Ok(store.transact(|tx| tx.dead_letters(1000))?)).await?;
    Ok(Json(
        json!({ "notifications": dead.iter().map(message_json).collect::<Vec<_>>() }),
    ))
}

/// `POST /api/v1/notifications/{id}/retry`: a dead letter is sent again, with its key.
pub async fn retry_dead_letter(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "notification")?;
    let store = app.engine().store().clone();
    let outbox = app.engine().alerting.outbox.clone();
    let give_up = app.engine().alerting.options.delivery.give_up_after;
    let t = now();
    let m = blocking(move || {
        let m = store.transact(move |tx| {
            if tx.requeue(id, t, t + give_up)? {
                tx.message(id)
            } else {
                Ok(None)
            }
        })?;
        outbox.wake();
        Ok(m)
    })
    .await?
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_dead",
            format!("notification {id} is not a dead letter that led its delivery; GET /api/v1/notifications/dead lists those to retry"),
        )
    })?;
    Ok(Json(message_json(&m)))
}

// --- on-call ---

fn schedule_or_404(
    app: &AppState,
    name: &str,
) -> Result<steward_model::oncall::Schedule, ApiError> {
    app.engine()
        .catalog()
        .schedule(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("there is no schedule `{name}`")))
}

/// A time in the query, between 1970 and 2100 (what schedules are resolved over).
fn time_param(q: &HashMap<String, String>, key: &str, default: i64) -> Result<i64, ApiError> {
    let t = match q.get(key) {
        None => default,
        Some(v) => parse_time(&json!(v), key)?,
    };
    if !(steward_model::oncall::MIN_T..steward_model::oncall::MAX_T).contains(&t) {
        return Err(bad(format!("{key} must be between 1970 and 2100")));
    }
    Ok(t)
}

/// `GET /api/v1/oncall?schedule=S&at=T`: who is on call now (or at T), and next.
pub async fn oncall(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(&raw);
    let at = time_param(&q, "at", now())?;
    let names: Vec<String> = match q.get("schedule") {
        Some(s) => {
            schedule_or_404(&app, s)?;
            vec![s.to_string()]
        }
        None => app
            .engine()
            .catalog()
            .schedules
            .iter()
            .map(|s| s.name.clone())
            .collect(),
    };
    let engine = app.engine().clone();
    let out = blocking(move || {
        let overrides = engine.store().transact(move |tx| tx.overrides(at - 86_400 * 400, at + 86_400 * 400))?;
        let mut out = Vec::new();
        for name in names {
            let s = engine.catalog().schedule(&name).expect("checked above");
            let shifts = steward_engine::alerting::shifts_of(&overrides, &name);
            let (now_shift, next) = s.now_and_next(&shifts, at);
            out.push(json!({
                "schedule": name,
                "at": rfc3339(at),
                "on_call": now_shift.as_ref().map(|sh| json!({ "user": sh.user, "from": rfc3339(sh.start), "until": rfc3339(sh.end) })),
                "next": next.as_ref().map(|sh| json!({ "user": sh.user, "from": rfc3339(sh.start), "until": rfc3339(sh.end) })),
            }));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(json!({ "oncall": out })))
}

/// `GET /api/v1/schedules/{name}/gaps?from=&to=`: every interval nobody covers (default:
/// the next 14 days).
pub async fn gaps(
    State(app): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = query(&raw);
    schedule_or_404(&app, &name)?;
    let t = now();
    let from = time_param(&q, "from", t)?;
    let to = time_param(&q, "to", t + 14 * 86_400)?;
    if to <= from || to - from > 400 * 86_400 {
        return Err(bad("to must be after from, at most 400 days later"));
    }
    let engine = app.engine().clone();
    let gaps = blocking(move || {
        let n = name.clone();
        let overrides = engine
            .store()
            .transact(move |tx| steward_engine::alerting::overrides_of(tx, &n, from, to))?;
        Ok(engine
            .catalog()
            .schedule(&name)
            .expect("checked above")
            .gaps(&overrides, from, to))
    })
    .await?;
    Ok(Json(json!({
        "from": rfc3339(from),
        "to": rfc3339(to),
        "gaps": gaps.iter().map(|(a, b)| json!({ "from": rfc3339(*a), "to": rfc3339(*b), "seconds": b - a })).collect::<Vec<_>>(),
    })))
}

/// `POST /api/v1/schedules/{name}/overrides` `{"user","from","to"}`: someone covers a
/// schedule for a while (a swap, or a temporary schedule).
pub async fn add_override(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Actor(by): Actor,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    schedule_or_404(&app, &name)?;
    let body: Value = json_body(&body)?;
    let user = body["user"]
        .as_str()
        .ok_or_else(|| bad("an override needs a user"))?
        .to_string();
    if app.engine().catalog().user(&user).is_none() {
        return Err(bad(format!("there is no user `{user}`")));
    }
    let from = parse_time(&body["from"], "from")?;
    let to = parse_time(&body["to"], "to")?;
    if to <= from || to - from > 366 * 86_400 {
        return Err(bad("to must be after from, at most a year later"));
    }
    let o = Override {
        id: 0,
        schedule: name,
        user,
        starts_at: from,
        ends_at: to,
        created_by: by.clone(),
    };
    let store = app.engine().store().clone();
    let saved = o.clone();
    let id = blocking(move || Ok(store.transact(move |tx| tx.add_override(&o, now()))?)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "schedule": saved.schedule, "user": saved.user, "from": rfc3339(saved.starts_at), "to": rfc3339(saved.ends_at), "created_by": saved.created_by })),
    )
        .into_response())
}

/// `DELETE /api/v1/overrides/{id}`
pub async fn delete_override(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "override")?;
    let store = app.engine().store().clone();
    if blocking(move || Ok(store.transact(move |tx| tx.delete_override(id))?)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("there is no override {id}")))
    }
}

#[cfg(test)]
mod broad_tests {
    use super::*;

    fn broad_of(text: &[&str]) -> bool {
        let ms: Vec<Matcher> = text.iter().map(|t| Matcher::parse(t).unwrap()).collect();
        broad(&ms)
    }

    #[test]
    fn a_silence_of_every_page_of_a_service_or_more_is_broad() {
        assert!(broad_of(&["service=checkout"]));
        assert!(broad_of(&["service=checkout", "severity=~page|critical"]));
        assert!(broad_of(&["severity=~.+"]));
        assert!(broad_of(&["alertname=~.+"]));
        assert!(broad_of(&["alertname=~.*", "service=checkout"]));
        assert!(broad_of(&["alertname!=Watchdog"]));
        assert!(broad_of(&["instance!~db-.*"]));
        assert!(broad_of(&["alertname=~[^\u{1}].*"]));
        assert!(broad_of(&["alertname=~Disk.*", "service=checkout"]));
        assert!(broad_of(&["job=node"]));
        assert!(broad_of(&["cluster=eu1", "namespace=prod"]));
        // Naming the alerts it is for makes it narrow.
        assert!(!broad_of(&["alertname=NodeDown"]));
        assert!(!broad_of(&["service=checkout", "alertname=DiskFull"]));
        assert!(!broad_of(&["instance=db-1:9100"]));
        assert!(!broad_of(&["slo=checkout-availability", "severity=page"]));
    }
}
