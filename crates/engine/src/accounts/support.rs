//! Customers as staff see and manage them: opening the record (audited), its attempts,
//! sessions, risk, look-alikes and trail, status changes, profile edits and the help actions
//! (resend verification, start a reset, mark verified, revoke sessions). Every operation checks
//! the acting staff member's permission first, runs in one transaction with optimistic
//! concurrency on `version`, and is audited (reads included).

use crate::Engine;
use crate::accounts::normalize;
use crate::accounts::record::*;
use crate::accounts::sessions::SessionInfo;
use crate::error::{Error, Result};
use crate::staff::audit::{self, AuditEntry};
use crate::staff::{Permission, Staff};
use crate::time::{from_us, to_us};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

impl Engine {
    /// Open a customer record. Audited as a read, with the reason or ticket reference if given.
    pub async fn get_customer(
        &self,
        staff: &Staff,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<Customer> {
        staff.require(Permission::ReadCustomers)?;
        let reason = reason
            .map(|r| normalize::text("reason", r, 500))
            .transpose()?
            .filter(|r| !r.is_empty());
        let mut tx = self.store.begin().await?;
        if reason.is_none()
            && crate::staff::settings::load(&mut *tx)
                .await?
                .require_access_reason
        {
            return Err(Error::invalid(
                "reason",
                "give a reason or ticket reference before opening a customer record",
            ));
        }
        let c = load(&mut tx, id).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.viewed",
            &format!("customer:{id}"),
            reason.as_deref(),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Recent sign-in attempts for a customer, newest first.
    pub async fn customer_attempts(
        &self,
        staff: &Staff,
        id: Uuid,
        limit: i64,
    ) -> Result<Vec<SignInAttempt>> {
        staff.require(Permission::ReadCustomers)?;
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM sign_in_attempts WHERE customer_id = $1 \
             ORDER BY at_us DESC, seq DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(limit.clamp(1, 500))
            .fetch_all(self.store.reader())
            .await?;
        rows.iter().map(row_to_attempt).collect()
    }

    /// The customer's risk badge from recent failed sign-ins.
    pub async fn customer_risk(&self, staff: &Staff, id: Uuid) -> Result<CustomerRisk> {
        staff.require(Permission::ReadCustomers)?;
        let since = to_us(self.now() - chrono::Duration::hours(24));
        let (failed, ips): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT ip) FROM sign_in_attempts \
             WHERE customer_id = $1 AND at_us > $2 AND outcome <> 'success'",
        )
        .bind(id.to_string())
        .bind(since)
        .fetch_one(self.store.reader())
        .await?;
        let level = if failed >= 10 || ips >= 5 {
            RiskLevel::High
        } else if failed >= 3 {
            RiskLevel::Elevated
        } else {
            RiskLevel::Low
        };
        Ok(CustomerRisk {
            level,
            failed_last_24h: failed,
            failed_ips_last_24h: ips,
        })
    }

    /// A customer's sessions that are still valid.
    pub async fn customer_sessions(&self, staff: &Staff, id: Uuid) -> Result<Vec<SessionInfo>> {
        staff.require(Permission::ReadCustomers)?;
        self.active_sessions(id).await
    }

    /// Audit entries about a customer (who looked, who changed what), newest first.
    /// Other customers whose address looks like this one's (same UTS #39 confusable
    /// skeleton: `аlice@…` in Cyrillic beside `alice@…`), so staff are warned before they act
    /// on the wrong record. Empty for most customers.
    pub async fn customer_lookalikes(
        &self,
        staff: &Staff,
        id: Uuid,
    ) -> Result<Vec<CustomerSummary>> {
        staff.require(Permission::ReadCustomers)?;
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM customers c JOIN customers me ON me.id = $1 \
             WHERE c.email_skeleton = me.email_skeleton AND c.email_skeleton <> '' AND c.id <> me.id \
             ORDER BY c.seq LIMIT 20"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_all(self.store.reader())
            .await?;
        rows.iter().map(row_to_summary).collect()
    }

    /// Fill `email_skeleton` for customers stored before it existed (once, when a store
    /// opens; a no-op afterwards).
    pub(crate) async fn backfill_email_skeletons(&self) -> Result<()> {
        loop {
            let rows = sqlx::query(
                "SELECT seq, email_key FROM customers WHERE email_skeleton = '' ORDER BY seq LIMIT 5000",
            )
            .fetch_all(self.store.reader())
            .await?;
            if rows.is_empty() {
                return Ok(());
            }
            let mut tx = self.store.begin().await?;
            for r in &rows {
                let key: String = r.try_get("email_key")?;
                let skeleton = normalize::email_skeleton(&key);
                sqlx::query("UPDATE customers SET email_skeleton = $1 WHERE seq = $2")
                    // Never '' again, even for a key whose skeleton is empty.
                    .bind(if skeleton.is_empty() { key } else { skeleton })
                    .bind(r.try_get::<i64, _>("seq")?)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }

    pub async fn customer_audit(
        &self,
        staff: &Staff,
        id: Uuid,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        staff.require(Permission::ReadCustomers)?;
        audit::for_target(
            self.store.reader(),
            &format!("customer:{id}"),
            limit.clamp(1, 1000),
        )
        .await
    }

    /// Change a customer's status. Locking and disabling revoke every session.
    /// `expected_version` is the version the staff member saw; a newer one is a conflict.
    pub async fn set_customer_status(
        &self,
        staff: &Staff,
        id: Uuid,
        expected_version: i64,
        status: CustomerStatus,
        reason: Option<&str>,
    ) -> Result<Customer> {
        let reason = reason
            .map(|r| normalize::text("reason", r, 500))
            .transpose()?
            .filter(|r| !r.is_empty());
        let mut tx = self.store.begin().await?;
        let before = load(&mut tx, id).await?;
        let needed = match (before.status, status) {
            (_, CustomerStatus::Locked) => Permission::LockCustomers,
            (CustomerStatus::Locked, CustomerStatus::Active) => Permission::UnlockCustomers,
            (_, CustomerStatus::Disabled) | (CustomerStatus::Disabled, CustomerStatus::Active) => {
                Permission::DisableCustomers
            }
            (_, CustomerStatus::Erased) => Permission::EraseCustomers,
            (_, CustomerStatus::Active) => Permission::UnlockCustomers,
        };
        staff.require(needed)?;
        if status == CustomerStatus::Erased {
            return Err(Error::invalid(
                "status",
                "erasing removes the customer's data: use erase (privacy), not a status change",
            ));
        }
        if before.status == CustomerStatus::Erased {
            return Err(Error::invalid(
                "status",
                "an erased customer cannot be changed",
            ));
        }
        let now = self.now();
        self.bump_customer(&mut tx, id, expected_version, now, "status = $4", |q| {
            q.bind(status.as_str())
        })
        .await?;
        if matches!(status, CustomerStatus::Locked | CustomerStatus::Disabled) {
            self.revoke_all_sessions_tx(&mut tx, id, None).await?;
        }
        let action = format!(
            "customer.{}",
            match status {
                CustomerStatus::Active => "activated",
                CustomerStatus::Locked => "locked",
                CustomerStatus::Disabled => "disabled",
                CustomerStatus::Erased => "erased",
            }
        );
        self.audit(
            &mut tx,
            &staff.actor(),
            &action,
            &format!("customer:{id}"),
            reason.as_deref(),
            audit::diff(&[("status", json!(before.status), json!(status))]),
        )
        .await?;
        let after = load(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Edit profile fields, with validation and optimistic concurrency.
    pub async fn update_customer_profile(
        &self,
        staff: &Staff,
        id: Uuid,
        expected_version: i64,
        patch: ProfilePatch,
    ) -> Result<Customer> {
        staff.require(Permission::EditCustomers)?;
        self.apply_profile_patch(&staff.actor(), false, id, expected_version, patch)
            .await
    }

    /// Mark the email address verified after an out-of-band check (reason required).
    pub async fn mark_email_verified(
        &self,
        staff: &Staff,
        id: Uuid,
        expected_version: i64,
        reason: &str,
    ) -> Result<Customer> {
        staff.require(Permission::MarkEmailVerified)?;
        let reason = normalize::text("reason", reason, 500)?;
        if reason.is_empty() {
            return Err(Error::invalid(
                "reason",
                "say how the address was verified (e.g. a ticket reference)",
            ));
        }
        let mut tx = self.store.begin().await?;
        let before = load(&mut tx, id).await?;
        self.bump_customer(
            &mut tx,
            id,
            expected_version,
            self.now(),
            "email_verified = 1",
            |q| q,
        )
        .await?;
        if !before.email_verified {
            crate::analytics::verified(&mut tx, self.now(), id, "staff").await?;
        }
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.email_marked_verified",
            &format!("customer:{id}"),
            Some(&reason),
            audit::diff(&[("email_verified", json!(before.email_verified), json!(true))]),
        )
        .await?;
        let after = load(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Send the customer a new verification email.
    pub async fn resend_verification(&self, staff: &Staff, id: Uuid) -> Result<()> {
        staff.require(Permission::ResendVerification)?;
        let mut tx = self.store.begin().await?;
        let c = load(&mut tx, id).await?;
        if c.email_verified {
            return Err(Error::invalid("email", "this address is already verified"));
        }
        self.send_verification(&mut tx, &c).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.verification_resent",
            &format!("customer:{id}"),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Email the customer a password-reset link. Staff never see or set passwords.
    pub async fn start_password_reset(&self, staff: &Staff, id: Uuid) -> Result<()> {
        staff.require(Permission::StartPasswordReset)?;
        let mut tx = self.store.begin().await?;
        let c = load(&mut tx, id).await?;
        if c.status == CustomerStatus::Erased {
            return Err(Error::NotFound("customer"));
        }
        self.send_reset(&mut tx, &c).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.password_reset_started",
            &format!("customer:{id}"),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revoke one session (`Some(session)`) or all of a customer's sessions.
    pub async fn revoke_customer_sessions(
        &self,
        staff: &Staff,
        id: Uuid,
        session: Option<Uuid>,
    ) -> Result<u64> {
        staff.require(Permission::RevokeSessions)?;
        let mut tx = self.store.begin().await?;
        load(&mut tx, id).await?;
        let n = self.revoke_all_sessions_tx(&mut tx, id, session).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.sessions_revoked",
            &format!("customer:{id}"),
            None,
            json!({"sessions": n, "session": session}),
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The columns [`row_to_attempt`] reads.
pub(crate) const ATTEMPT_COLUMNS: &str = "seq, at_us, email_key, customer_id, outcome, reason, method, ip, \
     user_agent, network, country, score, decision, enforced, signals";

/// A sign-in attempt as staff see it.
pub(crate) fn row_to_attempt(r: &sqlx::any::AnyRow) -> Result<SignInAttempt> {
    Ok(SignInAttempt {
        seq: r.try_get("seq")?,
        at: from_us(r.try_get("at_us")?),
        email: r.try_get("email_key")?,
        customer_id: r
            .try_get::<Option<String>, _>("customer_id")?
            .and_then(|s| Uuid::parse_str(&s).ok()),
        outcome: r.try_get("outcome")?,
        reason: r.try_get("reason")?,
        method: r.try_get("method")?,
        ip: r.try_get("ip")?,
        device: crate::accounts::sessions::device_label(&r.try_get::<String, _>("user_agent")?),
        user_agent: r.try_get("user_agent")?,
        network: r.try_get("network")?,
        country: r.try_get("country")?,
        score: r
            .try_get::<Option<i64>, _>("score")?
            .and_then(|s| u32::try_from(s).ok()),
        decision: r
            .try_get::<Option<String>, _>("decision")?
            .and_then(|d| crate::risk::policy::Decision::from_name(&d)),
        enforced: r.try_get::<i64, _>("enforced")? != 0,
        signals: serde_json::from_str(&r.try_get::<String, _>("signals")?).unwrap_or_default(),
    })
}
