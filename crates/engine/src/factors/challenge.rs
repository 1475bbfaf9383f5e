//! The second step of signing in. When the password is right and the account has a second
//! factor, no session is made: a short-lived challenge token goes back instead, and the
//! sign-in finishes with a TOTP code or a recovery code. Wrong codes are failed sign-in
//! attempts on the account (they count toward its throttle), and a few of them end the
//! challenge, so the password must be proven again.

use crate::Engine;
use crate::accounts::sessions::{RequestContext, SignedIn};
use crate::credentials::tokens;
use crate::error::{Error, Result};
use crate::outbox::enqueue;
use crate::risk::assess::Attempt;
use crate::risk::policy::Decision;
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

/// How long a challenge waits for its second factor.
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Wrong codes after which a challenge ends.
pub const CHALLENGE_FAILURES: i64 = 5;

/// The outbox kind of a risk challenge's emailed code.
pub(crate) const RISK_CHECK_EMAIL: &str = "sign_in_check";

/// What a sign-in's first step proved, for [`Engine::first_step_proven`].
pub(crate) struct FirstProof<'a> {
    pub customer: Uuid,
    pub email_key: &'a str,
    pub mfa_enabled: bool,
    /// `pwd`, `email` or `fed`: the RFC 8176 method of the step.
    pub first: &'a str,
    /// How the attempt is recorded: `password`, `email_code`, `magic_link`, `social`.
    pub method: &'a str,
    pub common_password: bool,
}

/// The stored digest of a risk challenge's code, bound to its challenge.
fn check_digest(challenge_digest: &[u8], code: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(challenge_digest);
    h.update(b"\0risk-check\0");
    h.update(code.as_bytes());
    h.finalize().to_vec()
}

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
    /// What finishes it.
    pub kind: ChallengeKind,
}

/// What a challenge asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// The account's own second factor (authenticator app or recovery code).
    SecondFactor,
    /// The sign-in looked risky and the account has no second factor: a 6-digit code was
    /// emailed to the customer ([`FactorProof::EmailCode`]).
    EmailCode,
}

/// A first step's outcome while its transaction is open. A denied attempt is recorded, so
/// the caller commits and only then answers as for a wrong password.
#[must_use]
#[allow(clippy::large_enum_variant)] // made once per sign-in and unwrapped at once
pub(crate) enum FirstStep {
    Step(SignInStep),
    Denied,
}

impl FirstStep {
    /// The answer to give once the transaction is committed.
    pub(crate) fn into_result(self) -> Result<SignInStep> {
        match self {
            FirstStep::Step(s) => Ok(s),
            FirstStep::Denied => Err(Error::InvalidCredentials),
        }
    }
}

/// What the customer offers as their second factor.
#[derive(Debug, Clone)]
pub enum FactorProof {
    Totp(String),
    RecoveryCode(String),
    /// The code emailed for a risk challenge.
    EmailCode(String),
}

impl FactorProof {
    pub(crate) fn method(&self) -> &'static str {
        match self {
            FactorProof::Totp(_) => "totp",
            FactorProof::RecoveryCode(_) => "recovery_code",
            FactorProof::EmailCode(_) => "email_check",
        }
    }

    /// The RFC 8176 methods a session proven this way after `first` carries: two factors
    /// only after a password (an emailed code is not an authenticator, NIST 800-63B).
    pub(crate) fn amr<'a>(&self, first: &'a str) -> Vec<&'a str> {
        if matches!(self, FactorProof::EmailCode(_)) {
            // An emailed code answers a risk check; it is not an authenticator.
            vec![first]
        } else if first == "pwd" {
            vec!["pwd", "otp", "mfa"]
        } else {
            vec![first, "otp"]
        }
    }

    pub(crate) fn code(&self) -> &str {
        match self {
            FactorProof::Totp(c) | FactorProof::RecoveryCode(c) | FactorProof::EmailCode(c) => c,
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
        step.into_result()
    }

    /// The right password was given: the attempt scored and recorded, then a session, the
    /// second factor's challenge, a risk challenge or a denial; the hash upgraded if its
    /// parameters are old — in `tx`.
    pub(crate) async fn password_step(
        &self,
        tx: &mut Tx,
        proven: &crate::accounts::selfservice::PasswordChecked,
        ctx: &RequestContext,
    ) -> Result<FirstStep> {
        let c = &proven.customer;
        let step = self
            .first_step_proven(
                tx,
                FirstProof {
                    customer: c.id,
                    email_key: &proven.email_key,
                    mfa_enabled: c.mfa_enabled,
                    first: "pwd",
                    method: "password",
                    common_password: proven.common,
                },
                ctx,
            )
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

    /// A sign-in's first step (`first`: `pwd`, `email`, `fed`) is proven: the attempt is
    /// scored and recorded, and the risk policy's decision taken. Deny refuses it; challenge
    /// asks for the account's second factor, or where it has none for a code emailed to it
    /// (an emailed sign-in code has already shown the mailbox, so it stands); otherwise a
    /// session, or for an account with a second factor the challenge for it.
    pub(crate) async fn first_step_proven(
        &self,
        tx: &mut Tx,
        p: FirstProof<'_>,
        ctx: &RequestContext,
    ) -> Result<FirstStep> {
        let attempt = Attempt {
            email_key: p.email_key,
            customer: Some(p.customer),
            ctx,
            common_password: p.common_password,
        };
        let a = self.assess(tx, &attempt).await?;
        let customer = p.customer;
        match a.effective() {
            Decision::Deny => {
                self.insert_attempt(
                    tx,
                    p.email_key,
                    Some(customer),
                    "risk_denied",
                    p.method,
                    ctx,
                    &a,
                )
                .await?;
                return Ok(FirstStep::Denied);
            }
            Decision::Challenge if !p.mfa_enabled && p.first != "email" => {
                let seq = self
                    .insert_attempt(
                        tx,
                        p.email_key,
                        Some(customer),
                        "risk_challenged",
                        p.method,
                        ctx,
                        &a,
                    )
                    .await?;
                let challenge = self
                    .open_risk_challenge(tx, customer, p.email_key, p.first, seq)
                    .await?;
                return Ok(FirstStep::Step(SignInStep::SecondFactor(challenge)));
            }
            _ => {}
        }
        self.insert_attempt(tx, p.email_key, Some(customer), "ok", p.method, ctx, &a)
            .await?;
        if p.mfa_enabled {
            return Ok(FirstStep::Step(SignInStep::SecondFactor(
                self.open_challenge(tx, customer, p.email_key, p.first)
                    .await?,
            )));
        }
        let signed_in = self.create_session(tx, customer, &[p.first], ctx).await?;
        sqlx::query("UPDATE customers SET last_sign_in_us = $1 WHERE id = $2")
            .bind(to_us(self.now()))
            .bind(customer.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(FirstStep::Step(SignInStep::SignedIn(signed_in)))
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
        let (token, expires_at) = self
            .insert_challenge(tx, customer, email_key, first, None, None)
            .await?;
        Ok(Challenge {
            token,
            expires_at,
            kind: ChallengeKind::SecondFactor,
        })
    }

    /// Open a risk challenge for a customer without a second factor: a 6-digit code goes to
    /// their address, bound to the challenge token (a code alone finishes nothing).
    async fn open_risk_challenge(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        email_key: &str,
        first: &str,
        attempt: i64,
    ) -> Result<Challenge> {
        let code = tokens::six_digits(self.entropy.as_ref());
        let (token, expires_at) = self
            .insert_challenge(tx, customer, email_key, first, Some(&code), Some(attempt))
            .await?;
        let email = crate::accounts::record::email_of(&mut **tx, customer)
            .await?
            .ok_or(Error::NotFound("customer"))?;
        enqueue(
            tx,
            self,
            RISK_CHECK_EMAIL,
            &email,
            &format!("Your sign-in check code: {code}"),
            &format!(
                "Someone signed in to your account with the right password, from a device or \
                 place that looked unusual, so we are checking it is you. If it was you, enter \
                 this code within 5 minutes:\n\n{} {}\n\n\
                 If it was not you, change your password now at {}/account: whoever it was \
                 knows it.\n",
                code.get(..3).unwrap_or_default(),
                code.get(3..).unwrap_or_default(),
                self.config.public_url
            ),
        )
        .await?;
        Ok(Challenge {
            token,
            expires_at,
            kind: ChallengeKind::EmailCode,
        })
    }

    async fn insert_challenge(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        email_key: &str,
        first: &str,
        code: Option<&str>,
        attempt: Option<i64>,
    ) -> Result<(String, DateTime<Utc>)> {
        let now = self.now();
        let (token, digest) = tokens::new_token(self.entropy.as_ref());
        sqlx::query("DELETE FROM sign_in_challenges WHERE expires_us < $1")
            .bind(to_us(now))
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_challenges (token_hash, customer_id, email_key, amr, created_us, expires_us, code_hash, attempt_seq) \
             VALUES ($1, $2, $3, $6, $4, $5, $7, $8)",
        )
        .bind(&digest)
        .bind(customer.to_string())
        .bind(email_key)
        .bind(to_us(now))
        .bind(to_us(now + CHALLENGE_TTL))
        .bind(first)
        .bind(code.map(|c| check_digest(&digest, c)))
        .bind(attempt)
        .execute(&mut **tx)
        .await?;
        Ok((token, now + CHALLENGE_TTL))
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
            FactorProof::EmailCode(_) => Ok(false),
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
            "SELECT customer_id, email_key, expires_us, failures, amr, code_hash, pending_link FROM sign_in_challenges WHERE token_hash = $1",
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
        let emailed: Option<Vec<u8>> = row.try_get("code_hash")?;
        let mut tx = self
            .unless_throttled(tx, &email_key, Some(customer), proof.method(), ctx)
            .await?;
        let right = match (&emailed, proof) {
            (Some(expected), FactorProof::EmailCode(code)) => {
                let given = check_digest(&digest, code.trim());
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    given.as_slice(),
                    expected.as_slice(),
                ))
            }
            // An emailed check is answered by its code only, a second factor by the factor.
            (Some(_), _) | (None, FactorProof::EmailCode(_)) => false,
            (None, _) => self.check_factor(&mut tx, customer, proof).await?,
        };
        if !right {
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
        if let Some(link) = row.try_get::<Option<String>, _>("pending_link")? {
            self.finish_pending_link(&mut tx, customer, &link).await?;
        }
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
