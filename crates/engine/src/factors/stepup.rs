//! Recent authentication. Changing the email address or password, removing a factor and
//! showing new recovery codes need a sign-in (or step-up) within
//! [`crate::accounts::sessions::RECENT_AUTH`] (checked by `SessionInfo::require_recent_auth`); a step-up
//! re-proves the customer inside their session: with the password when they have no second
//! factor, with a second factor when they have one (a password alone never steps up an
//! account that has one).

use crate::Engine;
use crate::accounts::sessions::{RequestContext, SessionInfo};
use crate::error::{Error, Result};
use crate::factors::challenge::FactorProof;
use crate::time::to_us;

/// What a customer re-proves themselves with.
#[derive(Debug, Clone)]
pub enum StepUpProof {
    Password(String),
    Factor(FactorProof),
}

impl Engine {
    /// Re-authenticate inside the session; its authentication time becomes now.
    pub async fn step_up(
        &self,
        session_token: &str,
        proof: &StepUpProof,
        ctx: &RequestContext,
    ) -> Result<SessionInfo> {
        let s = self.validate_session(session_token).await?;
        let (c, phc) = self.customer_with_hash(s.customer_id).await?;
        let added: &[&str] = match proof {
            StepUpProof::Password(pw) => {
                if c.mfa_enabled {
                    return Err(Error::invalid(
                        "code",
                        "this account has a second factor: confirm with it",
                    ));
                }
                self.reauthenticate(&s, &c, phc, pw, ctx).await?;
                &["pwd"]
            }
            StepUpProof::Factor(f) => {
                let key = crate::accounts::normalize::key_of_stored(&c.email);
                let mut tx = self.store.begin().await?;
                if !self.check_factor(&mut tx, c.id, f).await? {
                    self.record_attempt(
                        &mut tx,
                        &key,
                        Some(c.id),
                        "wrong_second_factor",
                        "step_up",
                        ctx,
                    )
                    .await?;
                    tx.commit().await?;
                    return Err(Error::invalid("code", "that code is not right"));
                }
                self.record_attempt(&mut tx, &key, Some(c.id), "ok", "step_up", ctx)
                    .await?;
                tx.commit().await?;
                &["otp", "mfa"]
            }
        };
        let mut amr = s.amr.clone();
        for m in added {
            if !amr.iter().any(|a| a == m) {
                amr.push((*m).to_owned());
            }
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "UPDATE sessions SET auth_us = $1, amr = $2, version = version + 1 WHERE id = $3",
        )
        .bind(to_us(now))
        .bind(amr.join(" "))
        .bind(s.id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SessionInfo {
            amr,
            auth_at: now,
            ..s
        })
    }
}
