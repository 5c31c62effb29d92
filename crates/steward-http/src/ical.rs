//! On-call as iCalendar (RFC 5545): a feed per schedule and per user, a year ahead, for any
//! calendar application to subscribe to.

use crate::alerts::{blocking, now};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use steward_model::oncall::Shift;

/// How far ahead the feeds reach.
const AHEAD: i64 = 366 * 86_400;

fn stamp(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default()
}

/// TEXT escaping (RFC 5545 3.3.11).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

/// Folds a content line at 75 octets, on character boundaries (RFC 5545 3.1).
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// A calendar of shifts, each `(schedule, shift)`.
pub fn calendar(name: &str, shifts: &[(String, Shift)], generated: i64) -> String {
    let mut out = String::new();
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Steward//On-call//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        fold(l, &mut out);
    }
    fold(&format!("X-WR-CALNAME:{}", escape(name)), &mut out);
    for (schedule, s) in shifts {
        fold("BEGIN:VEVENT", &mut out);
        fold(
            &format!(
                "UID:{}-{}-{}@steward",
                escape(schedule),
                s.start,
                escape(&s.user)
            ),
            &mut out,
        );
        fold(&format!("DTSTAMP:{}", stamp(generated)), &mut out);
        fold(&format!("DTSTART:{}", stamp(s.start)), &mut out);
        fold(&format!("DTEND:{}", stamp(s.end)), &mut out);
        fold(
            &format!(
                "SUMMARY:{}",
                escape(&format!("On call: {} ({schedule})", s.user))
            ),
            &mut out,
        );
        fold("TRANSP:TRANSPARENT", &mut out);
        fold("END:VEVENT", &mut out);
    }
    fold("END:VCALENDAR", &mut out);
    out
}

fn ics(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Every schedule's shifts over the next year (overrides applied), by schedule name.
async fn shifts(app: &AppState, only: Option<String>) -> Result<Vec<(String, Shift)>, ApiError> {
    let engine = app.engine().clone();
    blocking(move || {
        let from = now();
        let to = from + AHEAD;
        let overrides = engine.store().transact(move |tx| tx.overrides(from, to))?;
        let mut out = Vec::new();
        for s in &engine.catalog().schedules {
            if only.as_ref().is_some_and(|o| *o != s.name) {
                continue;
            }
            let mine = steward_engine::alerting::shifts_of(&overrides, &s.name);
            out.extend(
                s.timeline(&mine, from, to)
                    .into_iter()
                    .map(|sh| (s.name.clone(), sh)),
            );
        }
        Ok(out)
    })
    .await
}

/// `GET /api/v1/schedules/{name}/ical`
pub async fn schedule(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    schedule_calendar(&app, name).await
}

async fn schedule_calendar(app: &AppState, name: String) -> Result<Response, ApiError> {
    if app.engine().catalog().schedule(&name).is_none() {
        return Err(ApiError::not_found(format!(
            "there is no schedule `{name}`"
        )));
    }
    let shifts = shifts(app, Some(name.clone())).await?;
    Ok(ics(calendar(&format!("On call: {name}"), &shifts, now())))
}

/// `GET /api/v1/users/{name}/ical`: the user's shifts in every schedule.
pub async fn user(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    user_calendar(&app, name).await
}

async fn user_calendar(app: &AppState, name: String) -> Result<Response, ApiError> {
    if app.engine().catalog().user(&name).is_none() {
        return Err(ApiError::not_found(format!("there is no user `{name}`")));
    }
    let mut shifts = shifts(app, None).await?;
    shifts.retain(|(_, s)| s.user == name);
    shifts.sort_by_key(|(_, s)| s.start);
    Ok(ics(calendar(&format!("On call: {name}"), &shifts, now())))
}

/// `POST /api/v1/schedules/{name}/ical-feeds` and `POST /api/v1/users/{name}/ical-feeds`:
/// a secret feed URL for calendar applications, which cannot send a token. A user makes its
/// own; an admin anyone's, and any of the staff a schedule's. It is revoked like a token
/// (`DELETE /api/v1/tokens/{id}`).
pub async fn add_feed(
    State(app): State<AppState>,
    route: axum::extract::MatchedPath,
    Path(name): Path<String>,
    axum::Extension(who): axum::Extension<crate::access::Principal>,
) -> Result<Response, ApiError> {
    let crate::access::Principal::User { name: me, role, .. } = &who else {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "feeds belong to users: call with a user's token",
        ));
    };
    let of_user = route.as_str().starts_with("/api/v1/users/");
    let engine = app.engine();
    let catalog = engine.catalog();
    let known = if of_user {
        catalog.user(&name).is_some()
    } else {
        catalog.schedule(&name).is_some()
    };
    if !known {
        let what = if of_user { "user" } else { "schedule" };
        return Err(ApiError::not_found(format!("there is no {what} `{name}`")));
    }
    if of_user && name != *me && *role != steward_model::catalog::Role::Admin {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "a user makes its own calendar feed; an admin anyone's",
        ));
    }
    let target = format!("{}:{name}", if of_user { "user" } else { "schedule" });
    let new = steward_store::NewToken {
        kind: steward_store::TokenKind::Feed,
        principal: me.clone(),
        name: format!("calendar of {target}"),
        services: vec![target],
        created_by: format!("user:{me}"),
        at: now(),
        expires_at: None,
        role: None,
    };
    let store = app.engine().store().clone();
    let (t, secret) =
        blocking(move || Ok(store.transact(move |tx| tx.create_token(&new))?)).await?;
    let url = format!(
        "{}/ical/{secret}.ics",
        app.engine().alerting.public_url().trim_end_matches('/')
    );
    let mut body = crate::tokens::token_json(&t);
    body["url"] = serde_json::json!(url);
    Ok((axum::http::StatusCode::CREATED, axum::Json(body)).into_response())
}

/// `GET /ical/{secret}.ics`: the calendar a feed's secret reads; 404 for a secret that is
/// unknown or revoked (a calendar application shows that as a broken subscription).
pub async fn feed(
    State(app): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let gone = || ApiError::not_found("there is no such calendar feed (it may have been revoked)");
    let secret = file.strip_suffix(".ics").unwrap_or(&file).to_string();
    if !secret.starts_with(steward_store::TOKEN_PREFIX) || secret.len() != 68 {
        return Err(gone());
    }
    let store = app.engine().store().clone();
    let t = now();
    let token = blocking(move || {
        Ok(store.transact(move |tx| {
            let found = tx.token_of(&secret)?;
            if let Some(f) = found.as_ref().filter(|f| f.refusal(t).is_none()) {
                tx.touch_token(f.id, t)?;
            }
            Ok(found)
        })?)
    })
    .await?;
    // The feed's maker must still be one of the staff: a removed person's feeds stop.
    let engine = app.engine();
    let Some(token) = token.filter(|f| {
        f.kind == steward_store::TokenKind::Feed
            && f.refusal(t).is_none()
            && engine
                .catalog()
                .user(&f.principal)
                .is_some_and(|u| u.customer.is_none())
    }) else {
        return Err(gone());
    };
    match token.services.first().and_then(|s| s.split_once(':')) {
        Some(("user", name)) => user_calendar(&app, name.to_string()).await,
        Some(("schedule", name)) => schedule_calendar(&app, name.to_string()).await,
        _ => Err(gone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calendar_has_crlf_lines_escaped_text_and_folds_long_lines() {
        let shifts = vec![(
            "primary".to_string(),
            Shift {
                user: "ann, the; first".into(),
                start: 1_767_686_400,
                end: 1_767_772_800,
            },
        )];
        let text = calendar(
            &format!("On call: {}", "x".repeat(80)),
            &shifts,
            1_767_600_000,
        );
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(text.contains("DTSTART:20260106T080000Z\r\nDTEND:20260107T080000Z\r\n"));
        assert!(text.contains("SUMMARY:On call: ann\\, the\\; first (primary)\r\n"));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{line:?} is longer than 75 octets");
        }
        assert!(text.contains("\r\n x"), "the long name is folded");
    }
}
