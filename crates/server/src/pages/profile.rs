//! The account center's own details: the profile (name, phone, language), changing the email
//! address (a link to the new address; it changes when confirmed) and the password (the
//! current one first; other devices are signed out), and the apps the customer has signed in
//! to, each of which can lose its access. Each is a page of its own with errors tied to their
//! fields; changes that need recent authentication go through the step-up page.

use super::account::{Signed, failed, signed, step_up_form};
use super::hosted::{Field, SimpleForm, see_other};
use super::{Chrome, PageForm, PostedForm, form_token, render};
use crate::AppState;
use crate::http::Ctx;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vestibule_engine::{AttributeDefinition, Error, ProfilePatch};

/// The changes that check the current password (limited per IP).
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(email_submit))
        .routes(routes!(password_submit))
        .routes(routes!(verify_submit))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(profile_page, profile_submit))
        .routes(routes!(email_page))
        .routes(routes!(password_page))
        .routes(routes!(revoke_app))
        .routes(routes!(verify_page))
}

/// Which field an engine error is about, and what to say there.
fn field_error(c: &Chrome, e: &Error) -> (&'static str, String) {
    match e {
        // The new address's own checks name it `email`; on these pages it is `new_email`.
        Error::InvalidInput {
            field: "email",
            message,
        } => ("new_email", message.clone()),
        Error::InvalidInput { field, message } => (field, message.clone()),
        Error::WeakPassword(m) => ("new_password", m.clone()),
        Error::InvalidCredentials => ("password", c.t("error-password")),
        Error::EmailInUse => ("new_email", e.to_string()),
        other => ("", super::signin::error_message(c, other)),
    }
}

#[allow(clippy::too_many_arguments)]
fn form(
    s: &AppState,
    me: &Signed,
    jar: CookieJar,
    texts: [String; 3],
    action: &'static str,
    hidden: Vec<(&'static str, String)>,
    mut fields: Vec<Field>,
    attributes: Vec<super::details::AttrField>,
    e: Option<&Error>,
) -> Response {
    // The error goes to the field it is about; one about none of them heads the form.
    let mut error = None;
    if let Some(e) = e {
        let (field, msg) = field_error(&me.c, e);
        match fields.iter_mut().find(|f| f.id == field) {
            Some(f) => f.error = msg,
            None => error = Some(msg),
        }
    }
    let (jar, csrf) = form_token(s, jar);
    let status = if error.is_some() || fields.iter().any(|f| !f.error.is_empty()) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let [title, lead, submit] = texts;
    let page = SimpleForm {
        c: &me.c,
        title,
        lead,
        error,
        action,
        csrf,
        hidden,
        fields,
        attributes,
        submit,
        links: vec![("/account", me.c.t("back-to-account"))],
    };
    (jar, render(status, &me.c, &page, &[])).into_response()
}

#[allow(clippy::too_many_arguments)]
fn profile_form(
    s: &AppState,
    me: &Signed,
    jar: CookieJar,
    input: Option<&ProfileForm>,
    e: Option<&Error>,
    defs: &[AttributeDefinition],
    attr_errors: &HashMap<String, String>,
) -> Response {
    let c = &me.c;
    let v =
        |given: Option<&String>, stored: &str| given.cloned().unwrap_or_else(|| stored.to_owned());
    let locale = v(input.map(|i| &i.locale), &me.customer.locale);
    // The languages the pages speak; a stored one they do not (set through the API) stays
    // choosable, so saving the form never changes it unasked.
    let mut languages: Vec<(String, String)> = vec![
        ("en".into(), "English".into()),
        ("de".into(), "Deutsch".into()),
    ];
    if !languages.iter().any(|(code, _)| *code == locale) {
        languages.insert(0, (locale.clone(), locale.clone()));
    }
    let fields = vec![
        Field {
            id: "display_name",
            kind: "text",
            label: c.t("field-name"),
            value: v(input.map(|i| &i.display_name), &me.customer.display_name),
            autocomplete: "name",
            hint: String::new(),
            error: String::new(),
            options: vec![],
        },
        Field {
            id: "phone",
            kind: "tel",
            label: c.t("field-phone"),
            value: v(
                input.map(|i| &i.phone),
                me.customer.phone.as_deref().unwrap_or(""),
            ),
            autocomplete: "tel",
            hint: c.t("field-phone-hint"),
            error: String::new(),
            options: vec![],
        },
        Field {
            id: "locale",
            kind: "text",
            label: c.t("field-locale"),
            value: locale.clone(),
            autocomplete: "language",
            hint: c.t("field-locale-hint"),
            error: String::new(),
            options: languages,
        },
    ];
    let attributes = super::details::fields(
        c,
        defs,
        &me.customer.attributes,
        input.map(|i| &i.values),
        attr_errors,
    );
    let mut page = form(
        s,
        me,
        jar,
        [
            c.t("profile-title"),
            c.t("profile-lead"),
            c.t("account-save"),
        ],
        "/account/profile",
        vec![("version", me.customer.version.to_string())],
        fields,
        attributes,
        e,
    );
    if !attr_errors.is_empty() {
        *page.status_mut() = StatusCode::BAD_REQUEST;
    }
    page
}

/// The attributes customers may edit.
async fn editable(s: &AppState) -> Vec<AttributeDefinition> {
    s.engine
        .attribute_definitions()
        .await
        .map(|d| {
            d.definitions
                .into_iter()
                .filter(|d| d.customer_editable)
                .collect()
        })
        .unwrap_or_default()
}

/// The profile form.
#[utoipa::path(get, path = "/account/profile", tag = "pages",
    responses((status = 200, description = "The profile form", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")))]
async fn profile_page(State(s): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    match signed(&s, &jar, &headers).await {
        Ok(me) => {
            let defs = editable(&s).await;
            profile_form(&s, &me, jar, None, None, &defs, &HashMap::new())
        }
        Err(r) => r,
    }
}

#[derive(Deserialize, ToSchema)]
struct ProfileForm {
    csrf: String,
    /// The profile's version when the form was shown (a number).
    version: String,
    display_name: String,
    #[serde(default)]
    phone: String,
    locale: String,
    /// The organisation's attributes, as `attr_<name>` fields.
    #[serde(flatten)]
    #[schema(value_type = HashMap<String, String>)]
    values: HashMap<String, String>,
}

/// Save the profile.
#[utoipa::path(post, path = "/account/profile", tag = "pages",
    request_body(content = ProfileForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Saved: the account center (or not signed in: the sign-in page)"),
        (status = 400, description = "A field is not valid, the form is incomplete, or someone else changed the profile meanwhile: the form again", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn profile_submit(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<ProfileForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let defs = editable(&s).await;
    let attributes =
        match super::details::apply(&me.c, &defs, &me.customer.attributes, &f.values, true) {
            Ok(doc) => (doc != me.customer.attributes).then_some(doc),
            Err(errors) => return profile_form(&s, &me, jar, Some(&f), None, &defs, &errors),
        };
    let patch = ProfilePatch {
        display_name: Some(f.display_name.clone()),
        phone: Some(f.phone.clone()),
        locale: Some(f.locale.clone()),
        attributes,
        ..Default::default()
    };
    // A stale form is a conflict like any other (the engine compares versions).
    let version = f.version.trim().parse().unwrap_or(-1);
    match s.engine.update_my_profile(&me.token, version, patch).await {
        Ok(_) => see_other("/account?done=profile-saved"),
        Err(e) => profile_form(&s, &me, jar, Some(&f), Some(&e), &defs, &HashMap::new()),
    }
}

fn email_form(
    s: &AppState,
    me: &Signed,
    jar: CookieJar,
    new_email: &str,
    e: Option<&Error>,
) -> Response {
    let c = &me.c;
    let fields = vec![
        Field {
            id: "new_email",
            kind: "email",
            label: c.t("field-new-email"),
            value: new_email.to_owned(),
            autocomplete: "email",
            hint: String::new(),
            error: String::new(),
            options: vec![],
        },
        Field {
            id: "password",
            kind: "password",
            label: c.t("field-current-password"),
            value: String::new(),
            autocomplete: "current-password",
            hint: String::new(),
            error: String::new(),
            options: vec![],
        },
    ];
    form(
        s,
        me,
        jar,
        [
            c.t("email-new-title"),
            c.t1("email-new-lead", "email", &me.customer.email),
            c.t("email-new-submit"),
        ],
        "/account/email",
        vec![],
        fields,
        vec![],
        e,
    )
}

/// The email-change form.
#[utoipa::path(get, path = "/account/email", tag = "pages",
    responses((status = 200, description = "The email-change form", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")))]
async fn email_page(State(s): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    match signed(&s, &jar, &headers).await {
        Ok(me) => email_form(&s, &me, jar, "", None),
        Err(r) => r,
    }
}

#[derive(Deserialize, ToSchema)]
struct EmailForm {
    csrf: String,
    new_email: String,
    password: String,
}

/// Ask to change the email address: a link goes to the new address.
#[utoipa::path(post, path = "/account/email", tag = "pages",
    request_body(content = EmailForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Asked: the account center says to check the new inbox (or not signed in: the sign-in page)"),
        (status = 200, description = "Confirm it is you first (recent sign-in or second factor)", content_type = "text/html", body = String),
        (status = 400, description = "A field is not valid, the password is wrong, or the form is incomplete: the form again", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody),
        (status = 503, description = "At hashing capacity", body = crate::error::ErrorBody)))]
async fn email_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<EmailForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s
        .engine
        .change_email(&me.token, &f.password, &f.new_email, &ctx)
        .await
    {
        Ok(()) => see_other("/account?done=email-sent"),
        Err(Error::StepUpRequired) => step_up_form(&s, &me, jar, None),
        Err(Error::InvalidSession) => see_other("/signin"),
        Err(e) => email_form(&s, &me, jar, &f.new_email, Some(&e)),
    }
}

fn password_form(s: &AppState, me: &Signed, jar: CookieJar, e: Option<&Error>) -> Response {
    let c = &me.c;
    let fields = vec![
        Field {
            id: "password",
            kind: "password",
            label: c.t("field-current-password"),
            value: String::new(),
            autocomplete: "current-password",
            hint: String::new(),
            error: String::new(),
            options: vec![],
        },
        Field {
            id: "new_password",
            kind: "password",
            label: c.t("field-new-password"),
            value: String::new(),
            autocomplete: "new-password",
            hint: c.t("field-new-password-hint"),
            error: String::new(),
            options: vec![],
        },
    ];
    form(
        s,
        me,
        jar,
        [
            c.t("password-change-title"),
            c.t("password-change-lead"),
            c.t("password-change-submit"),
        ],
        "/account/password",
        vec![],
        fields,
        vec![],
        e,
    )
}

/// The password-change form.
#[utoipa::path(get, path = "/account/password", tag = "pages",
    responses((status = 200, description = "The password-change form", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")))]
async fn password_page(State(s): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    match signed(&s, &jar, &headers).await {
        Ok(me) => password_form(&s, &me, jar, None),
        Err(r) => r,
    }
}

#[derive(Deserialize, ToSchema)]
struct PasswordForm {
    csrf: String,
    password: String,
    new_password: String,
}

/// Change the password (the current one first); other devices are signed out.
#[utoipa::path(post, path = "/account/password", tag = "pages",
    request_body(content = PasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Changed: the account center (or not signed in: the sign-in page)"),
        (status = 200, description = "Confirm it is you first (recent sign-in or second factor)", content_type = "text/html", body = String),
        (status = 400, description = "The current password is wrong, the new one too weak, or the form incomplete: the form again", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody),
        (status = 503, description = "At hashing capacity", body = crate::error::ErrorBody)))]
async fn password_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<PasswordForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s
        .engine
        .change_password(&me.token, &f.password, &f.new_password, &ctx)
        .await
    {
        Ok(()) => see_other("/account?done=password-changed"),
        Err(Error::StepUpRequired) => step_up_form(&s, &me, jar, None),
        Err(Error::InvalidSession) => see_other("/signin"),
        Err(e) => password_form(&s, &me, jar, Some(&e)),
    }
}

fn verify_form(s: &AppState, me: &Signed, jar: CookieJar, e: Option<&Error>) -> Response {
    let c = &me.c;
    let fields = vec![Field {
        id: "code",
        kind: "text",
        label: c.t("field-code"),
        value: String::new(),
        autocomplete: "one-time-code",
        hint: c.t("verify-code-hint"),
        error: String::new(),
        options: vec![],
    }];
    form(
        s,
        me,
        jar,
        [
            c.t("verify-code-title"),
            c.t1("verify-code-lead", "email", &me.customer.email),
            c.t("verify-code-submit"),
        ],
        "/account/verify",
        vec![],
        fields,
        vec![],
        e,
    )
}

/// Confirm the address with the code from the verification email.
#[utoipa::path(get, path = "/account/verify", tag = "pages",
    responses((status = 200, description = "The code form", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page")))]
async fn verify_page(State(s): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    match signed(&s, &jar, &headers).await {
        Ok(me) => verify_form(&s, &me, jar, None),
        Err(r) => r,
    }
}

#[derive(Deserialize, ToSchema)]
struct VerifyForm {
    csrf: String,
    code: String,
}

/// Check the code: the address is confirmed.
#[utoipa::path(post, path = "/account/verify", tag = "pages",
    request_body(content = VerifyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Confirmed: the account center (or not signed in: the sign-in page)"),
        (status = 400, description = "A wrong or spent code, or the form is incomplete: the form again", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn verify_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<VerifyForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s
        .engine
        .verify_email_with_code(&me.token, &f.code, &ctx)
        .await
    {
        Ok(()) => see_other("/account?done=confirmed"),
        Err(Error::InvalidSession) => see_other("/signin"),
        Err(e) => verify_form(&s, &me, jar, Some(&e)),
    }
}

impl PostedForm for VerifyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Deserialize, ToSchema)]
struct AppForm {
    csrf: String,
    client: String,
}

/// Take away an app's access: its tokens for this customer end.
#[utoipa::path(post, path = "/account/apps/revoke", tag = "pages",
    request_body(content = AppForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Revoked: the account center (or not signed in: the sign-in page)"),
        (status = 400, description = "No such app, or the form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String)))]
async fn revoke_app(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<AppForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.revoke_my_app(&me.token, &f.client).await {
        Ok(()) => see_other("/account?done=app-revoked"),
        Err(e) => failed(&me.c, &e),
    }
}

impl PostedForm for ProfileForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl PostedForm for EmailForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl PostedForm for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl PostedForm for AppForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
