//! `GET|POST /api/v1/tokens`, `DELETE /api/v1/tokens/{id}`: a user manages its own API
//! tokens; an admin (of the provider, not of a customer) everyone's.

use crate::access::Principal;
use crate::alerts::{bad, blocking, json_body, now, opt_time, parse_id};
use crate::error::ApiError;
use crate::slos::rfc3339;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use steward_model::catalog::Role;
use steward_store::{NewToken, Token, TokenKind};

/// A token as the API and the CLI show it: never the token itself.
pub fn token_json(t: &Token) -> Value {
    json!({
        "id": t.id,
        "kind": t.kind.as_str(),
        "user": (t.kind != TokenKind::Sender).then_some(&t.principal),
        "name": t.name,
        "services": t.services,
        "created_at": rfc3339(t.created_at),
        "created_by": t.created_by,
        "expires_at": opt_time(t.expires_at),
        "last_used_at": opt_time(t.last_used_at),
        "revoked_at": opt_time(t.revoked_at),
    })
}

/// The caller's name, and whether it may manage everyone's tokens.
fn caller(who: &Principal) -> Result<(String, bool), ApiError> {
    match who {
        Principal::User {
            name,
            role,
            customer,
            ..
        } => Ok((name.clone(), *role == Role::Admin && customer.is_none())),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "tokens belong to users: call with a user's token",
        )),
    }
}

/// `GET /api/v1/tokens[?user=NAME]`: the caller's tokens; an admin's, anyone's.
pub async fn list(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (me, admin) = caller(&who)?;
    let asked = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|p| {
            p.strip_prefix("user=")
                .map(|u| u.to_string())
                .filter(|u| !u.is_empty())
        });
    let of = match (asked, admin) {
        (Some(u), true) => Some(u),
        (None, true) => None,
        (Some(u), false) if u != me => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only an admin lists another user's tokens",
            ))
        }
        _ => Some(me),
    };
    let store = app.engine().store().clone();
    let tokens = blocking(move || Ok(store.transact(move |tx| tx.tokens(of.as_deref()))?)).await?;
    Ok(Json(
        json!({ "tokens": tokens.iter().map(token_json).collect::<Vec<_>>() }),
    ))
}

/// `POST /api/v1/tokens` `{"name","expires":"90d","user"}`: a token for the caller (for
/// `user`, an admin only). 201 with the token, shown this once.
pub async fn create(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (me, admin) = caller(&who)?;
    let b = if body.is_empty() {
        json!({})
    } else {
        json_body(&body)?
    };
    let user = match b["user"].as_str() {
        Some(u) if u != me && !admin => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only an admin makes a token for another user",
            ))
        }
        Some(u) => u.to_string(),
        None => me.clone(),
    };
    if app.engine().catalog().user(&user).is_none() {
        return Err(bad(format!("user `{user}` is not in the configuration")));
    }
    let name = match &b["name"] {
        Value::Null => "api".to_string(),
        Value::String(s) if !s.is_empty() && s.len() <= 100 => s.clone(),
        _ => return Err(bad("name must be a string of 1 to 100 bytes")),
    };
    let t = now();
    let expires_at = match &b["expires"] {
        Value::Null => None,
        Value::String(s) => {
            let d = steward_model::Duration::parse(s)
                .map_err(|e| bad(format!("expires `{s}`: {e}")))?;
            Some(t + d.secs())
        }
        _ => return Err(bad("expires must be a duration such as 90d")),
    };
    let mut new = NewToken {
        kind: TokenKind::User,
        principal: user,
        name,
        services: Vec::new(),
        created_by: format!("user:{me}"),
        at: t,
        expires_at,
        role: None,
    };
    // A token a session makes for its own user is no more than the session: the role its
    // single sign-on groups gave (not the configuration's, which may be higher), and no
    // longer than the session lives.
    let session = match &who {
        Principal::User {
            token,
            session: true,
            ..
        } if new.principal == me => Some(*token),
        _ => None,
    };
    let store = app.engine().store().clone();
    let (made, secret) = blocking(move || {
        Ok(store.transact(move |tx| {
            if let Some(s) = session.map(|id| tx.token(id)).transpose()?.flatten() {
                new.role = s.role;
                new.expires_at = match (new.expires_at, s.expires_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            tx.create_token(&new)
        })?)
    })
    .await?;
    let mut body = token_json(&made);
    body["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/tokens/{id}`: revokes a token of the caller's (an admin's: anyone's). A
/// token of someone else is not found, for a user who may not see it.
pub async fn revoke(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (me, admin) = caller(&who)?;
    let id = parse_id(&id, "token")?;
    let store = app.engine().store().clone();
    let t = now();
    let done = blocking(move || {
        Ok(store.transact(move |tx| {
            let Some(token) = tx.token(id)? else {
                return Ok(None);
            };
            let mine = token.kind != TokenKind::Sender && token.principal == me;
            if !(admin || mine) {
                return Ok(None);
            }
            tx.revoke_token(id, t)?;
            Ok(Some(()))
        })?)
    })
    .await?;
    match done {
        Some(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(ApiError::not_found(format!("there is no token {id}"))),
    }
}
