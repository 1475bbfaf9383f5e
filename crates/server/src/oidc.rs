//! The OpenID Connect provider over HTTP: discovery, JWKS, the authorization endpoint with
//! its server-rendered sign-in page (plain HTML, no script, CSRF-protected form), the token,
//! userinfo, revocation and end-session endpoints. Every decision is the engine's
//! (`vestibule_engine::oidc`); this module parses requests, authenticates clients from the
//! `Authorization: Basic` header or the form, and renders RFC 6749 errors.

use crate::AppState;
use crate::customer::{constant_eq, cookie, cookie_names, new_csrf, session_cookies};
use crate::error::OAuthErrorBody;
use crate::http::{Ctx, bearer};
use crate::openapi::OAuthErrors;
use axum::Json;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::options;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vestibule_engine::Error;
use vestibule_engine::oidc::{
    AuthRequest, Authorization, AuthorizeParams, ClientAuth, SCOPES, TokenRequest, TokenResponse,
    redirect_with,
};

/// The sign-in page's form post: limited per IP like the other credential endpoints.
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(authorize_submit))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery))
        .routes(routes!(jwks))
        .routes(routes!(authorize))
        .routes(routes!(token))
        .routes(routes!(userinfo, userinfo_post))
        .routes(routes!(revoke))
        .routes(routes!(logout))
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
    response_types_supported: Vec<&'static str>,
    response_modes_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    scopes_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    code_challenge_methods_supported: Vec<&'static str>,
    prompt_values_supported: Vec<&'static str>,
    claims_supported: Vec<&'static str>,
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
    Json(Discovery {
        authorization_endpoint: format!("{iss}/oauth2/authorize"),
        token_endpoint: format!("{iss}/oauth2/token"),
        userinfo_endpoint: format!("{iss}/oauth2/userinfo"),
        jwks_uri: format!("{iss}/oauth2/jwks"),
        end_session_endpoint: format!("{iss}/oauth2/logout"),
        revocation_endpoint: format!("{iss}/oauth2/revoke"),
        issuer: iss,
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["RS256", "EdDSA"],
        scopes_supported: SCOPES.to_vec(),
        token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.to_vec(),
        revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.to_vec(),
        code_challenge_methods_supported: vec!["S256"],
        prompt_values_supported: vec!["none", "login"],
        claims_supported: vec![
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "email",
            "email_verified",
            "name",
            "locale",
            "updated_at",
            "phone_number",
            "phone_number_verified",
        ],
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

const CSRF_COOKIE: &str = "__Host-vestibule_oidc_csrf";
const DEV_CSRF_COOKIE: &str = "vestibule_oidc_csrf";

const PAGE_STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f5f6fa;color:#1b1f2e;margin:0;display:grid;place-items:center;min-height:100vh}\
main{background:#fff;border:1px solid #dde1ea;border-radius:10px;padding:28px;width:min(400px,92vw)}\
h1{font-size:1.3rem;margin:0 0 6px}p{margin:0 0 14px;color:#5c647a}label{display:block;font-weight:500;margin:12px 0 4px}\
input{width:100%;box-sizing:border-box;padding:9px;border:1px solid #c9cedb;border-radius:6px;font:inherit}\
button{margin-top:18px;width:100%;padding:10px;border:0;border-radius:6px;background:#3346c8;color:#fff;font:inherit;cursor:pointer}\
.error{background:#fbe9e7;color:#c0362c;padding:10px;border-radius:6px}\
@media (prefers-color-scheme:dark){body{background:#12141c;color:#e6e8f0}main{background:#1b1e29;border-color:#30354a}input{background:#12141c;color:#e6e8f0;border-color:#30354a}p{color:#9aa1b8}}";

fn style_csp() -> String {
    let hash = STANDARD.encode(Sha256::digest(PAGE_STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{PAGE_STYLE}</style></head><body><main>{body}</main></body></html>",
        esc(title)
    );
    let mut r = (status, Html(html)).into_response();
    if let Ok(v) = HeaderValue::from_str(&style_csp()) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

fn error_page(e: &Error) -> Response {
    let (title, detail) = match e {
        Error::OAuth { description, .. } => ("This sign-in link is not valid", description.clone()),
        _ => ("Something went wrong", "please try again later".to_owned()),
    };
    page(
        StatusCode::BAD_REQUEST,
        title,
        &format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p>Go back to the site you came from and try again.</p>",
            esc(title),
            esc(&detail)
        ),
    )
}

fn see_other(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => error_page(&Error::OAuth {
            error: "invalid_request",
            description: "bad redirect".into(),
        }),
    }
}

fn redirect_error(iss: &str, req_uri: &str, state: Option<&str>, e: &Error) -> Response {
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
        other => error_page(other),
    }
}

fn csrf_cookie_name(s: &AppState) -> &'static str {
    if s.config.insecure_dev_cookies {
        DEV_CSRF_COOKIE
    } else {
        CSRF_COOKIE
    }
}

fn sign_in_page(
    s: &AppState,
    jar: CookieJar,
    raw_query: &str,
    req: &AuthRequest,
    error: Option<&str>,
    email: &str,
) -> Response {
    let csrf = new_csrf();
    let mut c = Cookie::new(csrf_cookie_name(s), csrf.clone());
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(!s.config.insecure_dev_cookies);
    let jar = jar.add(c);
    let email = if email.is_empty() {
        req.login_hint.clone().unwrap_or_default()
    } else {
        email.to_owned()
    };
    let err = error
        .map(|m| {
            format!(
                "<p class=\"error\" id=\"signin-error\" role=\"alert\">{}</p>",
                esc(m)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1><p>to continue to <strong>{client}</strong></p>{err}\
         <form method=\"post\" action=\"/oauth2/authorize\">\
         <input type=\"hidden\" name=\"params\" value=\"{params}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{email}\" {focus_email}>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required {focus_pw}>\
         <button type=\"submit\">Sign in</button></form>",
        client = esc(&req.client_name),
        params = esc(raw_query),
        email = esc(&email),
        focus_email = if email.is_empty() { "autofocus" } else { "" },
        focus_pw = if email.is_empty() { "" } else { "autofocus" },
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    (jar, page(status, "Sign in", &body)).into_response()
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

/// Parse and validate an authorization request (the page's query, or the same query carried
/// by the sign-in form): the issuer and the request, or the response to send instead — an
/// error page while the client or redirect URI is unverified, a redirect with the error after.
async fn validated(s: &AppState, raw: &str) -> Result<(String, AuthRequest), Box<Response>> {
    let p = parse_params(raw).map_err(|e| Box::new(error_page(&e)))?;
    let client = s
        .engine
        .authorize_client(&p)
        .await
        .map_err(|e| Box::new(error_page(&e)))?;
    let iss = issuer(s);
    let req = s.engine.authorize_request(&client, &p).map_err(|e| {
        let uri = p.redirect_uri.clone().unwrap_or_default();
        Box::new(redirect_error(&iss, &uri, p.state.as_deref(), &e))
    })?;
    Ok((iss, req))
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
async fn authorize(State(s): State<AppState>, jar: CookieJar, uri: Uri) -> Response {
    let raw = uri.query().unwrap_or("").to_owned();
    let (iss, req) = match validated(&s, &raw).await {
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
        Ok(Authorization::SignIn(req)) => sign_in_page(&s, jar, &raw, &req, None, ""),
        Err(e) => redirect_error(&iss, &req.redirect_uri, req.state.as_deref(), &e),
    }
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
}

/// The sign-in page's form post.
#[utoipa::path(post, path = "/oauth2/authorize", tag = "oidc",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The sign-in page again, with what went wrong", content_type = "text/html", body = String),
        (status = 303, description = "Signed in: back to the client with a code",
            headers(("Location" = String, description = "The redirect"))),
        (status = 400, description = "The request cannot be trusted or the form is incomplete: an error page",
            content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed: a page asking to try again", content_type = "text/html", body = String),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody),
        (status = 503, description = "At hashing capacity", body = crate::error::ErrorBody)))]
async fn authorize_submit(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    jar: CookieJar,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return error_page(&Error::OAuth {
            error: "invalid_request",
            description: "the sign-in form was incomplete".into(),
        });
    };
    // CSRF: the form's token must match the cookie set with the page, and a browser's
    // Origin (when sent) must be this server.
    let cookie_token = jar.get(csrf_cookie_name(&s)).map(|c| c.value().to_owned());
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| o == crate::origin_of(&s.config.public_url));
    let token_ok = cookie_token
        .as_deref()
        .is_some_and(|c| !c.is_empty() && constant_eq(c.as_bytes(), f.csrf.as_bytes()));
    if !origin_ok || !token_ok {
        return page(
            StatusCode::FORBIDDEN,
            "Please try again",
            "<h1>Please try again</h1><p class=\"error\" role=\"alert\">This sign-in form expired or was sent from another site. Go back to the site you came from and start again.</p>",
        );
    }
    let (iss, req) = match validated(&s, &f.params).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let result = s.engine.sign_in(&f.email, &f.password, &ctx).await;
    s.metrics
        .sign_in(result.as_ref().map_or_else(|e| e.code(), |_| "success"));
    let signed = match result {
        Ok(signed) => signed,
        Err(e) => {
            let msg = match &e {
                Error::InvalidCredentials => {
                    "The email address or password is not correct.".to_owned()
                }
                Error::RateLimited(_) | Error::Overloaded(_) | Error::AccountUnavailable(_) => {
                    e.to_string()
                }
                Error::InvalidInput { message, .. } => message.clone(),
                _ => "Signing in failed; please try again.".to_owned(),
            };
            return sign_in_page(&s, jar, &f.params, &req, Some(&msg), &f.email);
        }
    };
    let (jar, _) = session_cookies(&s, jar, &signed);
    match s
        .engine
        .issue_code(
            &iss,
            &req,
            signed.session.customer_id,
            signed.session.id,
            signed.session.created_at,
        )
        .await
    {
        Ok(url) => (jar, see_other(&url)).into_response(),
        Err(e) => redirect_error(&iss, &req.redirect_uri, req.state.as_deref(), &e),
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
    /// Revocation only: the token to revoke.
    token: Option<String>,
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
        return with_cors(
            s,
            headers,
            None,
            bearer_error("send the access token as a Bearer token"),
        )
        .await;
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
        (status = 401, description = "No valid access token (with WWW-Authenticate)", body = OAuthErrorBody)))]
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
        (status = 401, description = "No valid access token (with WWW-Authenticate)", body = OAuthErrorBody)))]
async fn userinfo_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<UserinfoForm>, FormRejection>,
) -> Response {
    let from_form = form.ok().and_then(|Form(f)| f.access_token);
    let token = bearer(&headers).or(from_form);
    userinfo_for(&s, &headers, token).await
}

/// Token revocation (RFC 7009): 200 whether or not the token was known.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oidc",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked (or never valid)"), OAuthErrors))]
async fn revoke(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let (f, auth) = match client_form(&headers, form) {
        Ok(v) => v,
        Err(e) => return oauth_error(&e),
    };
    let Some(t) = f.token.as_deref() else {
        return oauth_error(&Error::OAuth {
            error: "invalid_request",
            description: "token is missing".into(),
        });
    };
    let r = match s.engine.revoke_token(&auth, t).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(&e),
    };
    with_cors(&s, &headers, Some(&auth.client_id), r).await
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogoutQuery {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// RP-initiated logout: ends the browser session; redirects to a registered
/// post_logout_redirect_uri when the id_token_hint proves which client asks.
#[utoipa::path(get, path = "/oauth2/logout", tag = "oidc", params(LogoutQuery),
    responses(
        (status = 200, description = "Signed out page", content_type = "text/html", body = String),
        (status = 303, description = "Signed out; back to the client",
            headers(("Location" = String, description = "The redirect"))),
        (status = 400, description = "A bad hint or redirect: an error page", content_type = "text/html", body = String)))]
async fn logout(
    State(s): State<AppState>,
    jar: CookieJar,
    q: Result<Query<LogoutQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error_page(&Error::OAuth {
            error: "invalid_request",
            description: "the logout parameters are malformed".into(),
        });
    };
    let (session_name, csrf_name) = cookie_names(&s);
    let session = jar.get(session_name).map(|c| c.value().to_owned());
    match s
        .engine
        .end_session(
            q.id_token_hint.as_deref(),
            q.post_logout_redirect_uri.as_deref(),
            q.state.as_deref(),
            session.as_deref(),
        )
        .await
    {
        Ok(target) => {
            let jar = jar
                .add(cookie(&s, session_name, String::new(), true, 0))
                .add(cookie(&s, csrf_name, String::new(), false, 0));
            let r = match target {
                Some(url) => see_other(&url),
                None => page(
                    StatusCode::OK,
                    "Signed out",
                    "<h1>You are signed out</h1><p>You can close this window.</p>",
                ),
            };
            (jar, r).into_response()
        }
        Err(e) => error_page(&e),
    }
}
