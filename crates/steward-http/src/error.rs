//! The one place where errors become HTTP statuses and the brief's error body:
//! `{"error":{"code":"snake_case_code","message":"what and why","details":[...]}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Vec<Value>) -> ApiError {
        self.details = details;
        self
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Too much at once: retry shortly.
    pub fn busy(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            message,
        )
    }
}

impl From<steward_store::StoreError> for ApiError {
    fn from(e: steward_store::StoreError) -> ApiError {
        match e {
            steward_store::StoreError::Busy(_) => {
                return ApiError::busy(format!("{e}; nothing was stored"));
            }
            steward_store::StoreError::Rejected(_) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "rejected_by_store",
                    format!("{e}; nothing was stored. Check the batch's counts"),
                );
            }
            // Not an outage: retrying will not help, and someone should look.
            steward_store::StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "the store holds something Steward cannot read");
                return ApiError::internal(format!(
                    "{e}; this is a bug in Steward, not your request: please report it with the time"
                ));
            }
            steward_store::StoreError::CommitUnknown(_) => {
                tracing::error!(error = %e, "commit outcome unknown");
                return ApiError::unavailable(format!(
                    "{e}. A batch sent with an Idempotency-Key header is counted exactly once when retried with the same key; one sent without may be counted twice if retried"
                ));
            }
            _ => {}
        }
        tracing::error!(error = %e, "store call failed");
        ApiError::unavailable(format!(
            "the store did not take the request ({e}); nothing was stored, retry shortly"
        ))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "details": self.details,
            }
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        // Every 503 is temporary: tell clients when to come back.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

impl From<steward_engine::EngineError> for ApiError {
    fn from(e: steward_engine::EngineError) -> ApiError {
        use steward_engine::EngineError;
        match e {
            EngineError::Store(e) => e.into(),
            EngineError::Rebuilding => rebuilding(),
            EngineError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used in the last 24 hours for a different batch; use a new key for new samples",
            ),
            EngineError::Invalid(issues) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_samples",
                format!("{} sample(s) are invalid; nothing was stored", issues.len()),
            )
            .with_details(
                issues
                    .into_iter()
                    .map(|i| json!({ "index": i.index, "message": i.message }))
                    .collect(),
            ),
        }
    }
}

/// The answer while the engine reads the store after a start.
pub fn rebuilding() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "rebuilding",
        "Steward is reading its store after a start; GET /readyz shows how far it is. Retry shortly",
    )
}

impl From<steward_engine::alerting::AlertError> for ApiError {
    fn from(e: steward_engine::alerting::AlertError) -> ApiError {
        use steward_engine::alerting::AlertError;
        match e {
            AlertError::UnknownKey => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the key (Authorization: Bearer KEY, or routing_key) is not the key of an integration of this kind",
            ),
            AlertError::RateLimited(..) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
            }
            AlertError::NotFound(m) => ApiError::not_found(m),
            AlertError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", m),
            AlertError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            AlertError::Store(e) => e.into(),
        }
    }
}
