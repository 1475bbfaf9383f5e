//! The OpenID Connect provider over HTTP: discovery, JWKS, the authorization endpoint with
//! its server-rendered sign-in page (plain HTML, no script, CSRF-protected form), the token,
//! userinfo, revocation and end-session endpoints. Every decision is the engine's
//! (`vestibule_engine::oidc`); this module parses requests, authenticates clients from the
//! `Authorization: Basic` header or the form, and renders RFC 6749 errors.

use crate::AppState;
use crate::customer::{cookie, cookie_names, session_cookies};
use crate::error::OAuthErrorBody;
use crate::http::{Ctx, bearer};
use crate::openapi::OAuthErrors;
use crate::pages::{self, Chrome, signin};
use axum::Json;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::options;
use axum_extra::extract::CookieJar;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vestibule_engine::oidc::{
    ACR_MFA, ACR_PASSWORD, AuthRequest, Authorization, AuthorizeParams, CLAIMS, ClientAuth,
    LogoutRequest, SCOPES, TokenRequest, TokenResponse, redirect_with,
};
use vestibule_engine::{Error, RequestContext, SignInStep, SigningAlg};

/// The sign-in page's form post: limited per IP like the other credential endpoints.
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize_submit))
        .routes(routes!(authorize_factor_submit))
        .routes(routes!(authorize_passkey_submit))
        .routes(routes!(introspect))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery))
        .routes(routes!(jwks))
        .routes(routes!(authorize, authorize_post))
        .routes(routes!(authorize_factor_page))
        .routes(routes!(signup_page))
        .routes(routes!(token))
        .routes(routes!(userinfo, userinfo_post))
        .routes(routes!(revoke))
        .routes(routes!(logout, logout_post))
        // CORS preflights of the endpoints browser clients call (not API operations).
        .route("/oauth2/token", options(preflight))
        .route("/oauth2/userinfo", options(preflight))
        .route("/oauth2/revoke", options(preflight))
}

fn issuer(s: &AppState) -> String {
    s.config.public_url.trim_end_matches('/').to_owned()
}

/// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3).
#[derive(Serialize, ToSchema)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    response_types_supported: Vec<&'static str>,
    response_modes_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    ui_locales_supported: Vec<&'static str>,
    acr_values_supported: Vec<&'static str>,
    scopes_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    code_challenge_methods_supported: Vec<&'static str>,
    prompt_values_supported: Vec<&'static str>,
    claims_supported: Vec<String>,
    authorization_response_iss_parameter_supported: bool,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
}

const CLIENT_AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// The provider's metadata.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oidc",
    responses((status = 200, description = "OpenID Provider metadata", body = Discovery)))]
async fn discovery(State(s): State<AppState>) -> Response {
    let iss = issuer(&s);
    // The attribute definitions' scopes and claims are the provider's too.
    let defs = s.engine.attribute_definitions().await.unwrap_or_default();
    let mut scopes: Vec<String> = SCOPES.iter().map(|s| (*s).to_owned()).collect();
    for d in defs.scopes() {
        if !scopes.contains(&d) {
            scopes.push(d);
        }
    }
    let released = defs
        .definitions
        .iter()
        .filter(|d| d.scope.is_some())
        .map(|d| d.name.clone());
    Json(Discovery {
        authorization_endpoint: format!("{iss}/oauth2/authorize"),
        token_endpoint: format!("{iss}/oauth2/token"),
        userinfo_endpoint: format!("{iss}/oauth2/userinfo"),
        jwks_uri: format!("{iss}/oauth2/jwks"),
        end_session_endpoint: format!("{iss}/oauth2/logout"),
        revocation_endpoint: format!("{iss}/oauth2/revoke"),
        introspection_endpoint: format!("{iss}/oauth2/introspect"),
        issuer: iss,
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: SigningAlg::ALL.iter().map(|a| a.as_str()).collect(),
        ui_locales_supported: vec!["en-US", "de"],
        acr_values_supported: vec![ACR_PASSWORD, ACR_MFA],
        scopes_supported: scopes,
        token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.to_vec(),
        revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.to_vec(),
        introspection_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
        ],
        code_challenge_methods_supported: vec!["S256"],
        prompt_values_supported: vec!["none", "login", "create"],
        claims_supported: CLAIMS
            .into_iter()
            .map(str::to_owned)
            .chain(released)
            .collect(),
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
    })
    .into_response()
}

/// The public signing keys (current and recently retired) as a JWK Set.
#[utoipa::path(get, path = "/oauth2/jwks", tag = "oidc",
    responses((status = 200, description = "JWK Set (RFC 7517) with RS256 and EdDSA keys",
        content_type = "application/jwk-set+json", body = Object)))]
async fn jwks(State(s): State<AppState>) -> Response {
    match s.engine.jwks().await {
        Ok(k) => {
            let mut r = Json(k).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            );
            r
        }
        Err(e) => crate::error::ApiError::Engine(e).into_response(),
    }
}

// ---- the authorization endpoint and its sign-in page ----------------------------------

/// The error page for a request that cannot go back to its client (unknown client, bad
/// redirect URI, malformed parameters): what went wrong and what to do next.
/// An authorization request that cannot go back to its client: what happened in the page's
/// language, what to do, and the protocol's own description for the site's developers.
fn error_page(c: &Chrome, e: &Error) -> Response {
    let (said, detail) = match e {
        Error::OAuth { error, description } => (
            c.t(match *error {
                _ if description.contains("redirect_uri") => "oauth-error-redirect",
                "invalid_client" | "unauthorized_client" => "oauth-error-client",
                "invalid_request" => "oauth-error-request",
                "invalid_scope" => "oauth-error-scope",
                "unsupported_response_type" => "oauth-error-response-type",
                _ => "oauth-error-other",
            }),
            Some(c.t1(
                "oauth-error-detail",
                "detail",
                &format!("{error}: {description}"),
            )),
        ),
        _ => (c.t("error-generic"), None),
    };
    pages::message(
        StatusCode::BAD_REQUEST,
        c,
        c.t("error-request-title"),
        Some(said),
        std::iter::once(c.t("error-request-next"))
            .chain(detail)
            .collect(),
    )
}

fn see_other(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "bad redirect").into_response(),
    }
}

fn redirect_error(
    c: &Chrome,
    iss: &str,
    req_uri: &str,
    state: Option<&str>,
    e: &Error,
) -> Response {
    match e {
        Error::OAuth { error, description } => see_other(&redirect_with(
            req_uri,
            &[
                ("error", Some(error)),
                ("error_description", Some(description)),
                ("state", state),
                ("iss", Some(iss)),
            ],
        )),
        other => error_page(c, other),
    }
}

/// The sign-in page for an authorization request (`raw_query` is carried by the form).
async fn sign_in_page(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    raw_query: &str,
    req: &AuthRequest,
    error: Option<String>,
    email: &str,
) -> Response {
    let (jar, csrf) = pages::form_token(s, jar);
    let email = if email.is_empty() {
        req.login_hint.clone().unwrap_or_default()
    } else {
        email.to_owned()
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let signup = format!(
        "/oauth2/signup?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("params", raw_query)
            .finish()
    );
    let back = format!("/oauth2/authorize?{}", without_prompt(raw_query));
    let email_href = format!(
        "/signin/email?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &back)
            .finish()
    );
    let page = signin::SignInPage {
        c,
        action: "/oauth2/signin",
        passkey_action: "/oauth2/signin/passkey",
        signup_href: signup,
        email_href,
        client: Some(req.client_name.clone()),
        params: raw_query.to_owned(),
        csrf,
        email,
        error,
        providers: pages::social::buttons(
            s,
            &format!("/oauth2/authorize?{}", without_prompt(raw_query)),
        )
        .await,
        shown: pages::shown_now(s),
    };
    // The post ends in a redirect to the client: allow its origin as a form target.
    let target = crate::origin_of(&req.redirect_uri).to_owned();
    (jar, pages::render(status, c, &page, &[&target])).into_response()
}

/// An authorization request's parameters without `prompt` (the sign-in page after signing
/// up must not show the sign-up page again).
fn without_prompt(raw: &str) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if k != "prompt" {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

/// The sign-up page for an authorization request (`prompt=create`, or the sign-in page's
/// "create an account" link): the request rides along, and "already have an account" goes
/// to its sign-in page.
async fn sign_up_for(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    raw: &str,
    req: &AuthRequest,
) -> Response {
    let form = pages::hosted::SignUpForm {
        params: without_prompt(raw),
        ..Default::default()
    };
    let back = format!("/oauth2/authorize?{}", without_prompt(raw));
    pages::hosted::sign_up_form(
        s,
        c,
        jar,
        &form,
        None,
        &Default::default(),
        Some((req.client_name.clone(), back)),
    )
    .await
}

/// For a sign-up that carried an authorization request: the client's name and the way to
/// its sign-in page, if the request is (still) valid.
pub(crate) async fn signin_for(s: &AppState, c: &Chrome, raw: &str) -> Option<(String, String)> {
    let (_, req) = validated(s, c, raw).await.ok()?;
    Some((
        req.client_name,
        format!("/oauth2/authorize?{}", without_prompt(raw)),
    ))
}

/// The client an authorization request's raw parameters are for, if the request is valid
/// (sign-ups for it are counted as its own by analytics).
pub(crate) async fn client_of(s: &AppState, c: &Chrome, raw: &str) -> Option<String> {
    validated(s, c, raw)
        .await
        .ok()
        .map(|(_, req)| req.client_id)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SignUpQuery {
    /// The authorization request's parameters.
    #[serde(default)]
    params: String,
}

/// The sign-up page for an authorization request (linked from its sign-in page).
#[utoipa::path(get, path = "/oauth2/signup", tag = "oidc", params(SignUpQuery),
    responses(
        (status = 200, description = "The sign-up page, carrying the request", content_type = "text/html", body = String),
        (status = 400, description = "The request cannot be trusted: an error page", content_type = "text/html", body = String)))]
async fn signup_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<SignUpQuery>, QueryRejection>,
) -> Response {
    let raw = q.map(|Query(q)| q.params).unwrap_or_default();
    let c = chrome_for(&s, &headers, &raw).await;
    match validated(&s, &c, &raw).await {
        Ok((_, req)) => sign_up_for(&s, &c, jar, &raw, &req).await,
        Err(r) => *r,
    }
}

fn parse_params(raw: &str) -> Result<AuthorizeParams, Error> {
    let uri: Uri = format!("/?{raw}").parse().map_err(|_| Error::OAuth {
        error: "invalid_request",
        description: "the request parameters are malformed".into(),
    })?;
    Query::<AuthorizeParams>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|_| Error::OAuth {
            error: "invalid_request",
            description: "the request parameters are malformed".into(),
        })
}

/// The page chrome for an authorization request's raw parameters (its `ui_locales`).
async fn chrome_for(s: &AppState, headers: &HeaderMap, raw: &str) -> Chrome {
    let ui = parse_params(raw).ok().and_then(|p| p.ui_locales);
    pages::chrome(s, headers, ui.as_deref(), None).await
}

/// Parse and validate an authorization request (the page's query, or the same query carried
/// by the sign-in form): the issuer and the request, or the response to send instead — an
/// error page while the client or redirect URI is unverified, a redirect with the error after.
async fn validated(
    s: &AppState,
    c: &Chrome,
    raw: &str,
) -> Result<(String, AuthRequest), Box<Response>> {
    let p = parse_params(raw).map_err(|e| Box::new(error_page(c, &e)))?;
    let client = s
        .engine
        .authorize_client(&p)
        .await
        .map_err(|e| Box::new(error_page(c, &e)))?;
    let iss = issuer(s);
    let req = s.engine.authorize_request(&client, &p).map_err(|e| {
        let uri = p.redirect_uri.clone().unwrap_or_default();
        Box::new(redirect_error(c, &iss, &uri, p.state.as_deref(), &e))
    })?;
    Ok((iss, req))
}

/// The origin of a verified authorization request's redirect URI (`raw`: its parameters).
pub(crate) async fn redirect_origin(s: &AppState, raw: &str) -> Option<String> {
    let p = parse_params(raw).ok()?;
    s.engine.authorize_client(&p).await.ok()?;
    Some(crate::origin_of(p.redirect_uri.as_deref()?).to_owned())
}

/// Both forms of the authorization endpoint: the parameters as a query or a form body.
async fn authorize_raw(s: AppState, jar: CookieJar, headers: HeaderMap, raw: String) -> Response {
    let c = chrome_for(&s, &headers, &raw).await;
    let (iss, req) = match validated(&s, &c, &raw).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let (session_name, _) = cookie_names(&s);
    let session = jar.get(session_name).map(|c| c.value().to_owned());
    match s
        .engine
        .authorize_with_session(&iss, &req, session.as_deref())
        .await
    {
        Ok(Authorization::Redirect(url)) => see_other(&url),
        Ok(Authorization::Profile) => see_other(&pages::details::step_url(&format!(
            "/oauth2/authorize?{}",
            without_prompt(&raw)
        ))),
        Ok(Authorization::SignIn(req)) if req.prompt_create => {
            sign_up_for(&s, &c, jar, &raw, &req).await
        }
        Ok(Authorization::SignIn(req)) => sign_in_page(&s, &c, jar, &raw, &req, None, "").await,
        Err(e) => redirect_error(&c, &iss, &req.redirect_uri, req.state.as_deref(), &e),
    }
}

/// The authorization endpoint: validate the request, then redirect (with a code or an
/// error) or show the sign-in page.
#[utoipa::path(get, path = "/oauth2/authorize", tag = "oidc", params(AuthorizeParams),
    responses(
        (status = 200, description = "The sign-in page", content_type = "text/html", body = String),
        (status = 303, description = "Back to the client's redirect URI with `code` or `error`",
            headers(("Location" = String, description = "The redirect"))),
        (status = 400, description = "The client or redirect URI cannot be trusted: an error page (never a redirect)",
            content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this address", body = crate::error::ErrorBody)))]
async fn authorize(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let raw = uri.query().unwrap_or("").to_owned();
    authorize_raw(s, jar, headers, raw).await
}

/// The authorization endpoint by POST (OpenID Connect Core 3.1.2.1): the same parameters,
/// form-encoded in the body.
#[utoipa::path(post, path = "/oauth2/authorize", tag = "oidc",
    request_body(content = AuthorizeParams, content_type = "application/x-www-form-urlencoded",
        description = "The authorization request's parameters (as for GET), form-encoded"),
    responses(
        (status = 200, description = "The sign-in page", content_type = "text/html", body = String),
        (status = 303, description = "Back to the client's redirect URI with `code` or `error`",
            headers(("Location" = String, description = "The redirect"))),
        (status = 400, description = "The client or redirect URI cannot be trusted, or the body is not a form: an error page",
            content_type = "text/html", body = String)))]
async fn authorize_post(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let raw = match std::str::from_utf8(&body) {
        Ok(r) if is_form => r.trim().to_owned(),
        _ => {
            let c = pages::chrome(&s, &headers, None, None).await;
            return error_page(
                &c,
                &Error::OAuth {
                    error: "invalid_request",
                    description: "send the authorization request as a query or as application/x-www-form-urlencoded".into(),
                },
            );
        }
    };
    authorize_raw(s, jar, headers, raw).await
}

/// The sign-in page's form.
#[derive(Deserialize, ToSchema)]
struct SignInForm {
    /// The authorization request's query, carried by the page.
    params: String,
    /// The page's CSRF token (matches its cookie).
    csrf: String,
    email: String,
    password: String,
    /// When the page was made (its hidden field), for the risk engine's bot-timing signal.
    #[serde(default)]
    shown: Option<String>,
}

/// The sign-in page's form post.
#[utoipa::path(post, path = "/oauth2/signin", tag = "oidc",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: back to the client with a code",
            headers(("Location" = String, description = "The redirect"))),
        (status = 400, description = "The request cannot be trusted or the form is incomplete: an error page",
            content_type = "text/html", body = String),
        (status = 401, description = "The sign-in page again, with what went wrong", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed: a page asking to try again", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody),
        (status = 503, description = "At hashing capacity", body = crate::error::ErrorBody)))]
async fn authorize_submit(
    State(s): State<AppState>,
    Ctx(mut ctx): Ctx,
    jar: CookieJar,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let c = pages::chrome(&s, &headers, None, None).await;
        return error_page(
            &c,
            &Error::OAuth {
                error: "invalid_request",
                description: "the sign-in form was incomplete".into(),
            },
        );
    };
    let c = chrome_for(&s, &headers, &f.params).await;
    // CSRF: the form's token must match the cookie set with the page, and a browser's
    // Origin (when sent) must be this server.
    if !pages::form_is_ours(&s, &jar, &headers, &f.csrf) {
        return pages::form_refused(&c);
    }
    let (iss, req) = match validated(&s, &c, &f.params).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    ctx.form_ms = pages::form_ms(&s, f.shown.as_deref());
    // Signed in and the code issued in one transaction (one commit fewer on the way back).
    let result = s
        .engine
        .begin_sign_in_for_code(&f.email, &f.password, &ctx, &iss, &req)
        .await;
    s.metrics.sign_in(match &result {
        Ok((SignInStep::SignedIn(_), _)) => "success",
        Ok((SignInStep::SecondFactor(_), _)) => "second_factor",
        Err(e) => e.code(),
    });
    match result {
        Ok((SignInStep::SignedIn(signed), Some(url))) => {
            let (jar, _) = session_cookies(&s, jar, &signed);
            let jar = signin::drop_challenge(&s, jar);
            (jar, see_other(&url)).into_response()
        }
        Ok((SignInStep::SignedIn(signed), None)) => {
            finish_sign_in(&s, &c, jar, &iss, &req, &f.params, &signed).await
        }
        Ok((SignInStep::SecondFactor(challenge), _)) => {
            let jar = signin::keep_challenge(&s, jar, challenge);
            let target = crate::origin_of(&req.redirect_uri).to_owned();
            signin::factor_page(&s, &c, jar, FACTOR_PATH, &f.params, false, None, &[&target])
        }
        Err(e) => {
            let msg = signin::error_message(&c, &e);
            sign_in_page(&s, &c, jar, &f.params, &req, Some(msg), &f.email).await
        }
    }
}

/// The sign-in page's passkey answer, in an authorization request.
#[utoipa::path(post, path = "/oauth2/signin/passkey", tag = "oidc",
    request_body(content = pages::passkeys::PasskeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: back to the client with a code",
            headers(("Location" = String, description = "The redirect"))),
        (status = 400, description = "The request cannot be trusted or the form is incomplete: an error page",
            content_type = "text/html", body = String),
        (status = 401, description = "The sign-in page again, with what went wrong", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed: a page asking to try again", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn authorize_passkey_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    pages::PageForm {
        jar,
        headers,
        form: f,
        ..
    }: pages::PageForm<pages::passkeys::PasskeyForm>,
) -> Response {
    let c = chrome_for(&s, &headers, &f.params).await;
    let (iss, req) = match validated(&s, &c, &f.params).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    // Counted by analytics as a sign-in to the client asking.
    let ctx = RequestContext {
        client: Some(req.client_id.clone()),
        ..ctx
    };
    let result = s
        .engine
        .finish_passkey_sign_in(&f.ceremony, &f.credential, &ctx)
        .await;
    s.metrics
        .sign_in(result.as_ref().map_or_else(|e| e.code(), |_| "success"));
    match result {
        Ok(signed) => finish_sign_in(&s, &c, jar, &iss, &req, &f.params, &signed).await,
        Err(e) => {
            let msg = pages::passkeys::passkey_error(&c, &e);
            sign_in_page(&s, &c, jar, &f.params, &req, Some(msg), "").await
        }
    }
}

/// Signed in for an authorization request: the session cookies and the code.
async fn finish_sign_in(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    iss: &str,
    req: &AuthRequest,
    params: &str,
    signed: &vestibule_engine::SignedIn,
) -> Response {
    let (jar, _) = session_cookies(s, jar, signed);
    let jar = signin::drop_challenge(s, jar);
    // The organisation's attributes this sign-in or the client's scope asks for, first.
    if s.engine
        .profile_due_for(&signed.session, req, true)
        .await
        .unwrap_or(false)
    {
        let back = format!("/oauth2/authorize?{}", without_prompt(params));
        return (jar, see_other(&pages::details::step_url(&back))).into_response();
    }
    match s.engine.issue_code(iss, req, &signed.session).await {
        Ok(url) => (jar, see_other(&url)).into_response(),
        Err(e) => redirect_error(c, iss, &req.redirect_uri, req.state.as_deref(), &e),
    }
}

/// The second-factor page of an authorization request.
const FACTOR_PATH: &str = "/oauth2/signin/factor";

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FactorQuery {
    /// The authorization request's parameters.
    #[serde(default)]
    params: String,
    /// `recovery_code` for the recovery-code form.
    method: Option<String>,
}

/// The second-factor page again (switching between the app and a recovery code).
#[utoipa::path(get, path = "/oauth2/signin/factor", tag = "oidc", params(FactorQuery),
    responses(
        (status = 200, description = "The second-factor page", content_type = "text/html", body = String),
        (status = 400, description = "The request cannot be trusted: an error page", content_type = "text/html", body = String)))]
async fn authorize_factor_page(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<FactorQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        let c = pages::chrome(&s, &headers, None, None).await;
        return error_page(
            &c,
            &Error::OAuth {
                error: "invalid_request",
                description: "the page parameters are malformed".into(),
            },
        );
    };
    let c = chrome_for(&s, &headers, &q.params).await;
    let (_, req) = match validated(&s, &c, &q.params).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if signin::challenge(&s, &jar).is_none() {
        let msg = c.t("error-challenge-ended");
        return sign_in_page(&s, &c, jar, &q.params, &req, Some(msg), "").await;
    }
    let target = crate::origin_of(&req.redirect_uri).to_owned();
    signin::factor_page(
        &s,
        &c,
        jar,
        FACTOR_PATH,
        &q.params,
        q.method.as_deref() == Some("recovery_code"),
        None,
        &[&target],
    )
}

/// The second-factor page for an authorization request whose first step happened elsewhere
/// (social sign-in): finishing it returns to the client.
pub(crate) async fn factor_for(s: &AppState, c: &Chrome, jar: CookieJar, params: &str) -> Response {
    let (_, req) = match validated(s, c, params).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let target = crate::origin_of(&req.redirect_uri).to_owned();
    signin::factor_page(s, c, jar, FACTOR_PATH, params, false, None, &[&target])
}

/// The second-factor form post: finishes the sign-in and returns to the client.
#[utoipa::path(post, path = "/oauth2/signin/factor", tag = "oidc",
    request_body(content = signin::FactorForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: back to the client with a code",
            headers(("Location" = String, description = "The redirect"))),
        (status = 400, description = "The request cannot be trusted: an error page", content_type = "text/html", body = String),
        (status = 401, description = "The code was wrong (the page again), or the challenge ended (the sign-in page)", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody)))]
async fn authorize_factor_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    jar: CookieJar,
    headers: HeaderMap,
    form: Result<Form<signin::FactorForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let c = pages::chrome(&s, &headers, None, None).await;
        return error_page(
            &c,
            &Error::OAuth {
                error: "invalid_request",
                description: "the form was incomplete".into(),
            },
        );
    };
    let c = chrome_for(&s, &headers, &f.params).await;
    if !pages::form_is_ours(&s, &jar, &headers, &f.csrf) {
        return pages::form_refused(&c);
    }
    let (iss, req) = match validated(&s, &c, &f.params).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(challenge) = signin::challenge(&s, &jar) else {
        let msg = c.t("error-challenge-ended");
        return sign_in_page(&s, &c, jar, &f.params, &req, Some(msg), "").await;
    };
    let ctx = RequestContext {
        client: Some(req.client_id.clone()),
        ..ctx
    };
    let result = s
        .engine
        .complete_sign_in(&challenge, &f.proof(), &ctx)
        .await;
    s.metrics
        .sign_in(result.as_ref().map_or_else(|e| e.code(), |_| "success"));
    match result {
        Ok(signed) => finish_sign_in(&s, &c, jar, &iss, &req, &f.params, &signed).await,
        Err(Error::InvalidSession) => {
            let jar = signin::drop_challenge(&s, jar);
            let msg = c.t("error-challenge-ended");
            sign_in_page(&s, &c, jar, &f.params, &req, Some(msg), "").await
        }
        Err(e) => {
            let target = crate::origin_of(&req.redirect_uri).to_owned();
            let msg = signin::factor_error(&c, &e, signin::is_emailed(&s, &jar));
            signin::factor_page(
                &s,
                &c,
                jar,
                FACTOR_PATH,
                &f.params,
                f.method == "recovery_code",
                Some(msg),
                &[&target],
            )
        }
    }
}

// ---- token, userinfo, revocation, logout ----------------------------------------------

/// RFC 6749 §5.2 error body.
fn oauth_error(e: &Error) -> Response {
    let (status, error, description) = match e {
        Error::OAuth { error, description } => (
            if *error == "invalid_client" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            },
            *error,
            description.clone(),
        ),
        Error::RateLimited(_) | Error::Overloaded(_) => {
            return crate::error::ApiError::Engine(clone_limit(e)).into_response();
        }
        other => {
            tracing::error!(error = %other, "token endpoint failure");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "something went wrong on our side".to_owned(),
            )
        }
    };
    let mut r = (
        status,
        Json(OAuthErrorBody {
            error,
            error_description: description,
        }),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"vestibule\""),
        );
    }
    r
}

fn clone_limit(e: &Error) -> Error {
    match e {
        Error::RateLimited(d) => Error::RateLimited(*d),
        Error::Overloaded(d) => Error::Overloaded(*d),
        _ => Error::Internal("not a limit".into()),
    }
}

/// The form of the token and revocation endpoints (RFC 6749 §4.1.3, §6; RFC 7009).
#[derive(Deserialize, Default, ToSchema)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Revocation and introspection: the token.
    token: Option<String>,
    /// Revocation and introspection: `access_token` or `refresh_token` (a hint; every kind is
    /// looked up, so it is accepted and not read).
    #[serde(rename = "token_type_hint")]
    _token_type_hint: Option<String>,
}

/// Percent-decoding for client_secret_basic (RFC 6749 §2.3.1 form-encodes id and secret).
fn form_decode(s: &str) -> String {
    let uri: Result<Uri, _> = format!("/?v={s}").parse();
    uri.ok()
        .and_then(|u| Query::<std::collections::HashMap<String, String>>::try_from_uri(&u).ok())
        .and_then(|q| q.0.get("v").cloned())
        .unwrap_or_else(|| s.to_owned())
}

fn client_auth(headers: &HeaderMap, f: &TokenForm) -> Result<ClientAuth, Error> {
    let invalid = |m: &str| Error::OAuth {
        error: "invalid_client",
        description: m.to_owned(),
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, b64)| b64.trim().to_owned());
    match basic {
        Some(b64) => {
            if f.client_secret.is_some() {
                return Err(Error::OAuth {
                    error: "invalid_request",
                    description: "use one client authentication method".into(),
                });
            }
            let raw = STANDARD
                .decode(b64)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| invalid("malformed Basic credentials"))?;
            let (id, secret) = raw
                .split_once(':')
                .ok_or_else(|| invalid("malformed Basic credentials"))?;
            let id = form_decode(id);
            if f.client_id.as_deref().is_some_and(|c| c != id) {
                return Err(invalid("client_id does not match the credentials"));
            }
            Ok(ClientAuth {
                client_id: id,
                client_secret: Some(form_decode(secret)),
            })
        }
        None => Ok(ClientAuth {
            client_id: f
                .client_id
                .clone()
                .ok_or_else(|| invalid("client authentication is missing"))?,
            client_secret: f.client_secret.clone(),
        }),
    }
}

/// The form of a client-authenticated endpoint and the client's credentials from it or
/// from `Authorization: Basic`.
fn client_form(
    headers: &HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<(TokenForm, ClientAuth), Error> {
    let Ok(Form(f)) = form else {
        return Err(Error::OAuth {
            error: "invalid_request",
            description: "send the request as application/x-www-form-urlencoded".into(),
        });
    };
    let auth = client_auth(headers, &f)?;
    Ok((f, auth))
}

/// CORS for browser clients: echo the Origin when the client allows it.
async fn with_cors(
    s: &AppState,
    headers: &HeaderMap,
    client_id: Option<&str>,
    mut r: Response,
) -> Response {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return r;
    };
    let allowed = match client_id {
        Some(id) => matches!(s.engine.client(id).await, Ok(Some(c)) if c.allows_origin(origin)),
        None => s
            .engine
            .any_client_allows_origin(origin)
            .await
            .unwrap_or(false),
    };
    if allowed && let Ok(v) = HeaderValue::from_str(origin) {
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    r
}

async fn preflight(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    with_cors(&s, &headers, None, r).await
}

/// The token endpoint: authorization_code (PKCE S256) and refresh_token grants.
#[utoipa::path(post, path = "/oauth2/token", tag = "oidc",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Tokens", body = TokenResponse), OAuthErrors,
        (status = 503, description = "At capacity", body = crate::error::ErrorBody)))]
async fn token(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let (f, auth) = match client_form(&headers, form) {
        Ok(v) => v,
        Err(e) => return oauth_error(&e),
    };
    let req = TokenRequest {
        grant_type: f.grant_type,
        code: f.code,
        redirect_uri: f.redirect_uri,
        code_verifier: f.code_verifier,
        refresh_token: f.refresh_token,
        scope: f.scope,
    };
    let r = match s.engine.token(&issuer(&s), &auth, &req).await {
        Ok(t) => {
            let mut r = Json(t).into_response();
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => oauth_error(&e),
    };
    with_cors(&s, &headers, Some(&auth.client_id), r).await
}

fn bearer_error(description: &str) -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        Json(OAuthErrorBody {
            error: "invalid_token",
            error_description: description.to_owned(),
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer error=\"invalid_token\", error_description=\"{description}\""
    )) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

async fn userinfo_for(s: &AppState, headers: &HeaderMap, token: Option<String>) -> Response {
    let Some(token) = token else {
        // No credentials at all: a challenge without an error code (RFC 6750 §3.1).
        let body = crate::error::BearerErrorBody {
            error: None,
            error_description: None,
        };
        let mut r = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"vestibule\""),
        );
        return with_cors(s, headers, None, r).await;
    };
    let r = match s.engine.userinfo(&token).await {
        Ok(claims) => Json(claims).into_response(),
        Err(Error::InvalidToken) => bearer_error("the access token is invalid or expired"),
        Err(e) => crate::error::ApiError::Engine(e).into_response(),
    };
    with_cors(s, headers, None, r).await
}

/// Claims about the signed-in customer, by the access token's scopes.
#[utoipa::path(get, path = "/oauth2/userinfo", tag = "oidc",
    security(("access_token" = [])),
    responses((status = 200, description = "Claims (sub always; email, profile, phone by scope)", body = Object),
        (status = 401, description = "No valid access token (with WWW-Authenticate; no error when none was sent)", body = crate::error::BearerErrorBody)))]
async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let token = bearer(&headers);
    userinfo_for(&s, &headers, token).await
}

#[derive(Deserialize, Default, ToSchema)]
struct UserinfoForm {
    access_token: Option<String>,
}

/// Userinfo by POST: the access token as a bearer token or in the form.
#[utoipa::path(post, path = "/oauth2/userinfo", tag = "oidc",
    request_body(content = UserinfoForm, content_type = "application/x-www-form-urlencoded"),
    security(("access_token" = []), ()),
    responses((status = 200, description = "Claims", body = Object),
        (status = 401, description = "No valid access token (with WWW-Authenticate; no error when none was sent)", body = crate::error::BearerErrorBody)))]
async fn userinfo_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<UserinfoForm>, FormRejection>,
) -> Response {
    let from_form = form.ok().and_then(|Form(f)| f.access_token);
    let token = bearer(&headers).or(from_form);
    userinfo_for(&s, &headers, token).await
}

/// The `token` of a revocation or introspection request, with the client's credentials.
fn token_of(
    headers: &HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<(String, ClientAuth), Error> {
    let (f, auth) = client_form(headers, form)?;
    let token = f.token.ok_or_else(|| Error::OAuth {
        error: "invalid_request",
        description: "token is missing".into(),
    })?;
    Ok((token, auth))
}

/// Token revocation (RFC 7009): 200 whether or not the token was known; a token of another
/// client is refused (400 `unauthorized_client`).
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oidc",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked (or never valid)"), OAuthErrors))]
async fn revoke(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let (t, auth) = match token_of(&headers, form) {
        Ok(v) => v,
        Err(e) => return oauth_error(&e),
    };
    let t = t.as_str();
    let r = match s.engine.revoke_token(&auth, t).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(&e),
    };
    with_cors(&s, &headers, Some(&auth.client_id), r).await
}

/// Token introspection (RFC 7662) for resource servers: a confidential client's credentials,
/// then `{"active": true, …}` with the token's subject, client, scope, expiry, `acr` (and
/// `tier`/`roles` with the `roles` scope), or just `{"active": false}`.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oidc",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "What the token is, or `active: false`", body = vestibule_engine::Introspection),
        OAuthErrors))]
async fn introspect(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let (t, auth) = match token_of(&headers, form) {
        Ok(v) => v,
        Err(e) => return oauth_error(&e),
    };
    let t = t.as_str();
    match s.engine.introspect(&issuer(&s), &auth, t).await {
        Ok(i) => {
            let mut r = Json(i).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => oauth_error(&e),
    }
}

/// The logout confirmation page (`templates/logout.html`).
#[derive(askama::Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    c: &'a Chrome,
    lead: String,
    csrf: String,
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// The logout form: an RP's POST logout request, or the confirmation page's answer.
#[derive(Deserialize, Default, ToSchema)]
struct LogoutForm {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    ui_locales: Option<String>,
    /// The confirmation page's CSRF token (present only when the customer answered it).
    csrf: Option<String>,
    /// `yes` to sign out, `no` to stay signed in.
    confirm: Option<String>,
}

/// RP-initiated logout by GET: ends the browser session when the `id_token_hint` shows the
/// customer's own relying party asks, otherwise asks the customer first.
#[utoipa::path(get, path = "/oauth2/logout", tag = "oidc", params(LogoutRequest),
    responses(
        (status = 200, description = "The confirmation page, or the signed-out page", content_type = "text/html", body = String),
        (status = 303, description = "Signed out; back to the client",
            headers(("Location" = String, description = "The redirect"))),
        (status = 400, description = "A bad hint or redirect: an error page", content_type = "text/html", body = String)))]
async fn logout(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    q: Result<Query<LogoutRequest>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        let c = pages::chrome(&s, &headers, None, None).await;
        return error_page(
            &c,
            &Error::OAuth {
                error: "invalid_request",
                description: "the logout parameters are malformed".into(),
            },
        );
    };
    logout_request(s, jar, headers, q, None).await
}

/// RP-initiated logout by POST (§2: the OP must support both), and the confirmation page's
/// answer.
#[utoipa::path(post, path = "/oauth2/logout", tag = "oidc",
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The confirmation page, or the signed-out / still-signed-in page", content_type = "text/html", body = String),
        (status = 303, description = "Signed out; back to the client",
            headers(("Location" = String, description = "The redirect"))),
        (status = 400, description = "A bad hint or redirect: an error page", content_type = "text/html", body = String),
        (status = 403, description = "The confirmation's CSRF check failed", content_type = "text/html", body = String)))]
async fn logout_post(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let c = pages::chrome(&s, &headers, None, None).await;
        return error_page(
            &c,
            &Error::OAuth {
                error: "invalid_request",
                description: "send the logout request as application/x-www-form-urlencoded".into(),
            },
        );
    };
    let req = LogoutRequest {
        id_token_hint: f.id_token_hint,
        client_id: f.client_id,
        post_logout_redirect_uri: f.post_logout_redirect_uri,
        state: f.state,
        ui_locales: f.ui_locales,
    };
    let answer = f.csrf.map(|t| (t, f.confirm.as_deref() == Some("yes")));
    logout_request(s, jar, headers, req, answer).await
}

async fn logout_request(
    s: AppState,
    jar: CookieJar,
    headers: HeaderMap,
    req: LogoutRequest,
    answer: Option<(String, bool)>,
) -> Response {
    let c = pages::chrome(&s, &headers, req.ui_locales.as_deref(), None).await;
    let (session_name, csrf_name) = cookie_names(&s);
    let session = jar.get(session_name).map(|c| c.value().to_owned());
    let plan = match s.engine.plan_logout(&req, session.as_deref()).await {
        Ok(p) => p,
        Err(e) => return error_page(&c, &e),
    };
    let confirmed = match &answer {
        Some((token, yes)) => {
            if !pages::form_is_ours(&s, &jar, &headers, token) {
                return pages::form_refused(&c);
            }
            if !yes {
                return pages::message(
                    StatusCode::OK,
                    &c,
                    c.t("logout-kept-title"),
                    None,
                    vec![c.t("logout-kept")],
                );
            }
            true
        }
        None => false,
    };
    if plan.ask && !confirmed {
        let (jar, csrf) = pages::form_token(&s, jar);
        let lead = match &plan.client_name {
            Some(client) => {
                let args = [("client", client.as_str()), ("org", c.brand.name.as_str())];
                c.targs("logout-lead-client", &args)
            }
            None => c.t1("logout-lead", "org", &c.brand.name),
        };
        let page = LogoutPage {
            c: &c,
            lead,
            csrf,
            id_token_hint: req.id_token_hint.clone().filter(|h| !h.is_empty()),
            post_logout_redirect_uri: req
                .post_logout_redirect_uri
                .clone()
                .filter(|u| !u.is_empty()),
            state: req.state.clone(),
        };
        let targets: Vec<String> = plan
            .redirect
            .iter()
            .map(|u| crate::origin_of(u).to_owned())
            .collect();
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        return (jar, pages::render(StatusCode::OK, &c, &page, &targets)).into_response();
    }
    if let Err(e) = s.engine.end_session(&plan, session.as_deref()).await {
        return error_page(&c, &e);
    }
    let jar = jar
        .add(cookie(&s, session_name, String::new(), true, 0))
        .add(cookie(&s, csrf_name, String::new(), false, 0));
    let r = match plan.redirect {
        Some(url) => see_other(&url),
        None => pages::message(
            StatusCode::OK,
            &c,
            c.t("logout-done-title"),
            None,
            vec![c.t("logout-done")],
        ),
    };
    (jar, r).into_response()
}
