//! Signing in with an emailed code or magic link (hosted pages). `/signin/email` asks for
//! the address and answers the same for any (the engine defers the lookup and the email);
//! the browser keeps the request's binding in an HttpOnly, `SameSite=Strict` cookie for its
//! ten minutes, so the code and the link work only where they were asked for. The link's page
//! shows a button and only the button's post signs in (mail scanners open links). A customer
//! with an authenticator app goes on to its code, as after a password.

use super::hosted::{
    Field, SimpleForm, TokenForm, TokenQuery, confirm_page, link_token, return_path,
};
use super::signin;
use super::{Chrome, PageForm, PostedForm, chrome, form_token, message, render};
use crate::AppState;
use crate::http::Ctx;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vestibule_engine::{EMAIL_SIGN_IN_TTL, EmailProof, Error, SignInStep};

/// The posts that take an address or check a code (limited per IP).
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_submit))
        .routes(routes!(code_submit))
        .routes(routes!(link_submit))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_page))
        .routes(routes!(link_page))
}

const BINDING_COOKIE: &str = "__Host-vestibule_email_sign_in";
const DEV_BINDING_COOKIE: &str = "vestibule_email_sign_in";

const NAMES: (&str, &str) = (BINDING_COOKIE, DEV_BINDING_COOKIE);
/// Where to go once signed in (an authorization request, or the account center), kept beside
/// the binding for the same ten minutes.
const RETURN_NAMES: (&str, &str) = ("__Host-vestibule_email_return", "vestibule_email_return");

fn binding_cookie(s: &AppState, value: String, max_age: i64) -> Cookie<'static> {
    super::binding_cookie(s, NAMES, SameSite::Strict, value, max_age)
}

fn binding(s: &AppState, jar: &CookieJar) -> Option<String> {
    super::binding_of(s, jar, NAMES)
}

fn request_form(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    email: &str,
    return_to: &str,
) -> Response {
    let texts = [
        c.t("email-signin-title"),
        c.t("email-signin-lead"),
        c.t("email-signin-submit"),
    ];
    super::hosted::address_form(
        s,
        c,
        jar,
        "/signin/email",
        texts,
        email,
        vec![("return_to", return_to.to_owned())],
    )
}

fn code_form(s: &AppState, c: &Chrome, jar: CookieJar, error: Option<String>) -> Response {
    let (jar, csrf) = form_token(s, jar);
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let page = SimpleForm {
        c,
        title: c.t("email-code-title"),
        lead: c.t("email-code-lead"),
        error: None,
        action: "/signin/email/code",
        csrf,
        hidden: vec![],
        fields: vec![Field {
            id: "code",
            kind: "text",
            label: c.t("field-email-code"),
            value: String::new(),
            autocomplete: "one-time-code",
            hint: c.t("email-code-hint"),
            error: error.unwrap_or_default(),
            options: vec![],
        }],
        attributes: vec![],
        submit: c.t("signin-submit"),
        links: vec![
            ("/signin/email", c.t("email-code-again")),
            ("/signin", c.t("back-to-signin")),
        ],
    };
    (jar, render(status, c, &page, &[])).into_response()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReturnQuery {
    /// A path on this server to go on to once signed in (an authorization request).
    return_to: Option<String>,
}

/// Ask for a sign-in code by email.
#[utoipa::path(get, path = "/signin/email", tag = "pages", params(ReturnQuery),
    responses((status = 200, description = "The page that asks for the address", content_type = "text/html", body = String)))]
async fn request_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<ReturnQuery>, QueryRejection>,
) -> Response {
    let c = chrome(&s, &headers, None, None).await;
    let back = return_path(q.ok().and_then(|Query(q)| q.return_to).as_deref());
    request_form(&s, &c, jar, "", &back)
}

#[derive(Deserialize, ToSchema)]
struct RequestForm {
    csrf: String,
    email: String,
    #[serde(default)]
    return_to: Option<String>,
}

/// Send the code: the same answer for any address.
#[utoipa::path(post, path = "/signin/email", tag = "pages",
    request_body(content = RequestForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Enter the code from the email", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests", body = crate::error::ErrorBody)))]
async fn request_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        c, jar, form: f, ..
    }: PageForm<RequestForm>,
) -> Response {
    match s.engine.request_email_sign_in(&f.email, &ctx).await {
        Ok(asked) => {
            let jar = jar
                .add(binding_cookie(
                    &s,
                    asked.binding,
                    EMAIL_SIGN_IN_TTL.num_seconds(),
                ))
                .add(super::binding_cookie(
                    &s,
                    RETURN_NAMES,
                    SameSite::Strict,
                    return_path(f.return_to.as_deref()),
                    EMAIL_SIGN_IN_TTL.num_seconds(),
                ));
            code_form(&s, &c, jar, None)
        }
        Err(e) => message(
            StatusCode::SERVICE_UNAVAILABLE,
            &c,
            c.t("email-signin-title"),
            Some(signin::error_message(&c, &e)),
            vec![],
        ),
    }
}

/// Where an email sign-in leads: where the customer was going (the account center, or the
/// client of an authorization request), or first the authenticator app's code.
async fn finished(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    result: Result<SignInStep, Error>,
    again: impl FnOnce(&Chrome, CookieJar, String) -> Response,
) -> Response {
    s.metrics.sign_in(match &result {
        Ok(SignInStep::SignedIn(_)) => "success",
        Ok(SignInStep::SecondFactor(_)) => "second_factor",
        Err(e) => e.code(),
    });
    match result {
        Ok(step) => {
            let back = return_path(super::binding_of(s, &jar, RETURN_NAMES).as_deref());
            let jar = jar
                .add(binding_cookie(s, String::new(), 0))
                .add(super::binding_cookie(
                    s,
                    RETURN_NAMES,
                    SameSite::Strict,
                    String::new(),
                    0,
                ));
            super::hosted::first_step_done(s, c, jar, step, &back).await
        }
        Err(Error::InvalidInput { .. }) => again(c, jar, c.t("error-email-code")),
        Err(Error::InvalidToken) => again(c, jar, c.t("error-email-link")),
        Err(e) => {
            let msg = signin::error_message(c, &e);
            again(c, jar, msg)
        }
    }
}

#[derive(Deserialize, ToSchema)]
struct CodeForm {
    csrf: String,
    code: String,
}

/// Sign in with the code from the email.
#[utoipa::path(post, path = "/signin/email/code", tag = "pages",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in: to the account center"),
        (status = 200, description = "The authenticator app's code next", content_type = "text/html", body = String),
        (status = 401, description = "A wrong or spent code: the page again", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn code_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        c, jar, form: f, ..
    }: PageForm<CodeForm>,
) -> Response {
    let result = match binding(&s, &jar) {
        Some(b) => {
            s.engine
                .finish_email_sign_in(&b, &EmailProof::Code(f.code), &ctx)
                .await
        }
        None => Err(Error::InvalidInput {
            field: "code",
            message: "no code was asked for in this browser".into(),
        }),
    };
    finished(&s, &c, jar, result, |c, jar, msg| {
        code_form(&s, c, jar, Some(msg))
    })
    .await
}

/// The magic link: a page with a button (opening the link signs no one in).
#[utoipa::path(get, path = "/signin/email/link", tag = "pages", params(TokenQuery),
    responses((status = 200, description = "Sign in with the link", content_type = "text/html", body = String),
        (status = 400, description = "No token in the link", content_type = "text/html", body = String)))]
async fn link_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<TokenQuery>, QueryRejection>,
) -> Response {
    let c = chrome(&s, &headers, None, None).await;
    confirm_page(
        &s,
        &c,
        jar,
        "/signin/email/link",
        link_token(q),
        [
            c.t("email-link-title"),
            c.t("email-link-lead"),
            c.t("signin-submit"),
        ],
    )
}

/// Sign in with the link (its button).
#[utoipa::path(post, path = "/signin/email/link", tag = "pages",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in: to the account center"),
        (status = 200, description = "The authenticator app's code next", content_type = "text/html", body = String),
        (status = 401, description = "The link is spent, expired or was asked for in another browser: what to do", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn link_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        c, jar, form: f, ..
    }: PageForm<TokenForm>,
) -> Response {
    let result = match binding(&s, &jar) {
        Some(b) => {
            s.engine
                .finish_email_sign_in(&b, &EmailProof::Link(f.token), &ctx)
                .await
        }
        None => Err(Error::InvalidToken),
    };
    finished(&s, &c, jar, result, |c, jar, msg| {
        let page = super::message_links(
            StatusCode::UNAUTHORIZED,
            c,
            c.t("email-link-title"),
            vec![msg],
            vec![("/signin/email", c.t("email-code-again"))],
        );
        (jar, page).into_response()
    })
    .await
}

impl PostedForm for RequestForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for CodeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
