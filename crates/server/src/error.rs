//! HTTP errors: every failure leaves as JSON `{code, message}` with a fitting status. Engine
//! codes map in one place ([`ApiError`]); internal errors are logged and never echoed.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vestibule_engine::Error;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code (`invalid_input`, `invalid_session`, `forbidden`,
    /// `not_found`, `conflict`, `rate_limited`, `overloaded`, `invalid_json`, `csrf` …).
    #[schema(value_type = String)]
    pub code: &'static str,
    /// What went wrong, in words for people.
    pub message: String,
}

/// The body of an OAuth 2.0 error (RFC 6749 §5.2) from the token, revocation and userinfo
/// endpoints.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    #[schema(value_type = String)]
    pub error: &'static str,
    pub error_description: String,
}

/// The body of a userinfo refusal (RFC 6750 §3.1): the error when a token was sent and is
/// not valid; empty (`{}`) when no credentials were sent at all.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BearerErrorBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// Something the server answers with instead of a success.
#[derive(Debug)]
pub enum ApiError {
    Engine(Error),
    /// Input the HTTP layer itself refused (bad JSON, wrong content type, bad path …).
    Http(StatusCode, &'static str, String),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Engine(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "invalid_json",
        };
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        ApiError::Http(status, code, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::Http(StatusCode::BAD_REQUEST, "invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::Http(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

/// Status for an engine error code.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::InvalidInput { .. } | Error::InvalidToken => StatusCode::BAD_REQUEST,
        Error::WeakPassword(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::InvalidCredentials | Error::InvalidSession | Error::VaultLocked => {
            StatusCode::UNAUTHORIZED
        }
        Error::AccountUnavailable(_)
        | Error::Forbidden(_)
        | Error::StepUpRequired
        | Error::AuthenticatorRequired => StatusCode::FORBIDDEN,
        Error::SecondFactorRequired => StatusCode::UNAUTHORIZED,
        Error::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Upstream(_) => StatusCode::BAD_GATEWAY,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::OAuth { error, .. } if *error == "invalid_client" => StatusCode::UNAUTHORIZED,
        Error::OAuth { .. } => StatusCode::BAD_REQUEST,
        Error::EmailInUse | Error::Conflict(_) => StatusCode::CONFLICT,
        Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Vault(_)
        | Error::AuditTampered(_)
        | Error::Storage(_)
        | Error::Migration(_)
        | Error::Delivery(_)
        | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Http(status, code, message) => {
                (status, Json(ErrorBody { code, message })).into_response()
            }
            ApiError::Engine(e) => {
                let status = status_of(&e);
                let message = if status.is_server_error() {
                    tracing::error!(error = %e, code = e.code(), "request failed");
                    "something went wrong on our side; try again later".to_owned()
                } else {
                    e.to_string()
                };
                let mut resp = (
                    status,
                    Json(ErrorBody {
                        code: e.code(),
                        message,
                    }),
                )
                    .into_response();
                if let Error::RateLimited(after) | Error::Overloaded(after) = e
                    && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
                {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
                resp
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
