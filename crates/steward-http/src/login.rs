//! The console's login: a password form, one-time login links, sessions and logout.
//!
//! A session is a row of the store's tokens (kind `session`): the cookie holds its secret, the
//! store only its SHA-256, so a session is revoked at once for every replica. It ends after
//! [`SESSION_ABSOLUTE`] seconds, or [`steward_store::SESSION_IDLE`] unused. Every form a
//! session posts carries its CSRF token ([`csrf_of`] the session's secret); the login form
//! itself carries a nonce that must match its own cookie (double submit). Failed logins are
//! throttled per user name and per address, and the answer never says whether a user exists.

use crate::alerts::{blocking, now};
use crate::error::ApiError;
use crate::page::esc;
use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use steward_store::{NewToken, TokenKind};

/// The session cookie.
pub const SESSION_COOKIE: &str = "steward_session";
/// The login form's nonce cookie.
const LOGIN_COOKIE: &str = "steward_login";
/// The longest a session lives, used or not (seconds).
pub const SESSION_ABSOLUTE: i64 = 7 * 86_400;
/// How long a one-time login link may wait to be used (seconds).
pub const LINK_LIFETIME: i64 = 15 * 60;
/// The largest login form read.
const MAX_FORM: usize = 16 << 10;

/// The CSRF token of a session: derived from its secret, which only the session's browser
/// holds, so nothing has to be stored for it.
pub fn csrf_of(session_secret: &str) -> String {
    steward_store::token_hash(&format!("csrf:{session_secret}"))
}

/// The session's CSRF token, for the forms a page draws (empty when the caller came with an
/// API token, which needs none).
#[derive(Clone, Debug, Default)]
pub struct Csrf(pub String);

impl Csrf {
    /// The hidden field every form of the console carries.
    pub fn field(&self) -> String {
        format!(r#"<input type="hidden" name="csrf" value="{}">"#, self.0)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Csrf, Self::Rejection> {
        Ok(parts.extensions.get::<Csrf>().cloned().unwrap_or_default())
    }
}

/// Where a request came from, for the audit trail and the throttle.
#[derive(Clone, Debug, Default)]
pub struct Client {
    pub addr: Option<IpAddr>,
    pub agent: String,
}

impl Client {
    pub fn of(parts_ext: &axum::http::Extensions, headers: &HeaderMap) -> Client {
        Client {
            addr: parts_ext
                .get::<ConnectInfo<crate::tls::Peer>>()
                .map(|c| c.0 .0.ip()),
            agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect(),
        }
    }

    /// The audit trail's record of where from.
    pub fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "remote": self.addr.map(|a| a.to_string()),
            "agent": self.agent,
        })
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Client, Self::Rejection> {
        Ok(Client::of(&parts.extensions, &parts.headers))
    }
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Decodes an `application/x-www-form-urlencoded` body: its pairs, in order.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    use crate::alerts::decode;
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Login attempts per key (a user name, an address) in the last [`Throttle::WINDOW`]
/// seconds. An attempt counts from the moment it is let through (so guesses sent in
/// parallel are held back as those sent one by one); a login that succeeds takes its own
/// attempt back. At most [`Throttle::VERIFYING`] password checks run at once (each takes
/// 19 MiB).
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
    /// Permits for password checks in progress.
    pub verifying: tokio::sync::Semaphore,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            failures: Mutex::default(),
            verifying: tokio::sync::Semaphore::new(Self::VERIFYING),
        }
    }
}

impl Throttle {
    /// The window failures are counted over (seconds).
    pub const WINDOW: i64 = 15 * 60;
    /// Failures a user name may have in a window.
    pub const PER_USER: usize = 5;
    /// Failures an address may have in a window.
    pub const PER_ADDRESS: usize = 20;
    /// Password checks at once.
    pub const VERIFYING: usize = 4;
    /// Keys kept at most; those whose last attempt is oldest go first.
    const KEYS: usize = 10_000;

    fn keys(user: &str, addr: Option<IpAddr>) -> Vec<(String, usize)> {
        let mut keys = vec![(format!("user:{}", user.to_lowercase()), Self::PER_USER)];
        match addr {
            Some(IpAddr::V4(a)) => keys.push((format!("addr:{a}"), Self::PER_ADDRESS)),
            // One host has a whole /64 to pick addresses from.
            Some(IpAddr::V6(a)) => {
                let s = a.segments();
                keys.push((
                    format!("addr:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]),
                    Self::PER_ADDRESS,
                ));
            }
            None => {}
        }
        keys
    }

    /// Lets an attempt of `user` from `addr` through at `now`, counting it as failed until
    /// [`Throttle::succeed`] says otherwise; or the seconds until one may be made.
    pub fn attempt(&self, user: &str, addr: Option<IpAddr>, now: i64) -> Result<(), i64> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let keys = Self::keys(user, addr);
        let wait = keys
            .iter()
            .filter_map(|(key, limit)| {
                let seen = failures.get_mut(key)?;
                while seen.front().is_some_and(|t| *t <= now - Self::WINDOW) {
                    seen.pop_front();
                }
                (seen.len() >= *limit).then(|| seen[seen.len() - limit] + Self::WINDOW - now)
            })
            .max();
        if let Some(w) = wait {
            return Err(w.max(1));
        }
        if failures.len() >= Self::KEYS {
            failures.retain(|_, seen| seen.back().is_some_and(|t| *t > now - Self::WINDOW));
            if failures.len() >= Self::KEYS {
                // Still full of live keys: the least recently tried go, never all at once.
                let mut last: Vec<(i64, String)> = failures
                    .iter()
                    .map(|(k, seen)| (seen.back().copied().unwrap_or(0), k.clone()))
                    .collect();
                last.sort_unstable();
                for (_, k) in last.iter().take(Self::KEYS / 10) {
                    failures.remove(k);
                }
            }
        }
        for (key, limit) in keys {
            let seen = failures.entry(key).or_default();
            seen.push_back(now);
            while seen.len() > limit {
                seen.pop_front();
            }
        }
        Ok(())
    }

    /// A login of `user` from `addr`, let through at `at`, succeeded: the user's failures are
    /// forgotten, and the address's count loses this attempt.
    pub fn succeed(&self, user: &str, addr: Option<IpAddr>, at: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for (key, _) in Self::keys(user, addr) {
            if key.starts_with("user:") {
                failures.remove(&key);
            } else if let Some(seen) = failures.get_mut(&key) {
                if let Some(pos) = seen.iter().rposition(|t| *t == at) {
                    seen.remove(pos);
                }
            }
        }
    }
}

/// Whether the console is reached over https (then cookies are `Secure`).
fn secure(app: &AppState) -> bool {
    app.engine().alerting.public_url().starts_with("https://")
}

pub(crate) fn set_cookie(
    app: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if secure(app) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Where to go after logging in: a path on this server, never another site.
pub(crate) fn safe_next(next: &str) -> &str {
    // Browsers drop tabs and newlines from URLs and read `\` as `/`: `/\t/evil.example`
    // would be `//evil.example`. So: a path, with no control character, space or backslash
    // anywhere, that does not start with `//`.
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.bytes().any(|b| b <= 0x20 || b == 0x7f || b == b'\\');
    if local {
        next
    } else {
        "/"
    }
}

const LOGIN_CSS: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f7f7f5;color:#222;display:flex;justify-content:center}
main{background:#fff;margin-top:12vh;padding:1.5rem 2rem;border-radius:6px;box-shadow:0 1px 2px #0002;min-width:18rem}
label{display:block;margin:.6rem 0 .2rem}input{font:inherit;width:100%;box-sizing:border-box;padding:.3rem}
button{font:inherit;margin-top:1rem;padding:.3rem 1.2rem}.error{color:#c0392b}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        Html(format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Steward · {title}</title><style>{LOGIN_CSS}</style></head><body><main><h1>Steward</h1>{body}</main></body></html>"#
        )),
    )
        .into_response()
}

/// A page that says one thing, with a link back to the login form.
pub(crate) fn message_page(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "log in",
        &format!(
            r#"<p class="error">{}</p><p><a href="/login">Log in</a></p>"#,
            esc(message)
        ),
    )
}

/// The login form, with a fresh nonce in the form and in its cookie.
fn login_form(app: &AppState, status: StatusCode, next: &str, error: &str) -> Response {
    let nonce = match steward_store::random_hex() {
        Ok(n) => n,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let error = if error.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="error">{}</p>"#, esc(error))
    };
    let mut r = page(
        status,
        "log in",
        &format!(
            r#"{error}{sso}<form method="post" action="/login"><input type="hidden" name="csrf" value="{nonce}"><input type="hidden" name="next" value="{next}"><label for="user">User</label><input id="user" name="user" autocomplete="username" autofocus required><label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required><button>Log in</button></form>"#,
            next = esc(safe_next(next)),
            sso = match &app.engine().catalog().sso {
                Some(s) => format!(
                    r#"<p><a href="/login/oidc?next={}">Log in with {}</a></p>"#,
                    esc(&crate::alerts::encode(safe_next(next))),
                    esc(s.display_name.as_deref().unwrap_or(&s.name))
                ),
                None => String::new(),
            },
        ),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(app, LOGIN_COOKIE, &nonce, "/login", 3600),
    );
    r
}

/// `GET /login[?next=PATH]`: the login form.
pub async fn form(
    State(app): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let pairs = form_pairs(query.unwrap_or_default().as_bytes());
    login_form(&app, StatusCode::OK, field(&pairs, "next"), "")
}

/// `POST /login`: checks the password and starts a session.
pub async fn login(
    State(app): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if body.len() > MAX_FORM {
        return login_form(
            &app,
            StatusCode::PAYLOAD_TOO_LARGE,
            "/",
            "the form was too large",
        );
    }
    let pairs = form_pairs(&body);
    let (user, password, next) = (
        field(&pairs, "user").trim().to_string(),
        field(&pairs, "password").to_string(),
        field(&pairs, "next").to_string(),
    );
    let nonce = field(&pairs, "csrf");
    if nonce.is_empty() || cookie(&headers, LOGIN_COOKIE) != Some(nonce) {
        return login_form(
            &app,
            StatusCode::FORBIDDEN,
            &next,
            "the login form had expired or came from another page; log in again here",
        );
    }
    let at = now();
    if let Err(wait) = app.logins.attempt(&user, client.addr, at) {
        let mut r = login_form(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            &format!("too many failed logins; try again in {wait} s"),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let engine = app.engine();
    let known = engine.catalog().user(&user).map(|u| u.name.clone());
    let store = engine.store().clone();
    let (details, name) = (client.details(), user.clone());
    let agent = client.agent.clone();
    let Ok(_permit) = app.logins.verifying.acquire().await else {
        return ApiError::internal("the password checks have stopped").into_response();
    };
    let result = blocking(move || {
        let hash = match &known {
            Some(u) => store.transact({
                let u = u.clone();
                move |tx| tx.password_hash(&u)
            })?,
            None => None,
        };
        // A user without a password, or no such user: the same work and the same answer.
        let ok = steward_store::verify_password(
            hash.as_deref().unwrap_or(steward_store::decoy_hash()),
            &password,
        ) && hash.is_some();
        let who = known.filter(|_| ok);
        let session = store.transact(move |tx| {
            let Some(u) = who else {
                tx.audit(
                    at,
                    &format!("user:{name}"),
                    "login.failed",
                    &format!("user:{name}"),
                    &details.to_string(),
                )?;
                return Ok(None);
            };
            let (_, secret) = tx.create_token(&NewToken {
                kind: TokenKind::Session,
                principal: u.clone(),
                name: agent,
                services: Vec::new(),
                created_by: format!("user:{u}"),
                at,
                expires_at: Some(at + SESSION_ABSOLUTE),
                role: None,
            })?;
            tx.audit(
                at,
                &format!("user:{u}"),
                "login",
                &format!("user:{u}"),
                &details.to_string(),
            )?;
            Ok(Some(secret))
        })?;
        Ok(session)
    })
    .await;
    match result {
        Err(e) => e.into_response(),
        Ok(None) => {
            // The attempt stays counted.
            login_form(
                &app,
                StatusCode::UNAUTHORIZED,
                &next,
                "the user name or the password is wrong",
            )
        }
        Ok(Some(secret)) => {
            app.logins.succeed(&user, client.addr, at);
            start_session(&app, &secret, safe_next(&next))
        }
    }
}

/// A redirect to `to` that sets the session cookie (and drops the login nonce).
pub(crate) fn start_session(app: &AppState, secret: &str, to: &str) -> Response {
    let mut r = axum::response::Redirect::to(to).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(app, SESSION_COOKIE, secret, "/", SESSION_ABSOLUTE),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(app, LOGIN_COOKIE, "", "/login", 0),
    );
    r
}

/// `GET /login/once?token=…`: a one-time login link (what `steward demo` prints) starts a
/// session once.
pub async fn once(
    State(app): State<AppState>,
    client: Client,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let pairs = form_pairs(query.unwrap_or_default().as_bytes());
    let secret = field(&pairs, "token").to_string();
    let store = app.engine().store().clone();
    let at = now();
    let details = client.details().to_string();
    let agent = client.agent.clone();
    let result = blocking(move || {
        Ok(store.transact(move |tx| {
            let Some(link) = tx
                .token_of(&secret)?
                .filter(|t| t.kind == TokenKind::Login && t.refusal(at).is_none())
            else {
                return Ok(None);
            };
            if !tx.revoke_token(link.id, at)? {
                return Ok(None);
            }
            let (_, secret) = tx.create_token(&NewToken {
                kind: TokenKind::Session,
                principal: link.principal.clone(),
                name: agent,
                services: Vec::new(),
                created_by: format!("login-link#{}", link.id),
                at,
                expires_at: Some(at + SESSION_ABSOLUTE),
                role: None,
            })?;
            let who = format!("user:{}", link.principal);
            tx.audit(at, &who, "login.link", &who, &details)?;
            Ok(Some(secret))
        })?)
    })
    .await;
    match result {
        Err(e) => e.into_response(),
        Ok(None) => login_form(
            &app,
            StatusCode::UNAUTHORIZED,
            "/",
            "this login link was used already or has expired; log in with a password",
        ),
        Ok(Some(secret)) => start_session(&app, &secret, "/"),
    }
}

/// `POST /logout`: ends the caller's session.
pub async fn logout(
    State(app): State<AppState>,
    client: Client,
    axum::Extension(who): axum::Extension<crate::access::Principal>,
) -> Response {
    if let crate::access::Principal::User {
        name,
        token,
        session: true,
        ..
    } = who
    {
        let store = app.engine().store().clone();
        let details = client.details().to_string();
        let done = blocking(move || {
            let at = now();
            Ok(store.transact(move |tx| {
                tx.revoke_token(token, at)?;
                let who = format!("user:{name}");
                tx.audit(at, &who, "logout", &who, &details)
            })?)
        })
        .await;
        if let Err(e) = done {
            return e.into_response();
        }
    }
    let mut r = axum::response::Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&app, SESSION_COOKIE, "", "/", 0),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_body_decodes_plus_and_percent_escapes() {
        assert_eq!(
            form_pairs(b"user=ana+b&password=p%26q%3D%zz%&next=%2Falerts%2F1&empty"),
            vec![
                ("user".to_string(), "ana b".to_string()),
                ("password".to_string(), "p&q=%zz%".to_string()),
                ("next".to_string(), "/alerts/1".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn after_login_the_browser_goes_only_to_a_path_of_this_server() {
        assert_eq!(safe_next("/alerts/7"), "/alerts/7");
        assert_eq!(safe_next("//evil.example/"), "/");
        assert_eq!(safe_next("/\\evil.example/"), "/");
        assert_eq!(safe_next("https://evil.example/"), "/");
        assert_eq!(safe_next("/x\r\nSet-Cookie: a=b"), "/");
        assert_eq!(safe_next("/\t/evil.example"), "/");
        assert_eq!(safe_next("/ /evil.example"), "/");
        assert_eq!(safe_next("/x\\y"), "/");
        assert_eq!(safe_next("/\u{7f}/evil.example"), "/");
        assert_eq!(safe_next(""), "/");
    }

    #[test]
    fn the_throttle_holds_a_user_name_after_five_attempts_for_the_rest_of_the_window() {
        let t = Throttle::default();
        let addr: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        for i in 0..5 {
            assert_eq!(t.attempt("Ana", addr, 1000 + i), Ok(()), "try {i}");
        }
        // The name in any case; the 5th-last attempt (at 1000) leaves the window at 1900.
        assert_eq!(t.attempt("ana", None, 1010), Err(890));
        assert_eq!(t.attempt("ana", None, 1899), Err(1));
        assert_eq!(t.attempt("ana", None, 1901), Ok(()));
        // Another name from the same address is not held until the address has 20.
        for i in 0..15 {
            assert_eq!(t.attempt(&format!("u{i}"), addr, 1010), Ok(()));
        }
        assert_eq!(t.attempt("bob", addr, 1011), Err(889));
        // A success forgets the user's count and takes its own attempt off the address's.
        let other: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        assert_eq!(t.attempt("cy", other, 1012), Ok(()));
        t.succeed("cy", other, 1012);
        for i in 0..5 {
            assert_eq!(t.attempt("cy", other, 1013 + i), Ok(()), "try {i}");
        }
    }

    #[test]
    fn an_ipv6_host_is_held_back_by_its_64_not_per_address() {
        let t = Throttle::default();
        for i in 0..20u16 {
            let a: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            assert_eq!(t.attempt(&format!("u{i}"), Some(a), 1000), Ok(()));
        }
        let next: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(t.attempt("v", Some(next), 1001).is_err());
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(t.attempt("v", Some(elsewhere), 1001), Ok(()));
    }
}
