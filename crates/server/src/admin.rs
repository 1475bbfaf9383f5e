//! The staff API under `/admin/v1` (what remote consoles use). Staff exchange credentials
//! for a short-lived bearer token; every endpoint is permission-checked and audited by the
//! engine. No cookies here, so no CSRF surface.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, bearer};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use vestibule_engine::{CustomerStatus, Error, NewClient, ProfilePatch, Staff};

/// Staff sign-in: limited per IP.
pub fn credential_routes() -> Router<AppState> {
    Router::new().route(
        "/admin/v1/sessions",
        post(create_session).delete(end_session),
    )
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/customers", get(search))
        .route("/customers/{id}", get(customer).patch(edit_customer))
        .route("/customers/{id}/attempts", get(attempts))
        .route("/customers/{id}/sessions", get(sessions))
        .route("/customers/{id}/audit", get(customer_audit))
        .route("/customers/{id}/status", post(set_status))
        .route("/customers/{id}/revoke-sessions", post(revoke_sessions))
        .route("/customers/{id}/password-reset", post(start_reset))
        .route(
            "/customers/{id}/resend-verification",
            post(resend_verification),
        )
        .route("/clients", get(list_clients).post(register_client))
        .route("/clients/{id}", axum::routing::delete(remove_client))
        .route("/audit", get(audit_log))
        .route("/audit/verify", post(audit_verify))
}

/// The signed-in staff member, from `Authorization: Bearer <token>`.
pub struct StaffAuth(pub Staff, pub String);

impl FromRequestParts<AppState> for StaffAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Engine(Error::InvalidSession))?;
        let staff = s.engine.staff_from_token(&token).await?;
        Ok(StaffAuth(staff, token))
    }
}

type IdPath = Result<Path<Uuid>, PathRejection>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
}

async fn create_session(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<Credentials>,
) -> ApiResult<Response> {
    let (token, staff, expires_at) = s.engine.staff_session_create(&b.email, &b.password).await?;
    Ok(Json(json!({"token": token, "staff": staff, "expires_at": expires_at})).into_response())
}

async fn end_session(
    State(s): State<AppState>,
    StaffAuth(_, token): StaffAuth,
) -> ApiResult<StatusCode> {
    s.engine.staff_sign_out(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn search(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let page = s
        .engine
        .search_customers(&who, &q.q, q.cursor.as_deref(), q.limit.unwrap_or(20))
        .await?;
    Ok(Json(page).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    reason: Option<String>,
}

async fn customer(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
    q: Result<Query<ReadQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let (Path(id), Query(q)) = (id?, q?);
    Ok(Json(s.engine.get_customer(&who, id, q.reason.as_deref()).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    version: i64,
    display_name: Option<String>,
    phone: Option<String>,
    locale: Option<String>,
    attributes: Option<serde_json::Value>,
    tier: Option<String>,
}

async fn edit_customer(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
    ApiJson(b): ApiJson<Edit>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let patch = ProfilePatch {
        display_name: b.display_name,
        phone: b.phone,
        locale: b.locale,
        attributes: b.attributes,
        tier: b.tier,
    };
    Ok(Json(
        s.engine
            .update_customer_profile(&who, id, b.version, patch)
            .await?,
    )
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<i64>,
}

async fn attempts(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
    q: Result<Query<Limit>, QueryRejection>,
) -> ApiResult<Response> {
    let (Path(id), Query(q)) = (id?, q?);
    let list = s
        .engine
        .customer_attempts(&who, id, q.limit.unwrap_or(50))
        .await?;
    Ok(Json(json!({"attempts": list})).into_response())
}

async fn sessions(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<Response> {
    let Path(id) = id?;
    Ok(Json(json!({"sessions": s.engine.customer_sessions(&who, id).await?})).into_response())
}

async fn customer_audit(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
    q: Result<Query<Limit>, QueryRejection>,
) -> ApiResult<Response> {
    let (Path(id), Query(q)) = (id?, q?);
    let list = s
        .engine
        .customer_audit(&who, id, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(json!({"entries": list})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    version: i64,
    status: CustomerStatus,
    reason: Option<String>,
}

async fn set_status(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
    ApiJson(b): ApiJson<StatusChange>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let c = s
        .engine
        .set_customer_status(&who, id, b.version, b.status, b.reason.as_deref())
        .await?;
    Ok(Json(c).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Revoke {
    session_id: Option<Uuid>,
}

async fn revoke_sessions(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
    ApiJson(b): ApiJson<Revoke>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let n = s
        .engine
        .revoke_customer_sessions(&who, id, b.session_id)
        .await?;
    Ok(Json(json!({"revoked": n})).into_response())
}

async fn start_reset(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<StatusCode> {
    let Path(id) = id?;
    s.engine.start_password_reset(&who, id).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn resend_verification(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<StatusCode> {
    let Path(id) = id?;
    s.engine.resend_verification(&who, id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn audit_log(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let list = s
        .engine
        .audit_log(&who, q.after.unwrap_or(0), q.limit.unwrap_or(100))
        .await?;
    Ok(Json(json!({"entries": list})).into_response())
}

async fn audit_verify(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    Ok(Json(s.engine.verify_audit(&who).await?).into_response())
}

async fn list_clients(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    let clients = s.engine.list_clients(&who).await?;
    Ok(Json(json!({"clients": clients})).into_response())
}

/// Register an OIDC client; the response carries the secret, shown this once.
async fn register_client(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(b): ApiJson<NewClient>,
) -> ApiResult<Response> {
    let reg = s.engine.register_client(&who, b).await?;
    Ok((StatusCode::CREATED, Json(reg)).into_response())
}

async fn remove_client(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    s.engine.remove_client(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
