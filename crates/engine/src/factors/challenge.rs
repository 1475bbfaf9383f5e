//! The second step of signing in. When the password is right and the account has a second
//! factor, no session is made: a short-lived challenge token goes back instead, and the
//! sign-in finishes with a TOTP code or a recovery code. Wrong codes are failed sign-in
//! attempts on the account (they count toward its throttle), and a few of them end the
//! challenge, so the password must be proven again.

use crate::Engine;
use crate::accounts::sessions::{RequestContext, SignedIn};
use crate::credentials::tokens;
use crate::error::{Error, Result};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;
use uuid::Uuid;

/// How long a challenge waits for its second factor.
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Wrong codes after which a challenge ends.
pub const CHALLENGE_FAILURES: i64 = 5;

/// What a correct password leads to.
#[derive(Debug)]
pub enum SignInStep {
    /// Signed in (no second factor on the account).
    SignedIn(SignedIn),
    /// The account has a second factor: finish with [`Engine::complete_sign_in`].
    SecondFactor(Challenge),
}

/// An unfinished sign-in, waiting for a second factor.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Opaque; give it back with the code. Stored only as SHA-256.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What the customer offers as their second factor.
#[derive(Debug, Clone)]
pub enum FactorProof {
    Totp(String),
    RecoveryCode(String),
}

impl FactorProof {
    pub(crate) fn method(&self) -> &'static str {
        match self {
            FactorProof::Totp(_) => "totp",
            FactorProof::RecoveryCode(_) => "recovery_code",
        }
    }

    /// The RFC 8176 methods a session proven this way after `first` carries: two factors
    /// only after a password (an emailed code is not an authenticator, NIST 800-63B).
    pub(crate) fn amr<'a>(&self, first: &'a str) -> Vec<&'a str> {
        if first == "pwd" {
            vec!["pwd", "otp", "mfa"]
        } else {
            vec![first, "otp"]
        }
    }

    pub(crate) fn code(&self) -> &str {
        match self {
            FactorProof::Totp(c) | FactorProof::RecoveryCode(c) => c,
        }
    }
}

impl Engine {
    /// Sign in with email and password in one step. An account with a second factor answers
    /// `SecondFactorRequired` (use [`Engine::begin_sign_in`] to get its challenge).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<SignedIn> {
        match self.begin_sign_in(email, password, ctx).await? {
            SignInStep::SignedIn(s) => Ok(s),
            SignInStep::SecondFactor(_) => Err(Error::SecondFactorRequired),
        }
    }

    /// Sign in with email and password: signed in, or — when the account has a second
    /// factor — a challenge to finish with it. Unknown address and wrong password are the
    /// same error in the same time.
    pub async fn begin_sign_in(
        &self,
        email: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<SignInStep> {
        let proven = self.check_sign_in_password(email, password, ctx).await?;
        let mut tx = self.store.begin().await?;
        let step = self.password_step(&mut tx, &proven, ctx).await?;
        tx.commit().await?;
        Ok(step)
    }

    /// The right password was given: the attempt recorded, a session or the second factor's
    /// challenge, and the hash upgraded if its parameters are old — in `tx`.
    pub(crate) async fn password_step(
        &self,
        tx: &mut Tx,
        proven: &crate::accounts::selfservice::PasswordChecked,
        ctx: &RequestContext,
    ) -> Result<SignInStep> {
        let c = &proven.customer;
        self.record_attempt(tx, &proven.email_key, Some(c.id), "ok", "password", ctx)
            .await?;
        let step = self
            .first_step_proven(tx, c.id, &proven.email_key, c.mfa_enabled, "pwd", ctx)
            .await?;
        if let Some(h) = &proven.new_hash {
            // Only if nobody changed the password meanwhile.
            sqlx::query("UPDATE customers SET password_hash = $1 WHERE id = $2 AND version = $3")
                .bind(h)
                .bind(c.id.to_string())
                .bind(c.version)
                .execute(&mut **tx)
                .await?;
        }
        Ok(step)
    }

    /// A sign-in's first step (`first`: `pwd`, `email`, `fed`) is proven: a session, or
    /// for an account with a second factor the challenge for it.
    pub(crate) async fn first_step_proven(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        email_key: &str,
        mfa_enabled: bool,
        first: &str,
        ctx: &RequestContext,
    ) -> Result<SignInStep> {
        if mfa_enabled {
            return Ok(SignInStep::SecondFactor(
                self.open_challenge(tx, customer, email_key, first).await?,
            ));
        }
        let signed_in = self.create_session(tx, customer, &[first], ctx).await?;
        sqlx::query("UPDATE customers SET last_sign_in_us = $1 WHERE id = $2")
            .bind(to_us(self.now()))
            .bind(customer.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(SignInStep::SignedIn(signed_in))
    }

    /// Open a challenge for a customer whose first step (`first`: `pwd` for the password,
    /// `email` for an emailed code) was just proven.
    pub(crate) async fn open_challenge(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        email_key: &str,
        first: &str,
    ) -> Result<Challenge> {
        let now = self.now();
        let (token, digest) = tokens::new_token(self.entropy.as_ref());
        sqlx::query("DELETE FROM sign_in_challenges WHERE expires_us < $1")
            .bind(to_us(now))
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_challenges (token_hash, customer_id, email_key, amr, created_us, expires_us) \
             VALUES ($1, $2, $3, $6, $4, $5)",
        )
        .bind(digest)
        .bind(customer.to_string())
        .bind(email_key)
        .bind(to_us(now))
        .bind(to_us(now + CHALLENGE_TTL))
        .bind(first)
        .execute(&mut **tx)
        .await?;
        Ok(Challenge {
            token,
            expires_at: now + CHALLENGE_TTL,
        })
    }

    /// Check a second factor against a customer's factors (in the caller's transaction).
    pub(crate) async fn check_factor(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        proof: &FactorProof,
    ) -> Result<bool> {
        match proof {
            FactorProof::Totp(code) => self.use_totp_code(tx, customer, code).await,
            FactorProof::RecoveryCode(code) => self.use_recovery_code(tx, customer, code).await,
        }
    }

    /// Finish a sign-in with its second factor: a session, or why not. An unknown, expired
    /// or ended challenge is `InvalidSession` (start again with the password).
    pub async fn complete_sign_in(
        &self,
        challenge: &str,
        proof: &FactorProof,
        ctx: &RequestContext,
    ) -> Result<SignedIn> {
        if challenge.len() > 256 || proof.code().len() > 64 {
            return Err(Error::InvalidSession);
        }
        let digest = tokens::digest(challenge);
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let row = sqlx::query(
            "SELECT customer_id, email_key, expires_us, failures, amr FROM sign_in_challenges WHERE token_hash = $1",
        )
        .bind(&digest)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::InvalidSession)?;
        if from_us(row.try_get("expires_us")?) <= now {
            return Err(Error::InvalidSession);
        }
        let customer = Uuid::parse_str(&row.try_get::<String, _>("customer_id")?)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let email_key: String = row.try_get("email_key")?;
        let first: String = row.try_get("amr")?;
        let mut tx = self
            .unless_throttled(tx, &email_key, Some(customer), proof.method(), ctx)
            .await?;
        if !self.check_factor(&mut tx, customer, proof).await? {
            self.record_attempt(
                &mut tx,
                &email_key,
                Some(customer),
                "wrong_second_factor",
                proof.method(),
                ctx,
            )
            .await?;
            let n: i64 = row.try_get::<i64, _>("failures")? + 1;
            if n >= CHALLENGE_FAILURES {
                sqlx::query("DELETE FROM sign_in_challenges WHERE token_hash = $1")
                    .bind(&digest)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Err(Error::InvalidSession);
            }
            sqlx::query("UPDATE sign_in_challenges SET failures = $1 WHERE token_hash = $2")
                .bind(n)
                .bind(&digest)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Err(Error::invalid("code", "that code is not right"));
        }
        sqlx::query("DELETE FROM sign_in_challenges WHERE token_hash = $1")
            .bind(&digest)
            .execute(&mut *tx)
            .await?;
        self.record_attempt(
            &mut tx,
            &email_key,
            Some(customer),
            "ok",
            proof.method(),
            ctx,
        )
        .await?;
        let signed = self
            .create_session(&mut tx, customer, &proof.amr(&first), ctx)
            .await?;
        sqlx::query("UPDATE customers SET last_sign_in_us = $1 WHERE id = $2")
            .bind(to_us(now))
            .bind(customer.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(signed)
    }
}
