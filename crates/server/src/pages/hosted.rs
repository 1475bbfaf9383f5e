//! The hosted self-service pages: sign in (password, then a second factor when the account
//! has one) to the account center, sign up, confirm an email address (the emailed link opens
//! a page whose button confirms — mail scanners that fetch links confirm nothing), forgot and
//! reset password, confirm an email change. Every form is CSRF-protected; every answer that
//! takes an email address is the same whether or not it has an account.

use super::signin::{self, FactorForm, SignInPage};
use super::{Chrome, PageForm, PostedForm, chrome, form_token, message, message_links, render};
use crate::AppState;
use crate::customer::{cookie_names, session_cookies};
use crate::http::Ctx;
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vestibule_engine::{Error, RegisterInput, SignInStep};

/// The form posts that check a credential or take an email address (limited per IP).
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_submit))
        .routes(routes!(factor_submit))
        .routes(routes!(sign_up_submit))
        .routes(routes!(forgot_submit))
        .routes(routes!(reset_submit))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_page))
        .routes(routes!(factor_page))
        .routes(routes!(sign_up_page))
        .routes(routes!(verify_page, verify_submit))
        .routes(routes!(forgot_page))
        .routes(routes!(reset_page))
        .routes(routes!(email_change_page, email_change_submit))
}

pub(crate) fn see_other(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// A field of a [`SimpleForm`].
pub(crate) struct Field {
    pub id: &'static str,
    pub kind: &'static str,
    pub label: String,
    pub value: String,
    pub autocomplete: &'static str,
    pub hint: String,
    pub error: String,
    /// A choice instead of free text: (value, what the customer reads).
    pub options: Vec<(String, String)>,
}

/// One form with a heading (forgot, reset, confirm, step-up).
#[derive(Template)]
#[template(path = "simple_form.html")]
pub(crate) struct SimpleForm<'a> {
    pub c: &'a Chrome,
    pub title: String,
    pub lead: String,
    pub error: Option<String>,
    pub action: &'static str,
    pub csrf: String,
    pub hidden: Vec<(&'static str, String)>,
    pub fields: Vec<Field>,
    /// The organisation's own attributes (see [`super::details`]), after `fields`.
    pub attributes: Vec<super::details::AttrField>,
    pub submit: String,
    pub links: Vec<(&'static str, String)>,
}

fn session_of(s: &AppState, jar: &CookieJar) -> Option<String> {
    let (name, _) = cookie_names(s);
    jar.get(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

// ---- sign in ------------------------------------------------------------------------

pub(crate) async fn password_page(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    error: Option<String>,
    email: &str,
) -> Response {
    let (jar, csrf) = form_token(s, jar);
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let page = SignInPage {
        c,
        action: "/signin",
        passkey_action: "/signin/passkey",
        signup_href: "/signup".to_owned(),
        email_href: "/signin/email".to_owned(),
        client: None,
        params: String::new(),
        csrf,
        email: email.to_owned(),
        error,
        providers: super::social::buttons(s, "/account").await,
        shown: super::shown_now(s),
    };
    (jar, render(status, c, &page, &[])).into_response()
}

/// The hosted sign-in page (to the account center).
#[utoipa::path(get, path = "/signin", tag = "pages",
    responses((status = 200, description = "The sign-in page", content_type = "text/html", body = String),
        (status = 303, description = "Already signed in: to the account center")))]
async fn sign_in_page(State(s): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    if let Some(t) = session_of(&s, &jar)
        && s.engine.validate_session(&t).await.is_ok()
    {
        return see_other("/account");
    }
    let c = chrome(&s, &headers, None, None).await;
    password_page(&s, &c, jar, None, "").await
}

#[derive(Deserialize, ToSchema)]
struct SignInForm {
    csrf: String,
    email: String,
    password: String,
    /// When the page was made (its hidden field), for the risk engine's bot-timing signal.
    #[serde(default)]
    shown: Option<String>,
}

/// The hosted sign-in form: signed in (to the account center) or on to the second factor.
#[utoipa::path(post, path = "/signin", tag = "pages",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in: to the account center"),
        (status = 200, description = "The second-factor page", content_type = "text/html", body = String),
        (status = 401, description = "The sign-in page with what went wrong", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn sign_in_submit(
    State(s): State<AppState>,
    Ctx(mut ctx): Ctx,
    PageForm {
        c, jar, form: f, ..
    }: PageForm<SignInForm>,
) -> Response {
    ctx.form_ms = super::form_ms(&s, f.shown.as_deref());
    let result = s.engine.begin_sign_in(&f.email, &f.password, &ctx).await;
    s.metrics.sign_in(match &result {
        Ok(SignInStep::SignedIn(_)) => "success",
        Ok(SignInStep::SecondFactor(_)) => "second_factor",
        Err(e) => e.code(),
    });
    match result {
        Ok(step) => first_step_done(&s, &c, jar, step, "/account").await,
        Err(e) => {
            let msg = signin::error_message(&c, &e);
            password_page(&s, &c, jar, Some(msg), &f.email).await
        }
    }
}

/// A hosted sign-in's first step (password, emailed code, provider) is proven: signed in and
/// on to `return_to` (the account center, or an authorization request), or first the
/// authenticator app's code — for an authorization request the provider's own factor page,
/// which goes back to the client.
pub(crate) async fn first_step_done(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    step: SignInStep,
    return_to: &str,
) -> Response {
    match step {
        SignInStep::SignedIn(signed) => {
            let (jar, _) = session_cookies(s, jar, &signed);
            let next = super::details::after_sign_in(s, &signed.token, return_to).await;
            (jar, see_other(&next)).into_response()
        }
        SignInStep::SecondFactor(ch) => {
            let jar = signin::keep_challenge(s, jar, ch);
            match return_to.strip_prefix("/oauth2/authorize?") {
                Some(params) => crate::oidc::factor_for(s, c, jar, params).await,
                None => signin::factor_page(s, c, jar, "/signin/factor", "", false, None, &[]),
            }
        }
    }
}

/// Where a hosted flow may send the browser afterwards: a path on this server
/// ([`vestibule_engine::is_local_path`]), else the account center.
pub(crate) fn return_path(r: Option<&str>) -> String {
    r.filter(|r| vestibule_engine::is_local_path(r))
        .unwrap_or("/account")
        .to_owned()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MethodQuery {
    /// `recovery_code` for the recovery-code form.
    method: Option<String>,
}

/// The hosted second-factor page (switching between the app and a recovery code).
#[utoipa::path(get, path = "/signin/factor", tag = "pages", params(MethodQuery),
    responses((status = 200, description = "The second-factor page", content_type = "text/html", body = String),
        (status = 401, description = "No sign-in in progress: the sign-in page", content_type = "text/html", body = String)))]
async fn factor_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<MethodQuery>, QueryRejection>,
) -> Response {
    let c = chrome(&s, &headers, None, None).await;
    if signin::challenge(&s, &jar).is_none() {
        return password_page(&s, &c, jar, Some(c.t("error-challenge-ended")), "").await;
    }
    let recovery = q.is_ok_and(|Query(q)| q.method.as_deref() == Some("recovery_code"));
    signin::factor_page(&s, &c, jar, "/signin/factor", "", recovery, None, &[])
}

/// The hosted second-factor form.
#[utoipa::path(post, path = "/signin/factor", tag = "pages",
    request_body(content = FactorForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in: to the account center"),
        (status = 401, description = "A wrong code (the page again) or an ended sign-in (the sign-in page)", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn factor_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        c, jar, form: f, ..
    }: PageForm<FactorForm>,
) -> Response {
    let Some(ch) = signin::challenge(&s, &jar) else {
        return password_page(&s, &c, jar, Some(c.t("error-challenge-ended")), "").await;
    };
    let result = s.engine.complete_sign_in(&ch, &f.proof(), &ctx).await;
    s.metrics
        .sign_in(result.as_ref().map_or_else(|e| e.code(), |_| "success"));
    match result {
        Ok(signed) => {
            let (jar, _) = session_cookies(&s, jar, &signed);
            let jar = signin::drop_challenge(&s, jar);
            let next = super::details::after_sign_in(&s, &signed.token, "/account").await;
            (jar, see_other(&next)).into_response()
        }
        Err(Error::InvalidSession) => {
            let jar = signin::drop_challenge(&s, jar);
            password_page(&s, &c, jar, Some(c.t("error-challenge-ended")), "").await
        }
        Err(e) => {
            let msg = signin::factor_error(&c, &e, signin::is_emailed(&s, &jar));
            let recovery = f.method == "recovery_code";
            signin::factor_page(&s, &c, jar, "/signin/factor", "", recovery, Some(msg), &[])
        }
    }
}

// ---- sign up ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage<'a> {
    c: &'a Chrome,
    /// The authorization request's parameters when signing up for a client.
    params: String,
    /// That client's name.
    client: Option<String>,
    /// The "already have an account" link (the client's sign-in page when there is one).
    signin_href: String,
    csrf: String,
    error: Option<String>,
    display_name: String,
    email: String,
    name_error: String,
    email_error: String,
    password_error: String,
    /// The organisation's attributes asked at sign-up (optional fields).
    attributes: Vec<super::details::AttrField>,
    /// The purposes that need consent, one unticked box each, in the page's language.
    consents: Vec<ConsentField>,
    /// What the form showed (`purpose:version:locale`, comma-separated), posted back so
    /// the ledger records exactly that.
    consent_shown: String,
}

/// One purpose on the sign-up form.
pub(crate) struct ConsentField {
    pub purpose_id: String,
    pub title: String,
    pub body: String,
    pub checked: bool,
}

/// The purposes that need consent, each with its latest published text in `lang` (or
/// English, or the first there is): (purpose, version, locale, title, body).
pub(crate) async fn consent_texts(
    s: &AppState,
    lang: &str,
) -> Vec<(String, i64, String, String, String)> {
    let purposes = s.engine.consent_purposes().await.unwrap_or_default();
    purposes
        .into_iter()
        .filter(|p| p.consent_required)
        .filter_map(|p| {
            let v = p.latest?;
            let primary = lang.split('-').next().unwrap_or(lang);
            let t = v
                .texts
                .iter()
                .find(|t| t.locale == lang)
                .or_else(|| v.texts.iter().find(|t| t.locale == primary))
                .or_else(|| v.texts.iter().find(|t| t.locale == "en"))
                .or_else(|| v.texts.first())?
                .clone();
            Some((p.id, v.version, t.locale, t.title, t.body))
        })
        .collect()
}

/// A consent form's boxes for `texts` (ticked as in `posted`, when the form comes back) and
/// what it shows (`purpose:version:locale`, comma-separated) — what [`posted_consents`] reads.
pub(crate) fn consent_form(
    texts: Vec<(String, i64, String, String, String)>,
    posted: &std::collections::HashMap<String, String>,
) -> (Vec<ConsentField>, String) {
    let shown = texts
        .iter()
        .map(|(p, v, l, _, _)| format!("{p}:{v}:{l}"))
        .collect::<Vec<_>>()
        .join(",");
    let fields = texts
        .into_iter()
        .map(|(purpose_id, _, _, title, body)| ConsentField {
            checked: posted.contains_key(&format!("consent_{purpose_id}")),
            purpose_id,
            title,
            body,
        })
        .collect();
    (fields, shown)
}

/// The answers a consent form posted: every purpose it showed, ticked or not.
pub(crate) fn posted_consents(
    values: &std::collections::HashMap<String, String>,
) -> Vec<vestibule_engine::consent::ConsentAnswer> {
    values
        .get("consent_shown")
        .map(String::as_str)
        .unwrap_or_default()
        .split(',')
        .filter_map(|item| {
            let mut parts = item.splitn(3, ':');
            let (purpose, version, locale) = (parts.next()?, parts.next()?, parts.next()?);
            Some(vestibule_engine::consent::ConsentAnswer {
                purpose_id: purpose.to_owned(),
                version: version.parse().ok()?,
                locale: locale.to_owned(),
                granted: values.contains_key(&format!("consent_{purpose}")),
            })
        })
        .collect()
}

#[derive(Deserialize, ToSchema, Default)]
pub(crate) struct SignUpForm {
    /// The authorization request's parameters, when signing up for a client.
    #[serde(default)]
    pub params: String,
    pub csrf: String,
    pub display_name: String,
    pub email: String,
    pub password: String,
    /// The organisation's attributes asked at sign-up, as `attr_<name>` fields.
    #[serde(flatten)]
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub values: std::collections::HashMap<String, String>,
}

/// The attributes the sign-up form asks for.
async fn sign_up_attributes(s: &AppState) -> Vec<vestibule_engine::AttributeDefinition> {
    s.engine
        .attribute_definitions()
        .await
        .map(|d| {
            d.definitions
                .into_iter()
                .filter(|d| d.ask == vestibule_engine::AttributeAsk::SignUp)
                .collect()
        })
        .unwrap_or_default()
}

/// The sign-up page; `client` is the client's name and sign-in page when an authorization
/// request is carried along.
pub(crate) async fn sign_up_form(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    f: &SignUpForm,
    error: Option<&Error>,
    attr_errors: &std::collections::HashMap<String, String>,
    client: Option<(String, String)>,
) -> Response {
    let attributes = super::details::fields(
        c,
        &sign_up_attributes(s).await,
        &serde_json::json!({}),
        Some(&f.values),
        attr_errors,
    );
    let (jar, csrf) = form_token(s, jar);
    let (mut name_error, mut email_error, mut password_error, mut other) =
        (String::new(), String::new(), String::new(), None);
    match error {
        Some(Error::InvalidInput { field, message }) => match *field {
            "display_name" => name_error = message.clone(),
            "email" => email_error = c.t("error-email"),
            "password" => password_error = message.clone(),
            _ => other = Some(message.clone()),
        },
        Some(Error::WeakPassword(m)) => password_error = m.clone(),
        Some(e) => other = Some(signin::error_message(c, e)),
        None => {}
    }
    let status = if error.is_some() || !attr_errors.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (client, signin_href) = match client {
        Some((name, href)) => (Some(name), href),
        None => (None, "/signin".to_owned()),
    };
    let (consents, consent_shown) = consent_form(consent_texts(s, &c.lang).await, &f.values);
    let page = SignUpPage {
        c,
        consents,
        consent_shown,
        params: f.params.clone(),
        client,
        signin_href,
        csrf,
        error: other,
        display_name: f.display_name.clone(),
        email: f.email.clone(),
        name_error,
        email_error,
        password_error,
        attributes,
    };
    (jar, render(status, c, &page, &[])).into_response()
}

/// The sign-up page.
#[utoipa::path(get, path = "/signup", tag = "pages",
    responses((status = 200, description = "The sign-up page", content_type = "text/html", body = String)))]
async fn sign_up_page(State(s): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    let c = chrome(&s, &headers, None, None).await;
    sign_up_form(
        &s,
        &c,
        jar,
        &SignUpForm::default(),
        None,
        &Default::default(),
        None,
    )
    .await
}

/// The sign-up form: the same answer (check your email) whether or not the address has an
/// account; a known address gets an email saying so instead.
#[utoipa::path(post, path = "/signup", tag = "pages",
    request_body(content = SignUpForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Check your email", content_type = "text/html", body = String),
        (status = 422, description = "The form again, with each field's problem", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn sign_up_submit(
    State(s): State<AppState>,
    Ctx(mut ctx): Ctx,
    PageForm {
        c, jar, form: f, ..
    }: PageForm<SignUpForm>,
) -> Response {
    // Signing up for a client: the way back to its sign-in, once the address is confirmed.
    let client = if f.params.is_empty() {
        None
    } else {
        ctx.client = crate::oidc::client_of(&s, &c, &f.params).await;
        crate::oidc::signin_for(&s, &c, &f.params).await
    };
    let defs = sign_up_attributes(&s).await;
    let attributes =
        match super::details::apply(&c, &defs, &serde_json::json!({}), &f.values, false) {
            Ok(doc) => doc,
            Err(errors) => return sign_up_form(&s, &c, jar, &f, None, &errors, client).await,
        };
    let input = RegisterInput {
        email: f.email.clone(),
        password: f.password.clone(),
        display_name: f.display_name.clone(),
        locale: Some(c.lang.clone()),
        attributes: Some(attributes),
        consents: posted_consents(&f.values),
        ..Default::default()
    };
    match s.engine.register(input, &ctx).await {
        Ok(()) => {
            let mut paragraphs = vec![
                c.t1("signup-check-email", "email", f.email.trim()),
                c.t("check-email-spam"),
            ];
            let links = match client {
                Some((name, href)) => {
                    paragraphs.push(c.t1("signup-then-continue", "client", &name));
                    vec![(href, c.t1("signup-continue", "client", &name))]
                }
                None => vec![],
            };
            message_links(
                StatusCode::OK,
                &c,
                c.t("check-email-title"),
                paragraphs,
                links,
            )
        }
        Err(e) => sign_up_form(&s, &c, jar, &f, Some(&e), &Default::default(), client).await,
    }
}

// ---- links from emails: verify, reset, email change ---------------------------------

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TokenQuery {
    /// The token from the emailed link.
    token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct TokenForm {
    pub csrf: String,
    pub token: String,
}

/// The token of an emailed link, if it has one.
pub(crate) fn link_token(q: Result<Query<TokenQuery>, QueryRejection>) -> Option<String> {
    q.ok()
        .and_then(|Query(q)| q.token)
        .filter(|t| !t.is_empty())
}

/// A page whose only form posts the link's token (a GET changes nothing); a link without
/// one gets the "link does not work" page.
pub(crate) fn confirm_page(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    action: &'static str,
    token: Option<String>,
    [title, lead, submit]: [String; 3],
) -> Response {
    let Some(token) = token else {
        return link_invalid(c);
    };
    let (jar, csrf) = form_token(s, jar);
    let page = SimpleForm {
        c,
        title,
        lead,
        error: None,
        action,
        csrf,
        hidden: vec![("token", token)],
        fields: vec![],
        attributes: vec![],
        submit,
        links: vec![],
    };
    (jar, render(StatusCode::OK, c, &page, &[])).into_response()
}

pub(crate) fn link_invalid(c: &Chrome) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        c,
        c.t("link-invalid-title"),
        Some(c.t("link-invalid")),
        vec![c.t("link-invalid-next")],
    )
}

/// The email-verification link: a page with a button (mail scanners do not press it).
#[utoipa::path(get, path = "/verify", tag = "pages", params(TokenQuery),
    responses((status = 200, description = "Confirm your address", content_type = "text/html", body = String),
        (status = 400, description = "No token in the link", content_type = "text/html", body = String)))]
async fn verify_page(
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
        "/verify",
        link_token(q),
        [
            c.t("verify-title"),
            c.t("verify-lead"),
            c.t("verify-submit"),
        ],
    )
}

/// Confirm the email address.
#[utoipa::path(post, path = "/verify", tag = "pages",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Confirmed", content_type = "text/html", body = String),
        (status = 400, description = "The link is invalid or expired, or the form incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn verify_submit(
    State(s): State<AppState>,
    PageForm { c, form: f, .. }: PageForm<TokenForm>,
) -> Response {
    match s.engine.verify_email(&f.token).await {
        Ok(()) => message_links(
            StatusCode::OK,
            &c,
            c.t("verified-title"),
            vec![c.t("verified")],
            vec![("/signin", c.t("signin-submit"))],
        ),
        Err(Error::InvalidToken) => link_invalid(&c),
        Err(e) => message(
            StatusCode::BAD_REQUEST,
            &c,
            c.t("link-invalid-title"),
            Some(signin::error_message(&c, &e)),
            vec![],
        ),
    }
}

/// The email-change confirmation link: a page with a button.
#[utoipa::path(get, path = "/verify-email-change", tag = "pages", params(TokenQuery),
    responses((status = 200, description = "Confirm the new address", content_type = "text/html", body = String),
        (status = 400, description = "No token in the link", content_type = "text/html", body = String)))]
async fn email_change_page(
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
        "/verify-email-change",
        link_token(q),
        [
            c.t("email-change-title"),
            c.t("email-change-lead"),
            c.t("verify-submit"),
        ],
    )
}

/// Confirm the new email address.
#[utoipa::path(post, path = "/verify-email-change", tag = "pages",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Changed", content_type = "text/html", body = String),
        (status = 400, description = "The link is invalid or expired, or the form incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn email_change_submit(
    State(s): State<AppState>,
    PageForm { c, form: f, .. }: PageForm<TokenForm>,
) -> Response {
    match s.engine.confirm_email_change(&f.token).await {
        Ok(()) => message(
            StatusCode::OK,
            &c,
            c.t("email-changed-title"),
            None,
            vec![c.t("email-changed")],
        ),
        Err(_) => link_invalid(&c),
    }
}

// ---- forgot and reset ---------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
struct ForgotForm {
    csrf: String,
    email: String,
}

/// A page that asks for an email address and nothing else (forgot password, email me a
/// sign-in code): `[title, lead, submit]`, where it posts, and the address so far.
pub(crate) fn address_form(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    action: &'static str,
    [title, lead, submit]: [String; 3],
    email: &str,
    hidden: Vec<(&'static str, String)>,
) -> Response {
    let (jar, csrf) = form_token(s, jar);
    let page = SimpleForm {
        c,
        title,
        lead,
        error: None,
        action,
        csrf,
        hidden,
        fields: vec![Field {
            id: "email",
            kind: "email",
            label: c.t("field-email"),
            value: email.to_owned(),
            autocomplete: "username",
            hint: String::new(),
            error: String::new(),
            options: vec![],
        }],
        attributes: vec![],
        submit,
        links: vec![("/signin", c.t("back-to-signin"))],
    };
    (jar, render(StatusCode::OK, c, &page, &[])).into_response()
}

fn forgot_form(s: &AppState, c: &Chrome, jar: CookieJar, email: &str) -> Response {
    let texts = [
        c.t("forgot-title"),
        c.t("forgot-lead"),
        c.t("forgot-submit"),
    ];
    address_form(s, c, jar, "/forgot", texts, email, vec![])
}

/// Forgot password: ask for a reset link.
#[utoipa::path(get, path = "/forgot", tag = "pages",
    responses((status = 200, description = "The forgot-password page", content_type = "text/html", body = String)))]
async fn forgot_page(State(s): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    let c = chrome(&s, &headers, None, None).await;
    forgot_form(&s, &c, jar, "")
}

/// Send a reset link: the same answer whether or not the address has an account.
#[utoipa::path(post, path = "/forgot", tag = "pages",
    request_body(content = ForgotForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Check your email", content_type = "text/html", body = String),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests", body = crate::error::ErrorBody)))]
async fn forgot_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm { c, form: f, .. }: PageForm<ForgotForm>,
) -> Response {
    match s.engine.request_password_reset(&f.email, &ctx).await {
        Ok(()) => message(
            StatusCode::OK,
            &c,
            c.t("check-email-title"),
            None,
            vec![
                c.t1("forgot-check-email", "email", f.email.trim()),
                c.t("check-email-spam"),
            ],
        ),
        Err(e) => message(
            StatusCode::SERVICE_UNAVAILABLE,
            &c,
            c.t("forgot-title"),
            Some(signin::error_message(&c, &e)),
            vec![],
        ),
    }
}

fn reset_form(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    token: &str,
    error: Option<&Error>,
) -> Response {
    let (jar, csrf) = form_token(s, jar);
    let field_error = match error {
        Some(Error::WeakPassword(m)) => m.clone(),
        Some(Error::InvalidInput { message, .. }) => message.clone(),
        _ => String::new(),
    };
    let page = SimpleForm {
        c,
        title: c.t("reset-title"),
        lead: c.t("reset-lead"),
        error: None,
        action: "/reset",
        csrf,
        hidden: vec![("token", token.to_owned())],
        fields: vec![Field {
            id: "password",
            kind: "password",
            label: c.t("field-new-password"),
            value: String::new(),
            autocomplete: "new-password",
            hint: c.t("field-new-password-hint"),
            error: field_error,
            options: vec![],
        }],
        attributes: vec![],
        submit: c.t("reset-submit"),
        links: vec![],
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (jar, render(status, c, &page, &[])).into_response()
}

/// The reset link: choose a new password (without a token: the forgot-password page).
#[utoipa::path(get, path = "/reset", tag = "pages", params(TokenQuery),
    responses((status = 200, description = "Choose a new password", content_type = "text/html", body = String)))]
async fn reset_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<TokenQuery>, QueryRejection>,
) -> Response {
    let c = chrome(&s, &headers, None, None).await;
    match link_token(q) {
        Some(token) => reset_form(&s, &c, jar, &token, None),
        None => forgot_form(&s, &c, jar, ""),
    }
}

#[derive(Deserialize, ToSchema)]
struct ResetForm {
    csrf: String,
    token: String,
    password: String,
}

/// Set the new password (every session of the account ends).
#[utoipa::path(post, path = "/reset", tag = "pages",
    request_body(content = ResetForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Changed: sign in with the new password", content_type = "text/html", body = String),
        (status = 400, description = "The link is invalid or expired, or the form incomplete", content_type = "text/html", body = String),
        (status = 422, description = "The password was refused: the form again", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests", body = crate::error::ErrorBody)))]
async fn reset_submit(
    State(s): State<AppState>,
    PageForm {
        c, jar, form: f, ..
    }: PageForm<ResetForm>,
) -> Response {
    match s.engine.confirm_password_reset(&f.token, &f.password).await {
        Ok(()) => message_links(
            StatusCode::OK,
            &c,
            c.t("reset-done-title"),
            vec![c.t("reset-done")],
            vec![("/signin", c.t("signin-submit"))],
        ),
        Err(Error::InvalidToken) => link_invalid(&c),
        Err(e) => reset_form(&s, &c, jar, &f.token, Some(&e)),
    }
}

impl PostedForm for ForgotForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for ResetForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for SignInForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for SignUpForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for TokenForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
