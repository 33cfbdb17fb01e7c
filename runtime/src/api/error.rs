//! The API's error contract, for HTTP and WebSocket answers alike: one type with the status,
//! a stable code, a message for people and the field at fault, and one place that turns it into
//! the body `{status:"error", error:{code, message, field?}}` — as an HTTP response
//! ([`ApiError::into_response`]) or as an API Gateway proxy answer ([`ApiError::into_proxy`]).

use http::{HeaderValue, Method, Response, StatusCode, header};
use serde_json::{Value, json};

use super::json_response;
use crate::auth::AuthError;
use crate::domain::FieldError;
use crate::store::StoreError;

/// An error answer: status, a stable machine code, a message for people, the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// A stable code clients can branch on (`NOT_FOUND`, `VALIDATION_ERROR`).
    pub code: &'static str,
    /// What went wrong, for people; never internal details.
    pub message: String,
    /// The request field at fault, when one is.
    pub field: Option<&'static str>,
    allow: Option<&'static str>,
    /// Seconds to wait before retrying (`Retry-After`), for a rate-limited request.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`, no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            allow: None,
            retry_after: None,
        }
    }

    /// 429 `RATE_LIMITED` with `Retry-After: retry_after_secs`: a limit of the caller's was
    /// reached and nothing was written.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u32) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", message);
        error.retry_after = Some(retry_after_secs);
        error
    }

    /// 400 `BAD_REQUEST`: the request cannot be read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// 401 `UNAUTHORIZED`: no token, or one that does not verify.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// 403 `FORBIDDEN`: the caller is known but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// 404 `NOT_FOUND`, for a missing item and for one the caller may not see alike.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found")
    }

    /// 413 `PAYLOAD_TOO_LARGE`: the body is over [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES).
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "the request body is larger than {} KiB",
                super::MAX_BODY_BYTES / 1024
            ),
        )
    }

    /// 405 `METHOD_NOT_ALLOWED` for `method`, with the `Allow` header set to `allow`.
    pub fn method_not_allowed(method: &Method, allow: &'static str) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("{method} is not allowed here; use {allow}"),
        );
        error.allow = Some(allow);
        error
    }

    /// 500 `INTERNAL_ERROR` with a generic message (details go to the logs).
    pub fn internal() -> Self {
        Self::internal_with("Internal server error")
    }

    /// A 500 saying what failed, in words safe for clients (details go to the logs).
    pub fn internal_with(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
    }

    /// Adds the field at fault.
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// The contract's error body.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        json!({"status": "error", "error": error})
    }

    /// The JSON error response.
    pub fn into_response(self) -> Response<String> {
        let mut response = json_response(self.status, &self.body());
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }

    /// The API Gateway proxy answer (`{statusCode, headers, body}`) carrying the error body, for
    /// the WebSocket routes and the broadcast route.
    pub fn into_proxy(self) -> Value {
        let mut answer = proxy_response(self.status.as_u16(), &self.body());
        if let Some(seconds) = self.retry_after {
            answer["headers"]["retry-after"] = json!(seconds.to_string());
        }
        answer
    }
}

/// An API Gateway proxy answer with a JSON body.
pub fn proxy_response(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
    })
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            e.message,
        )
        .with_field(e.field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found(),
            StoreError::AlreadyExists => {
                Self::new(StatusCode::CONFLICT, "CONFLICT", "Already exists")
            }
            StoreError::Conflict(detail) => {
                tracing::warn!(%detail, "storage contention");
                Self::new(
                    StatusCode::CONFLICT,
                    "CONFLICT",
                    "The note is being changed by another request; retry shortly",
                )
            }
            StoreError::InvalidCursor => {
                FieldError::new("cursor", "cursor is not one this API gave").into()
            }
            StoreError::RateLimited {
                message,
                retry_after_secs,
            } => Self::rate_limited(message, retry_after_secs),
            StoreError::Limit => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "Too many requests; retry shortly",
            ),
            StoreError::Throttled(detail) => {
                tracing::warn!(%detail, "storage throttled");
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    "Too many requests; retry shortly",
                )
            }
            StoreError::Backend(detail) => {
                tracing::error!(%detail, "storage failure");
                Self::internal()
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::KeysUnavailable(detail) => {
                tracing::error!(%detail, "token signing keys unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "AUTH_UNAVAILABLE",
                    "Sign-in cannot be checked right now; retry shortly",
                )
            }
            other => Self::unauthorized(other.to_string()),
        }
    }
}
