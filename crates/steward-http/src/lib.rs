//! Steward's HTTP surface: the JSON API under `/api/v1`, health endpoints, `/metrics` and the
//! web console. Only this crate knows HTTP and JSON; it maps every error to a status in one
//! place ([`error::ApiError`]).

pub mod error;
mod ingest;
mod metrics;
mod page;
pub mod slos;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use error::ApiError;
use serde_json::json;
use std::sync::Arc;
use steward_engine::{Engine, Readiness};

pub use ingest::MAX_BODY;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Permits for ingest requests in progress ([`ingest::MAX_CONCURRENT_INGEST`]).
    pub ingest_permits: Arc<tokio::sync::Semaphore>,
}

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/samples", post(ingest::post_samples))
        .route("/api/v1/slos", get(slos::list))
        .route("/api/v1/slos/{name}", get(slos::get))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(AppState {
            engine,
            ingest_permits: Arc::new(tokio::sync::Semaphore::new(ingest::MAX_CONCURRENT_INGEST)),
        })
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(app): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let engine = app.engine.clone();
    tokio::task::spawn_blocking(move || engine.store().ping())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(format!("the store does not answer: {e}")))?;
    let now = jiff::Timestamp::now().as_second();
    if let Readiness::Stale { last } = app.engine.readiness(now) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "evaluation_stale",
            format!(
                "the SLO evaluator last finished {}s ago (at {}); figures are not current",
                now - last,
                slos::rfc3339(last)
            ),
        ));
    }
    Ok(Json(json!({
        "status": "ready",
        "store": app.engine.store().kind(),
        "slos": app.engine.catalog().slos.len(),
    })))
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
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine))
        .with_graceful_shutdown(shutdown)
        .await
}
