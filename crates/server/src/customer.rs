//! The customer API under `/v1`. Browsers get the session in a `__Host-` cookie (Secure,
//! HttpOnly, SameSite=Lax) and must send the CSRF token (double-submit cookie) and an allowed
//! Origin on writes; apps ask for the token in the body and send it as a bearer token.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, Ctx, bearer};
use crate::openapi::{BodyErrors, CustomerAuth, Limited, Versioned};
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vestibule_engine::{Customer, Error, ProfilePatch, RegisterInput, SessionInfo};

/// Endpoints that take credentials or tokens from anyone: limited per IP.
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(verify_email))
        .routes(routes!(sign_in))
        .routes(routes!(sign_in_factor))
        .routes(routes!(reset_request))
        .routes(routes!(reset_confirm))
        .routes(routes!(confirm_email))
        // Re-authentication behind a session is password guessing too.
        .routes(routes!(change_password))
        .routes(routes!(change_email))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_out))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(me, update_me))
}

/// The answer to requests whose outcome arrives by email (and that must not reveal whether
/// an account exists): always `{"status": "check_your_email"}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct CheckYourEmail {
    #[schema(value_type = String, example = "check_your_email")]
    status: &'static str,
}

fn check_your_email() -> Response {
    (
        StatusCode::ACCEPTED,
        Json(CheckYourEmail {
            status: "check_your_email",
        }),
    )
        .into_response()
}

pub(crate) fn cookie_names(s: &AppState) -> (&'static str, &'static str) {
    if s.config.insecure_dev_cookies {
        ("vestibule_session", "vestibule_csrf")
    } else {
        ("__Host-vestibule_session", "__Host-vestibule_csrf")
    }
}

pub(crate) fn cookie(
    s: &AppState,
    name: &'static str,
    value: String,
    http_only: bool,
    max_age_secs: i64,
) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_path("/");
    c.set_http_only(http_only);
    c.set_same_site(SameSite::Lax);
    c.set_secure(!s.config.insecure_dev_cookies);
    c.set_max_age(time::Duration::seconds(max_age_secs));
    c
}

/// The signed-in customer's session token, from a bearer header or the session cookie.
/// Cookie-authenticated writes must also pass the CSRF checks.
pub struct CustomerToken(pub String);

impl FromRequestParts<AppState> for CustomerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(t) = bearer(&parts.headers) {
            return Ok(CustomerToken(t));
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let (session_name, csrf_name) = cookie_names(s);
        let token = jar
            .get(session_name)
            .map(|c| c.value().to_owned())
            .ok_or(ApiError::Engine(Error::InvalidSession))?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            csrf_check(parts, s, jar.get(csrf_name).map(|c| c.value()))?;
        }
        Ok(CustomerToken(token))
    }
}

/// A fresh CSRF token (two v4 UUIDs' worth of OS randomness, hex).
pub(crate) fn new_csrf() -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    for b in Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(Uuid::new_v4().as_bytes())
    {
        let _ = write!(t, "{b:02x}");
    }
    t
}

/// Set the browser session cookies after a sign-in (customer API or the OIDC sign-in page).
pub(crate) fn session_cookies(
    s: &AppState,
    jar: CookieJar,
    signed: &vestibule_engine::SignedIn,
) -> (CookieJar, String) {
    let max_age = (signed.session.absolute_expires_at - signed.session.created_at).num_seconds();
    let (session_name, csrf_name) = cookie_names(s);
    let csrf = new_csrf();
    let jar = jar
        .add(cookie(s, session_name, signed.token.clone(), true, max_age))
        .add(cookie(s, csrf_name, csrf.clone(), false, max_age));
    (jar, csrf)
}

fn csrf_check(parts: &Parts, s: &AppState, cookie_token: Option<&str>) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        ApiError::Http(
            StatusCode::FORBIDDEN,
            "csrf",
            format!("cross-site request refused: {why}"),
        )
    };
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !s.config.origin_allowed(origin) {
            return Err(refuse("origin not allowed"));
        }
    }
    let header_token = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok());
    match (cookie_token, header_token) {
        (Some(c), Some(h)) if !c.is_empty() && constant_eq(c.as_bytes(), h.as_bytes()) => Ok(()),
        _ => Err(refuse(
            "send the CSRF token from the csrf cookie in X-CSRF-Token",
        )),
    }
}

/// Equal bytes, compared without an early exit (CSRF tokens).
pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Register {
    email: String,
    password: String,
    #[serde(default)]
    display_name: String,
    locale: Option<String>,
    phone: Option<String>,
    /// Custom attributes (progressive profiling): a JSON object.
    attributes: Option<serde_json::Value>,
    /// What the app's sign-up screen showed for each purpose that needs consent, and the
    /// answers: recorded in the ledger (channel `sign_up`) when the account is created.
    #[serde(default)]
    consents: Vec<vestibule_engine::consent::ConsentAnswer>,
}

/// Register a customer. 202 whether or not the address already had an account (the owner
/// of an existing account is told by email instead).
#[utoipa::path(post, path = "/v1/register", tag = "customer", request_body = Register,
    responses((status = 202, description = "Check your email", body = CheckYourEmail),
        BodyErrors, (status = 422, description = "The password is too weak or too common (code weak_password)", body = crate::error::ErrorBody), Limited))]
async fn register(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<Register>,
) -> ApiResult<Response> {
    s.engine
        .register(
            RegisterInput {
                email: b.email,
                password: b.password,
                display_name: b.display_name,
                locale: b.locale,
                phone: b.phone,
                attributes: b.attributes,
                consents: b.consents,
            },
            &ctx,
        )
        .await?;
    Ok(check_your_email())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    /// The token from the email link.
    token: String,
}

/// Verify the email address with the token from the verification email.
#[utoipa::path(post, path = "/v1/verify-email", tag = "customer", request_body = TokenBody,
    responses((status = 204, description = "The address is verified"), BodyErrors, Limited))]
async fn verify_email(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<TokenBody>,
) -> ApiResult<StatusCode> {
    s.engine.verify_email(&b.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignIn {
    email: String,
    password: String,
    /// Apps set this to receive the token in the body (and send it as a bearer token);
    /// browsers leave it out and get cookies only.
    #[serde(default)]
    return_token: bool,
}

/// A new session.
#[derive(Serialize, ToSchema)]
struct SignedInBody {
    session: SessionInfo,
    /// Send this in X-CSRF-Token on cookie-authenticated writes (also in the csrf cookie).
    csrf_token: String,
    /// The bearer token, only when `return_token` was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// The password was right and the account has a second factor: finish at
/// `/v1/sign-in/factor` with this challenge within `expires_at`.
#[derive(Serialize, ToSchema)]
struct SecondFactorBody {
    /// Always `second_factor_required`.
    #[schema(value_type = String)]
    status: &'static str,
    challenge: String,
    expires_at: chrono::DateTime<chrono::Utc>,
    /// What finishes it: `second_factor` (the account's authenticator app or a recovery
    /// code) or `email_code` (the sign-in looked unusual and the account has no second
    /// factor: a 6-digit code was emailed; finish with method `email_code`).
    #[schema(value_type = String)]
    kind: &'static str,
}

/// What a correct password leads to.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum SignInOutcome {
    SignedIn(SignedInBody),
    SecondFactor(SecondFactorBody),
}

fn signed_in(
    s: &AppState,
    jar: CookieJar,
    signed: vestibule_engine::SignedIn,
    return_token: bool,
) -> (CookieJar, SignedInBody) {
    let (jar, csrf) = session_cookies(s, jar, &signed);
    let body = SignedInBody {
        session: signed.session,
        csrf_token: csrf,
        token: return_token.then_some(signed.token),
    };
    (jar, body)
}

/// Sign in with email and password: sets the session and CSRF cookies, and returns the
/// token in the body when `return_token` is true (apps). An account with a second factor
/// answers with a challenge instead, to finish at `/v1/sign-in/factor`.
#[utoipa::path(post, path = "/v1/sign-in", tag = "customer", request_body = SignIn,
    responses((status = 200, description = "Signed in, or a second factor is needed", body = SignInOutcome),
        BodyErrors,
        (status = 401, description = "Wrong email or password (code invalid_credentials)", body = crate::error::ErrorBody),
        (status = 403, description = "The account is locked or disabled", body = crate::error::ErrorBody),
        Limited))]
async fn sign_in(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    jar: CookieJar,
    ApiJson(b): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let result = s.engine.begin_sign_in(&b.email, &b.password, &ctx).await;
    s.metrics.sign_in(match &result {
        Ok(vestibule_engine::SignInStep::SignedIn(_)) => "success",
        Ok(vestibule_engine::SignInStep::SecondFactor(_)) => "second_factor",
        Err(e) => e.code(),
    });
    match result? {
        vestibule_engine::SignInStep::SignedIn(signed) => {
            let (jar, body) = signed_in(&s, jar, signed, b.return_token);
            Ok((jar, Json(SignInOutcome::SignedIn(body))).into_response())
        }
        vestibule_engine::SignInStep::SecondFactor(c) => {
            Ok(Json(SignInOutcome::SecondFactor(SecondFactorBody {
                status: "second_factor_required",
                challenge: c.token,
                expires_at: c.expires_at,
                kind: match c.kind {
                    vestibule_engine::ChallengeKind::SecondFactor => "second_factor",
                    vestibule_engine::ChallengeKind::EmailCode => "email_code",
                },
            }))
            .into_response())
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum FactorMethod {
    Totp,
    RecoveryCode,
    /// The code emailed for a challenge of kind `email_code`.
    EmailCode,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignInFactor {
    /// From the `/v1/sign-in` answer.
    challenge: String,
    method: FactorMethod,
    /// The app's 6-digit code, a recovery code, or the emailed code.
    code: String,
    #[serde(default)]
    return_token: bool,
}

/// Finish a sign-in with its second factor (TOTP or a recovery code), or an emailed risk
/// check with its code. Wrong codes are failed
/// attempts; after five the challenge ends (`invalid_session`: sign in again).
#[utoipa::path(post, path = "/v1/sign-in/factor", tag = "customer", request_body = SignInFactor,
    responses((status = 200, description = "Signed in", body = SignedInBody),
        BodyErrors,
        (status = 401, description = "The challenge ended or expired (code invalid_session)", body = crate::error::ErrorBody),
        Limited))]
async fn sign_in_factor(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    jar: CookieJar,
    ApiJson(b): ApiJson<SignInFactor>,
) -> ApiResult<Response> {
    let proof = match b.method {
        FactorMethod::Totp => vestibule_engine::FactorProof::Totp(b.code),
        FactorMethod::RecoveryCode => vestibule_engine::FactorProof::RecoveryCode(b.code),
        FactorMethod::EmailCode => vestibule_engine::FactorProof::EmailCode(b.code),
    };
    let result = s.engine.complete_sign_in(&b.challenge, &proof, &ctx).await;
    s.metrics
        .sign_in(result.as_ref().map_or_else(|e| e.code(), |_| "success"));
    let (jar, body) = signed_in(&s, jar, result?, b.return_token);
    Ok((jar, Json(body)).into_response())
}

/// End this session and clear the cookies. Idempotent: an already ended or unknown session
/// token also gets 204 (only a request with no token at all is refused).
#[utoipa::path(post, path = "/v1/sign-out", tag = "customer",
    security((), ("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 204, description = "Signed out"), CustomerAuth))]
async fn sign_out(
    State(s): State<AppState>,
    jar: CookieJar,
    CustomerToken(t): CustomerToken,
) -> ApiResult<Response> {
    s.engine.sign_out(&t).await?;
    let (session_name, csrf_name) = cookie_names(&s);
    let jar = jar
        .add(cookie(&s, session_name, String::new(), true, 0))
        .add(cookie(&s, csrf_name, String::new(), false, 0));
    Ok((jar, StatusCode::NO_CONTENT).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

/// Ask for a password-reset email. 202 whether or not the address has an account.
#[utoipa::path(post, path = "/v1/password-reset/request", tag = "customer", request_body = EmailBody,
    responses((status = 202, description = "Check your email", body = CheckYourEmail), BodyErrors, Limited))]
async fn reset_request(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(b): ApiJson<EmailBody>,
) -> ApiResult<Response> {
    s.engine.request_password_reset(&b.email, &ctx).await?;
    Ok(check_your_email())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetConfirm {
    token: String,
    new_password: String,
}

/// Set a new password with the token from the reset email; ends every session.
#[utoipa::path(post, path = "/v1/password-reset/confirm", tag = "customer", request_body = ResetConfirm,
    responses((status = 204, description = "Password changed"), BodyErrors,
        (status = 422, description = "The new password is too weak or too common", body = crate::error::ErrorBody), Limited))]
async fn reset_confirm(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<ResetConfirm>,
) -> ApiResult<StatusCode> {
    s.engine
        .confirm_password_reset(&b.token, &b.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Change the password (the current one is required); other sessions end.
#[utoipa::path(post, path = "/v1/password", tag = "customer", request_body = ChangePassword,
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 204, description = "Password changed"), BodyErrors, CustomerAuth,
        (status = 422, description = "The new password is too weak or too common", body = crate::error::ErrorBody), Limited))]
async fn change_password(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CustomerToken(t): CustomerToken,
    ApiJson(b): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    s.engine
        .change_password(&t, &b.current_password, &b.new_password, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangeEmail {
    password: String,
    new_email: String,
}

/// Start changing the email address: a confirmation goes to the new address.
#[utoipa::path(post, path = "/v1/email", tag = "customer", request_body = ChangeEmail,
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 202, description = "Check the new address (answered the same whether or not the address has an account)", body = CheckYourEmail), BodyErrors, CustomerAuth, Limited))]
async fn change_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    CustomerToken(t): CustomerToken,
    ApiJson(b): ApiJson<ChangeEmail>,
) -> ApiResult<Response> {
    s.engine
        .change_email(&t, &b.password, &b.new_email, &ctx)
        .await?;
    Ok(check_your_email())
}

/// Confirm a new email address with the token sent to it.
#[utoipa::path(post, path = "/v1/email/confirm", tag = "customer", request_body = TokenBody,
    responses((status = 204, description = "The address is changed"), BodyErrors,
        (status = 409, description = "The address was taken meanwhile", body = crate::error::ErrorBody), Limited))]
async fn confirm_email(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<TokenBody>,
) -> ApiResult<StatusCode> {
    s.engine.confirm_email_change(&b.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A list of sessions.
#[derive(Serialize, ToSchema)]
pub(crate) struct Sessions {
    pub sessions: Vec<SessionInfo>,
}

/// The customer's active sessions.
#[utoipa::path(get, path = "/v1/sessions", tag = "customer",
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 200, description = "Active sessions", body = Sessions), CustomerAuth))]
async fn list_sessions(
    State(s): State<AppState>,
    CustomerToken(t): CustomerToken,
) -> ApiResult<Response> {
    let sessions = s.engine.my_sessions(&t).await?;
    Ok(Json(Sessions { sessions }).into_response())
}

/// End one of the customer's sessions.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "customer",
    params(("id" = Uuid, Path, description = "The session id")),
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 204, description = "Revoked"), CustomerAuth, crate::openapi::ById))]
async fn revoke_session(
    State(s): State<AppState>,
    CustomerToken(t): CustomerToken,
    id: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
) -> ApiResult<StatusCode> {
    let Path(id) = id?;
    s.engine.revoke_my_session(&t, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The customer's profile.
#[utoipa::path(get, path = "/v1/me", tag = "customer",
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 200, description = "The profile", body = Customer), CustomerAuth))]
async fn me(State(s): State<AppState>, CustomerToken(t): CustomerToken) -> ApiResult<Response> {
    Ok(Json(s.engine.my_profile(&t).await?).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateMe {
    /// The `version` last read; the update is refused if the profile changed since.
    version: i64,
    display_name: Option<String>,
    phone: Option<String>,
    locale: Option<String>,
    /// Custom attributes (progressive profiling): a JSON object, replaced as a whole.
    attributes: Option<serde_json::Value>,
}

/// Update the customer's own profile; fields left out stay as they are.
#[utoipa::path(patch, path = "/v1/me", tag = "customer", request_body = UpdateMe,
    security(("customer_bearer" = []), ("customer_cookie" = [])),
    responses((status = 200, description = "The updated profile", body = Customer), BodyErrors, CustomerAuth, Versioned))]
async fn update_me(
    State(s): State<AppState>,
    CustomerToken(t): CustomerToken,
    ApiJson(b): ApiJson<UpdateMe>,
) -> ApiResult<Response> {
    let patch = ProfilePatch {
        display_name: b.display_name,
        phone: b.phone,
        locale: b.locale,
        attributes: b.attributes,
        tier: None,
    };
    Ok(Json(s.engine.update_my_profile(&t, b.version, patch).await?).into_response())
}
