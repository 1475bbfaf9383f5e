//! OpenID Connect clients (relying parties): registration by admins, listing, removal, and
//! the checks the provider makes on every request — is this client known and active, does its
//! secret match, is this redirect URI registered (exact match), is this browser origin allowed.
//! Secrets are 256 random bits shown once and stored only as SHA-256.

use crate::Engine;
use crate::accounts::normalize;
use crate::credentials::tokens;
use crate::error::{Error, Result};
use crate::oidc::signing::SigningAlg;
use crate::staff::audit;
use crate::staff::{Permission, Staff};
use crate::time::{from_us, to_us};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use subtle::ConstantTimeEq;

/// A registered client as admins and the provider see it (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OidcClient {
    pub id: String,
    pub name: String,
    /// Public clients (single-page and native apps) have no secret and must use PKCE.
    pub public: bool,
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// Browser origins allowed to call the token and userinfo endpoints (CORS).
    pub allowed_origins: Vec<String>,
    /// How this client's ID tokens are signed.
    pub id_token_alg: SigningAlg,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

/// What an admin registers.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards (same rules as redirect URIs).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    /// Extra CORS origins; the origins of https redirect URIs are always allowed.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// RS256 (the default every relying party supports), Ed25519, or EdDSA (the same key under
    /// the name RFC 9864 deprecates).
    #[serde(default)]
    pub id_token_alg: Option<SigningAlg>,
}

/// The result of registering: the client, and its secret (shown this once) if confidential.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisteredClient {
    pub client: OidcClient,
    pub client_secret: Option<String>,
}

const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_CHARS: usize = 2000;

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// A redirect URI an admin may register: absolute, no fragment; https, or http only to a
/// loopback host (development, native apps); a private-use scheme (`com.example.app:/cb`)
/// only for public (native) clients.
fn check_redirect_uri(raw: &str, public: bool) -> Result<String> {
    let bad = |m: &str| Error::invalid("redirect_uris", format!("{raw:?}: {m}"));
    if raw.chars().count() > MAX_URI_CHARS || raw.trim() != raw || raw.is_empty() {
        return Err(bad(
            "must be a URL without surrounding spaces, at most 2000 characters",
        ));
    }
    let url = url::Url::parse(raw).map_err(|_| bad("is not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment (#…)"));
    }
    match url.scheme() {
        "https" => {}
        "http" if url.host_str().is_some_and(is_loopback) => {}
        "http" => return Err(bad("http is allowed only for localhost; use https")),
        s if public && s.contains('.') && url.host_str().is_none_or(str::is_empty) => {}
        _ => {
            return Err(bad(
                "use https (http only for localhost; a private-use scheme like com.example.app:/callback only for public clients)",
            ));
        }
    }
    Ok(raw.to_owned())
}

/// A CORS origin: `scheme://host[:port]`, https (or http on loopback), nothing else.
fn check_origin(raw: &str) -> Result<String> {
    let bad = || {
        Error::invalid(
            "allowed_origins",
            format!("{raw:?} is not an origin like https://app.example.com"),
        )
    };
    let url = url::Url::parse(raw).map_err(|_| bad())?;
    let ok_scheme = url.scheme() == "https"
        || (url.scheme() == "http" && url.host_str().is_some_and(is_loopback));
    if !ok_scheme || url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad());
    }
    let origin = url.origin().ascii_serialization();
    if raw.trim_end_matches('/') != origin {
        return Err(bad());
    }
    Ok(origin)
}

fn row_to_client(r: &sqlx::any::AnyRow) -> Result<OidcClient> {
    let uris: String = r.try_get("redirect_uris")?;
    let origins: String = r.try_get("allowed_origins")?;
    let logout_uris: String = r.try_get("post_logout_redirect_uris")?;
    Ok(OidcClient {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        public: r.try_get::<i64, _>("public")? != 0,
        redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
        post_logout_redirect_uris: serde_json::from_str(&logout_uris).unwrap_or_default(),
        allowed_origins: serde_json::from_str(&origins).unwrap_or_default(),
        id_token_alg: SigningAlg::parse(&r.try_get::<String, _>("id_token_alg")?)?,
        created_at: from_us(r.try_get("created_us")?),
        version: r.try_get("version")?,
    })
}

const COLUMNS: &str = "id, name, public, redirect_uris, post_logout_redirect_uris, allowed_origins, \
     id_token_alg, created_us, version";

impl Engine {
    /// Register a client (admins). Returns the secret once for confidential clients.
    pub async fn register_client(&self, staff: &Staff, new: NewClient) -> Result<RegisteredClient> {
        staff.require(Permission::ManageClients)?;
        let name = normalize::text("name", &new.name, 100)?;
        if name.is_empty() {
            return Err(Error::invalid(
                "name",
                "give the client a name people recognise",
            ));
        }
        if new.redirect_uris.is_empty() || new.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(Error::invalid(
                "redirect_uris",
                "register 1 to 10 redirect URIs",
            ));
        }
        let mut uris = Vec::with_capacity(new.redirect_uris.len());
        for u in &new.redirect_uris {
            let u = check_redirect_uri(u, new.public)?;
            if !uris.contains(&u) {
                uris.push(u);
            }
        }
        if new.post_logout_redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(Error::invalid(
                "post_logout_redirect_uris",
                "register at most 10 post-logout redirect URIs",
            ));
        }
        let mut logout_uris: Vec<String> = Vec::new();
        for u in &new.post_logout_redirect_uris {
            let u = check_redirect_uri(u, new.public).map_err(|e| match e {
                Error::InvalidInput { message, .. } => {
                    Error::invalid("post_logout_redirect_uris", message)
                }
                other => other,
            })?;
            if !logout_uris.contains(&u) {
                logout_uris.push(u);
            }
        }
        let mut origins: Vec<String> = Vec::new();
        for u in &uris {
            if let Ok(url) = url::Url::parse(u)
                && matches!(url.scheme(), "https" | "http")
            {
                let o = url.origin().ascii_serialization();
                if !origins.contains(&o) {
                    origins.push(o);
                }
            }
        }
        for o in &new.allowed_origins {
            let o = check_origin(o)?;
            if !origins.contains(&o) {
                origins.push(o);
            }
        }
        let now = self.now();
        let id = format!(
            "vst_{}",
            crate::clock::new_id(now, self.entropy.as_ref()).simple()
        );
        let (secret, digest) = if new.public {
            (None, None)
        } else {
            let (s, d) = tokens::new_token(self.entropy.as_ref());
            (Some(s), Some(d))
        };
        let uris_json = serde_json::to_string(&uris).map_err(|e| Error::Internal(e.to_string()))?;
        let origins_json =
            serde_json::to_string(&origins).map_err(|e| Error::Internal(e.to_string()))?;
        let logout_json =
            serde_json::to_string(&logout_uris).map_err(|e| Error::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO oidc_clients (id, name, secret_hash, public, redirect_uris, allowed_origins, id_token_alg, created_us, updated_us, \
             post_logout_redirect_uris) VALUES ($1, $2, $3, $4, $5, $6, $8, $7, $7, $9)",
        )
        .bind(&id)
        .bind(&name)
        .bind(digest)
        .bind(i64::from(new.public))
        .bind(&uris_json)
        .bind(&origins_json)
        .bind(to_us(now))
        .bind(new.id_token_alg.unwrap_or(SigningAlg::RS256).as_str())
        .bind(&logout_json)
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "client.registered",
            &format!("client:{id}"),
            None,
            json!({"name": name, "public": new.public, "redirect_uris": uris,
                "post_logout_redirect_uris": logout_uris, "allowed_origins": origins}),
        )
        .await?;
        tx.commit().await?;
        let client = self
            .client(&id)
            .await?
            .ok_or(Error::Internal("client vanished after insert".into()))?;
        Ok(RegisteredClient {
            client,
            client_secret: secret,
        })
    }

    /// Every active client (admins).
    pub async fn list_clients(&self, staff: &Staff) -> Result<Vec<OidcClient>> {
        staff.require(Permission::ManageClients)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM oidc_clients WHERE status = 'active' ORDER BY created_us"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.store.reader())
            .await?;
        rows.iter().map(row_to_client).collect()
    }

    /// Remove a client: its redirect URIs and secret stop working at once (admins).
    pub async fn remove_client(&self, staff: &Staff, id: &str) -> Result<()> {
        staff.require(Permission::ManageClients)?;
        let mut tx = self.store.begin().await?;
        let n = sqlx::query(
            "UPDATE oidc_clients SET status = 'removed', version = version + 1, updated_us = $2 \
             WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .bind(to_us(self.now()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound("client"));
        }
        self.audit(
            &mut tx,
            &staff.actor(),
            "client.removed",
            &format!("client:{id}"),
            None,
            audit::diff(&[("status", json!("active"), json!("removed"))]),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An active client by id (the provider's lookup; no staff involved).
    pub async fn client(&self, id: &str) -> Result<Option<OidcClient>> {
        if id.is_empty() || id.len() > 100 {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM oidc_clients WHERE id = $1 AND status = 'active'");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.store.reader())
            .await?;
        row.as_ref().map(row_to_client).transpose()
    }

    /// Whether any active client lists `origin` (CORS preflight, which names no client).
    pub async fn any_client_allows_origin(&self, origin: &str) -> Result<bool> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT allowed_origins FROM oidc_clients WHERE status = 'active'")
                .fetch_all(self.store.reader())
                .await?;
        Ok(rows.iter().any(|(json,)| {
            serde_json::from_str::<Vec<String>>(json).is_ok_and(|v| v.iter().any(|o| o == origin))
        }))
    }

    /// Check a confidential client's credentials (client_secret_basic / _post). Unknown
    /// client and wrong secret are the same error.
    pub async fn authenticate_client(&self, id: &str, secret: &str) -> Result<OidcClient> {
        let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
            "SELECT secret_hash FROM oidc_clients WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .fetch_optional(self.store.reader())
        .await?;
        let given = tokens::digest(secret);
        let ok = match row {
            Some((Some(stored),)) => bool::from(stored.ct_eq(&given)),
            _ => false,
        };
        if !ok {
            return Err(Error::InvalidCredentials);
        }
        self.client(id).await?.ok_or(Error::InvalidCredentials)
    }
}

impl OidcClient {
    /// Exact, case-sensitive match against the registered redirect URIs.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    /// Exact match against the registered post-logout redirect URIs.
    pub fn allows_post_logout_redirect(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }

    /// Whether a browser `Origin` header may call this client's endpoints.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        assert!(check_redirect_uri("https://app.example.com/cb", false).is_ok());
        assert!(check_redirect_uri("http://localhost:3000/cb", false).is_ok());
        assert!(check_redirect_uri("http://127.0.0.1/cb", true).is_ok());
        assert!(check_redirect_uri("com.example.app:/callback", true).is_ok());
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#x",
            "/relative",
            " https://app.example.com/cb",
            "javascript:alert(1)",
            "com.example.app:/callback",
        ] {
            assert!(check_redirect_uri(bad, false).is_err(), "{bad}");
        }
        assert!(check_redirect_uri("javascript:alert(1)", true).is_err());
        assert!(check_redirect_uri("data:text/html,x", true).is_err());
    }

    #[test]
    fn origins() {
        assert_eq!(
            check_origin("https://app.example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            check_origin("https://app.example.com/").unwrap(),
            "https://app.example.com"
        );
        assert!(check_origin("https://app.example.com/path").is_err());
        assert!(check_origin("http://app.example.com").is_err());
        assert!(check_origin("*").is_err());
    }
}
