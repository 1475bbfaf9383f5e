//! Customers' links to upstream provider accounts: listed and removed by their customer
//! (account center) and by support (with a reason, audited).

use super::providers::UpstreamProvider;
use crate::Engine;
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

/// A customer's link to a provider account.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SocialLink {
    pub provider_id: Uuid,
    pub provider: String,
    /// The provider's address for the account when it was linked.
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Engine {
    pub(crate) async fn insert_link(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        provider: &UpstreamProvider,
        subject: &str,
        email: Option<&str>,
        actor: &str,
    ) -> Result<()> {
        let mine: Option<String> = sqlx::query_scalar(
            "SELECT subject FROM social_links WHERE customer_id = $1 AND provider_id = $2",
        )
        .bind(customer.to_string())
        .bind(provider.id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        if mine.is_some() {
            return Err(Error::invalid(
                "provider",
                "this account is already connected to another account at that provider; remove that connection first",
            ));
        }
        let now = self.now();
        sqlx::query(
            "INSERT INTO social_links (provider_id, subject, customer_id, email, linked_us, last_used_us) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(provider.id.to_string())
        .bind(subject)
        .bind(customer.to_string())
        .bind(email.map(|e| e.chars().take(320).collect::<String>()))
        .bind(to_us(now))
        .execute(&mut **tx)
        .await?;
        let who = if actor == "customer" {
            format!("customer:{customer}")
        } else {
            actor.to_owned()
        };
        self.audit(
            tx,
            &who,
            "customer.social_linked",
            &format!("customer:{customer}"),
            None,
            json!({"provider": provider.label}),
        )
        .await
    }

    async fn links_of(&self, customer: Uuid) -> Result<Vec<SocialLink>> {
        let rows = sqlx::query(
            "SELECT l.provider_id, p.label, l.email, l.linked_us, l.last_used_us FROM social_links l \
             JOIN upstream_providers p ON p.id = l.provider_id WHERE l.customer_id = $1 ORDER BY l.linked_us",
        )
        .bind(customer.to_string())
        .fetch_all(self.store.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SocialLink {
                    provider_id: Uuid::parse_str(&r.try_get::<String, _>("provider_id")?)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                    provider: r.try_get("label")?,
                    email: r.try_get("email")?,
                    linked_at: from_us(r.try_get("linked_us")?),
                    last_used_at: r.try_get::<Option<i64>, _>("last_used_us")?.map(from_us),
                })
            })
            .collect()
    }

    async fn unlink(&self, tx: &mut Tx, customer: Uuid, provider: Uuid) -> Result<()> {
        let gone =
            sqlx::query("DELETE FROM social_links WHERE customer_id = $1 AND provider_id = $2")
                .bind(customer.to_string())
                .bind(provider.to_string())
                .execute(&mut **tx)
                .await?
                .rows_affected();
        if gone == 0 {
            return Err(Error::NotFound("connected account"));
        }
        Ok(())
    }

    /// The signed-in customer's connected accounts.
    pub async fn my_social_links(&self, session_token: &str) -> Result<Vec<SocialLink>> {
        let s = self.validate_session(session_token).await?;
        self.links_of(s.customer_id).await
    }

    /// Disconnect one of the signed-in customer's provider accounts.
    pub async fn remove_my_social_link(&self, session_token: &str, provider: Uuid) -> Result<()> {
        let s = self.validate_session(session_token).await?;
        let mut tx = self.store.begin().await?;
        self.unlink(&mut tx, s.customer_id, provider).await?;
        self.audit(
            &mut tx,
            &format!("customer:{}", s.customer_id),
            "customer.social_unlinked",
            &format!("customer:{}", s.customer_id),
            None,
            json!({"provider": provider}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A customer's connected accounts (support and up).
    pub async fn customer_social_links(
        &self,
        staff: &Staff,
        customer: Uuid,
    ) -> Result<Vec<SocialLink>> {
        staff.require(Permission::ReadCustomers)?;
        self.links_of(customer).await
    }

    /// Disconnect a customer's provider account (support and up), with the reason recorded.
    pub async fn remove_customer_social_link(
        &self,
        staff: &Staff,
        customer: Uuid,
        provider: Uuid,
        reason: &str,
    ) -> Result<()> {
        staff.require(Permission::RemoveFactors)?;
        let reason = crate::staff::removal_reason(reason, "connection")?;
        let mut tx = self.store.begin().await?;
        self.unlink(&mut tx, customer, provider).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.social_unlinked",
            &format!("customer:{customer}"),
            Some(reason),
            json!({"provider": provider}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
