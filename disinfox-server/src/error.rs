//! Errors of the HTTP API: one JSON shape for every 4xx and 5xx.
//!
//! Policy: a 4xx is an answer to the caller's mistake, with a message saying what was wrong
//! (and the field errors for invalid incidents); it is not logged. A 5xx is an incident: the
//! body is opaque, the cause chain is logged once. Handlers return [`ApiError`]; I/O errors
//! become [`ApiError::Internal`] through `?` (anyhow), with context added where it helps.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The body of every error response: `{"error": {"status", "message", "fields"?}}`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    /// The HTTP status code.
    pub status: u16,
    /// A message saying what was wrong.
    pub message: String,
    /// Field errors (422).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body has a media type the route does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the content is invalid; with the errors per field.
    #[error("{message}")]
    Invalid {
        /// Summary.
        message: String,
        /// Errors per field.
        fields: BTreeMap<String, String>,
    },
    /// 429: over the rate limit.
    #[error("rate limit exceeded; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// 503: too busy to answer now (password hashing at its limit); retry later.
    #[error("the server is busy; retry after {retry_after_secs} s")]
    Busy {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// 429: too much of something is under way for this caller (import jobs); try again later.
    #[error("{message}")]
    TooMany {
        /// What is under way.
        message: String,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// 500: something broke on our side.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } | Self::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A JSON error response with the given status and message.
pub fn error_response(
    status: StatusCode,
    message: impl Into<String>,
    fields: BTreeMap<String, String>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            status: status.as_u16(),
            message: message.into(),
            fields,
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                error_response(status, "internal server error", BTreeMap::new())
            }
            Self::Invalid { message, fields } => error_response(status, message, fields),
            Self::Unauthorized(m) => {
                let mut r = error_response(status, m, BTreeMap::new());
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"disinfox\""),
                );
                r
            }
            Self::RateLimited { retry_after_secs } | Self::Busy { retry_after_secs } => {
                let mut r = error_response(status, self.to_string(), BTreeMap::new());
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                r
            }
            Self::TooMany {
                message,
                retry_after_secs,
            } => {
                let mut r = error_response(status, message, BTreeMap::new());
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                r
            }
            other => {
                let m = other.to_string();
                error_response(status, m, BTreeMap::new())
            }
        }
    }
}

/// Result of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
