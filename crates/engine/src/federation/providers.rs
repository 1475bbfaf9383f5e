//! The upstream providers admins configure. The client secret is sealed under the factor
//! key (the provider id as associated data) and never read back out of the engine.

use super::check_endpoint;
use crate::Engine;
use crate::accounts::normalize;
use crate::clock::new_id;
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::time::{from_us, to_us};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

/// The scopes asked for when the admin names none.
pub const DEFAULT_UPSTREAM_SCOPES: &str = "openid email profile";

/// A provider as staff and the sign-in page see it (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpstreamProvider {
    pub id: Uuid,
    /// What the button says after "Continue with".
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
}

/// A provider to add.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUpstreamProvider {
    pub label: String,
    /// The provider's issuer: its discovery document is `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Space-separated; `openid email profile` when empty.
    #[serde(default)]
    pub scopes: Option<String>,
}

/// What the flow needs of a provider, the secret opened.
pub(crate) struct ProviderSecret {
    pub provider: UpstreamProvider,
    pub client_secret: String,
}

pub(crate) fn aad(id: Uuid) -> String {
    format!("upstream_provider:{id}")
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<UpstreamProvider> {
    Ok(UpstreamProvider {
        id: Uuid::parse_str(&r.try_get::<String, _>("id")?)
            .map_err(|e| Error::Internal(e.to_string()))?,
        label: r.try_get("label")?,
        issuer: r.try_get("issuer")?,
        client_id: r.try_get("client_id")?,
        scopes: r.try_get("scopes")?,
        created_at: from_us(r.try_get("created_us")?),
    })
}

impl Engine {
    /// Add an upstream provider (admins). The issuer must be https (http only on loopback);
    /// the secret is sealed before it is stored.
    pub async fn add_upstream_provider(
        &self,
        staff: &Staff,
        new: NewUpstreamProvider,
    ) -> Result<UpstreamProvider> {
        staff.require(Permission::ManageSettings)?;
        let label = normalize::text("label", &new.label, 40)?;
        if label.is_empty() {
            return Err(Error::invalid(
                "label",
                "name the provider as customers know it",
            ));
        }
        let issuer = check_endpoint("issuer", &new.issuer)?
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let client_id = new.client_id.trim().to_owned();
        if client_id.is_empty() || client_id.len() > 255 || client_id.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "client_id",
                "the client id the provider gave you",
            ));
        }
        let secret = new.client_secret.trim();
        if secret.is_empty() || secret.len() > 512 {
            return Err(Error::invalid(
                "client_secret",
                "the client secret the provider gave you (at most 512 characters)",
            ));
        }
        let scopes = match new
            .scopes
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => DEFAULT_UPSTREAM_SCOPES.to_owned(),
            Some(s) => {
                let list: Vec<&str> = s.split_whitespace().collect();
                let valid = list.iter().all(|t| {
                    t.len() <= 100
                        && t.bytes()
                            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
                });
                if !valid || !list.contains(&"openid") {
                    return Err(Error::invalid(
                        "scopes",
                        "space-separated scopes, including openid",
                    ));
                }
                list.join(" ")
            }
        };
        let key = self.factor_key()?;
        let now = self.now();
        let id = new_id(now, self.entropy.as_ref());
        let sealed = key.seal(secret.as_bytes(), &aad(id), self.entropy.as_ref())?;
        let mut tx = self.store.begin().await?;
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM upstream_providers WHERE issuer = $1")
                .bind(&issuer)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Err(Error::invalid(
                "issuer",
                "this provider is already configured",
            ));
        }
        sqlx::query(
            "INSERT INTO upstream_providers (id, label, issuer, client_id, client_secret, scopes, created_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(&label)
        .bind(&issuer)
        .bind(&client_id)
        .bind(sealed)
        .bind(&scopes)
        .bind(to_us(now))
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "settings.provider_added",
            &format!("provider:{id}"),
            None,
            json!({"label": label, "issuer": issuer, "client_id": client_id, "scopes": scopes}),
        )
        .await?;
        tx.commit().await?;
        Ok(UpstreamProvider {
            id,
            label,
            issuer,
            client_id,
            scopes,
            created_at: from_us(to_us(now)),
        })
    }

    /// The configured providers, in the order they were added: the sign-in page's buttons.
    pub async fn upstream_providers(&self) -> Result<Vec<UpstreamProvider>> {
        let rows = sqlx::query(
            "SELECT id, label, issuer, client_id, scopes, created_us FROM upstream_providers ORDER BY created_us, id",
        )
        .fetch_all(self.store.reader())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Remove a provider (admins): its links and unfinished flows go with it, so nobody
    /// signs in through it again.
    pub async fn remove_upstream_provider(&self, staff: &Staff, id: Uuid) -> Result<()> {
        staff.require(Permission::ManageSettings)?;
        let mut tx = self.store.begin().await?;
        let links: i64 =
            sqlx::query_scalar("SELECT count(*) FROM social_links WHERE provider_id = $1")
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM social_links WHERE provider_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM social_flows WHERE provider_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM upstream_providers WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(Error::NotFound("provider"));
        }
        self.audit(
            &mut tx,
            &staff.actor(),
            "settings.provider_removed",
            &format!("provider:{id}"),
            None,
            json!({"links_removed": links}),
        )
        .await?;
        tx.commit().await?;
        self.forget_upstream_metadata(id);
        Ok(())
    }

    /// A provider with its secret opened, for the flow.
    pub(crate) async fn provider_secret(&self, id: Uuid) -> Result<ProviderSecret> {
        let row = sqlx::query(
            "SELECT id, label, issuer, client_id, scopes, created_us, client_secret FROM upstream_providers WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.store.reader())
        .await?
        .ok_or(Error::NotFound("provider"))?;
        let provider = from_row(&row)?;
        let sealed: Vec<u8> = row.try_get("client_secret")?;
        let secret = self.factor_key()?.open(&sealed, &aad(id))?;
        Ok(ProviderSecret {
            provider,
            client_secret: String::from_utf8(secret)
                .map_err(|_| Error::Internal("stored client secret".into()))?,
        })
    }
}
