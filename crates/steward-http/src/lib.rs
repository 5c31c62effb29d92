//! Steward's HTTP surface: the JSON API under `/api/v1`, health endpoints, `/metrics` and the
//! web console. Only this crate knows HTTP and JSON; it maps every error to a status in one
//! place ([`error::ApiError`]).

pub mod access;
pub mod adjustments;
pub mod alerts;
pub mod audit;
pub mod changes;
pub mod charts;
pub mod error;
mod harden;
pub mod ical;
pub mod inbound;
pub mod incidents;
pub mod ingest;
pub mod login;
mod metrics;
pub mod oidc;
mod page;
pub mod runbooks;
pub mod services;
pub mod slos;
pub mod tls;
pub mod tokens;

use access::{AccessMode, Need, Principal, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use error::ApiError;
use serde_json::json;
use std::sync::Arc;
use steward_engine::runtime::{ReloadError, Runtime};
use steward_engine::{Engine, Readiness};

pub use ingest::{decode_samples, MAX_BODY};

/// The largest body of a change other than samples (incidents, silences, adjustments...).
pub const MAX_CHANGE_BODY: usize = 1 << 20;

#[derive(Clone)]
pub struct AppState {
    /// The running configuration's engine; a reload replaces it.
    pub runtime: Arc<Runtime>,
    /// Permits for ingest requests in progress ([`ingest::MAX_CONCURRENT_INGEST`]).
    pub ingest_permits: Arc<tokio::sync::Semaphore>,
    /// When this process started serving (unix seconds).
    pub started_at: i64,
    /// Whether callers without a token are let in.
    pub access: AccessMode,
    /// Whether `/metrics` is open to all.
    pub metrics_public: bool,
    /// Requests a second per token ([`access::Access::rate_limit`]).
    pub rate_limit: u32,
    /// The token buckets.
    pub limits: Arc<access::RateLimits>,
    /// Failed console logins, per user name and per address.
    pub logins: Arc<login::Throttle>,
    /// Single sign-on logins waiting for the identity provider.
    pub flows: Arc<oidc::Flows>,
}

impl AppState {
    /// The engine that serves now: hold it for one request, not longer.
    pub fn engine(&self) -> Arc<Engine> {
        self.runtime.engine()
    }
}

/// The router, and its route table: what each route needs of its caller.
pub fn routes(
    runtime: Arc<Runtime>,
    access: impl Into<access::Access>,
) -> (Router, Arc<Vec<access::Rule>>) {
    use Need::*;
    let access = access.into();
    let app = AppState {
        runtime,
        ingest_permits: Arc::new(tokio::sync::Semaphore::new(ingest::MAX_CONCURRENT_INGEST)),
        started_at: jiff::Timestamp::now().as_second(),
        access: access.mode,
        metrics_public: access.metrics_public,
        rate_limit: access.rate_limit,
        limits: Default::default(),
        logins: Default::default(),
        flows: Default::default(),
    };
    let (router, table) = Routes::default()
        .get("/", Read, page::index)
        .get("/alerts/{id}", Read, page::alert)
        .post("/alerts/{id}/{action}", Respond, page::alert_action)
        .get("/runbooks/{name}", Read, page::runbook)
        .get("/incidents/{id}", Read, page::incident)
        .get("/incidents/{id}/postmortem", Read, page::postmortem)
        .post("/incidents/{id}/{action}", Respond, page::incident_action)
        .get("/login", Anyone, login::form)
        .post("/login", Anyone, login::login)
        .get("/login/once", Anyone, login::once)
        .get("/login/oidc", Anyone, oidc::start)
        .get("/login/oidc/callback", Anyone, oidc::callback)
        .post("/logout", Read, login::logout)
        .get("/healthz", Anyone, healthz)
        .get("/readyz", Anyone, readyz)
        .get("/metrics", Metrics, metrics::metrics)
        .get("/api/v1/me", Read, me)
        .get("/api/v1/tokens", Read, tokens::list)
        .post("/api/v1/tokens", Read, tokens::create)
        .delete("/api/v1/tokens/{id}", Read, tokens::revoke)
        .post("/api/v1/config/reload", Admin, reload)
        .post("/api/v1/samples", Samples, ingest::post_samples)
        .get("/api/v1/slos", Read, slos::list)
        .get("/api/v1/slos/{name}", Read, slos::get)
        .get("/api/v1/runbooks", Read, runbooks::list)
        .get("/api/v1/runbooks/{name}", Read, runbooks::get)
        .get("/api/v1/runbooks/{name}/runs", Read, runbooks::runs)
        .post("/api/v1/runbooks/{name}/runs", Respond, runbooks::start)
        .post(
            "/api/v1/runbooks/{name}/rehearse",
            Respond,
            runbooks::rehearse,
        )
        .get("/api/v1/runs/{id}", Read, runbooks::run)
        .post("/api/v1/runs/{id}/approve", Respond, runbooks::approve)
        .get("/api/v1/kill-switch", StaffRead, runbooks::kill_switch)
        .put("/api/v1/kill-switch", Admin, runbooks::set_kill_switch)
        .get("/api/v1/alerts", Read, alerts::list)
        .get("/api/v1/alerts/{id}", Read, alerts::get)
        .post("/api/v1/alerts/{id}/ack", Respond, alerts::ack)
        .post("/api/v1/alerts/{id}/resolve", Respond, alerts::resolve)
        .get("/api/v1/silences", StaffRead, alerts::list_silences)
        .post("/api/v1/silences", StaffRespond, alerts::add_silence)
        .post(
            "/api/v1/silences/{id}/expire",
            StaffRespond,
            alerts::expire_silence,
        )
        .get("/api/v1/notifications/dead", Admin, alerts::dead_letters)
        .post(
            "/api/v1/notifications/{id}/retry",
            Admin,
            alerts::retry_dead_letter,
        )
        .get("/api/v1/oncall", StaffRead, alerts::oncall)
        .get("/api/v1/schedules/{name}/gaps", StaffRead, alerts::gaps)
        .post(
            "/api/v1/schedules/{name}/overrides",
            StaffRespond,
            alerts::add_override,
        )
        .delete(
            "/api/v1/overrides/{id}",
            StaffRespond,
            alerts::delete_override,
        )
        .get("/api/v1/schedules/{name}/ical", StaffRead, ical::schedule)
        .get("/api/v1/users/{name}/ical", StaffRead, ical::user)
        .post(
            "/api/v1/schedules/{name}/ical-feeds",
            StaffRead,
            ical::add_feed,
        )
        .post("/api/v1/users/{name}/ical-feeds", StaffRead, ical::add_feed)
        .get("/ical/{file}", OwnKey, ical::feed)
        .get("/api/v1/incidents", Read, incidents::list)
        .post("/api/v1/incidents", Respond, incidents::declare)
        .get("/api/v1/incidents/{id}", Read, incidents::get)
        .patch("/api/v1/incidents/{id}", Respond, incidents::edit)
        .post("/api/v1/incidents/{id}/ack", Respond, incidents::ack)
        .post(
            "/api/v1/incidents/{id}/mitigate",
            Respond,
            incidents::mitigate,
        )
        .post(
            "/api/v1/incidents/{id}/resolve",
            Respond,
            incidents::resolve,
        )
        .post("/api/v1/incidents/{id}/notes", Respond, incidents::note)
        .post("/api/v1/incidents/{id}/updates", Respond, incidents::update)
        .post("/api/v1/incidents/{id}/roles", Respond, incidents::role)
        .get(
            "/api/v1/incidents/{id}/postmortem",
            Read,
            incidents::postmortem,
        )
        .post(
            "/api/v1/incidents/{id}/action-items",
            Respond,
            incidents::add_item,
        )
        .get("/api/v1/action-items", Read, incidents::items)
        .post(
            "/api/v1/action-items/{id}/close",
            Respond,
            incidents::close_item,
        )
        .get("/api/v1/changes", Read, changes::list)
        .post("/api/v1/changes", Respond, changes::add)
        .get("/api/v1/services", Read, services::list)
        .get("/api/v1/services/{name}", Read, services::get)
        .get(
            "/api/v1/services/{name}/dependencies",
            Read,
            services::dependencies,
        )
        .get(
            "/api/v1/services/{name}/dependents",
            Read,
            services::dependents,
        )
        .get("/api/v1/services/{name}/evidence", Read, services::evidence)
        .post(
            "/api/v1/services/{name}/evidence",
            Respond,
            services::add_evidence,
        )
        .get(
            "/api/v1/services/{name}/readiness",
            Read,
            services::readiness,
        )
        .get("/api/v1/readiness", Read, services::all)
        .get("/api/v1/services/{name}/deploy-gate", Read, changes::gate)
        .get(
            "/api/v1/services/{name}/deploy-gate/overrides",
            Read,
            changes::overrides,
        )
        .post(
            "/api/v1/services/{name}/deploy-gate/overrides",
            Respond,
            changes::add_override,
        )
        .get("/api/v1/services/{name}/delivery", Read, changes::delivery)
        .get("/api/v1/audit", Admin, audit::list)
        .get("/api/v1/budget-adjustments", Read, adjustments::list)
        .post("/api/v1/budget-adjustments", Respond, adjustments::add)
        .put(
            "/api/v1/budget-adjustments/{name}",
            Respond,
            adjustments::change,
        )
        .delete(
            "/api/v1/budget-adjustments/{name}",
            Respond,
            adjustments::remove,
        )
        .post(
            "/api/v1/maintenance/{name}/budget-adjustments",
            Respond,
            adjustments::from_maintenance,
        )
        .post("/api/v1/integrations/{kind}", OwnKey, inbound::integration)
        .post("/api/v1/heartbeats/{name}", OwnKey, inbound::heartbeat)
        .post("/v2/enqueue", OwnKey, inbound::enqueue)
        .get("/api/v2/alerts", OwnKey, inbound::get_alerts)
        .post("/api/v2/alerts", OwnKey, inbound::post_alerts)
        .get("/api/v2/silences", OwnKey, inbound::get_silences)
        .post("/api/v2/silences", OwnKey, inbound::post_silences)
        .get("/api/v2/silence/{id}", OwnKey, inbound::get_silence)
        .delete("/api/v2/silence/{id}", OwnKey, inbound::delete_silence)
        .get("/api/v2/status", OwnKey, inbound::status)
        .get("/api/v2/receivers", OwnKey, inbound::receivers)
        .finish();
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let router = access::guard(router, app.clone(), table.clone())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_CHANGE_BODY))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            harden::guard,
        ))
        .with_state(app);
    (router, table)
}

/// `GET /api/v1/me`: who the caller is.
async fn me(axum::Extension(who): axum::Extension<Principal>) -> Json<serde_json::Value> {
    Json(match who {
        Principal::User {
            name,
            role,
            customer,
            ..
        } => json!({ "user": name, "role": role.as_str(), "customer": customer }),
        Principal::Sender { name, services, .. } => {
            json!({ "user": null, "sender": name, "services": services, "role": null, "customer": null })
        }
        Principal::Anonymous => json!({ "user": null, "role": null, "customer": null }),
    })
}

/// `POST /api/v1/config/reload`: loads the configuration directory again (as SIGHUP does).
/// 200 with the new configuration's hash; 422 with every error when it is refused, and the
/// running configuration stays.
async fn reload(State(app): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let runtime = app.runtime.clone();
    let result = tokio::task::spawn_blocking(move || runtime.reload())
        .await
        .map_err(|e| ApiError::internal(format!("the reload stopped: {e}")))?;
    match result {
        Ok(status) => Ok(Json(json!({
            "status": "reloaded",
            "hash": status.hash,
            "loaded_at": slos::rfc3339(status.loaded_at),
        }))),
        Err(ReloadError::Invalid(errors)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            format!(
                "the configuration has {} error(s); the running one stays (loaded at {})",
                errors.len(),
                slos::rfc3339(app.runtime.config_status().loaded_at)
            ),
        )
        .with_details(errors.into_iter().map(serde_json::Value::String).collect())),
        Err(e @ ReloadError::NoDirectory) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_reloadable",
            e.to_string(),
        )),
        Err(e @ ReloadError::Starting) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            e.to_string(),
        )),
        Err(e @ ReloadError::Engine(_)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "reload_failed",
            e.to_string(),
        )),
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// How long `/readyz` waits for the store to answer.
const STORE_PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// 200 `{"status":"ready",...}` when Steward can serve; otherwise 503 with the status
/// (`rebuilding` with progress, `stale`, or `store_unavailable`) and `Retry-After`.
async fn readyz(State(app): State<AppState>) -> axum::response::Response {
    let not_ready = |body: serde_json::Value| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "1")],
            Json(body),
        )
            .into_response()
    };
    let now = jiff::Timestamp::now().as_second();
    let readiness = app.engine().readiness(now);
    // While rebuilding, the store is busy reading: say so without asking it.
    if let Readiness::Rebuilding {
        series_done,
        series_total,
    } = readiness
    {
        return not_ready(json!({
            "status": "rebuilding",
            "message": "reading the store after a start; samples are refused until this is done",
            "series_done": series_done,
            "series_total": series_total,
        }));
    }
    let engine = app.engine().clone();
    let ping = tokio::time::timeout(
        STORE_PING_TIMEOUT,
        tokio::task::spawn_blocking(move || engine.store().ping()),
    )
    .await;
    let store_problem = match ping {
        Err(_) => Some(format!(
            "the store did not answer within {}s",
            STORE_PING_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Some(e.to_string()),
        Ok(Ok(Err(e))) => Some(format!("the store does not answer: {e}")),
        Ok(Ok(Ok(()))) => None,
    };
    if let Some(message) = store_problem {
        return not_ready(json!({ "status": "store_unavailable", "message": message }));
    }
    if let Readiness::Stale { last } = readiness {
        return not_ready(json!({
            "status": "stale",
            "message": format!(
                "the SLO evaluator last finished {}s ago (at {}); figures are not current",
                now - last,
                slos::rfc3339(last)
            ),
        }));
    }
    let config = app.runtime.config_status();
    Json(json!({
        "status": "ready",
        "store": app.engine().store().kind(),
        "slos": app.engine().catalog().slos.len(),
        "config": {
            "hash": config.hash,
            "loaded_at": slos::rfc3339(config.loaded_at),
            "last_reload_successful": config.last_reload_successful,
            "last_reload_at": slos::rfc3339(config.last_reload_at),
        },
    }))
    .into_response()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "nothing at {}; the API is under /api/v1",
        uri.path()
    ))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not supported on {}", uri.path()),
    )
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    runtime: Arc<Runtime>,
    access: impl Into<access::Access>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = routes(runtime, access).0;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<tls::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// [`serve`] over HTTPS.
pub async fn serve_tls(
    runtime: Arc<Runtime>,
    access: impl Into<access::Access>,
    listener: tls::TlsListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = routes(runtime, access).0;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<tls::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
