//! Leaving for an upstream provider and coming back (OpenID Connect authorization code flow
//! with PKCE, as a relying party).
//!
//! The browser keeps a *binding* (256 random bits, in an HttpOnly cookie); the store keeps
//! its SHA-256. The PKCE verifier, `state` and `nonce` are HMACs of the binding, so the
//! callback is finished only by the browser that started it, and nothing stored or sent in
//! a URL lets anyone else finish it. A flow lives ten minutes and is spent by the transaction
//! that uses it.

use super::providers::{ProviderSecret, UpstreamProvider};
use super::{Fetch, check_endpoint};
use crate::Engine;
use crate::accounts::normalize;
use crate::accounts::record::{CustomerStatus, check_locale};
use crate::accounts::sessions::RequestContext;
use crate::clock::new_id;
use crate::credentials::tokens;
use crate::error::{Error, Result};
use crate::factors::challenge::{FirstProof, FirstStep, SignInStep};
use crate::oidc::signing::verify_foreign_jwt;
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::sync::Arc;
use uuid::Uuid;

/// How long a flow waits for the provider (and then for the password that links).
pub const SOCIAL_FLOW_TTL: Duration = Duration::minutes(10);
/// How long a provider's discovery document and keys are kept before they are read again.
const METADATA_TTL: Duration = Duration::hours(1);
/// Clock skew allowed on an ID token's `exp` and `iat`.
const SKEW: i64 = 60;

/// Where the provider sends the customer back (register it at the provider).
pub fn social_redirect_uri(public_url: &str) -> String {
    format!(
        "{}/signin/social/callback",
        public_url.trim_end_matches('/')
    )
}

/// A provider's discovery document, the parts used, and its keys.
#[derive(Debug)]
pub(crate) struct UpstreamMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    jwks: std::sync::Mutex<Value>,
    fetched_at: DateTime<Utc>,
}

/// Per-engine cache of providers' metadata.
pub(crate) type MetadataCache =
    std::sync::Mutex<std::collections::HashMap<Uuid, Arc<UpstreamMetadata>>>;

/// Leaving for the provider.
#[derive(Debug, Clone)]
pub struct SocialStart {
    /// Keep it in this browser (an HttpOnly cookie that is sent when the provider redirects
    /// back: `SameSite=Lax`) and give it back with the callback.
    pub binding: String,
    /// Send the browser here.
    pub redirect: String,
}

/// Coming back.
#[derive(Debug)]
pub enum SocialOutcome {
    /// Signed in with a linked (or new) account, or on to its second factor; then
    /// `return_to`.
    SignIn {
        step: SignInStep,
        return_to: String,
        /// A new account was made from the provider's verified address.
        created: bool,
    },
    /// The signed-in customer linked this provider account.
    Linked { provider: String, return_to: String },
    /// An account with the provider's verified address exists and is not linked: its
    /// password links it ([`Engine::link_social_with_password`], same binding).
    ProveAccount { email: String, provider: String },
}

fn derive(binding: &str, label: &str) -> Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(binding.as_bytes())
        .map_err(|e| Error::Internal(e.to_string()))?;
    mac.update(label.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fn upstream(what: impl std::fmt::Display) -> Error {
    Error::Upstream(what.to_string())
}

/// A path on this server to go back to: `/…`, never `//host` or a scheme.
fn check_return_to(r: &str) -> Result<String> {
    if crate::frontdoor::is_local_path(r) {
        Ok(r.to_owned())
    } else {
        Err(Error::invalid("return_to", "a path on this server"))
    }
}

fn claim_str<'a>(claims: &'a Value, k: &str) -> Option<&'a str> {
    claims.get(k).and_then(|v| v.as_str())
}

/// `email_verified` as providers send it: a boolean, or (some) the string "true".
fn verified(claims: &Value) -> bool {
    match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

struct Flow {
    provider: Uuid,
    intent: String,
    stage: String,
    customer: Option<Uuid>,
    return_to: String,
    subject: Option<String>,
    upstream_email: Option<String>,
}

impl Engine {
    /// The provider's discovery document and keys: cached for an hour, checked to name the
    /// configured issuer and only endpoints the engine will talk to.
    async fn upstream_metadata(
        &self,
        fetch: &impl Fetch,
        p: &UpstreamProvider,
    ) -> Result<Arc<UpstreamMetadata>> {
        let now = self.now();
        if let Some(m) = self.lock_metadata().get(&p.id).cloned()
            && m.fetched_at + METADATA_TTL > now
        {
            return Ok(m);
        }
        let doc = fetch
            .get_json(
                &format!("{}/.well-known/openid-configuration", p.issuer),
                None,
            )
            .await
            .map_err(upstream)?;
        let field = |k: &'static str| -> Result<String> {
            let v = claim_str(&doc, k).ok_or_else(|| upstream(format!("discovery lacks {k}")))?;
            check_endpoint("issuer", v)
                .map_err(|_| upstream(format!("discovery {k} is not https")))?;
            Ok(v.to_owned())
        };
        let issuer = claim_str(&doc, "issuer").unwrap_or_default();
        if issuer.trim_end_matches('/') != p.issuer {
            return Err(upstream(format!(
                "discovery names the issuer {issuer:?}, not {:?}",
                p.issuer
            )));
        }
        let jwks_uri = field("jwks_uri")?;
        let jwks = fetch.get_json(&jwks_uri, None).await.map_err(upstream)?;
        let m = Arc::new(UpstreamMetadata {
            issuer: issuer.to_owned(),
            authorization_endpoint: field("authorization_endpoint")?,
            token_endpoint: field("token_endpoint")?,
            userinfo_endpoint: field("userinfo_endpoint").ok(),
            jwks_uri,
            jwks: std::sync::Mutex::new(jwks),
            fetched_at: now,
        });
        self.lock_metadata().insert(p.id, m.clone());
        Ok(m)
    }

    fn lock_metadata(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, Arc<UpstreamMetadata>>> {
        self.upstream_meta
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn forget_upstream_metadata(&self, id: Uuid) {
        self.lock_metadata().remove(&id);
    }

    /// Start signing in with a provider (or, with the customer's session, linking one to
    /// their account): the address to send the browser to and the binding it keeps.
    pub async fn begin_social_sign_in(
        &self,
        fetch: &impl Fetch,
        provider: Uuid,
        link_session: Option<&str>,
        return_to: &str,
    ) -> Result<SocialStart> {
        let return_to = check_return_to(return_to)?;
        let customer = match link_session {
            Some(t) => Some(self.validate_session(t).await?.customer_id),
            None => None,
        };
        let p = self.provider_secret(provider).await?;
        let meta = self.upstream_metadata(fetch, &p.provider).await?;
        let (binding, digest) = tokens::new_token(self.entropy.as_ref());
        let now = self.now();
        let mut tx = self.store.begin().await?;
        sqlx::query("DELETE FROM social_flows WHERE expires_us < $1")
            .bind(to_us(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO social_flows (binding_hash, provider_id, intent, stage, customer_id, return_to, created_us, expires_us) \
             VALUES ($1, $2, $3, 'started', $4, $5, $6, $7)",
        )
        .bind(digest)
        .bind(provider.to_string())
        .bind(if customer.is_some() { "link" } else { "sign_in" })
        .bind(customer.map(|c| c.to_string()))
        .bind(&return_to)
        .bind(to_us(now))
        .bind(to_us(now + SOCIAL_FLOW_TTL))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let verifier = derive(&binding, "pkce")?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut url = url::Url::parse(&meta.authorization_endpoint)
            .map_err(|_| upstream("authorization_endpoint"))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &p.provider.client_id)
            .append_pair(
                "redirect_uri",
                &social_redirect_uri(&self.config.public_url),
            )
            .append_pair("scope", &p.provider.scopes)
            .append_pair("state", &derive(&binding, "state")?)
            .append_pair("nonce", &derive(&binding, "nonce")?)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(SocialStart {
            binding,
            redirect: url.into(),
        })
    }

    async fn load_flow(&self, binding: &str) -> Result<Flow> {
        if binding.len() > 256 {
            return Err(Error::InvalidToken);
        }
        let row = sqlx::query(
            "SELECT provider_id, intent, stage, customer_id, return_to, subject, upstream_email, expires_us \
             FROM social_flows WHERE binding_hash = $1",
        )
        .bind(tokens::digest(binding))
        .fetch_optional(self.store.reader())
        .await?
        .filter(|r| {
            r.try_get::<i64, _>("expires_us")
                .is_ok_and(|e| from_us(e) > self.now())
        })
        .ok_or(Error::InvalidToken)?;
        let id = |s: String| Uuid::parse_str(&s).map_err(|e| Error::Internal(e.to_string()));
        Ok(Flow {
            provider: id(row.try_get("provider_id")?)?,
            intent: row.try_get("intent")?,
            stage: row.try_get("stage")?,
            customer: row
                .try_get::<Option<String>, _>("customer_id")?
                .map(id)
                .transpose()?,
            return_to: row.try_get("return_to")?,
            subject: row.try_get("subject")?,
            upstream_email: row.try_get("upstream_email")?,
        })
    }

    /// Spend the flow in `tx`: false when someone else already did.
    async fn take_flow(tx: &mut Tx, binding: &str) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM social_flows WHERE binding_hash = $1")
                .bind(tokens::digest(binding))
                .execute(&mut **tx)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// The code exchanged and the ID token checked: the provider's claims.
    async fn upstream_claims(
        &self,
        fetch: &impl Fetch,
        p: &ProviderSecret,
        binding: &str,
        code: &str,
    ) -> Result<Value> {
        let meta = self.upstream_metadata(fetch, &p.provider).await?;
        let verifier = derive(binding, "pkce")?;
        let redirect = social_redirect_uri(&self.config.public_url);
        let basic_id: String =
            url::form_urlencoded::byte_serialize(p.provider.client_id.as_bytes()).collect();
        let basic_secret: String =
            url::form_urlencoded::byte_serialize(p.client_secret.as_bytes()).collect();
        let (status, answer) = fetch
            .post_form(
                &meta.token_endpoint,
                (&basic_id, &basic_secret),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &redirect),
                    ("code_verifier", &verifier),
                ],
            )
            .await
            .map_err(upstream)?;
        if status != 200 {
            // An invalid_grant is a spent or forged code: the customer's flow, not the server.
            if claim_str(&answer, "error") == Some("invalid_grant") {
                return Err(Error::InvalidToken);
            }
            return Err(upstream(format!(
                "token endpoint answered {status} {}",
                claim_str(&answer, "error").unwrap_or("")
            )));
        }
        let id_token = claim_str(&answer, "id_token").ok_or_else(|| upstream("no id_token"))?;
        let known = {
            let jwks = meta
                .jwks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            verify_foreign_jwt(id_token, &jwks, &p.provider.client_id)?
        };
        let claims = match known {
            Some(c) => c,
            None => {
                // A key we have not seen: the provider rotated. Read the keys once more.
                let fresh = fetch
                    .get_json(&meta.jwks_uri, None)
                    .await
                    .map_err(upstream)?;
                let c = verify_foreign_jwt(id_token, &fresh, &p.provider.client_id)?
                    .ok_or(Error::InvalidToken)?;
                *meta
                    .jwks
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
                c
            }
        };
        let now = self.now().timestamp();
        let num = |k: &str| claims.get(k).and_then(Value::as_i64);
        let aud_ok = match claims.get("aud") {
            Some(Value::Array(a)) if a.len() > 1 => {
                claim_str(&claims, "azp") == Some(p.provider.client_id.as_str())
            }
            _ => true,
        };
        let fine = claim_str(&claims, "iss") == Some(meta.issuer.as_str())
            && aud_ok
            && num("exp").is_some_and(|e| e + SKEW > now)
            && num("iat").is_none_or(|i| i - SKEW < now)
            && claim_str(&claims, "nonce") == Some(derive(binding, "nonce")?.as_str())
            && claim_str(&claims, "sub").is_some_and(|s| !s.is_empty() && s.len() <= 255);
        if !fine {
            return Err(Error::InvalidToken);
        }
        if claims.get("email").is_some() {
            return Ok(claims);
        }
        // No address in the ID token: ask userinfo, for the same subject.
        let (Some(endpoint), Some(access)) =
            (&meta.userinfo_endpoint, claim_str(&answer, "access_token"))
        else {
            return Ok(claims);
        };
        let info = fetch
            .get_json(endpoint, Some(access))
            .await
            .map_err(upstream)?;
        if claim_str(&info, "sub") != claim_str(&claims, "sub") {
            return Err(upstream("userinfo names another subject"));
        }
        let mut merged = claims;
        if let (Some(m), Some(i)) = (merged.as_object_mut(), info.as_object()) {
            for k in ["email", "email_verified", "name", "locale"] {
                if let Some(v) = i.get(k) {
                    m.insert(k.to_owned(), v.clone());
                }
            }
        }
        Ok(merged)
    }

    /// Back from the provider with `state` and `code` (and `iss`, RFC 9207, when it sends
    /// one): signed in, linked, or asked to prove the existing account.
    pub async fn finish_social_sign_in(
        &self,
        fetch: &impl Fetch,
        binding: &str,
        state: &str,
        code: &str,
        iss: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<SocialOutcome> {
        let flow = self.load_flow(binding).await?;
        let state_ok: bool =
            subtle::ConstantTimeEq::ct_eq(derive(binding, "state")?.as_bytes(), state.as_bytes())
                .into();
        if !state_ok || flow.stage != "started" || code.is_empty() || code.len() > 2048 {
            return Err(Error::InvalidToken);
        }
        let p = self.provider_secret(flow.provider).await?;
        if iss.is_some_and(|i| i.trim_end_matches('/') != p.provider.issuer) {
            return Err(Error::InvalidToken);
        }
        let claims = self.upstream_claims(fetch, &p, binding, code).await?;
        let subject = claim_str(&claims, "sub").unwrap_or_default().to_owned();
        let upstream_email = claim_str(&claims, "email").map(str::to_owned);
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !Self::take_flow(&mut tx, binding).await? {
            return Err(Error::InvalidToken);
        }
        let linked: Option<String> = sqlx::query_scalar(
            "SELECT customer_id FROM social_links WHERE provider_id = $1 AND subject = $2",
        )
        .bind(p.provider.id.to_string())
        .bind(&subject)
        .fetch_optional(&mut *tx)
        .await?;
        let linked = linked
            .map(|s| Uuid::parse_str(&s).map_err(|e| Error::Internal(e.to_string())))
            .transpose()?;
        if flow.intent == "link" {
            let me = flow.customer.ok_or(Error::InvalidToken)?;
            match linked {
                Some(other) if other != me => {
                    return Err(Error::invalid(
                        "provider",
                        "that account is already connected to another account here",
                    ));
                }
                Some(_) => {}
                None => {
                    self.insert_link(
                        &mut tx,
                        me,
                        &p.provider,
                        &subject,
                        upstream_email.as_deref(),
                        "customer",
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            return Ok(SocialOutcome::Linked {
                provider: p.provider.label,
                return_to: flow.return_to,
            });
        }
        if let Some(customer) = linked {
            sqlx::query(
                "UPDATE social_links SET last_used_us = $1 WHERE provider_id = $2 AND subject = $3",
            )
            .bind(to_us(now))
            .bind(p.provider.id.to_string())
            .bind(&subject)
            .execute(&mut *tx)
            .await?;
            // A refusal (locked, disabled) is recorded and the flow spent all the same.
            let step = self.social_step(&mut tx, customer, ctx).await;
            tx.commit().await?;
            return Ok(SocialOutcome::SignIn {
                step: step?.into_result()?,
                return_to: flow.return_to,
                created: false,
            });
        }
        let email = upstream_email
            .as_deref()
            .filter(|_| verified(&claims))
            .and_then(|e| normalize::email(e).ok())
            .ok_or_else(|| {
                Error::invalid(
                    "email",
                    "the provider did not give a verified email address: sign up with your email, then connect the provider from your account",
                )
            })?;
        let existing = sqlx::query("SELECT id, email FROM customers WHERE email_key = $1")
            .bind(&email.key)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            // Never linked silently: the account's password first.
            let customer: String = row.try_get("id")?;
            let shown: String = row.try_get("email")?;
            let digest = tokens::digest(binding);
            sqlx::query(
                "INSERT INTO social_flows (binding_hash, provider_id, intent, stage, customer_id, return_to, subject, upstream_email, created_us, expires_us) \
                 VALUES ($1, $2, 'sign_in', 'prove', $3, $4, $5, $6, $7, $8)",
            )
            .bind(digest)
            .bind(p.provider.id.to_string())
            .bind(customer)
            .bind(&flow.return_to)
            .bind(&subject)
            .bind(upstream_email.as_deref())
            .bind(to_us(now))
            .bind(to_us(now + SOCIAL_FLOW_TTL))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(SocialOutcome::ProveAccount {
                email: shown,
                provider: p.provider.label,
            });
        }
        normalize::check_single_script(&email)?;
        let name = claim_str(&claims, "name")
            .and_then(|n| normalize::text("display_name", n, 200).ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                email
                    .display
                    .split('@')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            });
        let locale = claim_str(&claims, "locale")
            .and_then(|l| check_locale(&l.replace('_', "-")).ok())
            .unwrap_or_else(|| "en".to_owned());
        let id = new_id(now, self.entropy.as_ref());
        sqlx::query(
            "INSERT INTO customers (id, email, email_key, email_skeleton, email_verified, phone, display_name, name_key, locale, attributes, \
             status, tier, roles, password_hash, mfa_enabled, created_us, updated_us, version) \
             VALUES ($1, $2, $3, $4, 1, NULL, $5, $6, $7, '{}', 'active', 'standard', '[]', NULL, 0, $8, $8, 1)",
        )
        .bind(id.to_string())
        .bind(&email.display)
        .bind(&email.key)
        .bind(normalize::email_skeleton(&email.key))
        .bind(&name)
        .bind(normalize::search_key(&name))
        .bind(&locale)
        .bind(to_us(now))
        .execute(&mut *tx)
        .await?;
        let (ip, _) = ctx.bounded();
        let country = self.geoip().and_then(|g| g.locate(&ip).country);
        crate::analytics::record(
            &mut tx,
            now,
            &crate::analytics::Event {
                kind: crate::analytics::kind::REGISTERED,
                customer: Some(id),
                client: ctx.client.as_deref().unwrap_or(""),
                method: "social",
                country: country.as_deref().unwrap_or(""),
                ..Default::default()
            },
        )
        .await?;
        crate::analytics::verified(&mut tx, now, id, "social").await?;
        self.audit(
            &mut tx,
            &format!("customer:{id}"),
            "customer.registered",
            &format!("customer:{id}"),
            None,
            json!({"email": [null, email.display], "ip": ip, "via": p.provider.label}),
        )
        .await?;
        self.insert_link(
            &mut tx,
            id,
            &p.provider,
            &subject,
            upstream_email.as_deref(),
            "customer",
        )
        .await?;
        let step = self.social_step(&mut tx, id, ctx).await?;
        tx.commit().await?;
        Ok(SocialOutcome::SignIn {
            step: step.into_result()?,
            return_to: flow.return_to,
            created: true,
        })
    }

    /// Link the provider account waiting in this flow to the existing account by giving its
    /// password (recorded and throttled as any sign-in); then signed in as it.
    pub async fn link_social_with_password(
        &self,
        binding: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<(SignInStep, String)> {
        let flow = self.load_flow(binding).await?;
        let (Some(customer), Some(subject), "prove") =
            (flow.customer, flow.subject.clone(), flow.stage.as_str())
        else {
            return Err(Error::InvalidToken);
        };
        let email = crate::accounts::record::email_of(self.store.reader(), customer)
            .await?
            .ok_or(Error::InvalidToken)?;
        let proven = self.check_sign_in_password(&email, password, ctx).await?;
        if proven.customer.id != customer {
            return Err(Error::InvalidToken);
        }
        let provider = self.provider_secret(flow.provider).await?.provider;
        let mut tx = self.store.begin().await?;
        if !Self::take_flow(&mut tx, binding).await? {
            return Err(Error::InvalidToken);
        }
        // A denied sign-in links nothing (the attempt is recorded, the flow spent).
        let step = match self.password_step(&mut tx, &proven, ctx).await? {
            FirstStep::Step(step) => step,
            FirstStep::Denied => {
                tx.commit().await?;
                return Err(Error::InvalidCredentials);
            }
        };
        match &step {
            SignInStep::SignedIn(_) => {
                self.insert_link(
                    &mut tx,
                    customer,
                    &provider,
                    &subject,
                    flow.upstream_email.as_deref(),
                    "customer",
                )
                .await?
            }
            // Connected only once the second factor or the risk check is met.
            SignInStep::SecondFactor(ch) => {
                let pending = json!({
                    "provider": provider.id,
                    "subject": subject,
                    "email": flow.upstream_email,
                });
                sqlx::query(
                    "UPDATE sign_in_challenges SET pending_link = $1 WHERE token_hash = $2",
                )
                .bind(pending.to_string())
                .bind(tokens::digest(&ch.token))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok((step, flow.return_to))
    }

    /// A challenge that carried a provider account to connect was met: connect it now.
    pub(crate) async fn finish_pending_link(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        pending: &str,
    ) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Pending {
            provider: Uuid,
            subject: String,
            email: Option<String>,
        }
        let p: Pending =
            serde_json::from_str(pending).map_err(|e| Error::Internal(e.to_string()))?;
        let provider = self.provider_secret(p.provider).await?.provider;
        self.insert_link(
            tx,
            customer,
            &provider,
            &p.subject,
            p.email.as_deref(),
            "customer",
        )
        .await
    }

    /// What the provider email of a flow waiting for the password is (for its page), if the
    /// flow is one.
    pub async fn social_flow_waiting(&self, binding: &str) -> Result<(String, String)> {
        let flow = self.load_flow(binding).await?;
        let Some(customer) = flow.customer.filter(|_| flow.stage == "prove") else {
            return Err(Error::InvalidToken);
        };
        let email = crate::accounts::record::email_of(self.store.reader(), customer)
            .await?
            .ok_or(Error::InvalidToken)?;
        let label: String =
            sqlx::query_scalar("SELECT label FROM upstream_providers WHERE id = $1")
                .bind(flow.provider.to_string())
                .fetch_optional(self.store.reader())
                .await?
                .ok_or(Error::InvalidToken)?;
        Ok((email, label))
    }

    /// A linked account's sign-in: recorded as method `social`; refused unless active; on
    /// to the second factor when it has one.
    async fn social_step(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        ctx: &RequestContext,
    ) -> Result<FirstStep> {
        let row = sqlx::query("SELECT email_key, status, mfa_enabled FROM customers WHERE id = $1")
            .bind(customer.to_string())
            .fetch_one(&mut **tx)
            .await?;
        let email_key: String = row.try_get("email_key")?;
        let status = CustomerStatus::parse(&row.try_get::<String, _>("status")?)?;
        if status != CustomerStatus::Active {
            let why = status.as_str();
            self.record_attempt(tx, &email_key, Some(customer), why, "social", ctx)
                .await?;
            return Err(Error::AccountUnavailable(why));
        }
        let mfa = row.try_get::<i64, _>("mfa_enabled")? != 0;
        let proof = FirstProof {
            customer,
            email_key: &email_key,
            mfa_enabled: mfa,
            first: "fed",
            method: "social",
            common_password: false,
        };
        self.first_step_proven(tx, proof, ctx).await
    }
}
