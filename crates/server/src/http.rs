//! Shared HTTP plumbing: JSON extraction with JSON errors, request context, health.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use vestibule_engine::RequestContext;

/// `Json<T>` whose rejections are `{code, message}` like every other error.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Every body is a JSON object: serde would also read a struct from an array of its
        // fields in order, which no client should rely on (and the schema does not allow).
        let Json(v) = Json::<serde_json::Value>::from_request(req, state).await?;
        if !v.is_object() {
            return Err(ApiError::Http(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "the body must be a JSON object".into(),
            ));
        }
        let v = serde_json::from_value(v).map_err(|e| {
            ApiError::Http(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("Failed to deserialize the JSON body into the target type: {e}"),
            )
        })?;
        Ok(ApiJson(v))
    }
}

/// Where the request came from: peer address, user agent and device identifier.
pub struct Ctx(pub RequestContext);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Ctx(RequestContext {
            ip,
            user_agent,
            device: crate::device::of(&parts.headers, s.config.insecure_dev_cookies),
            form_ms: None,
            client: None,
        }))
    }
}

/// The bearer token of an `Authorization` header, if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// A per-IP limit was hit: the same JSON shape as every error, with Retry-After.
pub fn too_many_requests(e: tower_governor::GovernorError) -> axum::response::Response {
    use axum::response::IntoResponse;
    match e {
        tower_governor::GovernorError::TooManyRequests { wait_time, .. } => ApiError::Engine(
            vestibule_engine::Error::RateLimited(std::time::Duration::from_secs(wait_time.max(1))),
        )
        .into_response(),
        other => {
            tracing::warn!(error = %other, "rate limiter could not key the request");
            ApiError::Http(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong on our side; try again later".into(),
            )
            .into_response()
        }
    }
}

/// The answer of the health and readiness probes.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Probe {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Probe)))]
pub async fn healthz() -> Json<Probe> {
    Json(Probe { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Probe),
        (status = 503, description = "The database does not answer (code not_ready)", body = crate::error::ErrorBody)))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<Json<Probe>> {
    s.engine.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready: the database does not answer");
        ApiError::Http(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database does not answer".into(),
        )
    })?;
    Ok(Json(Probe { status: "ready" }))
}

pub async fn not_found() -> ApiError {
    ApiError::Http(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint".into(),
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::Http(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method".into(),
    )
}
