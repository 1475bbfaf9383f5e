//! Signing in with an emailed one-time code or magic link: a low-assurance way in for people
//! without their password. NIST 800-63B does not count email as an authenticator, so it
//! stands in for the password only — an account with an authenticator app is still asked for
//! it, and a session made this way never says `mfa` (its `amr` is `email`).
//!
//! Asking is the same for every address: the request returns a *browser binding* at once and
//! the lookup and the email happen in the [deferred](crate::accounts::deferred) worker, so
//! neither the answer nor its time says whether the address has an account. The email holds a
//! 6-digit code and a link; both work for ten minutes, once, and only together with the
//! binding (the browser that asked keeps it in a cookie; the store keeps its SHA-256), so a
//! code read over a shoulder or a link forwarded elsewhere signs no one in. Wrong codes count
//! toward the account's sign-in throttle and five of them end the request.

use super::challenge::{FirstProof, SignInStep};
use crate::Engine;
use crate::accounts::deferred::Work;
use crate::accounts::normalize;
use crate::accounts::record::CustomerStatus;
use crate::accounts::sessions::RequestContext;
use crate::credentials::tokens;
use crate::error::{Error, Result};
use crate::outbox::{enqueue, recipient_over_cap};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

/// How long an emailed code or link works.
pub const EMAIL_SIGN_IN_TTL: Duration = Duration::minutes(10);
/// Wrong codes after which a request ends.
const CODE_FAILURES: i64 = 5;
/// The outbox kind of the email.
pub(crate) const SIGN_IN_EMAIL: &str = "sign_in_code";

/// What the browser keeps while the email is on its way.
#[derive(Debug, Clone)]
pub struct EmailSignIn {
    /// Opaque; keep it in this browser only (an HttpOnly cookie) and give it back with the
    /// code or link. Stored only as SHA-256.
    pub binding: String,
    pub expires_at: DateTime<Utc>,
}

/// What the customer brings back from the email.
#[derive(Debug, Clone)]
pub enum EmailProof {
    /// The 6-digit code, typed.
    Code(String),
    /// The link's token.
    Link(String),
}

impl EmailProof {
    fn method(&self) -> &'static str {
        match self {
            EmailProof::Code(_) => "email_code",
            EmailProof::Link(_) => "magic_link",
        }
    }
}

fn code_digest(binding_hash: &[u8], code: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(binding_hash);
    h.update(b"\0email-code\0");
    h.update(code.as_bytes());
    h.finalize().to_vec()
}

fn wrong_code() -> Error {
    Error::invalid("code", "that code is not right, or it has run out")
}

impl Engine {
    /// Ask for a sign-in email. Answers the same, at once, for any address; the email goes
    /// out only when the address has an active account (and has not had its hourly share).
    pub async fn request_email_sign_in(
        &self,
        email: &str,
        ctx: &RequestContext,
    ) -> Result<EmailSignIn> {
        let key = normalize::email(email).map(|e| e.key).unwrap_or_default();
        let (binding, digest) = tokens::new_token(self.entropy.as_ref());
        let (ip, _) = ctx.bounded();
        self.defer(&Work::EmailSignIn {
            email_key: key,
            binding_hash: hex::encode(digest),
            ip,
        })
        .await?;
        Ok(EmailSignIn {
            binding,
            expires_at: self.now() + EMAIL_SIGN_IN_TTL,
        })
    }

    /// The deferred half of [`Engine::request_email_sign_in`].
    pub(crate) async fn finish_email_sign_in_request(
        &self,
        tx: &mut Tx,
        email_key: &str,
        binding_hash: &str,
        ip: &str,
    ) -> Result<()> {
        let Ok(binding_hash) = hex::decode(binding_hash) else {
            return Ok(());
        };
        if email_key.is_empty() {
            return Ok(());
        }
        let row = sqlx::query("SELECT id, email, status FROM customers WHERE email_key = $1")
            .bind(email_key)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(()) };
        let status = CustomerStatus::parse(&row.try_get::<String, _>("status")?)?;
        let email: String = row.try_get("email")?;
        if status != CustomerStatus::Active || recipient_over_cap(tx, self, &email).await? {
            return Ok(());
        }
        let customer: String = row.try_get("id")?;
        let now = self.now();
        let code = tokens::six_digits(self.entropy.as_ref());
        let (link, link_hash) = tokens::new_token(self.entropy.as_ref());
        sqlx::query("DELETE FROM email_sign_ins WHERE expires_us < $1")
            .bind(to_us(now))
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO email_sign_ins (binding_hash, customer_id, code_hash, link_hash, created_us, expires_us) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&binding_hash)
        .bind(&customer)
        .bind(code_digest(&binding_hash, &code))
        .bind(link_hash)
        .bind(to_us(now))
        .bind(to_us(now + EMAIL_SIGN_IN_TTL))
        .execute(&mut **tx)
        .await?;
        enqueue(
            tx,
            self,
            SIGN_IN_EMAIL,
            &email,
            &format!("Your sign-in code: {code}"),
            &format!(
                "Someone asked to sign in to this account without the password. If it was you, enter this code within 10 minutes:\n\n\
                 {} {}\n\n\
                 or open this link in the same browser:\n{}/signin/email/link?token={link}\n\n\
                 If it was not you, ignore this email: without the code nobody can sign in.\n",
                &code[..3],
                &code[3..],
                self.config.public_url
            ),
        )
        .await?;
        self.audit(
            tx,
            &format!("customer:{customer}"),
            "customer.email_sign_in_requested",
            &format!("customer:{customer}"),
            None,
            json!({"ip": ip}),
        )
        .await?;
        Ok(())
    }

    /// Finish an email sign-in with the browser's binding and the code or link from the email:
    /// signed in, or (the account has an authenticator app) on to its code.
    pub async fn finish_email_sign_in(
        &self,
        binding: &str,
        proof: &EmailProof,
        ctx: &RequestContext,
    ) -> Result<SignInStep> {
        let given = match proof {
            EmailProof::Code(c) => c.chars().filter(|c| !matches!(c, ' ' | '-')).collect(),
            EmailProof::Link(t) => t.clone(),
        };
        if binding.len() > 256 || given.len() > 256 {
            return Err(wrong_code());
        }
        let binding_hash = tokens::digest(binding);
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let row = sqlx::query(
            "SELECT e.customer_id, e.code_hash, e.link_hash, e.expires_us, e.failures, c.email_key, c.status, c.mfa_enabled \
             FROM email_sign_ins e JOIN customers c ON c.id = e.customer_id WHERE e.binding_hash = $1",
        )
        .bind(&binding_hash)
        .fetch_optional(&mut *tx)
        .await?;
        // No request for this browser (the address has no account, or it ran out): the same
        // answer as a wrong code.
        let Some(row) = row.filter(|r| {
            r.try_get::<i64, _>("expires_us")
                .is_ok_and(|e| from_us(e) > now)
        }) else {
            return Err(match proof {
                EmailProof::Code(_) => wrong_code(),
                EmailProof::Link(_) => Error::InvalidToken,
            });
        };
        let customer = Uuid::parse_str(&row.try_get::<String, _>("customer_id")?)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let email_key: String = row.try_get("email_key")?;
        let mut tx = self
            .unless_throttled(tx, &email_key, Some(customer), proof.method(), ctx)
            .await?;
        let right = match proof {
            EmailProof::Code(_) => {
                let want: Vec<u8> = row.try_get("code_hash")?;
                given.len() == 6
                    && subtle::ConstantTimeEq::ct_eq(
                        code_digest(&binding_hash, &given).as_slice(),
                        want.as_slice(),
                    )
                    .into()
            }
            EmailProof::Link(t) => {
                let want: Vec<u8> = row.try_get("link_hash")?;
                subtle::ConstantTimeEq::ct_eq(tokens::digest(t).as_slice(), want.as_slice()).into()
            }
        };
        if !right {
            self.record_attempt(
                &mut tx,
                &email_key,
                Some(customer),
                "wrong_code",
                proof.method(),
                ctx,
            )
            .await?;
            let n = row.try_get::<i64, _>("failures")? + 1;
            if n >= CODE_FAILURES {
                sqlx::query("DELETE FROM email_sign_ins WHERE binding_hash = $1")
                    .bind(&binding_hash)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query("UPDATE email_sign_ins SET failures = $1 WHERE binding_hash = $2")
                    .bind(n)
                    .bind(&binding_hash)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            return Err(match proof {
                EmailProof::Code(_) => wrong_code(),
                EmailProof::Link(_) => Error::InvalidToken,
            });
        }
        sqlx::query("DELETE FROM email_sign_ins WHERE binding_hash = $1")
            .bind(&binding_hash)
            .execute(&mut *tx)
            .await?;
        let status = CustomerStatus::parse(&row.try_get::<String, _>("status")?)?;
        if status != CustomerStatus::Active {
            let why = status.as_str();
            self.record_attempt(
                &mut tx,
                &email_key,
                Some(customer),
                why,
                proof.method(),
                ctx,
            )
            .await?;
            tx.commit().await?;
            return Err(Error::AccountUnavailable(why));
        }
        // The code reached the address: it is verified now, if it was not.
        let first_time = sqlx::query(
            "UPDATE customers SET email_verified = 1, version = version + 1 WHERE id = $1 AND email_verified = 0",
        )
        .bind(customer.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if first_time {
            crate::analytics::verified(&mut tx, self.now(), customer, "email_sign_in").await?;
        }
        let mfa: bool = row.try_get::<i64, _>("mfa_enabled")? != 0;
        let first = FirstProof {
            customer,
            email_key: &email_key,
            mfa_enabled: mfa,
            first: "email",
            method: proof.method(),
            common_password: false,
        };
        let step = self.first_step_proven(&mut tx, first, ctx).await?;
        tx.commit().await?;
        step.into_result()
    }
}
