//! Social sign-in pages: the sign-in page's "Continue with …" buttons lead to
//! `/signin/social/{provider}`, which sends the browser to the provider with the engine's
//! PKCE, state and nonce; `/signin/social/callback` comes back. A known link signs in, a new
//! verified address makes an account, and an address that already has an account asks for
//! its password first (`/signin/social/link`) — never linked silently. The flow's binding
//! lives in an HttpOnly cookie that must be `SameSite=Lax`: the provider's redirect back is a
//! cross-site navigation, and a Strict cookie would not come with it. The account center
//! lists connected accounts, connects more (the same flow with the session) and disconnects.

use super::account::signed;
use super::hosted::{Field, SimpleForm, see_other};
use super::signin;
use super::{Chrome, PageForm, PostedForm, chrome, form_token, message_links, render};
use crate::AppState;
use crate::customer::cookie_names;
use crate::http::Ctx;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vestibule_engine::{Error, SOCIAL_FLOW_TTL, SignInStep, SocialOutcome};

/// The password that links an account (limited per IP).
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(link_submit))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(callback))
        .routes(routes!(disconnect))
}

const FLOW_COOKIE: &str = "__Host-vestibule_social";
const DEV_FLOW_COOKIE: &str = "vestibule_social";

const NAMES: (&str, &str) = (FLOW_COOKIE, DEV_FLOW_COOKIE);

fn flow_cookie(s: &AppState, value: String, max_age: i64) -> Cookie<'static> {
    super::binding_cookie(s, NAMES, SameSite::Lax, value, max_age)
}

fn flow_binding(s: &AppState, jar: &CookieJar) -> Option<String> {
    super::binding_of(s, jar, NAMES)
}

/// The sign-in page's buttons: (href, provider label), each going back to `return_to`.
pub(crate) async fn buttons(s: &AppState, return_to: &str) -> Vec<(String, String)> {
    let Ok(providers) = s.engine.upstream_providers().await else {
        return vec![];
    };
    providers
        .into_iter()
        .map(|p| {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", return_to)
                .finish();
            (format!("/signin/social/{}?{q}", p.id), p.label)
        })
        .collect()
}

fn trouble(c: &Chrome, status: StatusCode, text: String) -> Response {
    message_links(
        status,
        c,
        c.t("social-title"),
        vec![text],
        vec![("/signin", c.t("back-to-signin"))],
    )
}

fn failed(c: &Chrome, e: &Error) -> Response {
    match e {
        Error::Upstream(detail) => {
            tracing::warn!(error = %detail, "upstream provider");
            trouble(c, StatusCode::BAD_GATEWAY, c.t("social-unreachable"))
        }
        Error::NotFound(_) => trouble(c, StatusCode::NOT_FOUND, c.t("social-unknown")),
        Error::InvalidToken => trouble(c, StatusCode::BAD_REQUEST, c.t("social-expired")),
        Error::InvalidInput { field: "email", .. } => {
            trouble(c, StatusCode::BAD_REQUEST, c.t("social-unverified"))
        }
        Error::InvalidInput {
            field: "provider", ..
        } => trouble(c, StatusCode::CONFLICT, c.t("social-taken")),
        other => trouble(c, StatusCode::BAD_REQUEST, signin::error_message(c, other)),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StartQuery {
    /// A path on this server to go on to afterwards (default `/account`).
    return_to: Option<String>,
    /// `1`: connect the provider to the signed-in account instead of signing in.
    link: Option<String>,
    /// With `link`: the page's CSRF token (a link from the account center carries it; a link
    /// from anywhere else must not connect someone's provider account to this account).
    csrf: Option<String>,
}

/// Leave for a provider.
#[utoipa::path(get, path = "/signin/social/{provider}", tag = "pages", params(StartQuery,
        ("provider" = Uuid, Path, description = "The provider")),
    responses((status = 303, description = "To the provider (or, connecting without a session, to the sign-in page)"),
        (status = 400, description = "A bad request: what to do", content_type = "text/html", body = String),
        (status = 403, description = "Connecting without the account center's CSRF token", content_type = "text/html", body = String),
        (status = 404, description = "No such provider", content_type = "text/html", body = String),
        (status = 502, description = "The provider did not answer", content_type = "text/html", body = String)))]
async fn start(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    provider: Result<Path<Uuid>, PathRejection>,
    q: Result<Query<StartQuery>, QueryRejection>,
) -> Response {
    let c = chrome(&s, &headers, None, None).await;
    let (Ok(Path(provider)), Ok(Query(q))) = (provider, q) else {
        return failed(&c, &Error::NotFound("provider"));
    };
    let session = if q.link.as_deref() == Some("1") {
        if !super::form_is_ours(&s, &jar, &headers, q.csrf.as_deref().unwrap_or_default()) {
            return super::form_refused(&c);
        }
        let (name, _) = cookie_names(&s);
        match jar.get(name).map(|c| c.value().to_owned()) {
            Some(t) if !t.is_empty() => Some(t),
            _ => return see_other("/signin"),
        }
    } else {
        None
    };
    let return_to = q.return_to.unwrap_or_else(|| "/account".into());
    let fetch = match s.upstream.as_ref() {
        Ok(f) => f,
        Err(e) => return failed(&c, &Error::Upstream(e.clone())),
    };
    match s
        .engine
        .begin_social_sign_in(fetch, provider, session.as_deref(), &return_to)
        .await
    {
        Ok(go) => {
            let jar = jar.add(flow_cookie(&s, go.binding, SOCIAL_FLOW_TTL.num_seconds()));
            (jar, see_other(&go.redirect)).into_response()
        }
        Err(Error::InvalidSession) => see_other("/signin"),
        Err(e) => failed(&c, &e),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    /// RFC 9207: the provider's issuer.
    iss: Option<String>,
    /// The provider's error (`access_denied` when the customer cancelled).
    error: Option<String>,
}

/// Back from the provider.
#[utoipa::path(get, path = "/signin/social/callback", tag = "pages", params(CallbackQuery),
    responses((status = 303, description = "Signed in or connected: on to where the customer was going"),
        (status = 200, description = "The authenticator app's code next, or the existing account's password to connect it", content_type = "text/html", body = String),
        (status = 400, description = "Cancelled, expired or not from this browser: what to do", content_type = "text/html", body = String),
        (status = 403, description = "The account cannot sign in", content_type = "text/html", body = String),
        (status = 409, description = "The provider account is connected to someone else", content_type = "text/html", body = String),
        (status = 502, description = "The provider did not answer", content_type = "text/html", body = String)))]
async fn callback(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let c = chrome(&s, &headers, None, None).await;
    let Ok(Query(q)) = q else {
        return failed(&c, &Error::InvalidToken);
    };
    if q.error.is_some() {
        let jar = jar.add(flow_cookie(&s, String::new(), 0));
        return (
            jar,
            trouble(&c, StatusCode::BAD_REQUEST, c.t("social-cancelled")),
        )
            .into_response();
    }
    let (Some(binding), Some(state), Some(code)) = (flow_binding(&s, &jar), q.state, q.code) else {
        return failed(&c, &Error::InvalidToken);
    };
    let fetch = match s.upstream.as_ref() {
        Ok(f) => f,
        Err(e) => return failed(&c, &Error::Upstream(e.clone())),
    };
    let outcome = s
        .engine
        .finish_social_sign_in(fetch, &binding, &state, &code, q.iss.as_deref(), &ctx)
        .await;
    s.metrics.sign_in(match &outcome {
        Ok(SocialOutcome::SignIn {
            step: SignInStep::SignedIn(_),
            ..
        }) => "success",
        Ok(SocialOutcome::SignIn { .. }) => "second_factor",
        Ok(_) => "linking",
        Err(e) => e.code(),
    });
    match outcome {
        Ok(SocialOutcome::SignIn {
            step, return_to, ..
        }) => {
            let jar = jar.add(flow_cookie(&s, String::new(), 0));
            super::hosted::first_step_done(&s, &c, jar, step, &return_to).await
        }
        Ok(SocialOutcome::Linked { .. }) => {
            let jar = jar.add(flow_cookie(&s, String::new(), 0));
            (jar, see_other("/account?done=connected")).into_response()
        }
        Ok(SocialOutcome::ProveAccount { email, provider }) => {
            prove_page(&s, &c, jar, &email, &provider, None)
        }
        Err(Error::AccountUnavailable(_)) => {
            trouble(&c, StatusCode::FORBIDDEN, c.t("error-unavailable"))
        }
        Err(e) => failed(&c, &e),
    }
}

fn prove_page(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    email: &str,
    provider: &str,
    error: Option<String>,
) -> Response {
    let (jar, csrf) = form_token(s, jar);
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let page = SimpleForm {
        c,
        title: c.t1("social-link-title", "provider", provider),
        lead: c.targs(
            "social-link-lead",
            &[("email", email), ("provider", provider)],
        ),
        error: None,
        action: "/signin/social/link",
        csrf,
        hidden: vec![],
        fields: vec![Field {
            id: "password",
            kind: "password",
            label: c.t("field-password"),
            value: String::new(),
            autocomplete: "current-password",
            hint: String::new(),
            error: error.unwrap_or_default(),
            options: vec![],
        }],
        attributes: vec![],
        submit: c.t("social-link-submit"),
        links: vec![
            ("/forgot", c.t("signin-forgot")),
            ("/signin", c.t("back-to-signin")),
        ],
    };
    (jar, render(status, c, &page, &[])).into_response()
}

#[derive(Deserialize, ToSchema)]
struct LinkForm {
    csrf: String,
    password: String,
}

/// Connect the provider account to the existing account with its password, and sign in.
#[utoipa::path(post, path = "/signin/social/link", tag = "pages",
    request_body(content = LinkForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Connected and signed in: on to where the customer was going"),
        (status = 200, description = "The authenticator app's code next", content_type = "text/html", body = String),
        (status = 401, description = "A wrong password: the page again", content_type = "text/html", body = String),
        (status = 400, description = "No connection waiting in this browser, or the form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody),
        (status = 503, description = "At hashing capacity", body = crate::error::ErrorBody)))]
async fn link_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    PageForm {
        c, jar, form: f, ..
    }: PageForm<LinkForm>,
) -> Response {
    let Some(binding) = flow_binding(&s, &jar) else {
        return failed(&c, &Error::InvalidToken);
    };
    let waiting = match s.engine.social_flow_waiting(&binding).await {
        Ok(w) => w,
        Err(e) => return failed(&c, &e),
    };
    let result = s
        .engine
        .link_social_with_password(&binding, &f.password, &ctx)
        .await;
    s.metrics.sign_in(match &result {
        Ok((SignInStep::SignedIn(_), _)) => "success",
        Ok(_) => "second_factor",
        Err(e) => e.code(),
    });
    match result {
        Ok((step, return_to)) => {
            let jar = jar.add(flow_cookie(&s, String::new(), 0));
            super::hosted::first_step_done(&s, &c, jar, step, &return_to).await
        }
        Err(e @ (Error::InvalidCredentials | Error::RateLimited(_) | Error::Overloaded(_))) => {
            let msg = signin::error_message(&c, &e);
            prove_page(&s, &c, jar, &waiting.0, &waiting.1, Some(msg))
        }
        Err(e) => failed(&c, &e),
    }
}

#[derive(Deserialize, ToSchema)]
struct DisconnectForm {
    csrf: String,
    provider: Uuid,
}

/// Disconnect a provider account from the signed-in account.
#[utoipa::path(post, path = "/account/connections/remove", tag = "pages",
    request_body(content = DisconnectForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Disconnected (or not signed in): the account center or the sign-in page"),
        (status = 400, description = "The form is incomplete", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 404, description = "No such connection", content_type = "text/html", body = String)))]
async fn disconnect(
    State(s): State<AppState>,
    PageForm {
        jar,
        headers,
        form: f,
        ..
    }: PageForm<DisconnectForm>,
) -> Response {
    let me = match signed(&s, &jar, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match s.engine.remove_my_social_link(&me.token, f.provider).await {
        Ok(()) => see_other("/account?done=disconnected"),
        Err(e) => failed(&me.c, &e),
    }
}

impl PostedForm for LinkForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl PostedForm for DisconnectForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
