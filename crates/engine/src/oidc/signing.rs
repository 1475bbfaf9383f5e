//! The OpenID Connect provider's signing keys: generated in the engine (RSA-2048 for RS256,
//! Ed25519 for EdDSA), stored in `oidc_keys` (inside the encrypted vault, or in PostgreSQL),
//! published as a JWKS, and rotated. A rotation retires the current keys — they stop signing
//! but stay in the JWKS until every token they signed has expired — and makes new ones.
//! Keys older than [`ROTATE_AFTER`] are rotated automatically on next use.

use crate::Engine;
use crate::clock::random_bytes;
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::time::{from_us, to_us};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// Keys older than this are replaced on next use.
pub const ROTATE_AFTER: Duration = Duration::days(90);
/// How long a retired key stays published: longer than any token it signed lives.
pub const RETIRED_KEY_PUBLISHED_FOR: Duration = Duration::days(2);

/// The JWS algorithms the provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SigningAlg {
    RS256,
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::RS256, SigningAlg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::invalid("id_token_alg", "RS256 or EdDSA"))
    }

    fn jwt(self) -> Algorithm {
        match self {
            SigningAlg::RS256 => Algorithm::RS256,
            SigningAlg::EdDSA => Algorithm::EdDSA,
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new key pair: (kid, private DER, public JWK).
fn generate(alg: SigningAlg, seed: [u8; 32]) -> Result<(String, Vec<u8>, serde_json::Value)> {
    let mut rng = ChaCha20Rng::from_seed(seed);
    let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("key generation: {e}"));
    let (der, thumb_input, mut jwk) = match alg {
        SigningAlg::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| internal(&e))?;
            let der = key
                .to_pkcs1_der()
                .map_err(|e| internal(&e))?
                .as_bytes()
                .to_vec();
            let n = b64(&key.n().to_bytes_be());
            let e = b64(&key.e().to_bytes_be());
            // RFC 7638: members in lexicographic order, no whitespace.
            let thumb = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
            (der, thumb, json!({"kty": "RSA", "n": n, "e": e}))
        }
        SigningAlg::EdDSA => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let key = ed25519_dalek::SigningKey::generate(&mut rng);
            let der = key
                .to_pkcs8_der()
                .map_err(|e| internal(&e))?
                .as_bytes()
                .to_vec();
            let x = b64(key.verifying_key().as_bytes());
            let thumb = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
            (der, thumb, json!({"kty": "OKP", "crv": "Ed25519", "x": x}))
        }
    };
    let kid = b64(&Sha256::digest(thumb_input.as_bytes()));
    if let Some(o) = jwk.as_object_mut() {
        o.insert("kid".into(), json!(kid));
        o.insert("alg".into(), json!(alg.as_str()));
        o.insert("use".into(), json!("sig"));
    }
    Ok((kid, der, jwk))
}

fn decoding_key(jwk: &serde_json::Value) -> Result<DecodingKey> {
    let s = |k: &str| jwk.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let key = match s("kty") {
        "RSA" => DecodingKey::from_rsa_components(s("n"), s("e")),
        "OKP" => DecodingKey::from_ed_components(s("x")),
        other => return Err(Error::Internal(format!("stored key of type {other}"))),
    };
    key.map_err(|e| Error::Internal(format!("stored key: {e}")))
}

impl Engine {
    /// Make sure a current (unretired, not too old) key exists for every algorithm.
    pub(crate) async fn ensure_signing_keys(&self) -> Result<()> {
        let now = self.now();
        let rows = sqlx::query(
            "SELECT alg, max(created_us) AS newest FROM oidc_keys WHERE retired_us IS NULL GROUP BY alg",
        )
        .fetch_all(self.store.reader())
        .await?;
        let mut fresh = vec![];
        for r in &rows {
            let newest: i64 = r.try_get("newest")?;
            if from_us(newest) + ROTATE_AFTER > now {
                fresh.push(r.try_get::<String, _>("alg")?);
            }
        }
        if SigningAlg::ALL
            .iter()
            .all(|a| fresh.iter().any(|f| f == a.as_str()))
        {
            return Ok(());
        }
        self.rotate_keys_now(None).await
    }

    /// Retire the current keys and generate new ones.
    async fn rotate_keys_now(&self, actor: Option<&Staff>) -> Result<()> {
        let mut generated = vec![];
        for alg in SigningAlg::ALL {
            let seed: [u8; 32] = random_bytes(self.entropy.as_ref());
            let key = self.hashing(move |_| generate(alg, seed)).await??;
            generated.push((alg, key));
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "UPDATE oidc_keys SET retired_us = $1, expires_us = $2 WHERE retired_us IS NULL",
        )
        .bind(to_us(now))
        .bind(to_us(now + RETIRED_KEY_PUBLISHED_FOR))
        .execute(&mut *tx)
        .await?;
        let mut kids = vec![];
        for (alg, (kid, der, jwk)) in generated {
            sqlx::query(
                "INSERT INTO oidc_keys (kid, alg, private_der, public_jwk, created_us) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&kid)
            .bind(alg.as_str())
            .bind(der)
            .bind(jwk.to_string())
            .bind(to_us(now))
            .execute(&mut *tx)
            .await?;
            kids.push(kid);
        }
        let who = actor.map_or_else(|| "system".to_owned(), Staff::actor);
        self.audit(
            &mut tx,
            &who,
            "oidc.keys_rotated",
            "oidc:keys",
            None,
            json!({"new_kids": kids}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rotate the signing keys now (admins), e.g. after a suspected key compromise.
    pub async fn rotate_signing_keys(&self, staff: &Staff) -> Result<()> {
        staff.require(Permission::ManageClients)?;
        self.rotate_keys_now(Some(staff)).await
    }

    /// The public keys relying parties verify tokens with (current and recently retired).
    pub async fn jwks(&self) -> Result<serde_json::Value> {
        self.ensure_signing_keys().await?;
        let rows = sqlx::query(
            "SELECT public_jwk FROM oidc_keys WHERE expires_us IS NULL OR expires_us > $1 ORDER BY created_us DESC",
        )
        .bind(to_us(self.now()))
        .fetch_all(self.store.reader())
        .await?;
        let keys = rows
            .iter()
            .map(|r| {
                let s: String = r.try_get("public_jwk")?;
                serde_json::from_str::<serde_json::Value>(&s)
                    .map_err(|e| Error::Internal(format!("stored jwk: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(json!({ "keys": keys }))
    }

    /// Sign `claims` as a JWS with the current key for `alg`.
    pub(crate) async fn sign_jwt<T: Serialize>(
        &self,
        alg: SigningAlg,
        claims: &T,
    ) -> Result<String> {
        self.ensure_signing_keys().await?;
        let row = sqlx::query(
            "SELECT kid, private_der FROM oidc_keys WHERE alg = $1 AND retired_us IS NULL \
             ORDER BY created_us DESC LIMIT 1",
        )
        .bind(alg.as_str())
        .fetch_one(self.store.reader())
        .await?;
        let kid: String = row.try_get("kid")?;
        let der: Vec<u8> = row.try_get("private_der")?;
        let key = match alg {
            SigningAlg::RS256 => EncodingKey::from_rsa_der(&der),
            SigningAlg::EdDSA => EncodingKey::from_ed_der(&der),
        };
        let mut header = Header::new(alg.jwt());
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, claims, &key)
            .map_err(|e| Error::Internal(format!("signing: {e}")))
    }

    /// Check a JWT this provider signed with any published key. Anything else — unsigned
    /// (`alg: none`), unknown key, wrong algorithm, bad signature — is `InvalidToken`.
    /// `exp` is not checked here: callers compare it with the engine's clock (an
    /// `id_token_hint` may be expired).
    pub(crate) async fn verify_jwt<T: DeserializeOwned>(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<T> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Error::InvalidToken)?;
        let kid = header.kid.ok_or(Error::InvalidToken)?;
        let row = sqlx::query(
            "SELECT alg, public_jwk FROM oidc_keys WHERE kid = $1 AND (expires_us IS NULL OR expires_us > $2)",
        )
        .bind(&kid)
        .bind(to_us(self.now()))
        .fetch_optional(self.store.reader())
        .await?
        .ok_or(Error::InvalidToken)?;
        let alg = SigningAlg::parse(&row.try_get::<String, _>("alg")?)?;
        if header.alg != alg.jwt() {
            return Err(Error::InvalidToken);
        }
        let jwk: serde_json::Value = serde_json::from_str(&row.try_get::<String, _>("public_jwk")?)
            .map_err(|e| Error::Internal(format!("stored jwk: {e}")))?;
        let mut v = Validation::new(alg.jwt());
        v.validate_exp = false;
        v.required_spec_claims.clear();
        match audience {
            Some(a) => v.set_audience(&[a]),
            None => v.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<T>(token, &decoding_key(&jwk)?, &v)
            .map_err(|_| Error::InvalidToken)?;
        Ok(data.claims)
    }
}
