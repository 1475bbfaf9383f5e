//! The account center at `/account`, on the browser's own session: the customer's factors
//! (add an authenticator app with a QR code, remove one), passkeys (listed here, made and
//! renamed in `passkeys`), recovery codes (how many are left,
//! new ones), signed-in devices (sign one out), and signing out. Changes that need recent
//! authentication send the customer through the step-up page first. Every form is
//! CSRF-protected; the pages speak the customer's own language.

use super::hosted::{Field, SimpleForm, see_other};
use super::{Chrome, PageForm, PostedForm, chrome, form_token, message, render};
use crate::AppState;
use crate::customer::{cookie, cookie_names};
use crate::http::Ctx;
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vestibule_engine::{Customer, Error, Factor, FactorProof, SessionInfo, StepUpProof};

/// The step-up form (a code or password check, limited per IP).
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(step_up_submit))
        .routes(routes!(totp_confirm))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account_page))
        .routes(routes!(step_up_page))
        .routes(routes!(totp_begin))
        .routes(routes!(recovery_codes))
        .routes(routes!(remove_factor))
        .routes(routes!(revoke_session))
        .routes(routes!(sign_out))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    c: &'a Chrome,
    csrf: String,
    customer: Customer,
    notice: Option<String>,
    /// Authenticator apps (the second factors).
    factors: Vec<Factor>,
    passkeys: Vec<PasskeyRow>,
    codes_left: u64,
    sessions: Vec<SessionInfo>,
    current_session: Uuid,
    /// Accounts at upstream providers that sign in here.
    connections: Vec<vestibule_engine::SocialLink>,
    /// Providers not yet connected: (href, label).
    connectable: Vec<(String, String)>,
    /// OIDC clients holding tokens for the customer.
    apps: Vec<vestibule_engine::ConnectedApp>,
}

/// A passkey as the account center lists it.
struct PasskeyRow {
    id: Uuid,
    name: String,
    /// Last use, never used, or turned off.
    status: String,
    flagged: bool,
}

fn passkey_row(c: &Chrome, f: Factor) -> PasskeyRow {
    let status = match (f.flagged_at, f.last_used_at) {
        (Some(_), _) => c.t("account-passkey-flagged"),
        (None, Some(t)) => c.t1(
            "account-last-used",
            "when",
            &t.format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
        (None, None) => c.t("account-never-used"),
    };
    PasskeyRow {
        id: f.id,
        name: f.name,
        status,
        flagged: f.flagged_at.is_some(),
    }
}

#[derive(Template)]
#[template(path = "totp.html")]
struct TotpPage<'a> {
    c: &'a Chrome,
    csrf: String,
    factor_id: Uuid,
    secret: String,
    qr_svg: String,
    name: String,
    error: String,
}

#[derive(Template)]
#[template(path = "codes.html")]
struct CodesPage<'a> {
    c: &'a Chrome,
    codes: Vec<String>,
}

/// The signed-in customer of this browser, or the answer to send instead (to sign in).
pub(crate) struct Signed {
    pub token: String,
    pub session: SessionInfo,
    pub customer: Customer,
    pub c: Chrome,
}

pub(crate) async fn signed(
    s: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
) -> Result<Signed, Response> {
    let (name, _) = cookie_names(s);
    let token = jar
        .get(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| see_other("/signin"))?;
    let session = s
        .engine
        .validate_session(&token)
        .await
        .map_err(|_| see_other("/signin"))?;
    let customer = s
        .engine
        .my_profile(&token)
        .await
        .map_err(|_| see_other("/signin"))?;
    let c = chrome(s, headers, None, Some(&customer.locale)).await;
    Ok(Signed {
        token,
        session,
        customer,
        c,
    })
}

pub(crate) fn failed(c: &Chrome, e: &Error) -> Response {
    tracing::warn!(error = %e, "account page action failed");
    message(
        StatusCode::BAD_REQUEST,
        c,
        c.t("account-title"),
        Some(super::signin::error_message(c, e)),
        vec![],
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NoticeQuery {
    /// What just happened (`factor-added`, `factor-removed`, `session-ended`, `confirmed`).
    done: Option<String>,
}

/// The account center.
#[utoipa::path(get, path = "/account", tag = "pages", params(NoticeQuery),
    responses((status = 200, description = "The account center", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")))]
async fn account_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<NoticeQuery>, QueryRejection>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let notice = q
        .ok()
        .and_then(|Query(q)| q.done)
        .and_then(|d| match d.as_str() {
            "factor-added" => Some(me.c.t("notice-factor-added")),
            "factor-removed" => Some(me.c.t("notice-factor-removed")),
            "session-ended" => Some(me.c.t("notice-session-ended")),
            "confirmed" => Some(me.c.t("notice-confirmed")),
            "passkey-added" => Some(me.c.t("notice-passkey-added")),
            "passkey-renamed" => Some(me.c.t("notice-passkey-renamed")),
            "connected" => Some(me.c.t("notice-connected")),
            "profile-saved" => Some(me.c.t("notice-profile-saved")),
            "email-sent" => Some(me.c.t("notice-email-sent")),
            "password-changed" => Some(me.c.t("notice-password-changed")),
            "app-revoked" => Some(me.c.t("notice-app-revoked")),
            "disconnected" => Some(me.c.t("notice-disconnected")),
            _ => None,
        });
    let loaded = async {
        Ok::<_, Error>((
            s.engine.my_factors(&me.token).await?,
            s.engine.recovery_codes_left(&me.token).await?,
            s.engine.my_sessions(&me.token).await?,
            s.engine.my_social_links(&me.token).await?,
            s.engine.upstream_providers().await?,
            s.engine.my_apps(&me.token).await?,
        ))
    }
    .await;
    let (all, codes_left, sessions, connections, providers, apps) = match loaded {
        Ok(v) => v,
        Err(e) => return failed(&me.c, &e),
    };
    let (passkeys, factors): (Vec<Factor>, Vec<Factor>) = all
        .into_iter()
        .partition(|f| f.kind == vestibule_engine::FactorKind::Passkey);
    let passkeys = passkeys
        .into_iter()
        .map(|f| passkey_row(&me.c, f))
        .collect();
    let (jar, csrf) = form_token(&s, jar);
    let connectable = providers
        .into_iter()
        .filter(|p| !connections.iter().any(|l| l.provider_id == p.id))
        .map(|p| {
            (
                format!(
                    "/signin/social/{}?link=1&return_to=/account&csrf={csrf}",
                    p.id
                ),
                p.label,
            )
        })
        .collect();
    let page = AccountPage {
        c: &me.c,
        csrf,
        customer: me.customer.clone(),
        notice,
        factors,
        passkeys,
        codes_left: u64::try_from(codes_left).unwrap_or(0),
        sessions,
        current_session: me.session.id,
        connectable,
        connections,
        apps,
    };
    (jar, render(StatusCode::OK, &me.c, &page, &[])).into_response()
}

#[derive(Deserialize, ToSchema)]
struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize, ToSchema)]
struct IdForm {
    csrf: String,
    id: Uuid,
}

/// The step-up page: a code from the app (or a recovery code) when the account has a
/// second factor, the password when it does not.
pub(crate) fn step_up_form(
    s: &AppState,
    me: &Signed,
    jar: CookieJar,
    error: Option<String>,
) -> Response {
    let c = &me.c;
    let (jar, csrf) = form_token(s, jar);
    let field = if me.customer.mfa_enabled {
        Field {
            id: "code",
            kind: "text",
            label: c.t("field-code"),
            value: String::new(),
            autocomplete: "one-time-code",
            hint: c.t("stepup-code-hint"),
            error: error.clone().unwrap_or_default(),
            options: vec![],
        }
    } else {
        Field {
            id: "password",
            kind: "password",
            label: c.t("field-password"),
            value: String::new(),
            autocomplete: "current-password",
            hint: String::new(),
            error: error.clone().unwrap_or_default(),
            options: vec![],
        }
    };
    let page = SimpleForm {
        c,
        title: c.t("stepup-title"),
        lead: c.t("stepup-lead"),
        error: None,
        action: "/account/step-up",
        csrf,
        hidden: vec![],
        fields: vec![field],
        attributes: vec![],
        submit: c.t("factor-submit"),
        links: vec![("/account", c.t("back-to-account"))],
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    (jar, render(status, c, &page, &[])).into_response()
}

/// Confirm it is you (recent authentication for sensitive changes).
#[utoipa::path(get, path = "/account/step-up", tag = "pages",
    responses((status = 200, description = "The step-up page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")))]
async fn step_up_page(State(s): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    match signed(&s, &jar, &headers).await {
        Ok(me) => step_up_form(&s, &me, jar, None),
        Err(r) => r,
    }
}

#[derive(Deserialize, ToSchema)]
struct StepUpForm {
    csrf: String,
    code: Option<String>,
    password: Option<String>,
}

/// The step-up form.
#[utoipa::path(post, path = "/account/step-up", tag = "pages",
    request_body(content = StepUpForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Confirmed (back to the account center), or not signed in (to the sign-in page)"),
        (status = 401, description = "Not right: the page again", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn step_up_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<StepUpForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let proof = match (f.code, f.password) {
        (Some(code), _) if code.trim().len() > 8 => {
            StepUpProof::Factor(FactorProof::RecoveryCode(code))
        }
        (Some(code), _) => StepUpProof::Factor(FactorProof::Totp(code)),
        (None, Some(pw)) => StepUpProof::Password(pw),
        (None, None) => return step_up_form(&s, &me, jar, Some(me.c.t("error-code"))),
    };
    match s.engine.step_up(&me.token, &proof, &ctx).await {
        Ok(_) => see_other("/account?done=confirmed"),
        Err(Error::InvalidSession) => see_other("/signin"),
        Err(e @ (Error::RateLimited(_) | Error::Overloaded(_))) => {
            let msg = super::signin::error_message(&me.c, &e);
            step_up_form(&s, &me, jar, Some(msg))
        }
        Err(Error::InvalidCredentials) => {
            let msg = me.c.t("error-credentials");
            step_up_form(&s, &me, jar, Some(msg))
        }
        Err(_) => {
            let msg = me.c.t("error-code");
            step_up_form(&s, &me, jar, Some(msg))
        }
    }
}

fn totp_form(
    s: &AppState,
    me: &Signed,
    jar: CookieJar,
    en: &vestibule_engine::TotpEnrolment,
    name: &str,
    error: Option<String>,
) -> Response {
    let (jar, csrf) = form_token(s, jar);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = TotpPage {
        c: &me.c,
        csrf,
        factor_id: en.factor_id,
        // Groups of four are easier to type.
        secret: en
            .secret
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        qr_svg: en.qr_svg(),
        name: name.to_owned(),
        error: error.unwrap_or_default(),
    };
    (jar, render(status, &me.c, &page, &[])).into_response()
}

/// Start adding an authenticator app: the QR code and the secret, shown once.
#[utoipa::path(post, path = "/account/totp", tag = "pages",
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Scan the QR code, then enter a first code", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn totp_begin(
    State(s): State<AppState>,
    PageForm { jar, headers, .. }: PageForm<CsrfForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.begin_totp(&me.token, &me.c.brand.name).await {
        Ok(en) => totp_form(&s, &me, jar, &en, "", None),
        Err(e) => failed(&me.c, &e),
    }
}

#[derive(Deserialize, ToSchema)]
struct TotpConfirmForm {
    csrf: String,
    factor_id: Uuid,
    name: String,
    code: String,
}

/// Finish adding the app with its first code; the first factor shows the recovery codes.
#[utoipa::path(post, path = "/account/totp/confirm", tag = "pages",
    request_body(content = TotpConfirmForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Added: the recovery codes, shown once", content_type = "text/html", body = String),
        (status = 303, description = "Added (recovery codes already exist; back to the account center), or not signed in"),
        (status = 422, description = "The code was wrong: the page again", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn totp_confirm(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<TotpConfirmForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s
        .engine
        .confirm_totp(&me.token, f.factor_id, &f.code, &f.name)
        .await
    {
        Ok(Some(codes)) => render(StatusCode::OK, &me.c, &CodesPage { c: &me.c, codes }, &[]),
        Ok(None) => see_other("/account?done=factor-added"),
        Err(Error::InvalidInput { field: "code", .. }) => {
            match s
                .engine
                .pending_totp(&me.token, f.factor_id, &me.c.brand.name)
                .await
            {
                Ok(en) => {
                    let msg = me.c.t("error-code");
                    totp_form(&s, &me, jar, &en, &f.name, Some(msg))
                }
                Err(e) => failed(&me.c, &e),
            }
        }
        Err(e) => failed(&me.c, &e),
    }
}

/// New recovery codes (needs recent authentication); the old ones stop working.
#[utoipa::path(post, path = "/account/recovery-codes", tag = "pages",
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The new codes, shown once; or the step-up page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn recovery_codes(
    State(s): State<AppState>,
    PageForm { jar, headers, .. }: PageForm<CsrfForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.regenerate_recovery_codes(&me.token).await {
        Ok(codes) => render(StatusCode::OK, &me.c, &CodesPage { c: &me.c, codes }, &[]),
        Err(Error::StepUpRequired) => step_up_form(&s, &me, jar, None),
        Err(e) => failed(&me.c, &e),
    }
}

/// Remove a factor (needs recent authentication).
#[utoipa::path(post, path = "/account/factors/remove", tag = "pages",
    request_body(content = IdForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Removed, or not signed in (to the sign-in page)"),
        (status = 200, description = "The step-up page first", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn remove_factor(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<IdForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.remove_my_factor(&me.token, f.id).await {
        Ok(()) => see_other("/account?done=factor-removed"),
        Err(Error::StepUpRequired) => step_up_form(&s, &me, jar, None),
        Err(e) => failed(&me.c, &e),
    }
}

/// Sign out one of the customer's other devices.
#[utoipa::path(post, path = "/account/sessions/revoke", tag = "pages",
    request_body(content = IdForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed out there, or not signed in (to the sign-in page)"),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn revoke_session(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<IdForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.revoke_my_session(&me.token, f.id).await {
        Ok(()) => see_other("/account?done=session-ended"),
        Err(e) => failed(&me.c, &e),
    }
}

/// Sign out of this browser.
#[utoipa::path(post, path = "/account/sign-out", tag = "pages",
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Signed out", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn sign_out(
    State(s): State<AppState>,
    PageForm { jar, headers, .. }: PageForm<CsrfForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Err(e) = s.engine.sign_out(&me.token).await {
        return failed(&me.c, &e);
    }
    let (session_name, csrf_name) = cookie_names(&s);
    let jar = jar
        .add(cookie(&s, session_name, String::new(), true, 0))
        .add(cookie(&s, csrf_name, String::new(), false, 0));
    let page = super::message_links(
        StatusCode::OK,
        &me.c,
        me.c.t("logout-done-title"),
        vec![me.c.t("logout-done")],
        vec![("/signin", me.c.t("signin-submit"))],
    );
    (jar, page).into_response()
}

impl PostedForm for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for IdForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for StepUpForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for TotpConfirmForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
