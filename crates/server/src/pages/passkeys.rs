//! Passkeys on the hosted pages. Signing in: the sign-in page's script asks
//! `/signin/passkey/options` for a fresh ceremony (CSRF-checked, limited per IP like every
//! credential form), gives it to the browser (autofill or the button) and posts the answer
//! to `/signin/passkey` (or, in an authorization request, `/oauth2/signin/passkey`). Adding
//! one in the account center: `/account/passkeys/new` starts the ceremony (after a step-up
//! when the sign-in is not recent), the page's button makes the passkey and the answer is
//! posted to `/account/passkeys`. Renaming lives here too; removing is the account center's
//! factor removal.

use super::account::{Signed, failed, signed, step_up_form};
use super::hosted::see_other;
use super::{Chrome, PageForm, PostedForm, form_token, render};
use crate::AppState;
use crate::customer::session_cookies;
use crate::error::ApiError;
use crate::http::Ctx;
use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vestibule_engine::{Error, PasskeyCeremony};

/// Sign-in ceremonies and answers (limited per IP).
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_options))
        .routes(routes!(sign_in_submit))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_begin))
        .routes(routes!(register_finish))
        .routes(routes!(rename))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct CsrfOnly {
    csrf: String,
}

/// The browser's answer to a ceremony.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PasskeyForm {
    /// The authorization request's parameters (empty for the hosted sign-in).
    #[serde(default)]
    pub params: String,
    pub csrf: String,
    /// The ceremony from the options.
    pub ceremony: String,
    /// `PublicKeyCredential.toJSON()`, as JSON text.
    pub credential: String,
}

/// Why a passkey was not accepted, for the page (never whether an account exists).
pub(crate) fn passkey_error(c: &Chrome, e: &Error) -> String {
    match e {
        Error::InvalidInput {
            field: "ceremony", ..
        } => c.t("passkey-expired"),
        // Removed, from another site, or turned off as possibly copied.
        Error::InvalidInput {
            field: "passkey", ..
        } => c.t("passkey-unknown"),
        Error::InvalidInput { .. } | Error::InvalidCredentials => c.t("passkey-refused"),
        Error::NotConfigured(_) => c.t("passkey-unavailable"),
        other => super::signin::error_message(c, other),
    }
}

/// A fresh passkey sign-in ceremony for the sign-in page's script (JSON).
#[utoipa::path(post, path = "/signin/passkey/options", tag = "pages",
    request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The ceremony and the options for `navigator.credentials.get`", body = PasskeyCeremony),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this address", body = crate::error::ErrorBody),
        (status = 503, description = "Passkeys are not available on this server (an IP-address issuer)", body = crate::error::ErrorBody)))]
async fn sign_in_options(State(s): State<AppState>, _form: PageForm<CsrfOnly>) -> Response {
    match s.engine.begin_passkey_sign_in().await {
        Ok(c) => Json(c).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The hosted sign-in with a passkey: signed in, to the account center.
#[utoipa::path(post, path = "/signin/passkey", tag = "pages",
    request_body(content = PasskeyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in: to the account center"),
        (status = 401, description = "The sign-in page with what went wrong", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn sign_in_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        c, jar, form: f, ..
    }: PageForm<PasskeyForm>,
) -> Response {
    let result = s
        .engine
        .finish_passkey_sign_in(&f.ceremony, &f.credential, &ctx)
        .await;
    s.metrics
        .sign_in(result.as_ref().map_or_else(|e| e.code(), |_| "success"));
    match result {
        Ok(signed) => {
            let (jar, _) = session_cookies(&s, jar, &signed);
            let next = super::details::after_sign_in(&s, &signed.token, "/account").await;
            (jar, see_other(&next)).into_response()
        }
        Err(e) => {
            let msg = passkey_error(&c, &e);
            super::hosted::password_page(&s, &c, jar, Some(msg), "").await
        }
    }
}

/// The page that makes a passkey (its options ready for the button).
#[derive(Template)]
#[template(path = "passkey.html")]
struct CreatePage<'a> {
    c: &'a Chrome,
    csrf: String,
    ceremony: String,
    /// The creation options as JSON (an attribute, escaped by the template).
    options: String,
    name: String,
}

/// Start adding a passkey (a step-up first when the sign-in is not recent).
#[utoipa::path(post, path = "/account/passkeys/new", tag = "pages",
    request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The page that makes the passkey, or the step-up page first", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn register_begin(
    State(s): State<AppState>,
    PageForm { jar, headers, .. }: PageForm<CsrfOnly>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.begin_passkey_registration(&me.token).await {
        Ok(cer) => create_page(&s, &me, jar, &cer),
        Err(Error::StepUpRequired) => step_up_form(&s, &me, jar, None),
        Err(e) => failed(&me.c, &e),
    }
}

fn create_page(s: &AppState, me: &Signed, jar: CookieJar, cer: &PasskeyCeremony) -> Response {
    let (jar, csrf) = form_token(s, jar);
    let page = CreatePage {
        c: &me.c,
        csrf,
        ceremony: cer.ceremony.clone(),
        options: cer.options.to_string(),
        // "Chrome on Linux" is a good first name for a passkey made on this device.
        name: me.session.device.clone(),
    };
    (jar, render(StatusCode::OK, &me.c, &page, &[])).into_response()
}

#[derive(Deserialize, ToSchema)]
struct RegisterForm {
    csrf: String,
    ceremony: String,
    credential: String,
    name: String,
}

/// Finish adding a passkey with the browser's answer.
#[utoipa::path(post, path = "/account/passkeys", tag = "pages",
    request_body(content = RegisterForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Added (back to the account center), or not signed in (to the sign-in page)"),
        (status = 400, description = "The form is incomplete or the answer was refused: what to do next", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn register_finish(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<RegisterForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s
        .engine
        .finish_passkey_registration(&me.token, &f.ceremony, &f.credential, &f.name)
        .await
    {
        Ok(_) => see_other("/account?done=passkey-added"),
        Err(e) => {
            tracing::warn!(error = %e, "adding a passkey failed");
            super::message_links(
                StatusCode::BAD_REQUEST,
                &me.c,
                me.c.t("passkey-title"),
                vec![passkey_error(&me.c, &e)],
                vec![("/account", me.c.t("back-to-account"))],
            )
        }
    }
}

#[derive(Deserialize, ToSchema)]
struct RenameForm {
    csrf: String,
    id: Uuid,
    name: String,
}

/// Rename a passkey.
#[utoipa::path(post, path = "/account/passkeys/rename", tag = "pages",
    request_body(content = RenameForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Renamed (back to the account center), or not signed in"),
        (status = 400, description = "The form is incomplete or the name is not usable", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn rename(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<RenameForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.rename_my_passkey(&me.token, f.id, &f.name).await {
        Ok(()) => see_other("/account?done=passkey-renamed"),
        Err(e) => failed(&me.c, &e),
    }
}

impl PostedForm for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for PasskeyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for RegisterForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for RenameForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
