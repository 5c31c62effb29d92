//! Steward's HTTP surface: the JSON API under `/api/v1`, health endpoints, `/metrics` and the
//! web console. Only this crate knows HTTP and JSON; it maps every error to a status in one
//! place ([`error::ApiError`]).

pub mod adjustments;
pub mod alerts;
pub mod changes;
pub mod error;
pub mod ical;
pub mod inbound;
pub mod incidents;
pub mod ingest;
mod metrics;
mod page;
pub mod runbooks;
pub mod slos;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use error::ApiError;
use serde_json::json;
use std::sync::Arc;
use steward_engine::runtime::{ReloadError, Runtime};
use steward_engine::{Engine, Readiness};

pub use ingest::{decode_samples, MAX_BODY};

#[derive(Clone)]
pub struct AppState {
    /// The running configuration's engine; a reload replaces it.
    pub runtime: Arc<Runtime>,
    /// Permits for ingest requests in progress ([`ingest::MAX_CONCURRENT_INGEST`]).
    pub ingest_permits: Arc<tokio::sync::Semaphore>,
    /// When this process started serving (unix seconds).
    pub started_at: i64,
}

impl AppState {
    /// The engine that serves now: hold it for one request, not longer.
    pub fn engine(&self) -> Arc<Engine> {
        self.runtime.engine()
    }
}

pub fn router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/alerts/{id}", get(page::alert))
        .route("/runbooks/{name}", get(page::runbook))
        .route("/incidents/{id}", get(page::incident))
        .route("/incidents/{id}/postmortem", get(page::postmortem))
        .route("/incidents/{id}/{action}", post(page::incident_action))
        .route("/api/v1/runbooks", get(runbooks::list))
        .route("/api/v1/runbooks/{name}", get(runbooks::get))
        .route(
            "/api/v1/runbooks/{name}/runs",
            get(runbooks::runs).post(runbooks::start),
        )
        .route("/api/v1/runbooks/{name}/rehearse", post(runbooks::rehearse))
        .route("/api/v1/runs/{id}", get(runbooks::run))
        .route("/api/v1/runs/{id}/approve", post(runbooks::approve))
        .route(
            "/api/v1/kill-switch",
            get(runbooks::kill_switch).put(runbooks::set_kill_switch),
        )
        .route("/alerts/{id}/{action}", post(page::alert_action))
        .route("/healthz", get(healthz))
        .route("/api/v1/config/reload", post(reload))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/samples", post(ingest::post_samples))
        .route("/api/v1/slos", get(slos::list))
        .route("/api/v1/slos/{name}", get(slos::get))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{id}", get(alerts::get))
        .route("/api/v1/alerts/{id}/ack", post(alerts::ack))
        .route("/api/v1/alerts/{id}/resolve", post(alerts::resolve))
        .route(
            "/api/v1/silences",
            get(alerts::list_silences).post(alerts::add_silence),
        )
        .route("/api/v1/silences/{id}/expire", post(alerts::expire_silence))
        .route("/api/v1/notifications/dead", get(alerts::dead_letters))
        .route(
            "/api/v1/notifications/{id}/retry",
            post(alerts::retry_dead_letter),
        )
        .route("/api/v1/oncall", get(alerts::oncall))
        .route("/api/v1/schedules/{name}/gaps", get(alerts::gaps))
        .route(
            "/api/v1/schedules/{name}/overrides",
            post(alerts::add_override),
        )
        .route("/api/v1/overrides/{id}", delete(alerts::delete_override))
        .route("/api/v1/schedules/{name}/ical", get(ical::schedule))
        .route("/api/v1/users/{name}/ical", get(ical::user))
        .route(
            "/api/v1/incidents",
            get(incidents::list).post(incidents::declare),
        )
        .route(
            "/api/v1/incidents/{id}",
            get(incidents::get).patch(incidents::edit),
        )
        .route("/api/v1/incidents/{id}/ack", post(incidents::ack))
        .route("/api/v1/incidents/{id}/mitigate", post(incidents::mitigate))
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/api/v1/incidents/{id}/notes", post(incidents::note))
        .route("/api/v1/incidents/{id}/updates", post(incidents::update))
        .route("/api/v1/incidents/{id}/roles", post(incidents::role))
        .route(
            "/api/v1/incidents/{id}/postmortem",
            get(incidents::postmortem),
        )
        .route(
            "/api/v1/incidents/{id}/action-items",
            post(incidents::add_item),
        )
        .route("/api/v1/action-items", get(incidents::items))
        .route(
            "/api/v1/action-items/{id}/close",
            post(incidents::close_item),
        )
        .route("/api/v1/changes", get(changes::list).post(changes::add))
        .route("/api/v1/services/{name}/deploy-gate", get(changes::gate))
        .route(
            "/api/v1/services/{name}/deploy-gate/overrides",
            get(changes::overrides).post(changes::add_override),
        )
        .route("/api/v1/audit", get(changes::audit))
        .route(
            "/api/v1/budget-adjustments",
            get(adjustments::list).post(adjustments::add),
        )
        .route(
            "/api/v1/budget-adjustments/{name}",
            put(adjustments::change).delete(adjustments::remove),
        )
        .route(
            "/api/v1/maintenance/{name}/budget-adjustments",
            post(adjustments::from_maintenance),
        )
        .route("/api/v1/services/{name}/delivery", get(changes::delivery))
        .route("/api/v1/integrations/{kind}", post(inbound::integration))
        .route("/api/v1/heartbeats/{name}", post(inbound::heartbeat))
        .route("/v2/enqueue", post(inbound::enqueue))
        .route(
            "/api/v2/alerts",
            get(inbound::get_alerts).post(inbound::post_alerts),
        )
        .route(
            "/api/v2/silences",
            get(inbound::get_silences).post(inbound::post_silences),
        )
        .route(
            "/api/v2/silence/{id}",
            get(inbound::get_silence).delete(inbound::delete_silence),
        )
        .route("/api/v2/status", get(inbound::status))
        .route("/api/v2/receivers", get(inbound::receivers))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(AppState {
            runtime,
            ingest_permits: Arc::new(tokio::sync::Semaphore::new(ingest::MAX_CONCURRENT_INGEST)),
            started_at: jiff::Timestamp::now().as_second(),
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
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(runtime))
        .with_graceful_shutdown(shutdown)
        .await
}
