//! Consent over HTTP: purposes and their versions, a customer's consent and ledger and
//! staff-recorded answers in the admin API (`/admin/v1/consent…`); the decision for the
//! business's back ends (a client-credentials access token or a staff token); and the
//! customer's own consent in the customer API (`/v1/me/consent…`); and the DSAR export for
//! staff and for the customer. The engine checks permissions and audits.

use crate::AppState;
use crate::admin::StaffAuth;
use crate::customer::CustomerToken;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, Ctx, bearer};
use crate::openapi::{BodyErrors, ById, CustomerAuth, QueryErrors, StaffAuth as StaffErrors};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vestibule_engine::consent::ledger::Collector;
use vestibule_engine::consent::{
    ConsentAnswer, ConsentChannel, ConsentDecision, ConsentRecord, ConsentText, PublishVersion,
    Published, Purpose, PurposeInput, PurposeState,
};
use vestibule_engine::{Error, Permission};

/// Mounted under `/admin/v1`.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_purposes, save_purpose))
        .routes(routes!(publish_version))
        .routes(routes!(reconsent_preview))
        .routes(routes!(customer_consent, record_for_customer))
        .routes(routes!(receipt))
        .routes(routes!(decision))
        .routes(routes!(export_customer))
}

/// Mounted at the root (`/v1/me/consent…`).
pub fn customer_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_consent, record_my_consent))
        .routes(routes!(my_receipt))
        .routes(routes!(export_mine))
}

#[derive(Serialize, ToSchema)]
struct Purposes {
    purposes: Vec<Purpose>,
}

/// Every purpose with its latest published version (any signed-in staff member).
#[utoipa::path(get, path = "/consent/purposes", tag = "admin",
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The purposes", body = Purposes), StaffErrors))]
async fn list_purposes(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
) -> ApiResult<Response> {
    who.require(Permission::ReadCustomers)
        .or_else(|_| who.require(Permission::ManageConsent))?;
    Ok(Json(Purposes {
        purposes: s.engine.consent_purposes().await?,
    })
    .into_response())
}

/// Create a purpose (`version` 0) or change one (`version` as read; a stale one is 409).
/// Admins and privacy staff; audited.
#[utoipa::path(post, path = "/consent/purposes", tag = "admin", request_body = PurposeInput,
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The purpose as saved", body = Purpose), BodyErrors, ById, StaffErrors))]
async fn save_purpose(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    ApiJson(p): ApiJson<PurposeInput>,
) -> ApiResult<Response> {
    Ok(Json(s.engine.save_consent_purpose(&who, &p).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    /// One more than the latest version (an existing number is 409).
    version: i64,
    /// Everyone whose consent rests on an older version is asked again.
    material: bool,
    texts: Vec<ConsentText>,
}

/// Publish the next version of a purpose's text (admins and privacy staff; audited).
/// Published versions never change.
#[utoipa::path(post, path = "/consent/purposes/{id}/versions", tag = "admin", request_body = PublishBody,
    params(("id" = String, Path, description = "Purpose id")),
    security(("staff_bearer" = [])),
    responses((status = 201, description = "Published, with how many customers are asked again", body = Published), BodyErrors, ById, StaffErrors))]
async fn publish_version(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<String>, PathRejection>,
    ApiJson(b): ApiJson<PublishBody>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let published = s
        .engine
        .publish_consent_version(
            &who,
            &PublishVersion {
                purpose_id: id,
                version: b.version,
                material: b.material,
                texts: b.texts,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(published)).into_response())
}

#[derive(Serialize, ToSchema)]
struct Reconsent {
    /// Customers a material version published now would ask again.
    customers: u64,
}

/// How many customers a material version would ask again (for the publish dialog).
#[utoipa::path(get, path = "/consent/purposes/{id}/reconsent", tag = "admin",
    params(("id" = String, Path, description = "Purpose id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The count", body = Reconsent), ById, StaffErrors))]
async fn reconsent_preview(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let customers = s.engine.reconsent_preview(&who, &id).await?;
    Ok(Json(Reconsent { customers }).into_response())
}

#[derive(Serialize, ToSchema)]
struct CustomerConsent {
    state: Vec<PurposeState>,
    /// Newest first.
    ledger: Vec<ConsentRecord>,
}

/// A customer's standing on every purpose and their consent ledger (staff who may read
/// customers; support sees it read-only).
#[utoipa::path(get, path = "/customers/{id}/consent", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "State and ledger", body = CustomerConsent), ById, StaffErrors))]
async fn customer_consent(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<Uuid>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let ledger = s.engine.consent_ledger(&who, id).await?;
    let state = s.engine.consent_state(id).await?;
    Ok(Json(CustomerConsent { state, ledger }).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StaffAnswers {
    answers: Vec<ConsentAnswer>,
    /// Why staff record it for the customer (a ticket reference).
    reason: String,
}

#[derive(Serialize, ToSchema)]
struct Records {
    records: Vec<ConsentRecord>,
}

/// Record answers on a customer's behalf (admins and privacy staff, with a reason; audited).
#[utoipa::path(post, path = "/customers/{id}/consent", tag = "admin", request_body = StaffAnswers,
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 201, description = "The records written", body = Records), BodyErrors, ById, StaffErrors))]
async fn record_for_customer(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<Uuid>, PathRejection>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<StaffAnswers>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let records = s
        .engine
        .record_consent(
            id,
            &b.answers,
            Collector::Staff {
                staff: &who,
                reason: &b.reason,
            },
            &ctx,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Records { records })).into_response())
}

#[derive(Serialize, ToSchema)]
struct Receipt {
    /// A Kantara Consent Receipt v1.1 document as a JWS (RS256), verifiable with
    /// `/oauth2/jwks`.
    receipt: String,
}

/// The signed receipt of a ledger record (staff who may read customers).
#[utoipa::path(get, path = "/consent/receipts/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Record (receipt) id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The receipt", body = Receipt), ById, StaffErrors))]
async fn receipt(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<Uuid>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let receipt = s.engine.staff_consent_receipt(&who, id).await?;
    Ok(Json(Receipt { receipt }).into_response())
}

/// Who asks for a decision: a back end with a client-credentials access token, or staff.
struct Backend;

impl FromRequestParts<AppState> for Backend {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(ApiError::Engine(Error::InvalidSession))?;
        if s.engine.client_of_access_token(&token).await.is_ok() {
            return Ok(Backend);
        }
        let staff = s.engine.staff_from_token(&token).await?;
        staff.require(Permission::ReadCustomers)?;
        Ok(Backend)
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DecisionQuery {
    customer_id: Uuid,
    purpose: String,
}

/// May the customer's data be used for the purpose now? With the record that justifies the
/// answer. For the business's back ends: a client-credentials access token from
/// `/oauth2/token`, or a staff token.
#[utoipa::path(get, path = "/consent/decision", tag = "admin", params(DecisionQuery),
    security(("access_token" = []), ("staff_bearer" = [])),
    responses((status = 200, description = "The decision", body = ConsentDecision), QueryErrors, ById, StaffErrors))]
async fn decision(
    State(s): State<AppState>,
    _: Backend,
    q: Result<Query<DecisionQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    Ok(Json(s.engine.consent_decision(q.customer_id, &q.purpose).await?).into_response())
}

#[derive(Serialize, ToSchema)]
struct MyConsent {
    /// The purposes with their latest texts.
    purposes: Vec<Purpose>,
    state: Vec<PurposeState>,
    /// Newest first.
    ledger: Vec<ConsentRecord>,
}

/// The customer's consent: every purpose with its text, where they stand, their ledger.
#[utoipa::path(get, path = "/v1/me/consent", tag = "customer",
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 200, description = "Purposes, state and ledger", body = MyConsent), CustomerAuth))]
async fn my_consent(
    State(s): State<AppState>,
    CustomerToken(t): CustomerToken,
) -> ApiResult<Response> {
    let (purposes, state) = s.engine.my_consent(&t).await?;
    let ledger = s.engine.my_consent_records(&t).await?;
    Ok(Json(MyConsent {
        purposes,
        state,
        ledger,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MyAnswers {
    /// Each names the version and locale of the text shown.
    answers: Vec<ConsentAnswer>,
}

/// Give or withdraw consent (one or more purposes, all or nothing).
#[utoipa::path(post, path = "/v1/me/consent", tag = "customer", request_body = MyAnswers,
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 201, description = "The records written", body = Records), BodyErrors, CustomerAuth))]
async fn record_my_consent(
    State(s): State<AppState>,
    CustomerToken(t): CustomerToken,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<MyAnswers>,
) -> ApiResult<Response> {
    let records = s
        .engine
        .record_my_consent(&t, &b.answers, ConsentChannel::Api, None, &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(Records { records })).into_response())
}

/// The signed receipt of one of the customer's own records.
#[utoipa::path(get, path = "/v1/me/consent/receipts/{id}", tag = "customer",
    params(("id" = Uuid, Path, description = "Record (receipt) id")),
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 200, description = "The receipt", body = Receipt), ById, CustomerAuth))]
async fn my_receipt(
    State(s): State<AppState>,
    CustomerToken(t): CustomerToken,
    id: Result<Path<Uuid>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let receipt = s.engine.my_consent_receipt(&t, id).await?;
    Ok(Json(Receipt { receipt }).into_response())
}

/// Everything held on a customer (DSAR export: profile, identifiers, credential metadata,
/// factors, sessions, attempts and risk decisions, consent, emails, audit entries; secrets
/// withheld). Admins and privacy staff; audited.
#[utoipa::path(get, path = "/customers/{id}/export", tag = "admin",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("staff_bearer" = [])),
    responses((status = 200, description = "The export", body = vestibule_engine::privacy::CustomerExport), ById, StaffErrors))]
async fn export_customer(
    State(s): State<AppState>,
    StaffAuth(who, _): StaffAuth,
    id: Result<Path<Uuid>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    Ok(Json(s.engine.export_customer(&who, id).await?).into_response())
}

/// "Download my data": everything held on the signed-in customer.
#[utoipa::path(get, path = "/v1/me/export", tag = "customer",
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 200, description = "The export", body = vestibule_engine::privacy::CustomerExport), CustomerAuth))]
async fn export_mine(
    State(s): State<AppState>,
    CustomerToken(t): CustomerToken,
) -> ApiResult<Response> {
    Ok(Json(s.engine.export_my_data(&t).await?).into_response())
}
