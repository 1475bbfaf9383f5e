//! Second factors and what depends on them: TOTP authenticators (`totp`), recovery codes
//! (`recovery`), passkeys (`passkeys`, a multi-factor sign-in method of their own), the second step of a sign-in (`challenge`) and recent authentication for
//! sensitive changes (`stepup`). Customers manage their own factors with their session;
//! support staff see which factors a customer has (never a secret) and remove a lost one only
//! with a recorded reason.
//!
//! Email codes and magic links (`email`) are a sign-in method, not a factor: NIST 800-63B
//! does not count them as an authenticator, so they stand in for the password only and never
//! satisfy a challenge.

pub(crate) mod challenge;
pub(crate) mod email;
pub(crate) mod passkeys;
pub(crate) mod recovery;
pub(crate) mod stepup;
pub(crate) mod totp;

use crate::Engine;
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::storage::Tx;
use crate::time::from_us;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

/// What kind of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    Totp,
    Passkey,
}

impl FactorKind {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "totp" => Ok(FactorKind::Totp),
            "passkey" => Ok(FactorKind::Passkey),
            other => Err(Error::Internal(format!("stored factor kind {other}"))),
        }
    }
}

/// A second factor as its owner and support staff see it (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Factor {
    pub id: Uuid,
    pub kind: FactorKind,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set when the factor was turned off because it may have been copied (a passkey whose
    /// signature counter went backwards); it no longer signs anyone in.
    pub flagged_at: Option<DateTime<Utc>>,
}

fn factor_from_row(r: &sqlx::any::AnyRow) -> Result<Factor> {
    Ok(Factor {
        id: Uuid::parse_str(&r.try_get::<String, _>("id")?)
            .map_err(|e| Error::Internal(e.to_string()))?,
        kind: FactorKind::parse(&r.try_get::<String, _>("kind")?)?,
        name: r.try_get("name")?,
        created_at: from_us(r.try_get("created_us")?),
        last_used_at: r.try_get::<Option<i64>, _>("last_used_us")?.map(from_us),
        flagged_at: None,
    })
}

impl Engine {
    /// The store's factor key, or a clear refusal when the operator has not supplied one.
    pub(crate) fn factor_key(&self) -> Result<&crate::FactorKey> {
        self.factor_key
            .as_deref()
            .ok_or(Error::NotConfigured("the factor key (--factor-key-file)"))
    }

    /// Second factors (authenticator apps) that a password sign-in is challenged for.
    pub(crate) async fn active_factors(
        &self,
        ex: impl sqlx::Executor<'_, Database = sqlx::Any>,
        customer: Uuid,
    ) -> Result<Vec<Factor>> {
        let rows = sqlx::query(
            "SELECT id, kind, name, created_us, last_used_us FROM customer_factors \
             WHERE customer_id = $1 AND status = 'active' ORDER BY created_us",
        )
        .bind(customer.to_string())
        .fetch_all(ex)
        .await?;
        rows.iter().map(factor_from_row).collect()
    }

    /// Everything a customer signs in with besides the password: authenticator apps, then
    /// passkeys.
    async fn all_factors(&self, customer: Uuid) -> Result<Vec<Factor>> {
        let mut all = self.active_factors(self.store.reader(), customer).await?;
        all.extend(self.passkeys_of(self.store.reader(), customer).await?);
        Ok(all)
    }

    /// The signed-in customer's own authenticator apps and passkeys.
    pub async fn my_factors(&self, session_token: &str) -> Result<Vec<Factor>> {
        let s = self.validate_session(session_token).await?;
        self.all_factors(s.customer_id).await
    }

    /// Remove one of the signed-in customer's own factors (needs recent authentication).
    /// Removing the last one also removes the recovery codes: they recover a second factor.
    pub async fn remove_my_factor(&self, session_token: &str, factor: Uuid) -> Result<()> {
        let s = self.validate_session(session_token).await?;
        s.require_recent_auth(self.now())?;
        let mut tx = self.store.begin().await?;
        self.delete_factor(&mut tx, s.customer_id, factor).await?;
        self.audit(
            &mut tx,
            &format!("customer:{}", s.customer_id),
            "customer.factor_removed",
            &format!("customer:{}", s.customer_id),
            None,
            json!({"factor": factor}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_factor(&self, tx: &mut Tx, customer: Uuid, factor: Uuid) -> Result<()> {
        let passkeys = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND customer_id = $2")
            .bind(factor.to_string())
            .bind(customer.to_string())
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if passkeys > 0 {
            return Ok(());
        }
        let n = sqlx::query("DELETE FROM customer_factors WHERE id = $1 AND customer_id = $2")
            .bind(factor.to_string())
            .bind(customer.to_string())
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound("factor"));
        }
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM customer_factors WHERE customer_id = $1 AND status = 'active'",
        )
        .bind(customer.to_string())
        .fetch_one(&mut **tx)
        .await?;
        if left == 0 {
            sqlx::query("DELETE FROM recovery_codes WHERE customer_id = $1")
                .bind(customer.to_string())
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "UPDATE customers SET mfa_enabled = 0, version = version + 1 WHERE id = $1",
            )
            .bind(customer.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Which factors a customer has (support and up). Names and dates only, never a secret.
    pub async fn customer_factors(&self, staff: &Staff, customer: Uuid) -> Result<Vec<Factor>> {
        staff.require(Permission::ReadCustomers)?;
        self.all_factors(customer).await
    }

    /// Remove a customer's lost factor (support and up), with the reason recorded.
    pub async fn remove_customer_factor(
        &self,
        staff: &Staff,
        customer: Uuid,
        factor: Uuid,
        reason: &str,
    ) -> Result<()> {
        staff.require(Permission::RemoveFactors)?;
        let reason = crate::staff::removal_reason(reason, "factor")?;
        let mut tx = self.store.begin().await?;
        self.delete_factor(&mut tx, customer, factor).await?;
        // Their sessions end too: whoever holds one may be the reason the factor was lost.
        self.revoke_all_sessions_tx(&mut tx, customer, None).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.factor_removed",
            &format!("customer:{customer}"),
            Some(reason),
            json!({"factor": factor}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
