//! The staff API under `/admin/v1` (what remote consoles use). Staff exchange credentials
//! for a short-lived bearer token; every endpoint is permission-checked and audited by the
//! engine. No cookies here, so no CSRF surface.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, Ctx, bearer};
use crate::openapi::{BodyErrors, ById, Limited, QueryErrors, StaffAuth as StaffErrors, Versioned};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vestibule_engine::{
    AuditEntry, Customer, CustomerStatus, Error, NewClient, OidcClient, ProfilePatch,
    RegisteredClient, SearchPage, SignInAttempt, Staff, VerifyReport,
};

/// Staff sign-in: limited per IP.
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session, end_session))
        .routes(routes!(begin_authenticator))
        .routes(routes!(confirm_authenticator))
}

/// Mounted under `/admin/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(customer, edit_customer))
        .routes(routes!(attempts))
        .routes(routes!(sessions))
        .routes(routes!(customer_audit))
        .routes(routes!(set_status))
        .routes(routes!(revoke_sessions))
        .routes(routes!(start_reset))
        .routes(routes!(resend_verification))
        .routes(routes!(list_clients, register_client))
        .routes(routes!(remove_client))
        .routes(routes!(audit_log))
        .routes(routes!(audit_verify))
        .routes(routes!(factors))
        .routes(routes!(remove_factor))
        .routes(routes!(branding, update_branding))
        .routes(routes!(attributes, update_attributes))
        .routes(routes!(list_providers, add_provider))
        .routes(routes!(remove_provider))
        .routes(routes!(connections))
        .routes(routes!(remove_connection))
        .routes(routes!(reset_authenticator))
        .routes(routes!(risk_policy, update_risk_policy))
        .routes(routes!(replay_risk_policy))
        .routes(routes!(review_queue))
        .routes(routes!(decide_reviews))
        .routes(routes!(assign_reviews))
        .routes(routes!(attack_overview))
        .routes(routes!(analytics))
        .routes(routes!(analytics_chart))
        .routes(routes!(list_blocks, add_block))
        .routes(routes!(remove_block))
}

/// The signed-in staff member, from `Authorization: Bearer <token>`.
pub struct StaffAuth(pub Staff, pub String);

impl FromRequestParts<AppState> for StaffAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(ApiError::Engine(Error::InvalidSession))?;
        let staff = s.engine.staff_from_token(&token).await?;
        Ok(StaffAuth(staff, token))
    }
}

type IdPath = Result<Path<Uuid>, PathRejection>;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
    /// The authenticator app's current code (staff who have one; without it the answer is
    /// 401 `second_factor_required`).
    code: Option<String>,
}

/// A staff token and who it belongs to.
#[derive(Serialize, ToSchema)]
struct StaffSession {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    staff: Staff,
    expires_at: DateTime<Utc>,
}

/// Staff sign-in: exchange credentials for a short-lived bearer token.
#[utoipa::path(post, path = "/admin/v1/sessions", tag = "admin", request_body = Credentials,
    responses((status = 200, description = "Signed in", body = StaffSession), BodyErrors,
        (status = 401, description = "Wrong email or password (code invalid_credentials), or the authenticator's code is needed (code second_factor_required)", body = crate::error::ErrorBody),
        (status = 403, description = "The staff account is disabled", body = crate::error::ErrorBody), Limited))]
async fn create_session(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<Credentials>,
) -> ApiResult<Response> {
    let (token, staff, expires_at) = s
        .engine
        .staff_session_create(&b.email, &b.password, b.code.as_deref(), &ctx.ip)
        .await?;
    Ok(Json(StaffSession {
        token,
        staff,
        expires_at,
    })
    .into_response())
}

/// Staff sign-out: the token stops working.
#[utoipa::path(delete, path = "/admin/v1/sessions", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 204, description = "Signed out"), StaffErrors, Limited))]
async fn end_session(
    State(s): State<AppState>,
    StaffAuth(_, token): StaffAuth,
) -> ApiResult<StatusCode> {
    s.engine.staff_sign_out(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start setting up an authenticator app for the signed-in staff member (admin and security
/// staff must, before anything else): the secret and `otpauth://` URI, shown once.
#[utoipa::path(post, path = "/admin/v1/me/authenticator", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "Add this to an authenticator app, then confirm a code", body = vestibule_engine::TotpEnrolment),
        (status = 400, description = "An authenticator is already set up (code invalid_input)", body = crate::error::ErrorBody),
        StaffErrors, Limited))]
async fn begin_authenticator(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    Ok(Json(s.engine.begin_staff_authenticator(&who).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AuthenticatorCode {
    /// The app's current 6-digit code.
    code: String,
}

/// Confirm the authenticator with its first code; the token may then act.
#[utoipa::path(post, path = "/admin/v1/me/authenticator/confirm", tag = "admin", request_body = AuthenticatorCode,
    security(("staff_bearer" = [])),
    responses((status = 200, description = "Set up; who is signed in", body = Staff), BodyErrors,
        (status = 404, description = "No authenticator is being set up (code not_found)", body = crate::error::ErrorBody),
        StaffErrors, Limited))]
async fn confirm_authenticator(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(b): ApiJson<AuthenticatorCode>,
) -> ApiResult<Response> {
    Ok(Json(s.engine.confirm_staff_authenticator(&who, &b.code).await?).into_response())
}

/// Remove a staff member's lost authenticator (admins; not their own), with the reason
/// recorded; they set up a new one at their next sign-in.
#[utoipa::path(post, path = "/staff/{id}/authenticator/reset", tag = "admin", request_body = FactorRemoval,
    params(("id" = Uuid, Path, description = "Staff id")),
    security(("staff_bearer" = [])),
    responses((status = 204, description = "Removed"), BodyErrors, ById, StaffErrors))]
async fn reset_authenticator(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
    ApiJson(b): ApiJson<FactorRemoval>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    s.engine
        .reset_staff_authenticator(&who, id, &b.reason)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Any fragment of email, name or phone, or a customer id.
    q: String,
    /// The `next` cursor of the previous page.
    cursor: Option<String>,
    /// Page size, 1–100 (default 20).
    limit: Option<i64>,
}

/// Search customers (ranked: exact email, email prefix, name prefix, then fragments).
#[utoipa::path(get, path = "/customers", tag = "admin", params(SearchQuery),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "A page of results", body = SearchPage), QueryErrors, StaffErrors))]
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReadQuery {
    /// Why the record is opened; required when the organisation asks for access reasons.
    reason: Option<String>,
}

/// One customer's record (the read is audited).
#[utoipa::path(get, path = "/customers/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id"), ReadQuery),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The customer", body = Customer), ById, StaffErrors))]
async fn customer(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
    q: Result<Query<ReadQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let (Path(id), Query(q)) = (id?, q?);
    Ok(Json(s.engine.get_customer(&who, id, q.reason.as_deref()).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Edit {
    /// The `version` last read.
    version: i64,
    display_name: Option<String>,
    phone: Option<String>,
    locale: Option<String>,
    attributes: Option<serde_json::Value>,
    tier: Option<String>,
}

/// Edit a customer's profile (audited with a diff).
#[utoipa::path(patch, path = "/customers/{id}", tag = "admin", request_body = Edit,
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The updated customer", body = Customer), BodyErrors, ById, StaffErrors, Versioned))]
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Limit {
    /// How many, newest first.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct Attempts {
    attempts: Vec<SignInAttempt>,
}

/// A customer's recent sign-in attempts.
#[utoipa::path(get, path = "/customers/{id}/attempts", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id"), Limit),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "Attempts, newest first", body = Attempts), ById, StaffErrors))]
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
    Ok(Json(Attempts { attempts: list }).into_response())
}

/// A customer's active sessions.
#[utoipa::path(get, path = "/customers/{id}/sessions", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "Active sessions", body = crate::customer::Sessions), ById, StaffErrors))]
async fn sessions(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let sessions = s.engine.customer_sessions(&who, id).await?;
    Ok(Json(crate::customer::Sessions { sessions }).into_response())
}

#[derive(Serialize, ToSchema)]
struct AuditEntries {
    entries: Vec<AuditEntry>,
}

/// The audit trail of one customer: who looked, who changed what, and why.
#[utoipa::path(get, path = "/customers/{id}/audit", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id"), Limit),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "Entries, newest first", body = AuditEntries), ById, StaffErrors))]
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
    Ok(Json(AuditEntries { entries: list }).into_response())
}

#[derive(Serialize, ToSchema)]
struct Factors {
    factors: Vec<vestibule_engine::Factor>,
}

/// Which authenticator apps and passkeys a customer has (names and dates, never a secret).
#[utoipa::path(get, path = "/customers/{id}/factors", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The customer's factors", body = Factors), ById, StaffErrors))]
async fn factors(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let factors = s.engine.customer_factors(&who, id).await?;
    Ok(Json(Factors { factors }).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FactorRemoval {
    /// Why (a ticket reference will do); recorded in the audit log.
    reason: String,
}

/// Remove a customer's lost factor, with the reason recorded; the customer's sessions end.
#[utoipa::path(post, path = "/customers/{id}/factors/{factor}/remove", tag = "admin", request_body = FactorRemoval,
    params(("id" = Uuid, Path, description = "Customer id"), ("factor" = Uuid, Path, description = "Factor id")),
    security(("staff_bearer" = [])),
    responses((status = 204, description = "Removed"), BodyErrors, ById, StaffErrors))]
async fn remove_factor(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ids: Result<Path<(Uuid, Uuid)>, PathRejection>,
    ApiJson(b): ApiJson<FactorRemoval>,
) -> ApiResult<Response> {
    let Path((id, factor)) = ids?;
    s.engine
        .remove_customer_factor(&who, id, factor, &b.reason)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The hosted pages' branding.
#[utoipa::path(get, path = "/settings/branding", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The branding, with its version", body = vestibule_engine::Branding), StaffErrors))]
async fn branding(State(s): State<AppState>, StaffAuth(_, _): StaffAuth) -> ApiResult<Response> {
    Ok(Json(s.engine.branding().await?).into_response())
}

/// Change the branding (admins): name, accent (AA contrast against white), support link,
/// logo; `version` must be the one read (otherwise 409).
#[utoipa::path(put, path = "/settings/branding", tag = "admin", request_body = vestibule_engine::Branding,
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The new branding", body = vestibule_engine::Branding), BodyErrors, StaffErrors, Versioned))]
async fn update_branding(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(b): ApiJson<vestibule_engine::Branding>,
) -> ApiResult<Response> {
    Ok(Json(s.engine.update_branding(&who, &b).await?).into_response())
}

/// The customer attribute definitions (progressive profiling).
#[utoipa::path(get, path = "/settings/attributes", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The definitions, with their version", body = vestibule_engine::AttributeDefinitions), StaffErrors))]
async fn attributes(State(s): State<AppState>, StaffAuth(_, _): StaffAuth) -> ApiResult<Response> {
    Ok(Json(s.engine.attribute_definitions().await?).into_response())
}

/// Replace the customer attribute definitions (admins): each attribute's type and rules,
/// whether customers may edit it, and when the hosted pages ask for it; `version` must be the
/// one read (otherwise 409). Customers' stored values are kept.
#[utoipa::path(put, path = "/settings/attributes", tag = "admin", request_body = vestibule_engine::AttributeDefinitions,
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The new definitions", body = vestibule_engine::AttributeDefinitions), BodyErrors, StaffErrors, Versioned))]
async fn update_attributes(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(d): ApiJson<vestibule_engine::AttributeDefinitions>,
) -> ApiResult<Response> {
    Ok(Json(s.engine.update_attribute_definitions(&who, &d).await?).into_response())
}

#[derive(Serialize, ToSchema)]
struct Providers {
    providers: Vec<vestibule_engine::UpstreamProvider>,
    /// The redirect URI to register with every provider.
    redirect_uri: String,
}

/// The upstream sign-in providers (social sign-in), never their secrets.
#[utoipa::path(get, path = "/settings/providers", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The providers and the redirect URI they must allow", body = Providers), StaffErrors))]
async fn list_providers(
    State(s): State<AppState>,
    StaffAuth(_, _): StaffAuth,
) -> ApiResult<Response> {
    Ok(Json(Providers {
        providers: s.engine.upstream_providers().await?,
        redirect_uri: vestibule_engine::social_redirect_uri(&s.engine.config().public_url),
    })
    .into_response())
}

/// Add an upstream provider (admins): its issuer (https), the client id and secret it gave
/// this server, scopes and the button's label. Audited; the secret is stored sealed.
#[utoipa::path(post, path = "/settings/providers", tag = "admin", request_body = vestibule_engine::NewUpstreamProvider,
    security(("staff_bearer" = [])),
    responses((status = 201, description = "Added", body = vestibule_engine::UpstreamProvider), BodyErrors, StaffErrors))]
async fn add_provider(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(b): ApiJson<vestibule_engine::NewUpstreamProvider>,
) -> ApiResult<Response> {
    let added = s.engine.add_upstream_provider(&who, b).await?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

/// Remove an upstream provider (admins): its connections go with it. Audited.
#[utoipa::path(post, path = "/settings/providers/{id}/remove", tag = "admin",
    params(("id" = Uuid, Path, description = "Provider id")),
    security(("staff_bearer" = [])),
    responses((status = 204, description = "Removed"), ById, StaffErrors))]
async fn remove_provider(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<Response> {
    let Path(id) = id?;
    s.engine.remove_upstream_provider(&who, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize, ToSchema)]
struct Connections {
    connections: Vec<vestibule_engine::SocialLink>,
}

/// A customer's connected accounts at upstream providers.
#[utoipa::path(get, path = "/customers/{id}/connections", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The customer's connected accounts", body = Connections), ById, StaffErrors))]
async fn connections(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let connections = s.engine.customer_social_links(&who, id).await?;
    Ok(Json(Connections { connections }).into_response())
}

/// Disconnect a customer's account at a provider, with the reason recorded.
#[utoipa::path(post, path = "/customers/{id}/connections/{provider}/remove", tag = "admin", request_body = FactorRemoval,
    params(("id" = Uuid, Path, description = "Customer id"), ("provider" = Uuid, Path, description = "Provider id")),
    security(("staff_bearer" = [])),
    responses((status = 204, description = "Disconnected"), BodyErrors, ById, StaffErrors))]
async fn remove_connection(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ids: Result<Path<(Uuid, Uuid)>, PathRejection>,
    ApiJson(b): ApiJson<FactorRemoval>,
) -> ApiResult<Response> {
    let Path((id, provider)) = ids?;
    s.engine
        .remove_customer_social_link(&who, id, provider, &b.reason)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    version: i64,
    status: CustomerStatus,
    reason: Option<String>,
}

/// Lock, unlock, disable or re-enable a customer (each needs its own permission).
#[utoipa::path(post, path = "/customers/{id}/status", tag = "admin", request_body = StatusChange,
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The customer with its new status", body = Customer), BodyErrors, ById, StaffErrors, Versioned))]
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

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct Revoke {
    /// One session; without it every session of the customer ends.
    session_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
struct Revoked {
    /// How many sessions ended.
    revoked: u64,
}

/// End one or all of a customer's sessions.
#[utoipa::path(post, path = "/customers/{id}/revoke-sessions", tag = "admin", request_body = Revoke,
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "Sessions ended", body = Revoked), BodyErrors, ById, StaffErrors))]
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
    Ok(Json(Revoked { revoked: n }).into_response())
}

/// Send the customer a password-reset email.
#[utoipa::path(post, path = "/customers/{id}/password-reset", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 202, description = "The email is queued"), ById, StaffErrors))]
async fn start_reset(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<StatusCode> {
    let Path(id) = id?;
    s.engine.start_password_reset(&who, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Send the verification email again.
#[utoipa::path(post, path = "/customers/{id}/resend-verification", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 202, description = "The email is queued"), ById, StaffErrors,
        (status = 409, description = "The address is already verified", body = crate::error::ErrorBody)))]
async fn resend_verification(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<StatusCode> {
    let Path(id) = id?;
    s.engine.resend_verification(&who, id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Entries after this sequence number (default 0: from the start).
    after: Option<i64>,
    /// How many (default 100).
    limit: Option<i64>,
}

/// The audit log in sequence order.
#[utoipa::path(get, path = "/audit", tag = "admin", params(AuditQuery),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "Entries in sequence order", body = AuditEntries), QueryErrors, StaffErrors))]
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
    Ok(Json(AuditEntries { entries: list }).into_response())
}

/// Walk the audit hash chain and report whether it is intact.
#[utoipa::path(post, path = "/audit/verify", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The chain is intact", body = VerifyReport), StaffErrors))]
async fn audit_verify(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    Ok(Json(s.engine.verify_audit(&who).await?).into_response())
}

#[derive(Serialize, ToSchema)]
struct Clients {
    clients: Vec<OidcClient>,
}

/// The registered OpenID Connect clients.
#[utoipa::path(get, path = "/clients", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "Registered clients", body = Clients), StaffErrors))]
async fn list_clients(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    let clients = s.engine.list_clients(&who).await?;
    Ok(Json(Clients { clients }).into_response())
}

/// Register an OIDC client; the response carries the secret, shown this once.
#[utoipa::path(post, path = "/clients", tag = "admin", request_body = NewClient,
    security(("staff_bearer" = [])),
    responses((status = 201, description = "Registered; the secret is shown this once", body = RegisteredClient), BodyErrors, StaffErrors))]
async fn register_client(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(b): ApiJson<NewClient>,
) -> ApiResult<Response> {
    let reg = s.engine.register_client(&who, b).await?;
    Ok((StatusCode::CREATED, Json(reg)).into_response())
}

/// Remove an OIDC client; its tokens stop working.
#[utoipa::path(delete, path = "/clients/{id}", tag = "admin",
    params(("id" = String, Path, description = "Client id")),
    security(("staff_bearer" = [])),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such client", body = crate::error::ErrorBody), StaffErrors))]
async fn remove_client(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    s.engine.remove_client(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The risk policy in force: weights, switches, thresholds, limits, mode (security and admin
/// staff).
#[utoipa::path(get, path = "/settings/risk-policy", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The policy, with its version", body = vestibule_engine::RiskPolicy), StaffErrors))]
async fn risk_policy(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    Ok(Json(s.engine.risk_policy(&who).await?).into_response())
}

/// Publish a new risk policy (admins): `version` must be the one read (otherwise 409); a
/// policy that does not validate is refused naming its field, and the one in force stays.
/// Audited with what changed.
#[utoipa::path(put, path = "/settings/risk-policy", tag = "admin", request_body = vestibule_engine::RiskPolicy,
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The new policy", body = vestibule_engine::RiskPolicy), BodyErrors, StaffErrors, Versioned))]
async fn update_risk_policy(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(p): ApiJson<vestibule_engine::RiskPolicy>,
) -> ApiResult<Response> {
    Ok(Json(s.engine.update_risk_policy(&who, &p).await?).into_response())
}

/// What a candidate policy would have done over the last 30 days of recorded sign-ins,
/// beside what was decided and what analysts said; nothing is changed.
#[utoipa::path(post, path = "/settings/risk-policy/replay", tag = "admin", request_body = vestibule_engine::RiskPolicy,
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The replay", body = vestibule_engine::ReplayReport), BodyErrors, StaffErrors))]
async fn replay_risk_policy(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(p): ApiJson<vestibule_engine::RiskPolicy>,
) -> ApiResult<Response> {
    Ok(Json(s.engine.replay_risk_policy(&who, &p).await?).into_response())
}

#[derive(Serialize, ToSchema)]
struct ReviewItems {
    items: Vec<vestibule_engine::ReviewItem>,
}

/// The review queue: sign-ins that were challenged, denied or scored at the review threshold,
/// riskiest and newest first, each with its score and reasons (security and admin staff).
#[utoipa::path(get, path = "/risk/reviews", tag = "admin", params(vestibule_engine::ReviewFilter),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The items", body = ReviewItems), QueryErrors, StaffErrors))]
async fn review_queue(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    q: Result<Query<vestibule_engine::ReviewFilter>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(f) = q?;
    let items = s.engine.review_queue(&who, &f).await?;
    Ok(Json(ReviewItems { items }).into_response())
}

/// Decide items (up to 500 named, or a whole wave named by its address or /24): `legitimate` trusts that device and network
/// for each customer; `fraud` can lock the accounts, revoke their sessions, force a password
/// reset and block a range. One transaction; every item audited.
#[utoipa::path(post, path = "/risk/reviews/decide", tag = "admin", request_body = vestibule_engine::ReviewDecision,
    security(("staff_bearer" = [])),
    responses((status = 200, description = "What was done", body = vestibule_engine::ReviewOutcome), BodyErrors, ById, StaffErrors))]
async fn decide_reviews(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(d): ApiJson<vestibule_engine::ReviewDecision>,
) -> ApiResult<Response> {
    Ok(Json(s.engine.decide_reviews(&who, &d).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AnalyticsParams {
    /// The range's start (RFC 3339), rounded down to a whole bucket.
    from: DateTime<Utc>,
    /// The range's end (RFC 3339, exclusive), rounded up to a whole bucket; at most 31 days
    /// after `from` by hour, 366 by day, 1,098 by week or month.
    to: DateTime<Utc>,
    /// hour, day, week or month.
    #[param(value_type = String)]
    granularity: vestibule_engine::analytics::Granularity,
    /// One client app's figures (at most one of client, country and tier).
    client: Option<String>,
    /// One sign-in method's (password, passkey, email, social, totp, …).
    method: Option<String>,
    /// One country's (ISO 3166 alpha-2; known when GeoIP is configured).
    country: Option<String>,
    tier: Option<String>,
}

/// Registration and sign-in analytics over a range (admin, security and privacy staff):
/// series per bucket (registrations, verifications, sign-ins by method, attempts by outcome
/// and method, risk decisions, factors added), failure reasons, distinct active customers
/// (HyperLogLog estimates, `sketch_error`) with MFA and passkey adoption, DAU/WAU/MAU, the
/// funnel by registration week, consent opt-in rates, a weekday × hour heatmap, and the
/// headline figures beside the previous period's. Read from rollups, never from history.
#[utoipa::path(get, path = "/analytics", tag = "admin", params(AnalyticsParams),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The figures", body = vestibule_engine::analytics::AnalyticsReport), QueryErrors, StaffErrors))]
async fn analytics(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    q: Result<Query<AnalyticsParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let query = analytics_query(
        q.from,
        q.to,
        q.granularity,
        [q.client, q.method, q.country, q.tier],
    );
    Ok(Json(s.engine.analytics(&who, &query).await?).into_response())
}

/// The engine's query from the parameters both analytics endpoints take (the filter as
/// client, method, country, tier).
fn analytics_query(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    granularity: vestibule_engine::analytics::Granularity,
    [client, method, country, tier]: [Option<String>; 4],
) -> vestibule_engine::analytics::AnalyticsQuery {
    vestibule_engine::analytics::AnalyticsQuery {
        from,
        to,
        granularity,
        filter: vestibule_engine::analytics::AnalyticsFilter {
            client,
            method,
            country,
            tier,
        },
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ChartParams {
    /// The range's start (RFC 3339).
    from: DateTime<Utc>,
    /// The range's end (RFC 3339, exclusive).
    to: DateTime<Utc>,
    /// hour, day, week or month.
    #[param(value_type = String)]
    granularity: vestibule_engine::analytics::Granularity,
    client: Option<String>,
    method: Option<String>,
    country: Option<String>,
    tier: Option<String>,
    /// svg (the default) or png.
    format: Option<String>,
    /// light (the default) or dark.
    theme: Option<String>,
    /// Width and height in CSS pixels (960 × 480 by default; 160–2000 × 100–2000).
    width: Option<u32>,
    height: Option<u32>,
    /// PNG only: pixels per CSS pixel, 1–4 (2 by default: 300 dpi at 6.4 inches wide); at
    /// most 4 million pixels in all.
    scale: Option<u32>,
}

/// One analytics chart as an image: `chart` is sign-ins, attempts, registrations, active,
/// adoption, funnel, heatmap, failures, risk or consent; the same figures as `/analytics`.
/// SVG carries each data point's label and value (`data-label`, `data-value`) and embeds its
/// font; PNG is for print.
#[utoipa::path(get, path = "/analytics/charts/{chart}", tag = "admin",
    params(("chart" = String, Path, description = "Which chart"), ChartParams),
    security(("staff_bearer" = [])),
    responses(
        (status = 200, description = "The chart", content_type = "image/svg+xml", body = String),
        (status = 200, description = "The chart", content_type = "image/png", body = String),
        QueryErrors, StaffErrors))]
async fn analytics_chart(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    chart: Result<Path<String>, PathRejection>,
    q: Result<Query<ChartParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Path(chart) = chart?;
    let Query(q) = q?;
    let invalid = |field: &'static str, message: &str| vestibule_engine::Error::InvalidInput {
        field,
        message: message.to_owned(),
    };
    let c = vestibule_charts::Chart::parse(&chart).ok_or_else(|| {
        invalid(
            "chart",
            "one of sign-ins, attempts, registrations, active, adoption, funnel, heatmap, failures, risk, consent",
        )
    })?;
    let theme = vestibule_charts::Theme::parse(q.theme.as_deref().unwrap_or("light"))
        .ok_or_else(|| invalid("theme", "light or dark"))?;
    let (w, h) = (q.width.unwrap_or(960), q.height.unwrap_or(480));
    if !(160..=2000).contains(&w) || !(100..=2000).contains(&h) {
        return Err(invalid("width", "charts are 160–2000 × 100–2000 pixels").into());
    }
    let scale = q.scale.unwrap_or(2);
    if !(1..=4).contains(&scale) {
        return Err(invalid("scale", "from 1 to 4").into());
    }
    if u64::from(w * scale) * u64::from(h * scale) > 4_000_000 {
        return Err(invalid("scale", "a PNG has at most 4 million pixels").into());
    }
    let query = analytics_query(
        q.from,
        q.to,
        q.granularity,
        [q.client, q.method, q.country, q.tier],
    );
    let report = s.engine.analytics(&who, &query).await?;
    let drawn = |e: vestibule_charts::Error| vestibule_engine::Error::Internal(e.to_string());
    let (body, kind, ext) = match q.format.as_deref().unwrap_or("svg") {
        "svg" => (
            vestibule_charts::svg(&report, c, theme, (w, h), true)
                .map_err(drawn)?
                .into_bytes(),
            "image/svg+xml",
            "svg",
        ),
        "png" => (
            vestibule_charts::png(&report, c, theme, (w, h), scale).map_err(drawn)?,
            "image/png",
            "png",
        ),
        _ => return Err(invalid("format", "svg or png").into()),
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, kind.to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{}.{ext}\"", c.name()),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OverviewQuery {
    /// 60 (the last hour, per minute), 1440 (a day, per 15 minutes) or 10080 (a week, per
    /// two hours); 60 when not given.
    window_minutes: Option<u32>,
}

/// The attack overview: failed and successful sign-ins per interval, the addresses and /24s
/// failing most (with whether a block covers them) and the accounts failing most (security
/// and admin staff).
#[utoipa::path(get, path = "/risk/overview", tag = "admin", params(OverviewQuery),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The overview", body = vestibule_engine::AttackOverview), QueryErrors, StaffErrors))]
async fn attack_overview(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    q: Result<Query<OverviewQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let view = s
        .engine
        .attack_overview(&who, q.window_minutes.unwrap_or(60))
        .await?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssignReviews {
    /// The items' attempt `seq`s (1 to 500).
    attempts: Vec<i64>,
    /// The staff member to assign them to; none to unassign.
    assignee: Option<Uuid>,
    #[serde(default)]
    note: String,
}

/// Assign items to an analyst (or to nobody), with an optional note. Audited.
#[utoipa::path(post, path = "/risk/reviews/assign", tag = "admin", request_body = AssignReviews,
    security(("staff_bearer" = [])),
    responses((status = 204, description = "Assigned"), BodyErrors, ById, StaffErrors))]
async fn assign_reviews(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(a): ApiJson<AssignReviews>,
) -> ApiResult<Response> {
    s.engine
        .assign_reviews(&who, &a.attempts, a.assignee, &a.note)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize, ToSchema)]
struct Blocks {
    blocks: Vec<vestibule_engine::IpBlock>,
}

/// The address blocks in force, by analysts and automatic ones (security and admin staff).
#[utoipa::path(get, path = "/risk/blocks", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The blocks", body = Blocks), StaffErrors))]
async fn list_blocks(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    Ok(Json(Blocks {
        blocks: s.engine.ip_blocks(&who).await?,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewBlock {
    /// An address, or a range no wider than /16 (IPv6: /32).
    network: String,
    reason: String,
    /// 1 to 720.
    hours: u32,
}

/// Block an address or range for a while (sign-ins from it are denied by the policy's
/// blocked-address signal). Audited.
#[utoipa::path(post, path = "/risk/blocks", tag = "admin", request_body = NewBlock,
    security(("staff_bearer" = [])),
    responses((status = 201, description = "The block", body = vestibule_engine::IpBlock), BodyErrors, StaffErrors))]
async fn add_block(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(b): ApiJson<NewBlock>,
) -> ApiResult<Response> {
    let block = s
        .engine
        .block_network(&who, &b.network, &b.reason, b.hours)
        .await?;
    Ok((StatusCode::CREATED, Json(block)).into_response())
}

/// End a block now. Audited.
#[utoipa::path(post, path = "/risk/blocks/{id}/remove", tag = "admin",
    params(("id" = Uuid, Path, description = "Block id")),
    security(("staff_bearer" = [])),
    responses((status = 204, description = "Ended"), ById, StaffErrors))]
async fn remove_block(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: IdPath,
) -> ApiResult<Response> {
    let Path(id) = id?;
    s.engine.unblock_network(&who, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
