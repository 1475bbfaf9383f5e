//! Staff authenticator apps (TOTP, RFC 6238 as for customers: SHA-1, 6 digits, 30 s, ±1
//! step, each step accepted once). Admin and security staff must have one: their sign-in
//! ends with [`StaffFactor::EnrolmentNeeded`] until they set one up, and with
//! [`StaffFactor::CodeNeeded`] until they give its code; [`Staff::require`] refuses
//! everything else until then. Wrong codes count as failed sign-ins (throttled, audited,
//! alerting like wrong passwords). An admin resets a lost one with a recorded reason.

use crate::Engine;
use crate::error::{Error, Result};
use crate::factors::totp::{normalise_code, totp_for};
use crate::staff::ops::StaffChannel;
use crate::staff::{Permission, Staff, StaffFactor};
use crate::time::to_us;
use crate::{TotpEnrolment, clock::random_bytes};
use serde_json::json;
use sqlx::Row;
use totp_rs::Secret;
use uuid::Uuid;

fn aad(staff: Uuid) -> String {
    format!("staff_authenticators:{staff}")
}

/// Whether this staff member has a confirmed authenticator, and so where a password-only
/// sign-in leaves them.
pub(crate) fn factor_after_password(role: crate::Role, has_authenticator: bool) -> StaffFactor {
    if has_authenticator {
        StaffFactor::CodeNeeded
    } else if role.needs_authenticator() {
        StaffFactor::EnrolmentNeeded
    } else {
        StaffFactor::NotRequired
    }
}

impl Engine {
    pub(crate) async fn has_staff_authenticator(&self, staff: Uuid) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM staff_authenticators WHERE staff_id = $1 AND status = 'active'",
        )
        .bind(staff.to_string())
        .fetch_one(self.store.reader())
        .await?;
        Ok(n > 0)
    }

    /// Start setting up an authenticator app for the signed-in staff member (after the
    /// password; also for roles that do not need one). Shown once; a new start replaces an
    /// unconfirmed one.
    pub async fn begin_staff_authenticator(&self, staff: &Staff) -> Result<TotpEnrolment> {
        if staff.factor == StaffFactor::CodeNeeded {
            return Err(Error::SecondFactorRequired);
        }
        if self.has_staff_authenticator(staff.id).await? {
            return Err(Error::invalid(
                "authenticator",
                "you already have an authenticator app; if it is lost, ask an admin to reset it",
            ));
        }
        let key = self.factor_key()?;
        let secret: [u8; 20] = random_bytes(self.entropy.as_ref());
        let org = self.branding().await?.name;
        let issuer = if org.trim().is_empty() {
            "Vestibule staff".to_owned()
        } else {
            format!("{org} staff")
        };
        let uri = totp_for(secret.to_vec(), &issuer, &staff.email)?
            .to_url()
            .map_err(|e| Error::Internal(format!("totp uri: {e}")))?;
        let sealed = key.seal(&secret, &aad(staff.id), self.entropy.as_ref())?;
        let mut tx = self.store.begin().await?;
        sqlx::query("DELETE FROM staff_authenticators WHERE staff_id = $1 AND status = 'pending'")
            .bind(staff.id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO staff_authenticators (staff_id, status, sealed, created_us) VALUES ($1, 'pending', $2, $3)",
        )
        .bind(staff.id.to_string())
        .bind(sealed)
        .bind(to_us(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TotpEnrolment {
            factor_id: staff.id,
            secret: Secret::from(secret.to_vec()).to_base32(),
            uri,
        })
    }

    /// Finish setting up: the app's first code activates it and completes the sign-in.
    pub async fn confirm_staff_authenticator(&self, staff: &Staff, code: &str) -> Result<Staff> {
        if staff.factor == StaffFactor::CodeNeeded {
            return Err(Error::SecondFactorRequired);
        }
        let mut tx = self.store.begin().await?;
        let sealed: Vec<u8> = sqlx::query_scalar(
            "SELECT sealed FROM staff_authenticators WHERE staff_id = $1 AND status = 'pending'",
        )
        .bind(staff.id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("authenticator being set up"))?;
        let step = self.staff_step(staff.id, &sealed, code)?.ok_or_else(|| {
            Error::invalid(
                "code",
                "that code is not right; check the app's clock and type the current code",
            )
        })?;
        sqlx::query(
            "UPDATE staff_authenticators SET status = 'active', last_step = $1, last_used_us = $2, \
             version = version + 1 WHERE staff_id = $3 AND status = 'pending'",
        )
        .bind(step)
        .bind(to_us(self.now()))
        .bind(staff.id.to_string())
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "staff.authenticator_added",
            &staff.actor(),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(Staff {
            factor: StaffFactor::Verified,
            ..staff.clone()
        })
    }

    /// The time step `code` matches for this staff member's sealed secret now, if any.
    fn staff_step(&self, staff: Uuid, sealed: &[u8], code: &str) -> Result<Option<i64>> {
        let Some(code) = normalise_code(code) else {
            return Ok(None);
        };
        let secret = self.factor_key()?.open(sealed, &aad(staff))?;
        let now = u64::try_from(self.now().timestamp()).unwrap_or(0);
        Ok(totp_for(secret, "vestibule", "check")?
            .check(&code, now)
            .map(|s| i64::try_from(s).unwrap_or(i64::MAX)))
    }

    /// Finish a sign-in that stopped at [`StaffFactor::CodeNeeded`] with the authenticator's
    /// current code. A wrong or replayed code is a failed sign-in (recorded, audited,
    /// throttled with the password failures).
    pub async fn staff_second_factor(
        &self,
        staff: &Staff,
        code: &str,
        channel: StaffChannel,
        ip: &str,
    ) -> Result<Staff> {
        if staff.factor != StaffFactor::CodeNeeded {
            return Ok(staff.clone());
        }
        let email = crate::accounts::normalize::email(&staff.email)?;
        self.staff_throttle(&email.key, channel, ip, None).await?;
        let mut tx = self.store.begin().await?;
        let sealed: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT sealed FROM staff_authenticators WHERE staff_id = $1 AND status = 'active'",
        )
        .bind(staff.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let accepted = match sealed {
            Some(sealed) => match self.staff_step(staff.id, &sealed, code)? {
                Some(step) => {
                    sqlx::query(
                        "UPDATE staff_authenticators SET last_step = $1, last_used_us = $2, version = version + 1 \
                         WHERE staff_id = $3 AND status = 'active' AND last_step < $1",
                    )
                    .bind(step)
                    .bind(to_us(self.now()))
                    .bind(staff.id.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                }
                None => false,
            },
            None => false,
        };
        let member = self.staff_member(staff.id).await?;
        if accepted {
            self.staff_signed_in(&mut tx, &email.key, &member, channel, ip)
                .await?;
            tx.commit().await?;
            Ok(Staff::signed_in(member, StaffFactor::Verified))
        } else {
            self.staff_failed(
                &mut tx,
                &email.key,
                Some(&member),
                "wrong_code",
                channel,
                ip,
            )
            .await?;
            tx.commit().await?;
            Err(Error::invalid(
                "code",
                "that code is not right (or was already used); type the current code from your authenticator app",
            ))
        }
    }

    /// Remove a staff member's authenticator (lost phone): admins only, never their own,
    /// with a reason. The member sets up a new one at their next sign-in.
    pub async fn reset_staff_authenticator(
        &self,
        actor: &Staff,
        id: Uuid,
        reason: &str,
    ) -> Result<()> {
        actor.require(Permission::ManageStaff)?;
        if actor.id == id {
            return Err(Error::invalid(
                "staff",
                "another admin must reset your own authenticator",
            ));
        }
        let reason = crate::staff::removal_reason(reason, "authenticator")?;
        let mut tx = self.store.begin().await?;
        let n = sqlx::query("DELETE FROM staff_authenticators WHERE staff_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound("authenticator"));
        }
        self.audit(
            &mut tx,
            &actor.actor(),
            "staff.authenticator_reset",
            &format!("staff:{id}"),
            Some(reason),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether each staff member has an authenticator (for the admins' staff list).
    pub(crate) async fn staff_with_authenticators(&self) -> Result<Vec<Uuid>> {
        let rows = sqlx::query("SELECT staff_id FROM staff_authenticators WHERE status = 'active'")
            .fetch_all(self.store.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Uuid::parse_str(&r.try_get::<String, _>("staff_id")?)
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .collect()
    }
}
