//! The apps a customer has signed in to (OIDC clients holding live tokens for them), as the
//! account center lists them, and revoking one: every access and refresh token that client
//! holds for the customer ends at once, so the app must ask them to sign in again.

use crate::Engine;
use crate::error::{Error, Result};
use crate::time::{from_us, to_us};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// An app with live tokens for the customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectedApp {
    pub client_id: String,
    pub name: String,
    /// What the app may see (the scopes of its newest token).
    pub scope: String,
    /// When it first and last got a token.
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

impl Engine {
    /// The apps holding live tokens for the signed-in customer, most recent first.
    pub async fn my_apps(&self, session_token: &str) -> Result<Vec<ConnectedApp>> {
        let s = self.validate_session(session_token).await?;
        // One row per client, with the scope of its newest token.
        let rows = sqlx::query(
            "SELECT t.client_id, c.name, min(t.created_us) AS first_us, max(t.created_us) AS last_us, \
             (SELECT n.scope FROM oidc_tokens n WHERE n.customer_id = t.customer_id AND n.client_id = t.client_id \
              ORDER BY n.created_us DESC LIMIT 1) AS scope \
             FROM oidc_tokens t JOIN oidc_clients c ON c.id = t.client_id \
             WHERE t.customer_id = $1 AND t.revoked_us IS NULL AND t.expires_us > $2 \
             GROUP BY t.customer_id, t.client_id, c.name ORDER BY max(t.created_us) DESC",
        )
        .bind(s.customer_id.to_string())
        .bind(to_us(self.now()))
        .fetch_all(self.store.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConnectedApp {
                    client_id: r.try_get("client_id")?,
                    name: r.try_get("name")?,
                    scope: r.try_get("scope")?,
                    first_at: from_us(r.try_get("first_us")?),
                    last_at: from_us(r.try_get("last_us")?),
                })
            })
            .collect()
    }

    /// Take away an app's access: every token it holds for the signed-in customer is revoked.
    pub async fn revoke_my_app(&self, session_token: &str, client_id: &str) -> Result<()> {
        let s = self.validate_session(session_token).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let n = sqlx::query(
            "UPDATE oidc_tokens SET revoked_us = $1 WHERE customer_id = $2 AND client_id = $3 \
             AND revoked_us IS NULL AND expires_us > $1",
        )
        .bind(to_us(now))
        .bind(s.customer_id.to_string())
        .bind(client_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound("app"));
        }
        self.audit(
            &mut tx,
            &format!("customer:{}", s.customer_id),
            "customer.app_revoked",
            &format!("customer:{}", s.customer_id),
            None,
            json!({"client_id": client_id, "tokens": n}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
