//! Erasure and retention over HTTP: a customer erased by staff (typed address and reason)
//! or by themselves (`POST /v1/me/erase`, re-authenticated), the tombstone of an erased
//! customer, and the retention rules with their dry run and real run. The engine checks
//! permissions and audits.

use crate::AppState;
use crate::admin::StaffAuth;
use crate::customer::CustomerToken;
use crate::error::ApiResult;
use crate::http::{ApiJson, Ctx};
use crate::openapi::{BodyErrors, ById, CustomerAuth, Limited, StaffAuth as StaffErrors};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vestibule_engine::StepUpProof;
use vestibule_engine::privacy::{Erasure, RetentionReport, RetentionRules, Tombstone};

/// Mounted under `/admin/v1`.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(erase_customer))
        .routes(routes!(erasure_of))
        .routes(routes!(retention_rules, update_retention_rules))
        .routes(routes!(run_retention))
        .routes(routes!(last_retention_run))
}

/// Mounted at the root with the other credential routes (limited per address): erasing
/// one's own account takes the password.
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(erase_me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EraseCustomer {
    /// The customer's email address, typed by the staff member as confirmation.
    confirm_email: String,
    /// Why (the request's ticket reference); recorded with the tombstone and the audit entry.
    reason: String,
}

/// Erase a customer: every row about them deleted or anonymised, a tombstone kept (privacy
/// staff and admins; audited `privacy.erased`). Erasing an erased customer is 400.
#[utoipa::path(post, path = "/customers/{id}/erase", tag = "admin", request_body = EraseCustomer,
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "What was deleted, anonymised and kept", body = Erasure), BodyErrors, ById, StaffErrors))]
async fn erase_customer(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<Uuid>, PathRejection>,
    ApiJson(b): ApiJson<EraseCustomer>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    Ok(Json(
        s.engine
            .erase_customer(&who, id, &b.confirm_email, &b.reason)
            .await?,
    )
    .into_response())
}

/// The tombstone of an erased customer (404 if they were never erased).
#[utoipa::path(get, path = "/customers/{id}/erasure", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The tombstone", body = Tombstone), ById, StaffErrors))]
async fn erasure_of(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<Uuid>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let t = s
        .engine
        .erasure_of(&who, id)
        .await?
        .ok_or(vestibule_engine::Error::NotFound("erasure"))?;
    Ok(Json(t).into_response())
}

/// The retention rules, with their version (privacy staff and admins).
#[utoipa::path(get, path = "/retention/rules", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The rules", body = RetentionRules), StaffErrors))]
async fn retention_rules(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    Ok(Json(s.engine.retention_rules(&who).await?).into_response())
}

/// Change the retention rules (`version` as read; a stale one is 409). Audited.
#[utoipa::path(put, path = "/retention/rules", tag = "admin", request_body = RetentionRules,
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The rules as saved", body = RetentionRules), BodyErrors, StaffErrors,
        (status = 409, description = "Changed by someone else since it was read (code conflict)", body = crate::error::ErrorBody)))]
async fn update_retention_rules(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(r): ApiJson<RetentionRules>,
) -> ApiResult<Response> {
    Ok(Json(s.engine.update_retention_rules(&who, &r).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RunRetention {
    /// Only count what would be removed.
    dry_run: bool,
}

/// Run the retention rules now, or count what a run would remove (`dry_run`). Audited.
#[utoipa::path(post, path = "/retention/run", tag = "admin", request_body = RunRetention,
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The report", body = RetentionReport), BodyErrors, StaffErrors))]
async fn run_retention(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(b): ApiJson<RunRetention>,
) -> ApiResult<Response> {
    Ok(Json(s.engine.run_retention(&who, b.dry_run).await?).into_response())
}

/// The last real run's report (404 if retention never ran).
#[utoipa::path(get, path = "/retention/last-run", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The report", body = RetentionReport), ById, StaffErrors))]
async fn last_retention_run(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    let r = s
        .engine
        .last_retention_run(&who)
        .await?
        .ok_or(vestibule_engine::Error::NotFound("retention run"))?;
    Ok(Json(r).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EraseMe {
    /// The account's email address, typed as confirmation.
    confirm_email: String,
    /// The password, when the session did not sign in recently (accounts with a second
    /// factor step up in the account center instead).
    #[serde(default)]
    password: Option<String>,
}

/// "Delete my account": the signed-in customer is erased. Needs a recent sign-in (or the
/// password) and their address typed as confirmation; the session ends with the account.
#[utoipa::path(post, path = "/v1/me/erase", tag = "customer", request_body = EraseMe,
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 200, description = "Erased: what was kept, and why", body = Tombstone), BodyErrors, CustomerAuth, Limited))]
async fn erase_me(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CustomerToken(t): CustomerToken,
    ApiJson(b): ApiJson<EraseMe>,
) -> ApiResult<Response> {
    if let Some(pw) = b.password {
        s.engine
            .step_up(&t, &StepUpProof::Password(pw), &ctx)
            .await?;
    }
    Ok(Json(
        s.engine
            .erase_my_account(&t, &b.confirm_email)
            .await?
            .tombstone,
    )
    .into_response())
}
