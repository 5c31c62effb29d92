//! The audit trail over HTTP: `GET /api/v1/audit` (oldest first, filtered, or as JSON
//! lines), and the entry every change made through the API or the console leaves — who,
//! what (an action and its subject), the answer it got, and where from (address and user
//! agent). Routes whose handlers write a richer entry of their own (with the value before)
//! are left to them: budget adjustments, maintenance exclusions, gate overrides, the kill
//! switch, and the login pages.

use crate::access::{Need, Principal, Rule};
use crate::alerts::{bad, blocking, now, parse_time, query};
use crate::error::ApiError;
use crate::login::Client;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use steward_store::{AuditEntry, AuditQuery};

/// An entry as the API and `steward audit export` show it.
pub fn entry_json(e: &AuditEntry) -> Value {
    let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
    let field = |k: &str| details.get(k).cloned().unwrap_or(Value::Null);
    // Entries written before they had `after` keep all they said there.
    let after = match details.get("after") {
        Some(v) => v.clone(),
        None => {
            let mut rest = details.clone();
            if let Some(o) = rest.as_object_mut() {
                o.remove("before");
                o.remove("from");
            }
            rest
        }
    };
    json!({
        "id": e.id,
        "at": rfc3339(e.at),
        "actor": e.actor,
        "action": e.action,
        "subject": e.subject,
        "from": field("from"),
        "before": field("before"),
        "after": after,
    })
}

/// The most entries one answer holds; `after=LAST_ID` reads on.
const PAGE: u32 = 1000;

/// `GET /api/v1/audit?actor=&subject=&since=&after=&limit=&format=jsonl`: entries oldest
/// first, `{"entries":[...]}`, or one JSON object per line.
pub async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = query(&raw);
    let number = |k: &str, max: i64| -> Result<Option<i64>, ApiError> {
        q.get(k)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| (0..=max).contains(n))
                    .ok_or_else(|| bad(format!("{k} `{v}` is not a number from 0 to {max}")))
            })
            .transpose()
    };
    let filter = AuditQuery {
        after: number("after", i64::MAX)?.unwrap_or(0),
        actor: q.get("actor").cloned(),
        subject: q.get("subject").cloned(),
        since: q
            .get("since")
            .map(|s| parse_time(&json!(s), "since"))
            .transpose()?,
    };
    let limit = number("limit", i64::from(PAGE))?.map_or(PAGE, |n| n as u32);
    let lines = match q.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("jsonl") => true,
        Some(f) => return Err(bad(format!("format `{f}` is not json or jsonl"))),
    };
    let store = app.engine().store().clone();
    let entries =
        blocking(move || Ok(store.transact(move |tx| tx.audit_trail(&filter, limit))?)).await?;
    let entries: Vec<Value> = entries.iter().map(entry_json).collect();
    if lines {
        let mut out = String::new();
        for e in &entries {
            out.push_str(&e.to_string());
            out.push('\n');
        }
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            )],
            out,
        )
            .into_response());
    }
    Ok(axum::Json(json!({ "entries": entries })).into_response())
}

/// Whether a request through `rule` leaves an entry here: a change (not a read), by a
/// person or a token of ours, on a route whose handler does not write its own.
pub fn audited(rule: &Rule, method: &Method) -> bool {
    let changes = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let own = [
        "/api/v1/budget-adjustments",
        "/api/v1/maintenance/",
        "/deploy-gate/overrides",
        "/api/v1/kill-switch",
        "/evidence",
        "/logout",
    ]
    .iter()
    .any(|p| rule.path.contains(p));
    changes && !own && !matches!(rule.need, Need::Anyone | Need::OwnKey | Need::Samples)
}

/// Replaces every API token in a value with its prefix, so the trail never keeps one (the
/// answer of `POST /api/v1/tokens` holds the new token).
fn redact(v: &mut Value) {
    match v {
        Value::String(s) if s.contains(steward_store::TOKEN_PREFIX) => *s = redact_text(s),
        Value::Array(a) => a.iter_mut().for_each(redact),
        Value::Object(o) => o.values_mut().for_each(redact),
        _ => {}
    }
}

/// `text` with every API token in it (a feed's URL holds one) replaced by its prefix.
fn redact_text(text: &str) -> String {
    let p = steward_store::TOKEN_PREFIX;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(p) {
        out.push_str(&rest[..at]);
        let after = &rest[at + p.len()..];
        let secret = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(p);
        out.push_str("… (redacted)");
        rest = &after[secret..];
    }
    out.push_str(rest);
    out
}

/// The action and subject of a change: `alerts.ack` and `alerts/5` for
/// `POST /api/v1/alerts/5/ack` (or the console's `POST /alerts/5/ack`), `incidents.create`
/// and `incidents/7` for `POST /api/v1/incidents` answered with incident 7.
pub fn name_of(
    path: &str,
    method: &Method,
    params: &[(String, String)],
    answer: &Value,
) -> (String, String) {
    let segments: Vec<&str> = path
        .trim_start_matches("/api/v1")
        .trim_start_matches('/')
        .split('/')
        .collect();
    let kind = segments.first().copied().unwrap_or_default();
    let param = |seg: &str| {
        let name = seg.trim_start_matches('{').trim_end_matches('}');
        params
            .iter()
            .find(|(k, _)| k == name)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    let verb = match segments.last().copied() {
        Some("{action}") => param("{action}"),
        Some(last) if segments.len() > 1 && !last.starts_with('{') => last.to_string(),
        _ => match *method {
            Method::POST => "create".into(),
            Method::DELETE => "delete".into(),
            _ => "change".into(),
        },
    };
    let object = match segments.get(1) {
        Some(seg) if seg.starts_with('{') => param(seg),
        _ => match &answer["id"] {
            Value::Null => String::new(),
            id => id.to_string().trim_matches('"').to_string(),
        },
    };
    let subject = if object.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}/{object}")
    };
    (format!("{kind}.{verb}"), subject)
}

/// Writes the entry of a change that was answered with success, and hands the answer on.
/// The entry is written before the answer leaves: a change the trail cannot record is
/// answered 503 (the change itself stands; the error says so).
#[allow(clippy::too_many_arguments)]
pub async fn record(
    app: &AppState,
    rule: &Rule,
    who: &Principal,
    client: Client,
    method: &Method,
    params: Vec<(String, String)>,
    request: Option<Value>,
    response: Response,
) -> Response {
    if !(response.status().is_success() || response.status().is_redirection()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, 16 << 20).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::internal(format!("reading the answer failed: {e}")).into_response()
        }
    };
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let (action, subject) = name_of(rule.path, method, &params, &answer);
    // A large answer (a whole incident, a run) is kept short: the subject names it.
    let mut after = if bytes.len() > 16 << 10 {
        json!({ "truncated": true })
    } else {
        answer
    };
    redact(&mut after);
    let mut request = request.unwrap_or(Value::Null);
    redact(&mut request);
    let details = json!({
        "from": client.details(),
        "before": null,
        "after": after,
        "request": request,
        "status": parts.status.as_u16(),
    })
    .to_string();
    let actor = who.actor().unwrap_or_else(|| "user:api".into());
    let store = app.engine().store().clone();
    let at = now();
    let written = blocking(move || {
        Ok(store.transact(move |tx| tx.audit(at, &actor, &action, &subject, &details))?)
    })
    .await;
    if let Err(e) = written {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!(
                "the change was made, but the audit trail could not record it: {}",
                e.message
            ),
        )
        .into_response();
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(
        path: &str,
        method: Method,
        params: &[(&str, &str)],
        answer: Value,
    ) -> (String, String) {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        name_of(path, &method, &params, &answer)
    }

    #[test]
    fn a_change_is_named_by_its_route_and_object() {
        let n = |a: &str, s: &str| (a.to_string(), s.to_string());
        assert_eq!(
            named(
                "/api/v1/alerts/{id}/ack",
                Method::POST,
                &[("id", "5")],
                Value::Null
            ),
            n("alerts.ack", "alerts/5")
        );
        assert_eq!(
            named(
                "/alerts/{id}/{action}",
                Method::POST,
                &[("id", "5"), ("action", "ack")],
                Value::Null
            ),
            n("alerts.ack", "alerts/5")
        );
        assert_eq!(
            named("/api/v1/incidents", Method::POST, &[], json!({"id": 7})),
            n("incidents.create", "incidents/7")
        );
        assert_eq!(
            named(
                "/api/v1/incidents/{id}",
                Method::PATCH,
                &[("id", "7")],
                Value::Null
            ),
            n("incidents.change", "incidents/7")
        );
        assert_eq!(
            named(
                "/api/v1/tokens/{id}",
                Method::DELETE,
                &[("id", "3")],
                Value::Null
            ),
            n("tokens.delete", "tokens/3")
        );
        assert_eq!(
            named(
                "/api/v1/config/reload",
                Method::POST,
                &[],
                json!({"hash": "x"})
            ),
            n("config.reload", "config")
        );
        assert_eq!(
            named(
                "/api/v1/schedules/{name}/overrides",
                Method::POST,
                &[("name", "primary")],
                json!({"id": 2})
            ),
            n("schedules.overrides", "schedules/primary")
        );
    }

    #[test]
    fn tokens_never_reach_the_trail() {
        let mut v = json!({"token": "stw_0123", "nested": [{"t": "stw_x"}], "name": "laptop",
            "url": "https://s.example/ical/stw_00ff.ics"});
        redact(&mut v);
        assert_eq!(
            v,
            json!({"token": "stw_… (redacted)", "nested": [{"t": "stw_… (redacted)x"}], "name": "laptop",
                "url": "https://s.example/ical/stw_… (redacted).ics"})
        );
    }
}
