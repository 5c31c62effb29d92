//! Who may call what, decided in one place. Every route is added through [`Routes`] with what
//! it needs of its caller ([`Need`]); the table it keeps is what [`check`] decides from (and
//! what the authorization tests walk), so a route without a decision cannot exist.
//!
//! A caller presents `Authorization: Bearer TOKEN`. A token that is unknown, revoked or
//! expired is refused with 401 on every route that reads tokens (all but health, readiness
//! and the inbound integrations, whose keys come in the same header); a role that is not
//! enough is 403.

use crate::error::ApiError;
use crate::inbound::bearer;
use crate::login::Csrf;
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use std::sync::Arc;
use steward_model::catalog::Role;
use steward_store::{Token, TokenKind};

/// What a route needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Anyone: health and readiness.
    Anyone,
    /// The route checks a key of its own (the inbound integrations, the Alertmanager API).
    OwnKey,
    /// Any user's token (metrics scrapers send one).
    Metrics,
    /// A sender's token for the samples' services, or a responder's.
    Samples,
    /// A viewer, for what is inside its scope.
    Read,
    /// A responder: acknowledgements, silences, overrides, incidents, runbook runs, changes.
    Respond,
    /// An admin.
    Admin,
    /// A viewer of the provider's staff: schedules, on-call, silences, the kill switch (a
    /// customer's user is refused).
    StaffRead,
    /// A responder of the provider's staff: silences and schedule overrides.
    StaffRespond,
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq)]
pub enum Principal {
    /// No token.
    Anonymous,
    /// A user, by one of its tokens or its console session.
    User {
        name: String,
        role: Role,
        customer: Option<String>,
        /// The token's (or session's) id.
        token: i64,
        /// Whether it came with the session cookie (then its forms carry a CSRF token).
        session: bool,
    },
    /// A sample sender's token.
    Sender {
        name: String,
        services: Vec<String>,
        token: i64,
    },
}

impl Principal {
    /// What the audit trail and every record of a change name as its actor.
    pub fn actor(&self) -> Option<String> {
        match self {
            Principal::Anonymous => None,
            Principal::User { name, .. } => Some(format!("user:{name}")),
            Principal::Sender { name, token, .. } => Some(format!("sender:{name}#{token}")),
        }
    }

    /// What the caller may do: a customer's user never more than a responder (the
    /// configuration refuses a customer's admin; this holds even so).
    fn role(&self) -> Option<Role> {
        match self {
            Principal::User {
                role,
                customer: Some(_),
                ..
            } => Some((*role).min(Role::Responder)),
            Principal::User { role, .. } => Some(*role),
            _ => None,
        }
    }
}

/// Whether `who` may change what counts against `service`'s budget or opens its gate (a gate
/// override, a budget adjustment): an admin of the provider, or a responder of the team that
/// owns the service. (An anonymous caller reaches this only on an open server.)
pub fn may_steer(
    who: &Principal,
    catalog: &steward_config::Catalog,
    service: &str,
) -> Result<(), ApiError> {
    if !who.scope().sees_service(catalog, service) {
        return Err(ApiError::not_found(format!(
            "there is no service `{service}`"
        )));
    }
    let owner = catalog.service(service).and_then(|s| s.owner.as_deref());
    let allowed = match who {
        Principal::Anonymous => true,
        Principal::Sender { .. } => false,
        Principal::User { name, .. } => {
            who.role() == Some(Role::Admin)
                || who.role() >= Some(Role::Responder)
                    && owner.is_some_and(|team| {
                        catalog
                            .teams
                            .iter()
                            .any(|t| t.name == team && t.members.iter().any(|m| m == name))
                    })
        }
    };
    if allowed {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        match owner {
            Some(team) => format!(
                "changing `{service}`'s gate or budget needs an admin or a responder of its owning team `{team}`"
            ),
            None => format!("changing `{service}`'s gate or budget needs an admin (it has no owning team)"),
        },
    ))
}

/// What a caller may see: everything (the provider's staff), or one customer's services
/// and what belongs to them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    All,
    Customer(String),
}

impl Principal {
    /// The caller's scope: a customer's user sees its customer's only.
    pub fn scope(&self) -> Scope {
        match self {
            Principal::User {
                customer: Some(c), ..
            } => Scope::Customer(c.clone()),
            _ => Scope::All,
        }
    }
}

impl Scope {
    /// The customer whose objects are all the caller sees, if it is one's.
    pub fn customer(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Customer(c) => Some(c),
        }
    }

    /// Whether an object that belongs to `customer` (its service's, as recorded) is seen.
    pub fn sees(&self, customer: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Customer(c) => customer == Some(c.as_str()),
        }
    }

    /// Whether `service` (of the running catalog) is seen.
    pub fn sees_service(&self, catalog: &steward_config::Catalog, service: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Customer(_) => {
                self.sees(catalog.service(service).and_then(|s| s.customer.as_deref()))
            }
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Scope {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Scope, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Principal>()
            .map(Principal::scope)
            .unwrap_or_default())
    }
}

/// For a customer's user: whether the object a route's path names (its `{id}` or `{name}`)
/// is its customer's. Another customer's object, the provider's own and one that does not
/// exist all answer the same 404, so nothing tells them apart. A route whose object is not
/// known here is refused to a customer's user (the safe default for a route added later).
async fn object_in_scope(
    app: &AppState,
    scope: &Scope,
    path: &str,
    params: &[(String, String)],
) -> Result<bool, ApiError> {
    let Scope::Customer(_) = scope else {
        return Ok(true);
    };
    let Some((_, value)) = params.first() else {
        return Ok(true);
    };
    let engine = app.engine();
    let catalog = engine.catalog();
    let number = || value.parse::<i64>().ok();
    let in_service = |service: &str| scope.sees_service(catalog, service);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let kind = match segments.as_slice() {
        ["api", "v1", kind, ..] | [kind, ..] => *kind,
        [] => "",
    };
    let store = engine.store().clone();
    let scope_c = scope.clone();
    let stored = |what: &'static str| {
        let store = store.clone();
        let scope = scope_c.clone();
        let id = number();
        async move {
            let Some(id) = id else { return Ok(false) };
            crate::alerts::blocking(move || {
                Ok(store.transact(move |tx| {
                    let customer = match what {
                        "alert" => tx.alert(id)?.map(|a| a.customer),
                        "incident" => tx.incident(id)?.map(|i| i.customer),
                        _ => match tx.action_item(id)? {
                            Some(item) => tx.incident(item.incident)?.map(|i| i.customer),
                            None => None,
                        },
                    };
                    Ok(customer.is_some_and(|c| scope.sees(c.as_deref())))
                })?)
            })
            .await
        }
    };
    Ok(match kind {
        "alerts" => stored("alert").await?,
        "incidents" => stored("incident").await?,
        "action-items" => stored("item").await?,
        "slos" => engine
            .snapshot()
            .get(value)
            .is_some_and(|r| in_service(&r.def.service)),
        "services" => in_service(value),
        "runbooks" => catalog
            .runbook(value)
            .is_some_and(|r| in_service(&r.service)),
        "runs" => {
            let Some(id) = number() else { return Ok(false) };
            let run =
                crate::alerts::blocking(move || Ok(store.transact(move |tx| tx.run(id))?)).await?;
            run.is_some_and(|r| {
                catalog
                    .runbook(&r.runbook)
                    .is_some_and(|rb| in_service(&rb.service))
            })
        }
        "budget-adjustments" => {
            let name = value.clone();
            let stored =
                crate::alerts::blocking(
                    move || Ok(store.transact(move |tx| tx.adjustment(&name))?),
                )
                .await?;
            match stored {
                Some(a) => in_service(&a.service),
                None => catalog
                    .budget_adjustments
                    .iter()
                    .any(|a| a.name == *value && in_service(&a.service)),
            }
        }
        "maintenance" => catalog
            .maintenance
            .iter()
            .any(|m| m.name == *value && m.services.iter().all(|s| in_service(s))),
        // Each user's own: the handler decides.
        "tokens" => true,
        _ => false,
    })
}

/// Who made a change, as its records name them: the authenticated principal. A caller
/// without a token (only an open server lets one in) is `user:api`, or the name a proxy in
/// front put in `X-Steward-User`.
pub struct Actor(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Actor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Actor, Self::Rejection> {
        if let Some(a) = parts
            .extensions
            .get::<Principal>()
            .and_then(Principal::actor)
        {
            return Ok(Actor(a));
        }
        let named = parts
            .headers
            .get("x-steward-user")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|u| !u.is_empty() && u.len() <= 255);
        Ok(Actor(match named {
            Some(u) => format!("user:{u}"),
            None => "user:api".into(),
        }))
    }
}

/// Whether callers without a token are let in. `Open` is how Steward ran before it had
/// identities; `Required` refuses them. (Open is the default until every client sends
/// tokens; see ARCHITECTURE.md.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessMode {
    Open,
    Required,
}

/// How the server lets callers in: the mode, and whether `/metrics` is open to all (for a
/// scraper that cannot send a token; `serve --metrics-public`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub mode: AccessMode,
    pub metrics_public: bool,
    /// Requests a second each token (or session) may make, on average; it may burst to ten
    /// times that. 0: no limit.
    pub rate_limit: u32,
}

/// The default of [`Access::rate_limit`]: far above what a person or a CI job does, low
/// enough that one leaked token cannot drown the server.
pub const DEFAULT_RATE_LIMIT: u32 = 100;

impl From<AccessMode> for Access {
    fn from(mode: AccessMode) -> Access {
        Access {
            mode,
            metrics_public: false,
            rate_limit: DEFAULT_RATE_LIMIT,
        }
    }
}

/// A token bucket per user or sender (all its tokens and sessions together): `rate` a
/// second, at most `10 × rate` at once.
#[derive(Default)]
pub struct RateLimits {
    buckets: std::sync::Mutex<std::collections::HashMap<String, (f64, f64)>>,
}

impl RateLimits {
    /// Takes one request of `who`'s at `now` (seconds): `Ok`, or the whole seconds to wait.
    pub fn take(&self, who: &str, rate: u32, now: f64) -> Result<(), u64> {
        if rate == 0 {
            return Ok(());
        }
        let (rate, burst) = (f64::from(rate), f64::from(rate) * 10.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 100_000 {
            // Idle buckets are full ones: forgetting them changes nothing.
            buckets.retain(|_, (level, at)| *level + (now - *at) * rate < burst);
        }
        let (level, at) = buckets.entry(who.to_string()).or_insert((burst, now));
        *level = (*level + (now - *at).max(0.0) * rate).min(burst);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *level) / rate).ceil().max(1.0) as u64)
        }
    }
}

/// What the check holds: the state and the table.
#[derive(Clone)]
struct Gate {
    app: AppState,
    table: Arc<Vec<Rule>>,
}

/// One row of the route table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub method: Method,
    pub path: &'static str,
    pub need: Need,
}

/// The router under construction and the table of what each route needs.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<Rule>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }
}

macro_rules! verb {
    ($name:ident, $method:ident) => {
        pub fn $name<H, T>(self, path: &'static str, need: Need, handler: H) -> Routes
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add(Method::$method, path, need, handler)
        }
    };
}

impl Routes {
    verb!(get, GET);
    verb!(post, POST);
    verb!(put, PUT);
    verb!(patch, PATCH);
    verb!(delete, DELETE);

    fn add<H, T>(mut self, method: Method, path: &'static str, need: Need, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a routed method");
        self.router = self.router.route(path, on(filter, handler));
        self.table.push(Rule {
            method: method.clone(),
            path,
            need,
        });
        self
    }

    /// The router and the table. [`Routes::guard`] must wrap the router once everything,
    /// fallbacks included, is on it.
    pub fn finish(self) -> (Router<AppState>, Arc<Vec<Rule>>) {
        (self.router, Arc::new(self.table))
    }
}

/// Puts the check in front of every endpoint of `router` (fallbacks too): a route that is
/// not in the table is refused, never let through.
pub fn guard(router: Router<AppState>, app: AppState, table: Arc<Vec<Rule>>) -> Router<AppState> {
    router.layer(axum::middleware::from_fn_with_state(
        Gate { app, table },
        check,
    ))
}

impl Routes {}

fn unauthorized(message: impl Into<String>) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    r.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static("Bearer realm=\"steward\""),
    );
    r
}

/// The caller, from its bearer token or its session cookie: `Ok(Anonymous)` without either
/// (or with a session that has ended: the console asks it to log in again), 401 for a token
/// that is not live or whose user is no longer in the configuration. A session comes with
/// its CSRF token.
async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<(Principal, Option<Csrf>), Response> {
    let (secret, session) = match bearer(headers) {
        Some(secret) => (secret, false),
        None => match crate::login::cookie(headers, crate::login::SESSION_COOKIE) {
            Some(secret) if !secret.is_empty() => (secret, true),
            _ => return Ok((Principal::Anonymous, None)),
        },
    };
    let well_formed = secret
        .strip_prefix(steward_store::TOKEN_PREFIX)
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if !well_formed {
        // An open server behind a proxy that sends its own bearer tokens lets them through as
        // no token at all; otherwise it is refused without asking the store.
        if session
            || app.access == AccessMode::Open && !secret.starts_with(steward_store::TOKEN_PREFIX)
        {
            return Ok((Principal::Anonymous, None));
        }
        return Err(unauthorized(
            "the bearer token is not a Steward token (stw_ and 64 hex digits)",
        ));
    }
    let engine = app.engine();
    let store = engine.store().clone();
    let secret = secret.to_string();
    let now = jiff::Timestamp::now().as_second();
    let csrf = session.then(|| Csrf(crate::login::csrf_of(&secret)));
    let token: Option<Token> = crate::alerts::blocking(move || {
        let t = store.transact(move |tx| {
            let t = tx.token_of(&secret)?;
            // A use is noted at most once a minute: most requests only read.
            if let Some(t) = t.as_ref().filter(|t| {
                t.refusal(now).is_none() && t.last_used_at.is_none_or(|at| at <= now - 60)
            }) {
                tx.touch_token(t.id, now)?;
            }
            Ok(t)
        })?;
        Ok(t)
    })
    .await
    .map_err(IntoResponse::into_response)?;
    // A cookie holds sessions only; a bearer header API tokens only (never a session, a
    // login link or a calendar feed's secret, which is shared with calendar applications).
    let token = token.filter(|t| match t.kind {
        TokenKind::Session => session,
        TokenKind::User | TokenKind::Sender => !session,
        TokenKind::Login | TokenKind::Feed => false,
    });
    let token = match token {
        Some(t) if t.refusal(now).is_none() => t,
        // A session that ended: the console asks to log in again.
        _ if session => return Ok((Principal::Anonymous, None)),
        None => return Err(unauthorized("the bearer token is not known")),
        Some(t) => return Err(unauthorized(t.refusal(now).unwrap_or_default())),
    };
    let who = match token.kind {
        TokenKind::Sender => Principal::Sender {
            name: token.principal,
            services: token.services,
            token: token.id,
        },
        _ => match engine.catalog().user(&token.principal) {
            Some(u) => Principal::User {
                name: u.name.clone(),
                // A single sign-on session has the role its groups gave.
                role: token.role.unwrap_or(u.role),
                customer: u.customer.clone(),
                token: token.id,
                session,
            },
            None if session => return Ok((Principal::Anonymous, None)),
            None => {
                return Err(unauthorized(format!(
                    "user `{}` of this token is no longer in the configuration",
                    token.principal
                )))
            }
        },
    };
    Ok((who, csrf))
}

/// Whether a path is a page of the console (which sends a browser without a session to the
/// login form instead of answering 401).
fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/v2/")
        || matches!(path, "/metrics" | "/healthz" | "/readyz"))
}

/// The largest form a session may post (the console's forms are small).
const MAX_FORM: usize = 64 << 10;

/// Whether a request made with a session carries the session's CSRF token: in the
/// `X-CSRF-Token` header, or as the form field `csrf` (the body is read and put back).
async fn csrf_holds(req: Request, csrf: &Csrf) -> Result<Request, Response> {
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "this form did not carry its CSRF token (it came from another page, or the page is old): load the page again",
        )
        .into_response()
    };
    if req
        .headers()
        .get("x-csrf-token")
        .is_some_and(|v| v.as_bytes() == csrf.0.as_bytes())
    {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM)
        .await
        .map_err(|_| refused())?;
    let ok = crate::login::form_pairs(&bytes)
        .iter()
        .any(|(k, v)| k == "csrf" && v == &csrf.0);
    if !ok {
        return Err(refused());
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Whether `who` may call a route that needs `need`: `Ok`, or the status that says why not.
pub fn decide(need: Need, who: &Principal, mode: AccessMode) -> Result<(), (StatusCode, String)> {
    let open = mode == AccessMode::Open && *who == Principal::Anonymous;
    let least = match need {
        Need::Anyone | Need::OwnKey => return Ok(()),
        _ if open => return Ok(()),
        Need::Samples => {
            return match who {
                // Which services a sender may post for is checked against the samples.
                Principal::Sender { .. } => Ok(()),
                _ => at_least(who, Role::Responder),
            };
        }
        Need::Metrics | Need::Read | Need::StaffRead => Role::Viewer,
        Need::Respond | Need::StaffRespond => Role::Responder,
        Need::Admin => Role::Admin,
    };
    at_least(who, least)?;
    let staff_only = matches!(need, Need::Metrics | Need::StaffRead | Need::StaffRespond);
    if staff_only && who.scope() != Scope::All {
        return Err((
            StatusCode::FORBIDDEN,
            "a customer's user does not see the provider's schedules, silences, metrics or kill switch".into(),
        ));
    }
    Ok(())
}

fn at_least(who: &Principal, least: Role) -> Result<(), (StatusCode, String)> {
    match who {
        Principal::Anonymous => Err((
            StatusCode::UNAUTHORIZED,
            "this needs a token: send Authorization: Bearer stw_… (steward token create makes one)"
                .into(),
        )),
        Principal::Sender { .. } => Err((
            StatusCode::FORBIDDEN,
            "a sender's token may only post samples".into(),
        )),
        _ if who.role() >= Some(least) => Ok(()),
        _ => Err((
            StatusCode::FORBIDDEN,
            format!(
                "this needs the {least} role; yours is {}",
                who.role().map_or("none", Role::as_str)
            ),
        )),
    }
}

/// The check on every route: finds the route's row, authenticates the caller, decides, and
/// hands the principal to the handler.
async fn check(
    State(Gate { app, table }): State<Gate>,
    matched: Option<MatchedPath>,
    params: Result<axum::extract::RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    mut req: Request,
    next: Next,
) -> Response {
    // No route matched: the fallback answers 404, and needs nobody.
    let Some(matched) = matched else {
        return next.run(req).await;
    };
    // A HEAD is its GET without the body.
    let method = match req.method() {
        &Method::HEAD => "GET",
        m => m.as_str(),
    };
    let Some(rule) = table
        .iter()
        .find(|r| r.path == matched.as_str() && r.method.as_str() == method)
    else {
        // The path is served, not with this method (or a route is missing from the table):
        // refused either way.
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not served on {}", matched.as_str()),
        )
        .into_response();
    };
    // These routes read no token of ours: an integration's key comes in the same header.
    let public_metrics = rule.need == Need::Metrics && app.metrics_public;
    if matches!(rule.need, Need::Anyone | Need::OwnKey) || public_metrics {
        req.extensions_mut().insert(Principal::Anonymous);
        return next.run(req).await;
    }
    let (who, csrf) = match authenticate(&app, req.headers()).await {
        Ok(who) => who,
        Err(r) => return r,
    };
    // One bucket per user or sender, whatever tokens and sessions it has.
    if let Some(actor) = who.actor() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if let Err(wait) = app.limits.take(&actor, app.rate_limit, now) {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "{actor} made more than {} requests a second; wait {wait} s",
                    app.rate_limit
                ),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            return r;
        }
    }
    match decide(rule.need, &who, app.access) {
        Ok(()) => {
            let scope = who.scope();
            if scope != Scope::All {
                let params: Vec<(String, String)> = params.as_ref().map_or_else(
                    |_| Vec::new(),
                    |p| {
                        p.iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect()
                    },
                );
                match object_in_scope(&app, &scope, rule.path, &params).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // The same answer whether it is another customer's or none at all.
                        return ApiError::not_found("there is no such object").into_response();
                    }
                    Err(e) => return e.into_response(),
                }
            }
            if let Some(csrf) = csrf {
                if !matches!(*req.method(), Method::GET | Method::HEAD) {
                    req = match csrf_holds(req, &csrf).await {
                        Ok(req) => req,
                        Err(r) => return r,
                    };
                }
                req.extensions_mut().insert(csrf);
            }
            if !crate::audit::audited(rule, req.method()) {
                req.extensions_mut().insert(who);
                return next.run(req).await;
            }
            // A change: its entry in the audit trail, with what was asked and answered.
            let method = req.method().clone();
            let client = crate::login::Client::of(req.extensions(), req.headers());
            let params: Vec<(String, String)> = params.as_ref().map_or_else(
                |_| Vec::new(),
                |p| {
                    p.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                },
            );
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, crate::MAX_CHANGE_BODY).await {
                Ok(b) => b,
                Err(_) => {
                    return ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        format!(
                            "the body is larger than {} KiB",
                            crate::MAX_CHANGE_BODY >> 10
                        ),
                    )
                    .into_response()
                }
            };
            let asked = serde_json::from_slice(&bytes).ok();
            let mut req = Request::from_parts(parts, axum::body::Body::from(bytes));
            req.extensions_mut().insert(who.clone());
            let answer = next.run(req).await;
            crate::audit::record(&app, rule, &who, client, &method, params, asked, answer).await
        }
        // A browser without a session is sent to log in, and back here afterwards.
        Err((StatusCode::UNAUTHORIZED, _))
            if is_page(rule.path) && matches!(*req.method(), Method::GET | Method::HEAD) =>
        {
            let here = req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string();
            let to = format!("/login?next={}", crate::alerts::encode(&here));
            axum::response::Redirect::to(&to).into_response()
        }
        Err((StatusCode::UNAUTHORIZED, message)) => unauthorized(message),
        Err((status, message)) => ApiError::new(status, "forbidden", message).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> Principal {
        Principal::User {
            name: "u".into(),
            role,
            customer: None,
            token: 1,
            session: false,
        }
    }

    #[test]
    fn each_role_may_do_what_the_ones_below_it_may() {
        let sender = Principal::Sender {
            name: "s".into(),
            services: vec!["checkout".into()],
            token: 2,
        };
        let callers = [
            Principal::Anonymous,
            sender,
            user(Role::Viewer),
            user(Role::Responder),
            user(Role::Admin),
        ];
        let needs = [
            Need::Anyone,
            Need::OwnKey,
            Need::Metrics,
            Need::Samples,
            Need::Read,
            Need::Respond,
            Need::Admin,
        ];
        let mut table = String::new();
        for need in needs {
            let row: Vec<String> = callers
                .iter()
                .map(|who| match decide(need, who, AccessMode::Required) {
                    Ok(()) => "200".into(),
                    Err((s, _)) => s.as_u16().to_string(),
                })
                .collect();
            table.push_str(&format!("{need:?}: {}\n", row.join(" ")));
        }
        // Columns: anonymous, sender, viewer, responder, admin.
        assert_eq!(
            table,
            "Anyone: 200 200 200 200 200
OwnKey: 200 200 200 200 200
Metrics: 401 403 200 200 200
Samples: 401 200 403 200 200
Read: 401 403 200 200 200
Respond: 401 403 403 200 200
Admin: 401 403 403 403 200
"
        );
    }

    #[test]
    fn a_customers_user_is_never_more_than_a_responder() {
        let customer_admin = Principal::User {
            name: "c".into(),
            role: Role::Admin,
            customer: Some("acme".into()),
            token: 3,
            session: false,
        };
        assert_eq!(
            decide(Need::Respond, &customer_admin, AccessMode::Required),
            Ok(())
        );
        assert_eq!(
            decide(Need::Admin, &customer_admin, AccessMode::Required).map_err(|e| e.0),
            Err(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn an_open_server_lets_callers_without_a_token_in_and_still_judges_tokens() {
        assert_eq!(
            decide(Need::Admin, &Principal::Anonymous, AccessMode::Open),
            Ok(())
        );
        assert_eq!(
            decide(Need::Respond, &user(Role::Viewer), AccessMode::Open).map_err(|e| e.0),
            Err(StatusCode::FORBIDDEN)
        );
    }
}
