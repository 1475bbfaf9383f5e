//! Passkeys (WebAuthn Level 3, through webauthn-rs). A passkey is a sign-in method on its
//! own: the authenticator proves possession of the key *and* verifies the person (PIN or
//! biometric, user verification is required), so a passkey sign-in is multi-factor and is
//! never asked for another factor.
//!
//! Ceremonies are two steps. `begin_*` makes the options the browser passes to
//! `navigator.credentials.create/get` and keeps the server's half of the ceremony in
//! `webauthn_ceremonies` (stored as its token's SHA-256, five minutes, single use — taken out
//! of the store before it is checked, so an assertion cannot be replayed). Sign-in is
//! *discoverable* only: the browser offers the customer's passkeys for this site without an
//! email address, so nothing about an address's account can be learned from a challenge.
//!
//! The relying-party id is the issuer's host and the origin the issuer's origin. A signature
//! counter that goes backwards means the key may have been copied: the passkey is flagged,
//! refused from then on and the event audited; its owner sees it flagged in the account
//! center and support in the console.

use super::{Factor, FactorKind};
use crate::Engine;
use crate::accounts::record::CustomerStatus;
use crate::accounts::sessions::{RequestContext, SignedIn};
use crate::clock::new_id;
use crate::credentials::tokens;
use crate::error::{Error, Result};
use crate::risk::assess::Attempt;
use crate::risk::policy::Decision;
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

/// How long a ceremony waits for the browser.
pub const CEREMONY_TTL: Duration = Duration::minutes(5);
/// Passkeys one customer may have.
pub const MAX_PASSKEYS: i64 = 20;
/// Largest credential JSON accepted from a browser (attestation objects are small without
/// attestation certificates; this leaves room for the ones that send them anyway).
const MAX_CREDENTIAL_JSON: usize = 16 * 1024;

/// The relying party: who the passkeys are bound to.
pub(crate) fn relying_party(public_url: &str) -> Option<Webauthn> {
    let origin = Url::parse(public_url).ok()?;
    let host = origin.domain()?.to_owned();
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name("Vestibule")
        .build()
        .ok()
}

/// What the browser needs for one ceremony: give `options` to the WebAuthn API and the
/// `ceremony` back with its answer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeyCeremony {
    /// Opaque; stored only as SHA-256.
    pub ceremony: String,
    /// `PublicKeyCredentialCreationOptionsJSON` / `…RequestOptionsJSON`, as
    /// `PublicKeyCredential.parseCreationOptionsFromJSON` takes them (under `publicKey`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub options: serde_json::Value,
    pub expires_at: DateTime<Utc>,
}

fn credential_key(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

fn malformed() -> Error {
    Error::invalid(
        "credential",
        "the browser's passkey answer could not be read; try again",
    )
}

fn expired() -> Error {
    Error::invalid(
        "ceremony",
        "the passkey request has expired or was already used; try again",
    )
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    if json.len() > MAX_CREDENTIAL_JSON {
        return Err(malformed());
    }
    serde_json::from_str(json).map_err(|_| malformed())
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("webauthn: {e}"))
}

pub(crate) fn passkey_from_row(r: &sqlx::any::AnyRow) -> Result<Factor> {
    Ok(Factor {
        id: Uuid::parse_str(&r.try_get::<String, _>("id")?).map_err(internal)?,
        kind: FactorKind::Passkey,
        name: r.try_get("name")?,
        created_at: from_us(r.try_get("created_us")?),
        last_used_at: r.try_get::<Option<i64>, _>("last_used_us")?.map(from_us),
        flagged_at: r.try_get::<Option<i64>, _>("flagged_us")?.map(from_us),
    })
}

impl Engine {
    fn relying_party(&self) -> Result<&Webauthn> {
        self.webauthn.as_deref().ok_or(Error::NotConfigured(
            "passkeys (the issuer must be a host name, not an IP address)",
        ))
    }

    /// Keep the server's half of a ceremony; the token goes to the browser.
    async fn store_ceremony(
        &self,
        kind: &str,
        customer: Option<Uuid>,
        state: &impl Serialize,
        options: serde_json::Value,
    ) -> Result<PasskeyCeremony> {
        let now = self.now();
        let (token, digest) = tokens::new_token(self.entropy.as_ref());
        let mut tx = self.store.begin().await?;
        sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_us < $1")
            .bind(to_us(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (token_hash, kind, customer_id, state, expires_us) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(digest)
        .bind(kind)
        .bind(customer.map(|c| c.to_string()))
        .bind(serde_json::to_string(state).map_err(internal)?)
        .bind(to_us(now + CEREMONY_TTL))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(PasskeyCeremony {
            ceremony: token,
            options,
            expires_at: now + CEREMONY_TTL,
        })
    }

    /// Take a ceremony out of the store (single use, in the caller's transaction, which
    /// commits it with the ceremony's outcome), if it is this kind, this customer's and not
    /// expired.
    async fn take_ceremony<T: serde::de::DeserializeOwned>(
        &self,
        tx: &mut Tx,
        token: &str,
        kind: &str,
        customer: Option<Uuid>,
    ) -> Result<T> {
        if token.len() > 256 {
            return Err(expired());
        }
        let row = sqlx::query(
            "DELETE FROM webauthn_ceremonies WHERE token_hash = $1 RETURNING kind, customer_id, state, expires_us",
        )
        .bind(tokens::digest(token))
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(expired)?;
        let owner = row
            .try_get::<Option<String>, _>("customer_id")?
            .map(|c| Uuid::parse_str(&c).map_err(internal))
            .transpose()?;
        if row.try_get::<String, _>("kind")? != kind
            || owner != customer
            || from_us(row.try_get("expires_us")?) <= self.now()
        {
            return Err(expired());
        }
        serde_json::from_str(&row.try_get::<String, _>("state")?).map_err(internal)
    }

    pub(crate) async fn passkeys_of(
        &self,
        ex: impl sqlx::Executor<'_, Database = sqlx::Any>,
        customer: Uuid,
    ) -> Result<Vec<Factor>> {
        let rows = sqlx::query(
            "SELECT id, name, created_us, last_used_us, flagged_us FROM passkeys \
             WHERE customer_id = $1 ORDER BY created_us",
        )
        .bind(customer.to_string())
        .fetch_all(ex)
        .await?;
        rows.iter().map(passkey_from_row).collect()
    }

    /// Start adding a passkey to the signed-in customer's account (needs recent
    /// authentication: a passkey is a new way in).
    pub async fn begin_passkey_registration(&self, session_token: &str) -> Result<PasskeyCeremony> {
        let s = self.validate_session(session_token).await?;
        s.require_recent_auth(self.now())?;
        let rp = self.relying_party()?;
        let (customer, _) = self.customer_with_hash(s.customer_id).await?;
        let existing: Vec<String> =
            sqlx::query_scalar("SELECT passkey FROM passkeys WHERE customer_id = $1")
                .bind(s.customer_id.to_string())
                .fetch_all(self.store.reader())
                .await?;
        if existing.len() as i64 >= MAX_PASSKEYS {
            return Err(Error::invalid(
                "passkey",
                format!("an account can have at most {MAX_PASSKEYS} passkeys; remove one first"),
            ));
        }
        let exclude = existing
            .iter()
            .map(|p| serde_json::from_str::<Passkey>(p).map(|p| p.cred_id().clone()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(internal)?;
        let display = if customer.display_name.is_empty() {
            customer.email.clone()
        } else {
            customer.display_name.clone()
        };
        let (ccr, state) = rp
            .start_passkey_registration(customer.id, &customer.email, &display, Some(exclude))
            .map_err(internal)?;
        let mut options = serde_json::to_value(&ccr).map_err(internal)?;
        // A passkey is discoverable (that is what lets the customer sign in without typing an
        // address); webauthn-rs asks for "discouraged" so security keys without storage still
        // work, and this asks for "preferred", which gives both.
        let name = self.branding().await?.name;
        let pk = options
            .get_mut("publicKey")
            .and_then(serde_json::Value::as_object_mut)
            .ok_or_else(|| internal("creation options without publicKey"))?;
        let sel = pk
            .entry("authenticatorSelection")
            .or_insert_with(|| json!({}));
        if let Some(sel) = sel.as_object_mut() {
            sel.insert("residentKey".into(), json!("preferred"));
            sel.insert("requireResidentKey".into(), json!(false));
        }
        // The name the browser shows ("Save a passkey for …") is the organisation's.
        if let Some(rp) = pk.get_mut("rp").and_then(serde_json::Value::as_object_mut) {
            rp.insert("name".into(), json!(name));
        }
        self.store_ceremony("register", Some(customer.id), &state, options)
            .await
    }

    /// Finish adding a passkey: the browser's `PublicKeyCredential.toJSON()` (as text) and a
    /// name for it ("Work laptop").
    pub async fn finish_passkey_registration(
        &self,
        session_token: &str,
        ceremony: &str,
        credential_json: &str,
        name: &str,
    ) -> Result<Factor> {
        let s = self.validate_session(session_token).await?;
        let name = crate::accounts::normalize::text("name", name, 60)?;
        let credential: RegisterPublicKeyCredential = parse(credential_json)?;
        let rp = self.relying_party()?;
        let mut tx = self.store.begin().await?;
        let state: PasskeyRegistration = self
            .take_ceremony(&mut tx, ceremony, "register", Some(s.customer_id))
            .await?;
        let verified = rp
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| match e {
                WebauthnError::InvalidRPOrigin
                | WebauthnError::InvalidRPIDHash
                | WebauthnError::MismatchedChallenge => Error::invalid(
                    "credential",
                    "this passkey was made for another site or another request; try again",
                ),
                WebauthnError::UserNotVerified => Error::invalid(
                    "credential",
                    "the authenticator did not verify you (PIN or biometric); try again",
                ),
                _ => malformed(),
            });
        let passkey = match verified {
            Ok(p) => p,
            Err(e) => {
                // The ceremony is spent either way.
                tx.commit().await?;
                return Err(e);
            }
        };
        let name = if name.is_empty() {
            "Passkey".to_owned()
        } else {
            name
        };
        let now = self.now();
        let id = new_id(now, self.entropy.as_ref());
        let cred_key = credential_key(passkey.cred_id().as_ref());
        let taken: Option<String> =
            sqlx::query_scalar("SELECT customer_id FROM passkeys WHERE credential_id = $1")
                .bind(&cred_key)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            tx.commit().await?;
            return Err(Error::invalid(
                "credential",
                "this passkey is already registered",
            ));
        }
        sqlx::query(
            "INSERT INTO passkeys (id, customer_id, credential_id, name, passkey, created_us) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(s.customer_id.to_string())
        .bind(&cred_key)
        .bind(&name)
        .bind(serde_json::to_string(&passkey).map_err(internal)?)
        .bind(to_us(now))
        .execute(&mut *tx)
        .await?;
        crate::analytics::factor_added(&mut tx, now, s.customer_id, "passkey").await?;
        self.audit(
            &mut tx,
            &format!("customer:{}", s.customer_id),
            "customer.factor_added",
            &format!("customer:{}", s.customer_id),
            None,
            json!({"factor": id, "kind": "passkey", "name": name}),
        )
        .await?;
        tx.commit().await?;
        Ok(Factor {
            id,
            kind: FactorKind::Passkey,
            name,
            created_at: now,
            last_used_at: None,
            flagged_at: None,
        })
    }

    /// Start a username-less passkey sign-in. Anyone may ask; the options name no account.
    pub async fn begin_passkey_sign_in(&self) -> Result<PasskeyCeremony> {
        let (rcr, state) = self
            .relying_party()?
            .start_discoverable_authentication()
            .map_err(internal)?;
        let options = serde_json::to_value(&rcr).map_err(internal)?;
        self.store_ceremony("authenticate", None, &state, options)
            .await
    }

    /// Finish a passkey sign-in with the browser's assertion (`PublicKeyCredential.toJSON()`
    /// as text): a session proven with a key and user verification (multi-factor).
    pub async fn finish_passkey_sign_in(
        &self,
        ceremony: &str,
        credential_json: &str,
        ctx: &RequestContext,
    ) -> Result<SignedIn> {
        let credential: PublicKeyCredential = parse(credential_json)?;
        let rp = self.relying_party()?;
        // One transaction for the whole ceremony: it is spent, checked and (on success) turned
        // into a session in one commit.
        let mut tx = self.store.begin().await?;
        let state: DiscoverableAuthentication = self
            .take_ceremony(&mut tx, ceremony, "authenticate", None)
            .await?;
        let Ok((user, raw_id)) = rp.identify_discoverable_authentication(&credential) else {
            tx.commit().await?;
            return Err(malformed());
        };
        let cred_key = credential_key(raw_id);
        let row = sqlx::query(
            "SELECT p.id, p.passkey, p.flagged_us, c.email_key, c.status FROM passkeys p \
             JOIN customers c ON c.id = p.customer_id \
             WHERE p.credential_id = $1 AND p.customer_id = $2",
        )
        .bind(&cred_key)
        .bind(user.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // A passkey this site no longer knows (removed, or from another deployment).
            self.record_attempt(
                &mut tx,
                &format!("passkey:{cred_key}"),
                None,
                "unknown_passkey",
                "passkey",
                ctx,
            )
            .await?;
            tx.commit().await?;
            return Err(Error::invalid(
                "passkey",
                "this passkey is not registered here (it may have been removed); sign in another way",
            ));
        };
        let passkey_id: String = row.try_get("id")?;
        let email_key: String = row.try_get("email_key")?;
        let status = CustomerStatus::parse(&row.try_get::<String, _>("status")?)?;
        let mut passkey: Passkey =
            serde_json::from_str(&row.try_get::<String, _>("passkey")?).map_err(internal)?;
        let mut tx = self
            .unless_throttled(tx, &email_key, Some(user), "passkey", ctx)
            .await?;
        let refused = match status {
            CustomerStatus::Active => None,
            CustomerStatus::Locked => Some("locked"),
            CustomerStatus::Disabled => Some("disabled"),
            CustomerStatus::Erased => Some("erased"),
        };
        if let Some(why) = refused {
            self.record_attempt(&mut tx, &email_key, Some(user), why, "passkey", ctx)
                .await?;
            tx.commit().await?;
            return Err(Error::AccountUnavailable(why));
        }
        if row.try_get::<Option<i64>, _>("flagged_us")?.is_some() {
            self.record_attempt(
                &mut tx,
                &email_key,
                Some(user),
                "flagged_passkey",
                "passkey",
                ctx,
            )
            .await?;
            tx.commit().await?;
            return Err(flagged());
        }
        let result = match rp.finish_discoverable_authentication_v2(&credential, state, &passkey) {
            Ok(r) => r,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                sqlx::query(
                    "UPDATE passkeys SET flagged_us = $1, version = version + 1 WHERE id = $2",
                )
                .bind(to_us(self.now()))
                .bind(&passkey_id)
                .execute(&mut *tx)
                .await?;
                self.record_attempt(
                    &mut tx,
                    &email_key,
                    Some(user),
                    "passkey_counter_regressed",
                    "passkey",
                    ctx,
                )
                .await?;
                self.audit(
                    &mut tx,
                    "system",
                    "customer.passkey_flagged",
                    &format!("customer:{user}"),
                    Some("the passkey's signature counter went backwards: it may have been copied"),
                    json!({"factor": passkey_id}),
                )
                .await?;
                tx.commit().await?;
                return Err(flagged());
            }
            Err(_) => {
                self.record_attempt(
                    &mut tx,
                    &email_key,
                    Some(user),
                    "wrong_passkey",
                    "passkey",
                    ctx,
                )
                .await?;
                tx.commit().await?;
                return Err(Error::InvalidCredentials);
            }
        };
        passkey.update_credential(&result);
        let now = self.now();
        sqlx::query(
            "UPDATE passkeys SET passkey = $1, last_used_us = $2, version = version + 1 WHERE id = $3",
        )
        .bind(serde_json::to_string(&passkey).map_err(internal)?)
        .bind(to_us(now))
        .bind(&passkey_id)
        .execute(&mut *tx)
        .await?;
        // A passkey with user verification is itself the strongest answer to a risk
        // challenge; only a denial stops it.
        let attempt = Attempt {
            email_key: &email_key,
            customer: Some(user),
            ctx,
            common_password: false,
        };
        let a = self.assess(&mut tx, &attempt).await?;
        if a.effective() == Decision::Deny {
            self.insert_attempt(
                &mut tx,
                &email_key,
                Some(user),
                "risk_denied",
                "passkey",
                ctx,
                &a,
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidCredentials);
        }
        self.insert_attempt(&mut tx, &email_key, Some(user), "ok", "passkey", ctx, &a)
            .await?;
        // RFC 8176: a synced passkey is a software-secured key, a device-bound one hardware;
        // user verification was required, so it is multi-factor either way.
        let key = if result.backup_eligible() {
            "swk"
        } else {
            "hwk"
        };
        let signed = self
            .create_session(&mut tx, user, &[key, "user", "mfa"], ctx)
            .await?;
        sqlx::query("UPDATE customers SET last_sign_in_us = $1 WHERE id = $2")
            .bind(to_us(now))
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(signed)
    }

    /// Rename one of the signed-in customer's passkeys.
    pub async fn rename_my_passkey(&self, session_token: &str, id: Uuid, name: &str) -> Result<()> {
        let s = self.validate_session(session_token).await?;
        let name = crate::accounts::normalize::text("name", name, 60)?;
        if name.is_empty() {
            return Err(Error::invalid("name", "give the passkey a name"));
        }
        let mut tx = self.store.begin().await?;
        let n = sqlx::query(
            "UPDATE passkeys SET name = $1, version = version + 1 WHERE id = $2 AND customer_id = $3",
        )
        .bind(&name)
        .bind(id.to_string())
        .bind(s.customer_id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound("passkey"));
        }
        tx.commit().await?;
        Ok(())
    }
}

fn flagged() -> Error {
    Error::invalid(
        "passkey",
        "this passkey has been turned off because it may have been copied; sign in another way and remove it",
    )
}
