//! The OpenID Connect provider's flows, free of HTTP: validating an authorization request,
//! deciding whether the browser's session is enough (prompt, max_age), issuing single-use
//! codes bound to a PKCE S256 challenge, exchanging them for tokens (ID token signed by
//! `signing`, opaque access and refresh tokens stored as SHA-256), refresh-token rotation with
//! reuse detection that revokes the whole family, userinfo by scope, revocation and
//! RP-initiated logout. Protocol errors are `Error::OAuth` with the RFC 6749 error code.

pub(crate) mod clients;
pub(crate) mod grants;
pub(crate) mod introspect;
pub(crate) mod signing;

use crate::Engine;
use crate::accounts::record::{CUSTOMER_COLUMNS, Customer, row_to_customer};
use crate::credentials::tokens;
use crate::error::{Error, Result};
use crate::oidc::clients::OidcClient;
use crate::time::{from_us, to_us};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

pub const CODE_TTL: Duration = Duration::minutes(10);
pub const ACCESS_TOKEN_TTL: Duration = Duration::hours(1);
pub const ID_TOKEN_TTL: Duration = Duration::hours(1);
pub const REFRESH_TOKEN_TTL: Duration = Duration::days(30);
/// Authentication context class of a sign-in with a password (or one method) only.
pub const ACR_PASSWORD: &str = "urn:vestibule:acr:1fa";
/// Authentication context class of a sign-in with a second factor (NIST 800-63B AAL2).
pub const ACR_MFA: &str = "urn:vestibule:acr:2fa";

/// The acr a sign-in with these (space-separated) methods reaches.
pub fn acr_for(amr: &str) -> &'static str {
    if amr.split(' ').any(|m| m == "mfa") {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

/// The claims the provider itself issues (in ID tokens and userinfo), as discovery lists them
/// before the organisation's attribute claims; no attribute may be released under one.
pub const CLAIMS: [&str; 19] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "acr",
    "sid",
    "email",
    "email_verified",
    "name",
    "locale",
    "updated_at",
    "phone_number",
    "phone_number_verified",
    "tier",
    "roles",
];

/// The scopes the provider knows; others are ignored, as OpenID Connect asks. `roles` adds
/// the customer's `tier` and `roles` claims (what the business's apps authorise by).
pub const SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "phone",
    "offline_access",
    "roles",
];

fn oauth(error: &'static str, description: impl Into<String>) -> Error {
    Error::OAuth {
        error,
        description: description.into(),
    }
}

/// The query of an authorization request, as received.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    /// Preferred languages for the pages (space-separated BCP 47 tags).
    pub ui_locales: Option<String>,
    /// Requested authentication context classes, most preferred first.
    pub acr_values: Option<String>,
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt_login: bool,
    pub prompt_none: bool,
    /// `prompt=create` (Initiating User Registration via OpenID Connect 1.0): show the
    /// sign-up page first; a session is not reused.
    #[serde(default)]
    pub prompt_create: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// The client asked for a second factor (`acr_values` names [`ACR_MFA`]).
    pub wants_mfa: bool,
}

/// What the browser should see next.
#[derive(Debug, Clone, PartialEq)]
pub enum Authorization {
    /// Send the browser to this URL (the client's redirect URI with `code` or `error`).
    Redirect(String),
    /// Show the sign-in page for this request.
    SignIn(Box<AuthRequest>),
    /// Signed in, but first ask for the attributes this request's scope is due to ask for
    /// (the hosted "a few more details" step, which comes back to the request).
    Profile,
}

/// How a client authenticated at the token or revocation endpoint.
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// A token endpoint request (form fields).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// A successful token response (RFC 6749 §5.1 + `id_token`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The claims of an ID token this provider issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub sid: String,
    /// How the customer authenticated (RFC 8176): `pwd`, `otp`, `mfa`, …
    #[serde(default)]
    pub amr: Vec<String>,
    /// The assurance that gives: [`ACR_MFA`] with a second factor, else [`ACR_PASSWORD`].
    #[serde(default)]
    pub acr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// With the `roles` scope: the customer's tier and roles.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub roles: Option<Vec<String>>,
    /// The custom attributes the granted scopes release (see [`crate::AttributeDefinition`]).
    #[serde(flatten, default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// An RP-initiated logout request (RP-Initiated Logout 1.0 §2), by GET or POST.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub ui_locales: Option<String>,
}

/// What a logout request leads to.
#[derive(Debug, Clone)]
pub struct LogoutPlan {
    /// Ask the customer before ending the browser's session.
    pub ask: bool,
    /// Where to send the browser afterwards (registered for the client), with `state`.
    pub redirect: Option<String>,
    /// The client asking, when known (named on the confirmation page).
    pub client_name: Option<String>,
    end_hinted: Option<(Uuid, Uuid)>,
}

/// Append query parameters to a redirect URI (keeping any it already has).
pub fn redirect_with(uri: &str, params: &[(&str, Option<&str>)]) -> String {
    if params.iter().all(|(_, v)| v.is_none()) {
        // Nothing to add: the URI as registered (no stray `?`).
        return uri.to_owned();
    }
    match url::Url::parse(uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    if let Some(v) = v {
                        q.append_pair(k, v);
                    }
                }
            }
            u.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}

/// The scopes of a request the provider may keep: its own, and ones that may be attribute
/// scopes ([`grantable`] keeps only the defined ones when a code is issued). Unknown others are
/// ignored, as OpenID Connect asks.
fn scope_set(scope: &str) -> Vec<&str> {
    let mut v: Vec<&str> = scope
        .split(' ')
        .filter(|s| SCOPES.contains(s) || crate::accounts::attributes::is_scope_token(s))
        .collect();
    v.sort_unstable();
    v.dedup();
    v.truncate(30);
    v
}

/// A request's scope without the custom scopes no attribute definition names.
fn grantable(scope: &str, defs: &crate::AttributeDefinitions) -> String {
    let defined = defs.scopes();
    scope_set(scope)
        .into_iter()
        .filter(|s| SCOPES.contains(s) || defined.iter().any(|d| d == s))
        .collect::<Vec<_>>()
        .join(" ")
}

fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

fn bounded(field: &'static str, v: Option<&String>, max: usize) -> Result<Option<String>> {
    match v {
        Some(s) if s.len() > max || s.chars().any(char::is_control) => Err(oauth(
            "invalid_request",
            format!("{field} is too long or contains control characters"),
        )),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => Ok(Some(s.clone())),
        None => Ok(None),
    }
}

fn claims_for(c: &Customer, scope: &str, defs: &crate::AttributeDefinitions) -> serde_json::Value {
    let s = scope_set(scope);
    let mut m = defs.claims(&c.attributes, scope);
    m.insert("sub".into(), json!(c.id));
    if s.contains(&"email") {
        m.insert("email".into(), json!(c.email));
        m.insert("email_verified".into(), json!(c.email_verified));
    }
    if s.contains(&"profile") {
        m.insert("name".into(), json!(c.display_name));
        m.insert("locale".into(), json!(c.locale));
        m.insert("updated_at".into(), json!(c.updated_at.timestamp()));
    }
    if s.contains(&"phone")
        && let Some(p) = &c.phone
    {
        m.insert("phone_number".into(), json!(p));
        m.insert("phone_number_verified".into(), json!(false));
    }
    if s.contains(&"roles") {
        m.insert("tier".into(), json!(c.tier));
        m.insert("roles".into(), json!(c.roles));
    }
    serde_json::Value::Object(m)
}

struct Grant {
    family_id: String,
    client_id: String,
    customer_id: Uuid,
    session_id: String,
    /// The grant's scope: what a refresh token carries on.
    scope: String,
    /// A narrower scope for this access token and ID token (a refresh asking for less).
    access_scope: Option<String>,
    nonce: Option<String>,
    auth_time: DateTime<Utc>,
    /// RFC 8176 methods, space-separated.
    amr: String,
    code_hash: Option<Vec<u8>>,
}

impl Engine {
    /// First half of an authorization request: the client and redirect URI. Errors here
    /// must be shown to the user, never sent to the unverified redirect URI.
    pub async fn authorize_client(&self, p: &AuthorizeParams) -> Result<OidcClient> {
        let id = p
            .client_id
            .as_deref()
            .ok_or_else(|| oauth("invalid_request", "client_id is missing"))?;
        let client = self
            .client(id)
            .await?
            .ok_or_else(|| oauth("invalid_client", "unknown client"))?;
        let uri = p
            .redirect_uri
            .as_deref()
            .ok_or_else(|| oauth("invalid_request", "redirect_uri is missing"))?;
        if !client.allows_redirect(uri) {
            return Err(oauth(
                "invalid_request",
                "redirect_uri is not registered for this client",
            ));
        }
        Ok(client)
    }

    /// Second half: everything else. Errors here go back to the client's redirect URI.
    pub fn authorize_request(
        &self,
        client: &OidcClient,
        p: &AuthorizeParams,
    ) -> Result<AuthRequest> {
        if p.response_type.as_deref() != Some("code") {
            return Err(oauth(
                "unsupported_response_type",
                "only the authorization code flow (response_type=code) is supported",
            ));
        }
        let scope = p.scope.clone().unwrap_or_default();
        let scopes = scope_set(&scope);
        if !scopes.contains(&"openid") {
            return Err(oauth("invalid_scope", "the openid scope is required"));
        }
        let challenge = p.code_challenge.as_deref().ok_or_else(|| {
            oauth(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            )
        })?;
        if p.code_challenge_method.as_deref() != Some("S256") {
            return Err(oauth(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not allowed)",
            ));
        }
        if challenge.len() != 43 || !is_pkce_value(challenge) {
            return Err(oauth(
                "invalid_request",
                "code_challenge is not a base64url SHA-256",
            ));
        }
        let prompts: Vec<&str> = p
            .prompt
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        let prompt_none = prompts.contains(&"none");
        if prompt_none && prompts.len() > 1 {
            return Err(oauth(
                "invalid_request",
                "prompt=none cannot be combined with other values",
            ));
        }
        let max_age = match p.max_age.as_deref() {
            None | Some("") => None,
            Some(s) => Some(s.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
                oauth(
                    "invalid_request",
                    "max_age must be a non-negative number of seconds",
                )
            })?),
        };
        Ok(AuthRequest {
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            redirect_uri: p.redirect_uri.clone().unwrap_or_default(),
            scope: scopes.join(" "),
            state: bounded("state", p.state.as_ref(), 2048)?,
            nonce: bounded("nonce", p.nonce.as_ref(), 512)?,
            code_challenge: challenge.to_owned(),
            prompt_login: prompts.contains(&"login"),
            prompt_none,
            prompt_create: prompts.contains(&"create"),
            max_age,
            login_hint: bounded("login_hint", p.login_hint.as_ref(), 320)?,
            ui_locales: bounded("ui_locales", p.ui_locales.as_ref(), 200)?,
            wants_mfa: bounded("acr_values", p.acr_values.as_ref(), 500)?
                .is_some_and(|v| v.split(' ').any(|a| a == ACR_MFA)),
        })
    }

    /// Decide with the browser's session (if any): a code now, the sign-in page, or
    /// `login_required` for `prompt=none`.
    pub async fn authorize_with_session(
        &self,
        issuer: &str,
        req: &AuthRequest,
        session_token: Option<&str>,
    ) -> Result<Authorization> {
        let session = match session_token {
            Some(t) => self.validate_session(t).await.ok(),
            None => None,
        };
        // A session is enough unless the client asks for a new sign-in, one more recent than
        // max_age, or a second factor this session was not proven with (acr_values): then the
        // sign-in page, where an account with a factor is always asked for it.
        let fresh = session.as_ref().is_some_and(|s| {
            !req.prompt_login
                && !req.prompt_create
                && req
                    .max_age
                    .is_none_or(|m| (self.now() - s.auth_at).num_seconds() <= m)
                && (!req.wants_mfa || s.amr.iter().any(|m| m == "mfa"))
        });
        match session {
            Some(s)
                if fresh && !req.prompt_none && self.profile_due_for(&s, req, false).await? =>
            {
                Ok(Authorization::Profile)
            }
            Some(s) if fresh => Ok(Authorization::Redirect(
                self.issue_code(issuer, req, &s).await?,
            )),
            _ if req.prompt_none => Ok(Authorization::Redirect(redirect_with(
                &req.redirect_uri,
                &[
                    ("error", Some("login_required")),
                    ("error_description", Some("the user must sign in")),
                    ("state", req.state.as_deref()),
                    ("iss", Some(issuer)),
                ],
            ))),
            _ => Ok(Authorization::SignIn(Box::new(req.clone()))),
        }
    }

    /// Whether the hosted pages should first ask `session`'s customer for attributes that
    /// `req` is due to ask for: just signed in (`at_sign_in`), or a session that is enough.
    pub async fn profile_due_for(
        &self,
        session: &crate::SessionInfo,
        req: &AuthRequest,
        at_sign_in: bool,
    ) -> Result<bool> {
        let moment = if at_sign_in {
            crate::ProfileMoment::SignIn {
                scope: Some(&req.scope),
            }
        } else {
            crate::ProfileMoment::Authorize { scope: &req.scope }
        };
        let mut conn = self.store.reader().acquire().await?;
        Ok(!self
            .profile_due_in(&mut conn, session.customer_id, moment)
            .await?
            .is_empty())
    }

    /// The customer has just signed in for `req` (or their session is enough): issue the
    /// code (the redirect URL). The code carries how and when the session was authenticated.
    pub async fn issue_code(
        &self,
        issuer: &str,
        req: &AuthRequest,
        session: &crate::SessionInfo,
    ) -> Result<String> {
        let mut tx = self.store.begin().await?;
        let url = self.insert_code(&mut tx, issuer, req, session).await?;
        tx.commit().await?;
        Ok(url)
    }

    /// Sign in with email and password for an authorization request: signed in and the code
    /// issued in the sign-in's own transaction (one commit, not two), or the second factor
    /// first (then [`Engine::issue_code`] after it); signed in without a code when there are
    /// attributes to ask for first ([`Engine::profile_due_for`]).
    pub async fn begin_sign_in_for_code(
        &self,
        email: &str,
        password: &str,
        ctx: &crate::RequestContext,
        issuer: &str,
        req: &AuthRequest,
    ) -> Result<(crate::SignInStep, Option<String>)> {
        // The attempt and the sign-in are counted for the client asking (analytics).
        let ctx = &crate::RequestContext {
            client: Some(req.client_id.clone()),
            ..ctx.clone()
        };
        let proven = self.check_sign_in_password(email, password, ctx).await?;
        let mut tx = self.store.begin().await?;
        let step = match self.password_step(&mut tx, &proven, ctx).await? {
            crate::factors::challenge::FirstStep::Step(step) => step,
            crate::factors::challenge::FirstStep::Denied => {
                tx.commit().await?;
                return Err(Error::InvalidCredentials);
            }
        };
        // No code yet when the hosted pages have attributes to ask for first.
        let url = match &step {
            crate::SignInStep::SignedIn(signed)
                if self
                    .profile_due_in(
                        &mut tx,
                        signed.session.customer_id,
                        crate::ProfileMoment::SignIn {
                            scope: Some(&req.scope),
                        },
                    )
                    .await?
                    .is_empty() =>
            {
                Some(
                    self.insert_code(&mut tx, issuer, req, &signed.session)
                        .await?,
                )
            }
            _ => None,
        };
        tx.commit().await?;
        Ok((step, url))
    }

    async fn insert_code(
        &self,
        tx: &mut crate::storage::Tx,
        issuer: &str,
        req: &AuthRequest,
        session: &crate::SessionInfo,
    ) -> Result<String> {
        let customer_id = session.customer_id;
        let session_id = session.id;
        let auth_time = session.auth_at;
        let (code, digest) = tokens::new_token(self.entropy.as_ref());
        let now = self.now();
        let scope = grantable(
            &req.scope,
            &crate::accounts::attributes::read(&mut **tx).await?,
        );
        sqlx::query(
            "INSERT INTO oidc_codes (code_hash, client_id, customer_id, session_id, redirect_uri, scope, nonce, \
             code_challenge, auth_time_us, created_us, expires_us, amr) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .bind(digest)
        .bind(&req.client_id)
        .bind(customer_id.to_string())
        .bind(session_id.to_string())
        .bind(&req.redirect_uri)
        .bind(&scope)
        .bind(req.nonce.as_deref())
        .bind(&req.code_challenge)
        .bind(to_us(auth_time))
        .bind(to_us(now))
        .bind(to_us(now + CODE_TTL))
        .bind(session.amr.join(" "))
        .execute(&mut **tx)
        .await?;
        Ok(redirect_with(
            &req.redirect_uri,
            &[
                ("code", Some(&code)),
                ("state", req.state.as_deref()),
                ("iss", Some(issuer)),
            ],
        ))
    }

    /// Authenticate the client at the token/revocation endpoints.
    async fn token_client(&self, auth: &ClientAuth) -> Result<OidcClient> {
        let client = match &auth.client_secret {
            Some(secret) => self.authenticate_client(&auth.client_id, secret).await.ok(),
            None => self.client(&auth.client_id).await?.filter(|c| c.public),
        };
        client.ok_or_else(|| oauth("invalid_client", "client authentication failed"))
    }

    /// The token endpoint: `authorization_code` (PKCE S256), `refresh_token`, and
    /// `client_credentials` for confidential clients (a token naming the client).
    pub async fn token(
        &self,
        issuer: &str,
        auth: &ClientAuth,
        req: &TokenRequest,
    ) -> Result<TokenResponse> {
        let client = self.token_client(auth).await?;
        self.ensure_signing_keys().await?;
        match req.grant_type.as_deref() {
            Some("authorization_code") => self.exchange_code(issuer, &client, req).await,
            Some("refresh_token") => self.refresh(issuer, &client, req).await,
            Some("client_credentials") => self.client_credentials(&client, auth).await,
            Some(_) => Err(oauth(
                "unsupported_grant_type",
                "use authorization_code, refresh_token or client_credentials",
            )),
            None => Err(oauth("invalid_request", "grant_type is missing")),
        }
    }

    async fn exchange_code(
        &self,
        issuer: &str,
        client: &OidcClient,
        req: &TokenRequest,
    ) -> Result<TokenResponse> {
        let code = req
            .code
            .as_deref()
            .ok_or_else(|| oauth("invalid_request", "code is missing"))?;
        let digest = tokens::digest(code);
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let row = sqlx::query(
            "UPDATE oidc_codes SET used_us = $1 WHERE code_hash = $2 AND used_us IS NULL \
             RETURNING client_id, customer_id, session_id, redirect_uri, scope, nonce, code_challenge, auth_time_us, expires_us, amr",
        )
        .bind(to_us(now))
        .bind(&digest)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Used before (or unknown): a replayed code revokes what it was exchanged for.
            // Every token issued from it — including those obtained by refreshing them, which
            // share the code's token family (RFC 6749 §4.1.2).
            let n = sqlx::query(
                "UPDATE oidc_tokens SET revoked_us = $1 WHERE revoked_us IS NULL AND family_id IN \
                 (SELECT family_id FROM oidc_tokens WHERE code_hash = $2)",
            )
            .bind(to_us(now))
            .bind(&digest)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            if n > 0 {
                tracing::warn!(client = %client.id, revoked = n, "authorization code reused; tokens revoked");
            }
            return Err(oauth(
                "invalid_grant",
                "the code is invalid, expired or already used",
            ));
        };
        let invalid = |m: &str| oauth("invalid_grant", m.to_owned());
        if row.try_get::<String, _>("client_id")? != client.id {
            return Err(invalid("the code was issued to another client"));
        }
        if from_us(row.try_get("expires_us")?) <= now {
            tx.commit().await?;
            return Err(invalid("the code is invalid, expired or already used"));
        }
        if req.redirect_uri.as_deref() != Some(row.try_get::<String, _>("redirect_uri")?.as_str()) {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        let verifier = req.code_verifier.as_deref().unwrap_or("");
        if !is_pkce_value(verifier)
            || pkce_s256(verifier) != row.try_get::<String, _>("code_challenge")?
        {
            tx.commit().await?;
            return Err(invalid("code_verifier does not match the code_challenge"));
        }
        let customer_id = Uuid::parse_str(&row.try_get::<String, _>("customer_id")?)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let grant = Grant {
            family_id: crate::clock::new_id(now, self.entropy.as_ref()).to_string(),
            client_id: client.id.clone(),
            customer_id,
            session_id: row.try_get("session_id")?,
            scope: row.try_get("scope")?,
            access_scope: None,
            nonce: row.try_get("nonce")?,
            auth_time: from_us(row.try_get("auth_time_us")?),
            amr: row.try_get("amr")?,
            code_hash: Some(digest),
        };
        let response = self
            .issue_tokens(&mut tx, issuer, client, &grant, true)
            .await?;
        tx.commit().await?;
        Ok(response)
    }

    async fn refresh(
        &self,
        issuer: &str,
        client: &OidcClient,
        req: &TokenRequest,
    ) -> Result<TokenResponse> {
        let token = req
            .refresh_token
            .as_deref()
            .ok_or_else(|| oauth("invalid_request", "refresh_token is missing"))?;
        let digest = tokens::digest(token);
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let row = sqlx::query(
            "UPDATE oidc_tokens SET used_us = $1 WHERE token_hash = $2 AND kind = 'refresh' \
             AND used_us IS NULL AND revoked_us IS NULL AND expires_us > $1 AND client_id = $3 \
             RETURNING family_id, customer_id, session_id, scope, nonce, auth_time_us, amr",
        )
        .bind(to_us(now))
        .bind(&digest)
        .bind(&client.id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // A rotated (or revoked) refresh token presented again: someone holds a copy.
            // Revoke the whole family so neither copy works any more.
            let family: Option<(String,)> = sqlx::query_as(
                "SELECT family_id FROM oidc_tokens WHERE token_hash = $1 AND kind = 'refresh' AND client_id = $2 \
                 AND (used_us IS NOT NULL OR revoked_us IS NOT NULL)",
            )
            .bind(&digest)
            .bind(&client.id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((family,)) = family {
                sqlx::query("UPDATE oidc_tokens SET revoked_us = $1 WHERE family_id = $2 AND revoked_us IS NULL")
                    .bind(to_us(now))
                    .bind(&family)
                    .execute(&mut *tx)
                    .await?;
                tracing::warn!(client = %client.id, "refresh token reused; token family revoked");
            }
            tx.commit().await?;
            return Err(oauth(
                "invalid_grant",
                "the refresh token is invalid, expired or already used",
            ));
        };
        // RFC 6749 §6: a refresh may narrow the scope of the new access token (and ID
        // token); the new refresh token keeps the grant's original scope, so a client that
        // asks for less once (mod_auth_openidc sends its configured scope every time) can
        // still refresh next time.
        let scope: String = row.try_get("scope")?;
        let narrowed = match req.scope.as_deref() {
            None | Some("") => None,
            Some(asked) => {
                let have = scope_set(&scope);
                let mut want = scope_set(asked);
                // Custom scopes the grant does not have are unknown to it: ignored.
                want.retain(|s| SCOPES.contains(s) || have.contains(s));
                if !want.iter().all(|s| have.contains(s)) {
                    return Err(oauth("invalid_scope", "a refresh cannot widen the scope"));
                }
                Some(want.join(" "))
            }
        };
        let grant = Grant {
            family_id: row.try_get("family_id")?,
            client_id: client.id.clone(),
            customer_id: Uuid::parse_str(&row.try_get::<String, _>("customer_id")?)
                .map_err(|e| Error::Internal(e.to_string()))?,
            session_id: row.try_get("session_id")?,
            scope,
            access_scope: narrowed,
            nonce: row.try_get("nonce")?,
            auth_time: from_us(row.try_get("auth_time_us")?),
            amr: row.try_get("amr")?,
            code_hash: None,
        };
        let response = self
            .issue_tokens(&mut tx, issuer, client, &grant, false)
            .await?;
        tx.commit().await?;
        Ok(response)
    }

    async fn issue_tokens(
        &self,
        tx: &mut crate::storage::Tx,
        issuer: &str,
        client: &OidcClient,
        g: &Grant,
        with_nonce: bool,
    ) -> Result<TokenResponse> {
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(g.customer_id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| oauth("invalid_grant", "the account no longer exists"))?;
        let customer = row_to_customer(&row)?;
        if customer.status != crate::accounts::record::CustomerStatus::Active {
            return Err(oauth(
                "invalid_grant",
                "the account cannot sign in right now",
            ));
        }
        let now = self.now();
        let defs = crate::accounts::attributes::read(&mut **tx).await?;
        let grant_scopes = scope_set(&g.scope);
        let access_scope = g.access_scope.clone().unwrap_or_else(|| g.scope.clone());
        let scopes = scope_set(&access_scope);
        let store = |kind: &'static str, ttl: Duration, scope: String| {
            let (token, digest) = tokens::new_token(self.entropy.as_ref());
            (token, digest, kind, now + ttl, scope)
        };
        let mut issued = vec![store("access", ACCESS_TOKEN_TTL, access_scope.clone())];
        // A refresh token while the grant has offline_access — also when this refresh asked
        // for a narrower access token (the presented refresh token is already spent).
        if grant_scopes.contains(&"offline_access") {
            issued.push(store("refresh", REFRESH_TOKEN_TTL, g.scope.clone()));
        }
        for (_, digest, kind, expires, scope) in &issued {
            sqlx::query(
                "INSERT INTO oidc_tokens (token_hash, kind, family_id, client_id, customer_id, session_id, scope, nonce, \
                 auth_time_us, code_hash, created_us, expires_us, amr) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
            )
            .bind(digest)
            .bind(*kind)
            .bind(&g.family_id)
            .bind(&g.client_id)
            .bind(g.customer_id.to_string())
            .bind(&g.session_id)
            .bind(scope)
            .bind(g.nonce.as_deref())
            .bind(to_us(g.auth_time))
            .bind(g.code_hash.clone())
            .bind(to_us(now))
            .bind(to_us(*expires))
            .bind(&g.amr)
            .execute(&mut **tx)
            .await?;
        }
        let claims = IdClaims {
            iss: issuer.to_owned(),
            sub: customer.id.to_string(),
            aud: client.id.clone(),
            exp: (now + ID_TOKEN_TTL).timestamp(),
            iat: now.timestamp(),
            auth_time: g.auth_time.timestamp(),
            nonce: if with_nonce { g.nonce.clone() } else { None },
            sid: g.session_id.clone(),
            amr: g
                .amr
                .split(' ')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            acr: acr_for(&g.amr).to_owned(),
            email: scopes.contains(&"email").then(|| customer.email.clone()),
            email_verified: scopes.contains(&"email").then_some(customer.email_verified),
            name: scopes
                .contains(&"profile")
                .then(|| customer.display_name.clone()),
            tier: scopes.contains(&"roles").then(|| customer.tier.clone()),
            roles: scopes.contains(&"roles").then(|| customer.roles.clone()),
            attributes: defs.claims(&customer.attributes, &access_scope),
        };
        let id_token = self.sign_jwt(client.id_token_alg, &claims).await?;
        let mut it = issued.into_iter();
        let access = it.next().map(|t| t.0).unwrap_or_default();
        let refresh = it.next().map(|t| t.0);
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_TTL.num_seconds(),
            scope: scopes.join(" "),
            id_token: Some(id_token),
            refresh_token: refresh,
        })
    }

    /// Userinfo: the claims the access token's scope allows.
    pub async fn userinfo(&self, access_token: &str) -> Result<serde_json::Value> {
        let now = to_us(self.now());
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT customer_id, scope FROM oidc_tokens WHERE token_hash = $1 AND kind = 'access' \
             AND revoked_us IS NULL AND expires_us > $2",
        )
        .bind(tokens::digest(access_token))
        .bind(now)
        .fetch_optional(self.store.reader())
        .await?;
        let (customer_id, scope) = row.ok_or(Error::InvalidToken)?;
        let sql =
            format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1 AND status = 'active'");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&customer_id)
            .fetch_optional(self.store.reader())
            .await?
            .ok_or(Error::InvalidToken)?;
        let defs = self.attribute_definitions().await?;
        Ok(claims_for(&row_to_customer(&row)?, &scope, &defs))
    }

    /// RFC 7009 revocation: a refresh token revokes its family, an access token itself.
    /// Unknown tokens are ignored (§2.2: the answer is the same as for a revoked one); a token
    /// issued to another client is refused with `unauthorized_client` and left alone (§2.1).
    pub async fn revoke_token(&self, auth: &ClientAuth, token: &str) -> Result<()> {
        let client = self.token_client(auth).await?;
        let digest = tokens::digest(token);
        let now = to_us(self.now());
        let mut tx = self.store.begin().await?;
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT kind, family_id, client_id FROM oidc_tokens WHERE token_hash = $1",
        )
        .bind(&digest)
        .fetch_optional(&mut *tx)
        .await?;
        // A client-credentials token: only its own client may revoke it.
        let machine: Option<String> =
            sqlx::query_scalar("SELECT client_id FROM client_tokens WHERE token_hash = $1")
                .bind(&digest)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(owner) = machine {
            if owner != client.id {
                return Err(oauth(
                    "unauthorized_client",
                    "this token was issued to another client; only that client may revoke it",
                ));
            }
            sqlx::query("UPDATE client_tokens SET revoked_us = $1 WHERE token_hash = $2 AND revoked_us IS NULL")
                .bind(now)
                .bind(&digest)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(());
        }
        if row
            .as_ref()
            .is_some_and(|(_, _, owner)| *owner != client.id)
        {
            return Err(oauth(
                "unauthorized_client",
                "this token was issued to another client; only that client may revoke it",
            ));
        }
        match row {
            Some((kind, family, _)) if kind == "refresh" => {
                sqlx::query("UPDATE oidc_tokens SET revoked_us = $1 WHERE family_id = $2 AND revoked_us IS NULL")
                    .bind(now)
                    .bind(&family)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(_) => {
                sqlx::query("UPDATE oidc_tokens SET revoked_us = $1 WHERE token_hash = $2 AND revoked_us IS NULL")
                    .bind(now)
                    .bind(&digest)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {}
        }
        tx.commit().await?;
        Ok(())
    }

    /// RP-initiated logout, first step: check the request and decide whether the customer
    /// must be asked. The browser's session ends without asking only when the
    /// `id_token_hint` proves it is that customer's relying party asking (or there is no
    /// browser session to end); otherwise — no hint, or a hint for someone else — any page
    /// could be signing the customer out, so they are asked (RP-Initiated Logout 1.0 §2).
    /// A `post_logout_redirect_uri` must be registered as such for the client named by the
    /// hint or by `client_id`.
    pub async fn plan_logout(
        &self,
        req: &LogoutRequest,
        browser_session: Option<&str>,
    ) -> Result<LogoutPlan> {
        let hint: Option<IdClaims> = match req.id_token_hint.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => Some(self.verify_jwt(t, None).await.map_err(|_| {
                oauth(
                    "invalid_request",
                    "the id_token_hint is not a valid ID token from this provider",
                )
            })?),
            None => None,
        };
        let client_id = match (&hint, req.client_id.as_deref().filter(|c| !c.is_empty())) {
            (Some(h), Some(c)) if h.aud != c => {
                return Err(oauth(
                    "invalid_request",
                    "client_id does not match the id_token_hint",
                ));
            }
            (Some(h), _) => Some(h.aud.clone()),
            (None, c) => c.map(str::to_owned),
        };
        let client = match &client_id {
            Some(id) => Some(
                self.client(id)
                    .await?
                    .ok_or_else(|| oauth("invalid_request", "unknown client"))?,
            ),
            None => None,
        };
        let redirect = match (
            req.post_logout_redirect_uri
                .as_deref()
                .filter(|u| !u.is_empty()),
            &client,
        ) {
            (Some(uri), Some(c)) => {
                if !c.allows_post_logout_redirect(uri) {
                    return Err(oauth(
                        "invalid_request",
                        "post_logout_redirect_uri is not registered for this client",
                    ));
                }
                Some(redirect_with(uri, &[("state", req.state.as_deref())]))
            }
            (Some(_), None) => {
                return Err(oauth(
                    "invalid_request",
                    "post_logout_redirect_uri needs an id_token_hint or client_id",
                ));
            }
            _ => None,
        };
        let browser = match browser_session {
            Some(t) => self.validate_session(t).await.ok(),
            None => None,
        };
        let hinted = hint
            .as_ref()
            .and_then(|h| Some((Uuid::parse_str(&h.sub).ok()?, Uuid::parse_str(&h.sid).ok()?)));
        let ask = match (&browser, hinted) {
            (None, _) => false,
            (Some(b), Some((customer, _))) => b.customer_id != customer,
            (Some(_), None) => true,
        };
        // The hinted session ends too when it belongs to whoever this browser is (or the
        // browser has none): never another customer's session on someone else's say-so.
        let end_hinted = hinted
            .filter(|(customer, _)| browser.as_ref().is_none_or(|b| b.customer_id == *customer));
        Ok(LogoutPlan {
            ask,
            redirect,
            client_name: client.map(|c| c.name),
            end_hinted,
        })
    }

    /// RP-initiated logout, second step (at once, or after the customer confirmed): end the
    /// browser's session and the hinted one if it is theirs.
    pub async fn end_session(
        &self,
        plan: &LogoutPlan,
        browser_session: Option<&str>,
    ) -> Result<()> {
        if let Some((customer, session)) = plan.end_hinted {
            let mut tx = self.store.begin().await?;
            self.revoke_all_sessions_tx(&mut tx, customer, Some(session))
                .await?;
            tx.commit().await?;
        }
        if let Some(t) = browser_session {
            self.sign_out(t).await?;
        }
        Ok(())
    }
}
