//! Customer self-service flows: register, verify email, sign in and out, password reset,
//! change password, change email, and the customer's own profile. Each flow is one
//! transaction; every sign-in attempt is recorded. Responses never reveal whether an email
//! address has an account: unknown addresses cost the same argon2id work as wrong passwords,
//! registration and reset requests answer identically either way.

use crate::accounts::deferred::Work;
use crate::accounts::normalize;
use crate::accounts::record::{
    self as customers, CUSTOMER_COLUMNS, Customer, CustomerStatus, check_attributes, check_locale,
    row_to_customer,
};
use crate::accounts::sessions::{RequestContext, SessionInfo};
use crate::credentials::tokens::{self, CHANGE_EMAIL, RESET_PASSWORD, VERIFY_CODE, VERIFY_EMAIL};
use crate::error::{Error, Result};
use crate::outbox::{enqueue, enqueue_capped, recipient_over_cap};
use crate::risk::assess::{Assessment, Attempt};
use crate::storage::Tx;
use crate::time::to_us;
use crate::{Engine, clock::new_id};
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

/// What a new customer gives at registration.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegisterInput {
    pub email: String,
    pub password: String,
    pub display_name: String,
    pub locale: Option<String>,
    pub phone: Option<String>,
    pub attributes: Option<serde_json::Value>,
    /// What the sign-up form showed for each purpose that needs consent, and the answer
    /// (unticked: refused). Recorded in the ledger when the account is created.
    #[serde(default)]
    pub consents: Vec<crate::consent::ConsentAnswer>,
}

/// What sign-in reads before hashing: the account, if there is one (all its columns NULL
/// otherwise).
static SIGN_IN_READ: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns: Vec<String> = CUSTOMER_COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect();
    format!(
        "SELECT c.password_hash, {} FROM (SELECT 1 AS one) o \
         LEFT JOIN customers c ON c.email_key = $1",
        columns.join(", ")
    )
});

/// A proven password (see [`Engine::check_sign_in_password`]).
pub(crate) struct PasswordChecked {
    pub customer: Customer,
    pub email_key: String,
    /// The password rehashed with the current parameters, when the stored hash is older.
    pub new_hash: Option<String>,
    /// The password is on the common-password list (a risk signal even when right).
    pub common: bool,
}

/// Longest password accepted at sign-in; longer input is refused before any hashing work.
const MAX_PASSWORD_BYTES: usize = 1024;

impl Engine {
    /// Register a customer. Answers the same, in the same time, whether or not the address
    /// already has an account: the input is validated and the password hashed here, then the
    /// rest is [deferred](crate::accounts::deferred) — a new account with its verification email, or a
    /// notice to the existing owner instead of a second account.
    pub async fn register(&self, input: RegisterInput, ctx: &RequestContext) -> Result<()> {
        let email = normalize::email(&input.email)?;
        normalize::check_single_script(&email)?;
        let name = normalize::text("display_name", &input.display_name, 200)?;
        let locale = check_locale(input.locale.as_deref().unwrap_or("en"))?;
        let phone = match input.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(normalize::phone(p, self.config.default_region)?),
            None => None,
        };
        let given = input.attributes.clone().unwrap_or_else(|| json!({}));
        let attributes = check_attributes(&given, self.config.max_attributes_bytes)?;
        self.attribute_definitions()
            .await?
            .check_change(&json!({}), &given, true)?;
        let local = email.key.split('@').next().unwrap_or_default().to_owned();
        self.check_new_password(&input.password, &[&email.key, &local, &name], false)?;
        self.check_shown(&input.consents).await?;
        let hash = self.hash_password(&input.password).await?;
        let (ip, user_agent) = ctx.bounded();
        self.defer(&Work::Register {
            email: email.display,
            email_key: email.key,
            display_name: name,
            locale,
            phone,
            attributes,
            password_hash: hash,
            ip,
            user_agent,
            consents: input.consents,
            client: ctx.client.clone().unwrap_or_default(),
        })
        .await
    }

    /// The deferred half of [`Engine::register`].
    pub(crate) async fn finish_registration(&self, tx: &mut Tx, work: &Work) -> Result<()> {
        let Work::Register {
            email,
            email_key,
            display_name,
            locale,
            phone,
            attributes,
            password_hash,
            ip,
            user_agent,
            consents,
            client,
        } = work
        else {
            return Err(Error::Internal("not a registration".into()));
        };
        let now = self.now();
        let existing: Option<String> =
            sqlx::query_scalar("SELECT email FROM customers WHERE email_key = $1")
                .bind(email_key)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(existing_email) = existing {
            enqueue_capped(
                tx,
                self,
                "account_exists",
                &existing_email,
                "Someone tried to register with your email address",
                &format!(
                    "Someone (maybe you) tried to create an account with this address, which already has one.\n\
                     If it was you, sign in or reset your password at {}/reset.\nIf not, you can ignore this email.\n",
                    self.config.public_url
                ),
            )
            .await?;
            return Ok(());
        }
        let id = new_id(now, self.entropy.as_ref());
        sqlx::query(
            "INSERT INTO customers (id, email, email_key, email_skeleton, email_verified, phone, display_name, name_key, locale, attributes, \
             status, tier, roles, password_hash, mfa_enabled, created_us, updated_us, version) \
             VALUES ($1, $2, $3, $11, 0, $4, $5, $10, $6, $7, 'active', 'standard', '[]', $8, 0, $9, $9, 1)",
        )
        .bind(id.to_string())
        .bind(email)
        .bind(email_key)
        .bind(phone.clone())
        .bind(display_name)
        .bind(locale)
        .bind(attributes)
        .bind(password_hash)
        .bind(to_us(now))
        .bind(normalize::search_key(display_name))
        .bind(normalize::email_skeleton(email_key))
        .execute(&mut **tx)
        .await?;
        let country = self.geoip().and_then(|g| g.locate(ip).country);
        crate::analytics::record(
            tx,
            now,
            &crate::analytics::Event {
                kind: crate::analytics::kind::REGISTERED,
                customer: Some(id),
                client,
                method: "password",
                country: country.as_deref().unwrap_or(""),
                ..Default::default()
            },
        )
        .await?;
        let c = customers::load(tx, id).await?;
        self.send_verification(tx, &c).await?;
        if !consents.is_empty() {
            let ctx = RequestContext {
                ip: ip.clone(),
                user_agent: user_agent.clone(),
                ..Default::default()
            };
            let by = crate::consent::ledger::Collector::Customer {
                channel: crate::consent::ConsentChannel::SignUp,
                client_id: None,
            };
            self.record_consent_in(tx, id, consents, &by, &ctx).await?;
        }
        self.audit(
            tx,
            &format!("customer:{id}"),
            "customer.registered",
            &format!("customer:{id}"),
            None,
            json!({"email": [null, email], "ip": ip}),
        )
        .await?;
        Ok(())
    }

    /// Queue a verification email for the customer's current address.
    pub(crate) async fn send_verification(&self, tx: &mut Tx, c: &Customer) -> Result<()> {
        let token = self
            .issue_token(
                tx,
                VERIFY_EMAIL,
                c.id,
                &c.email,
                self.config.verify_email_ttl,
            )
            .await?;
        let code = tokens::six_digits(self.entropy.as_ref());
        let now = self.now();
        sqlx::query(
            // The same code twice for one customer (one in a million): the first row serves.
            "INSERT INTO tokens (token_hash, kind, customer_id, email, created_us, expires_us) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(tokens::code_digest(c.id, &code))
        .bind(VERIFY_CODE)
        .bind(c.id.to_string())
        .bind(&c.email)
        .bind(to_us(now))
        .bind(to_us(now + Duration::hours(1)))
        .execute(&mut **tx)
        .await?;
        enqueue(
            tx,
            self,
            VERIFY_EMAIL,
            &c.email,
            "Confirm your email address",
            &format!(
                "Hello {},\n\nConfirm your email address by opening this link within 24 hours:\n{}/verify?token={token}\n\n\
                 Or, signed in to your account, enter this code within an hour: {} {}\n",
                c.display_name,
                self.config.public_url,
                &code[..3],
                &code[3..]
            ),
        )
        .await
    }

    /// Confirm the signed-in customer's address with the 6-digit code from the verification
    /// email (an hour, single use). Wrong codes are attempts on the account: recorded, and
    /// they count toward its sign-in throttle.
    pub async fn verify_email_with_code(
        &self,
        session_token: &str,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let s = self.validate_session(session_token).await?;
        let code: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let wrong = || Error::invalid("code", "that code is not right, or it has run out");
        let email_key: String = sqlx::query_scalar("SELECT email_key FROM customers WHERE id = $1")
            .bind(s.customer_id.to_string())
            .fetch_one(self.store.reader())
            .await?;
        let tx = self.store.begin().await?;
        let mut tx = self
            .unless_throttled(tx, &email_key, Some(s.customer_id), "verify_code", ctx)
            .await?;
        let now = to_us(self.now());
        let sent_to: Option<String> = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
        {
            sqlx::query_scalar(
                "UPDATE tokens SET used_us = $1, version = version + 1 WHERE token_hash = $2 AND kind = $3 \
                 AND customer_id = $4 AND used_us IS NULL AND expires_us > $1 RETURNING email",
            )
            .bind(now)
            .bind(tokens::code_digest(s.customer_id, &code))
            .bind(VERIFY_CODE)
            .bind(s.customer_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
        } else {
            None
        };
        let c = customers::load(&mut tx, s.customer_id).await?;
        if sent_to.is_none_or(|e| e != c.email) {
            self.record_attempt(
                &mut tx,
                &email_key,
                Some(c.id),
                "wrong_code",
                "verify_code",
                ctx,
            )
            .await?;
            tx.commit().await?;
            return Err(wrong());
        }
        self.mark_verified(&mut tx, &c, "code").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queue a password-reset email.
    pub(crate) async fn send_reset(&self, tx: &mut Tx, c: &Customer) -> Result<()> {
        let token = self
            .issue_token(
                tx,
                RESET_PASSWORD,
                c.id,
                &c.email,
                self.config.reset_password_ttl,
            )
            .await?;
        enqueue(
            tx,
            self,
            RESET_PASSWORD,
            &c.email,
            "Reset your password",
            &format!(
                "Someone asked to reset the password for this account. If it was you, open this link within 30 minutes:\n\
                 {}/reset?token={token}\nIf not, you can ignore this email; your password has not changed.\n",
                self.config.public_url
            ),
        )
        .await
    }

    /// Queue a password-reset email unless the address has had its hourly share of email;
    /// then nothing is sent and no token is made (silently: the requester sees no difference).
    pub(crate) async fn send_reset_capped(&self, tx: &mut Tx, c: &Customer) -> Result<bool> {
        if recipient_over_cap(tx, self, &c.email).await? {
            return Ok(false);
        }
        self.send_reset(tx, c).await?;
        Ok(true)
    }

    /// End every outstanding token of `kind` for a customer (a completed reset or password
    /// change ends all reset links; a new or completed email change ends the older ones).
    pub(crate) async fn end_tokens(&self, tx: &mut Tx, customer: Uuid, kind: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE tokens SET used_us = $1, version = version + 1 WHERE customer_id = $2 AND kind = $3 AND used_us IS NULL",
        )
        .bind(to_us(self.now()))
        .bind(customer.to_string())
        .bind(kind)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn issue_token(
        &self,
        tx: &mut Tx,
        kind: &str,
        customer: Uuid,
        email: &str,
        ttl: Duration,
    ) -> Result<String> {
        let now = self.now();
        let (token, digest) = tokens::new_token(self.entropy.as_ref());
        sqlx::query(
            "INSERT INTO tokens (token_hash, kind, customer_id, email, created_us, expires_us) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(digest)
        .bind(kind)
        .bind(customer.to_string())
        .bind(email)
        .bind(to_us(now))
        .bind(to_us(now + ttl))
        .execute(&mut **tx)
        .await?;
        Ok(token)
    }

    /// Consume a single-use token of `kind`: (customer id, address it was sent to).
    async fn consume_token(&self, tx: &mut Tx, kind: &str, token: &str) -> Result<(Uuid, String)> {
        if token.len() > 256 {
            return Err(Error::InvalidToken);
        }
        let now = to_us(self.now());
        let row = sqlx::query(
            "UPDATE tokens SET used_us = $1, version = version + 1 WHERE token_hash = $2 AND kind = $3 AND used_us IS NULL AND expires_us > $1 \
             RETURNING customer_id, email",
        )
        .bind(now)
        .bind(tokens::digest(token))
        .bind(kind)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::InvalidToken)?;
        let cid: String = row.try_get("customer_id")?;
        let email: String = row.try_get("email")?;
        Ok((
            Uuid::parse_str(&cid).map_err(|e| Error::Internal(e.to_string()))?,
            email,
        ))
    }

    /// Confirm an email address from the emailed token.
    pub async fn verify_email(&self, token: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let (id, email) = self.consume_token(&mut tx, VERIFY_EMAIL, token).await?;
        let c = customers::load(&mut tx, id).await?;
        if c.email != email || c.status == CustomerStatus::Erased {
            // The address changed since the link was sent.
            return Err(Error::InvalidToken);
        }
        self.mark_verified(&mut tx, &c, "link").await?;
        tx.commit().await?;
        Ok(())
    }

    /// The address of `c` is confirmed (by the emailed link or code): set and audited, once.
    async fn mark_verified(&self, tx: &mut Tx, c: &Customer, by: &str) -> Result<()> {
        if c.email_verified {
            return Ok(());
        }
        self.bump_customer(tx, c.id, c.version, self.now(), "email_verified = 1", |q| q)
            .await?;
        crate::analytics::verified(tx, self.now(), c.id, by).await?;
        self.audit(
            tx,
            &format!("customer:{}", c.id),
            "customer.email_verified",
            &format!("customer:{}", c.id),
            None,
            json!({"email_verified": [false, true], "by": by}),
        )
        .await
    }

    /// The password half of signing in: the customer whose password this is, or the failure
    /// (recorded as an attempt: unknown address and wrong password are the same error in the
    /// same time; throttled and unavailable accounts are refused). What follows — a session
    /// or a second-factor challenge — is `factors::challenge`'s.
    pub(crate) async fn check_sign_in_password(
        &self,
        email: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<PasswordChecked> {
        let email = normalize::email(email).map_err(|_| Error::InvalidCredentials)?;
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::invalid(
                "password",
                "passwords are at most 1024 bytes",
            ));
        }
        // At hashing capacity: turn the attempt away before any database work.
        self.hash_pool.check_capacity()?;
        let mut conn = self.store.reader().acquire().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(SIGN_IN_READ.as_str()))
            .bind(&email.key)
            .fetch_one(&mut *conn)
            .await?;
        let found = match row.try_get::<Option<String>, _>("id")? {
            Some(_) => Some((
                row_to_customer(&row)?,
                row.try_get::<Option<String>, _>("password_hash")?,
            )),
            None => None,
        };
        let customer_id = found.as_ref().map(|(c, _)| c.id);
        let wait = self
            .throttle_wait(&mut conn, &email.key, customer_id, ctx)
            .await?;
        drop(conn);
        if let Some(wait) = wait {
            let tx = self.store.begin().await?;
            return Err(self
                .refuse_throttled(tx, wait, &email.key, customer_id, "password", ctx)
                .await?);
        }
        let pw = password.to_owned();
        let stored = found
            .as_ref()
            .filter(|(c, _)| c.status != CustomerStatus::Erased)
            .and_then(|(_, h)| h.clone());
        let (matches, rehash) = self
            .hashing(move |h| match stored {
                Some(phc) => {
                    let ok = h.verify(&pw, &phc).unwrap_or(false);
                    let rehash = ok && h.needs_rehash(&phc);
                    (ok, rehash.then_some(pw))
                }
                None => {
                    h.verify_dummy(&pw);
                    (false, None)
                }
            })
            .await?;
        let new_hash = match rehash {
            Some(pw) => Some(self.hash_password(&pw).await?),
            None => None,
        };
        let Some((customer, _)) = found.filter(|_| matches) else {
            let mut tx = self.store.begin().await?;
            let reason = if customer_id.is_some() {
                "wrong_password"
            } else {
                "unknown_account"
            };
            let attempt = Attempt {
                email_key: &email.key,
                customer: customer_id,
                ctx,
                common_password: crate::credentials::password::is_common(password)
                    || self.is_breached(password),
            };
            self.record_scored(&mut tx, &attempt, reason, "password")
                .await?;
            tx.commit().await?;
            return Err(Error::InvalidCredentials);
        };
        let refused = match customer.status {
            CustomerStatus::Active => None,
            CustomerStatus::Locked => Some("locked"),
            CustomerStatus::Disabled => Some("disabled"),
            CustomerStatus::Erased => Some("erased"),
        };
        if let Some(why) = refused {
            let mut tx = self.store.begin().await?;
            self.record_attempt(&mut tx, &email.key, customer_id, why, "password", ctx)
                .await?;
            tx.commit().await?;
            return Err(Error::AccountUnavailable(why));
        }
        Ok(PasswordChecked {
            customer,
            email_key: email.key,
            new_hash,
            common: crate::credentials::password::is_common(password) || self.is_breached(password),
        })
    }

    /// Go on with a credential check in `tx` unless the attempt must wait
    /// ([`crate::risk::throttle`]); if it must, the throttled attempt is recorded, `tx`
    /// committed (with whatever it already spent, such as a single-use ceremony) and the
    /// answer is `RateLimited`.
    pub(crate) async fn unless_throttled(
        &self,
        mut tx: Tx,
        email_key: &str,
        customer: Option<Uuid>,
        method: &str,
        ctx: &RequestContext,
    ) -> Result<Tx> {
        match self
            .throttle_wait(&mut tx, email_key, customer, ctx)
            .await?
        {
            None => Ok(tx),
            Some(wait) => Err(self
                .refuse_throttled(tx, wait, email_key, customer, method, ctx)
                .await?),
        }
    }

    /// Score and record a sign-in attempt; `reason` "ok" is a success, "risk_challenged" a
    /// challenge, anything else a failure.
    pub(crate) async fn record_attempt(
        &self,
        tx: &mut Tx,
        email_key: &str,
        customer: Option<Uuid>,
        reason: &str,
        method: &str,
        ctx: &RequestContext,
    ) -> Result<Assessment> {
        let attempt = Attempt {
            email_key,
            customer,
            ctx,
            common_password: false,
        };
        self.record_scored(tx, &attempt, reason, method).await
    }

    /// [`Engine::record_attempt`] for an attempt described in full.
    pub(crate) async fn record_scored(
        &self,
        tx: &mut Tx,
        attempt: &Attempt<'_>,
        reason: &str,
        method: &str,
    ) -> Result<Assessment> {
        let a = self.assess(tx, attempt).await?;
        self.insert_attempt(
            tx,
            attempt.email_key,
            attempt.customer,
            reason,
            method,
            attempt.ctx,
            &a,
        )
        .await?;
        Ok(a)
    }

    /// Ask for a password-reset email. Always succeeds, whether or not the address has an
    /// account, and in the same time: the lookup and the email are [deferred](crate::accounts::deferred).
    pub async fn request_password_reset(&self, email: &str, ctx: &RequestContext) -> Result<()> {
        let key = match normalize::email(email) {
            Ok(e) => e.key,
            // Still queue a job, so a malformed address costs what any other does.
            Err(_) => String::new(),
        };
        let (ip, _) = ctx.bounded();
        self.defer(&Work::ResetRequest { email_key: key, ip }).await
    }

    /// The deferred half of [`Engine::request_password_reset`].
    pub(crate) async fn finish_reset_request(
        &self,
        tx: &mut Tx,
        email_key: &str,
        ip: &str,
    ) -> Result<()> {
        if email_key.is_empty() {
            return Ok(());
        }
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE email_key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(email_key)
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(r) = row {
            let c = row_to_customer(&r)?;
            if matches!(c.status, CustomerStatus::Active | CustomerStatus::Locked)
                && self.send_reset_capped(tx, &c).await?
            {
                self.audit(
                    tx,
                    &format!("customer:{}", c.id),
                    "customer.password_reset_requested",
                    &format!("customer:{}", c.id),
                    None,
                    json!({"ip": ip}),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Set a new password from a reset token. Revokes every session.
    pub async fn confirm_password_reset(&self, token: &str, new_password: &str) -> Result<()> {
        // Check the token before spending hashing work; consume it in the write transaction.
        let row = sqlx::query("SELECT customer_id FROM tokens WHERE token_hash = $1 AND kind = $2 AND used_us IS NULL AND expires_us > $3")
            .bind(tokens::digest(token))
            .bind(RESET_PASSWORD)
            .bind(to_us(self.now()))
            .fetch_optional(self.store.reader())
            .await?
            .ok_or(Error::InvalidToken)?;
        let cid: String = row.try_get("customer_id")?;
        let cid = Uuid::parse_str(&cid).map_err(|e| Error::Internal(e.to_string()))?;
        let c = {
            let mut tx = self.store.begin().await?;
            let c = customers::load(&mut tx, cid).await?;
            tx.rollback().await?;
            c
        };
        let local = c.email.to_lowercase();
        self.check_new_password(new_password, &[&local, &c.display_name], c.mfa_enabled)?;
        let hash = self.hash_password(new_password).await?;
        let mut tx = self.store.begin().await?;
        let (id, _) = self.consume_token(&mut tx, RESET_PASSWORD, token).await?;
        let c = customers::load(&mut tx, id).await?;
        // A reset link proves control of the address, so it also unlocks a locked account.
        let status = if c.status == CustomerStatus::Locked {
            "active"
        } else {
            c.status.as_str()
        };
        self.bump_customer(
            &mut tx,
            id,
            c.version,
            self.now(),
            "password_hash = $4, status = $5, email_verified = 1",
            |q| q.bind(hash).bind(status),
        )
        .await?;
        if !c.email_verified {
            crate::analytics::verified(&mut tx, self.now(), id, "reset").await?;
        }
        let revoked = self.revoke_all_sessions_tx(&mut tx, id, None).await?;
        self.end_tokens(&mut tx, id, RESET_PASSWORD).await?;
        self.audit(
            &mut tx,
            &format!("customer:{id}"),
            "customer.password_reset",
            &format!("customer:{id}"),
            None,
            json!({"password": ["(hidden)", "(changed)"], "sessions_revoked": revoked, "status": [c.status, status]}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Change password (needs the current one, checked as a sign-in attempt: recorded,
    /// throttled, and a few failures end the session); revokes every other session and ends
    /// outstanding reset links.
    pub async fn change_password(
        &self,
        token: &str,
        current: &str,
        new_password: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let s = self.validate_session(token).await?;
        let (c, phc) = self.customer_with_hash(s.customer_id).await?;
        self.reauthenticate(&s, &c, phc, current, ctx).await?;
        if c.mfa_enabled {
            // The password alone is not enough for an account with a second factor.
            s.require_recent_auth(self.now())?;
        }
        self.check_new_password(
            new_password,
            &[&c.email.to_lowercase(), &c.display_name],
            c.mfa_enabled,
        )?;
        let hash = self.hash_password(new_password).await?;
        let mut tx = self.store.begin().await?;
        self.bump_customer(
            &mut tx,
            c.id,
            c.version,
            self.now(),
            "password_hash = $4",
            |q| q.bind(hash),
        )
        .await?;
        let revoked = self
            .revoke_sessions_where(&mut tx, c.id, None, Some(s.id))
            .await?;
        self.end_tokens(&mut tx, c.id, RESET_PASSWORD).await?;
        self.audit(
            &mut tx,
            &format!("customer:{}", c.id),
            "customer.password_changed",
            &format!("customer:{}", c.id),
            None,
            json!({"password": ["(hidden)", "(changed)"], "sessions_revoked": revoked}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Check the current password of a signed-in customer before a sensitive change. It is a
    /// sign-in attempt on the account (method `reauth`): recorded, refused while the account
    /// is throttled, and after [`crate::Config::reauth_failures_per_session`] failures the
    /// session itself is ended, so a stolen session cannot be used to guess the password.
    pub(crate) async fn reauthenticate(
        &self,
        s: &SessionInfo,
        c: &Customer,
        phc: Option<String>,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::invalid(
                "current_password",
                "passwords are at most 1024 bytes",
            ));
        }
        let key = normalize::key_of_stored(&c.email);
        let mut conn = self.store.reader().acquire().await?;
        let wait = self.throttle_wait(&mut conn, &key, Some(c.id), ctx).await?;
        drop(conn);
        if let Some(wait) = wait {
            let tx = self.store.begin().await?;
            return Err(self
                .refuse_throttled(tx, wait, &key, Some(c.id), "reauth", ctx)
                .await?);
        }
        let ok = self.verify_password(phc, password).await?;
        let mut tx = self.store.begin().await?;
        if ok {
            self.record_attempt(&mut tx, &key, Some(c.id), "ok", "reauth", ctx)
                .await?;
            tx.commit().await?;
            return Ok(());
        }
        self.record_attempt(&mut tx, &key, Some(c.id), "wrong_password", "reauth", ctx)
            .await?;
        let in_session: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sign_in_attempts WHERE customer_id = $1 AND method = 'reauth' \
             AND outcome = 'failure' AND at_us >= $2",
        )
        .bind(c.id.to_string())
        .bind(to_us(s.created_at))
        .fetch_one(&mut *tx)
        .await?;
        if in_session >= self.config.reauth_failures_per_session {
            self.revoke_all_sessions_tx(&mut tx, c.id, Some(s.id))
                .await?;
            self.audit(
                &mut tx,
                &format!("customer:{}", c.id),
                "customer.session_ended_after_failed_reauth",
                &format!("customer:{}", c.id),
                None,
                json!({"session": s.id, "failures": in_session}),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidSession);
        }
        tx.commit().await?;
        Err(Error::InvalidCredentials)
    }

    pub(crate) async fn customer_with_hash(&self, id: Uuid) -> Result<(Customer, Option<String>)> {
        let sql = format!("SELECT password_hash, {CUSTOMER_COLUMNS} FROM customers WHERE id = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(self.store.reader())
            .await?
            .ok_or(Error::NotFound("customer"))?;
        Ok((row_to_customer(&r)?, r.try_get("password_hash")?))
    }

    /// The signed-in customer's own record.
    pub async fn my_profile(&self, token: &str) -> Result<Customer> {
        let s = self.validate_session(token).await?;
        Ok(self.customer_with_hash(s.customer_id).await?.0)
    }

    /// Update the signed-in customer's own profile (name, phone, locale, custom attributes
    /// for progressive profiling). `expected_version` guards against lost updates.
    pub async fn update_my_profile(
        &self,
        token: &str,
        expected_version: i64,
        patch: crate::accounts::record::ProfilePatch,
    ) -> Result<Customer> {
        if patch.tier.is_some() {
            return Err(Error::invalid(
                "tier",
                "customers cannot change their own tier",
            ));
        }
        let s = self.validate_session(token).await?;
        self.apply_profile_patch(
            &format!("customer:{}", s.customer_id),
            true,
            s.customer_id,
            expected_version,
            patch,
        )
        .await
    }

    /// Start changing the email address: a confirmation link goes to the new address; the
    /// address changes only when it is confirmed. Needs the current password (a sign-in
    /// attempt, as for [`Engine::change_password`]). Whether the new address already has an
    /// account is only looked at by the [deferred](crate::accounts::deferred) half, so the answer and
    /// its timing are the same either way.
    pub async fn change_email(
        &self,
        token: &str,
        password: &str,
        new_email: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let s = self.validate_session(token).await?;
        let email = normalize::email(new_email)?;
        normalize::check_single_script(&email)?;
        let (c, phc) = self.customer_with_hash(s.customer_id).await?;
        self.reauthenticate(&s, &c, phc, password, ctx).await?;
        if c.mfa_enabled {
            s.require_recent_auth(self.now())?;
        }
        let own_key = normalize::key_of_stored(&c.email);
        if own_key == email.key {
            return Err(Error::invalid(
                "email",
                "this is already your email address",
            ));
        }
        self.defer(&Work::ChangeEmail {
            customer: c.id,
            new_email: email.display,
            new_email_key: email.key,
        })
        .await
    }

    /// The deferred half of [`Engine::change_email`].
    pub(crate) async fn finish_email_change_request(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        new_email: &str,
        new_email_key: &str,
    ) -> Result<()> {
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM customers WHERE email_key = $1")
                .bind(new_email_key)
                .fetch_optional(&mut **tx)
                .await?;
        if taken.is_some() {
            // Don't reveal that the address has an account; tell its owner instead.
            enqueue_capped(
                tx,
                self,
                "account_exists",
                new_email,
                "Someone tried to use your email address",
                "Someone tried to move another account to this email address, which already has an account. No change was made.\n",
            )
            .await?;
            return Ok(());
        }
        if recipient_over_cap(tx, self, new_email).await? {
            return Ok(());
        }
        // Only the newest link can move the account.
        self.end_tokens(tx, customer, CHANGE_EMAIL).await?;
        let t = self
            .issue_token(
                tx,
                CHANGE_EMAIL,
                customer,
                new_email,
                self.config.verify_email_ttl,
            )
            .await?;
        enqueue(
            tx,
            self,
            CHANGE_EMAIL,
            new_email,
            "Confirm your new email address",
            &format!(
                "Confirm that this is your new email address by opening this link within 24 hours:\n{}/verify-email-change?token={t}\n",
                self.config.public_url
            ),
        )
        .await
    }

    /// Confirm an email change from the link sent to the new address.
    pub async fn confirm_email_change(&self, token: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let (id, new_email) = self.consume_token(&mut tx, CHANGE_EMAIL, token).await?;
        let email = normalize::email(&new_email)?;
        let c = customers::load(&mut tx, id).await?;
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM customers WHERE email_key = $1")
                .bind(&email.key)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Err(Error::EmailInUse);
        }
        self.bump_customer(
            &mut tx,
            id,
            c.version,
            self.now(),
            "email = $4, email_key = $5, email_skeleton = $6, email_verified = 1",
            |q| {
                q.bind(email.display.clone())
                    .bind(email.key.clone())
                    .bind(normalize::email_skeleton(&email.key))
            },
        )
        .await?;
        // Links sent earlier (to this or the old address) no longer apply.
        self.end_tokens(&mut tx, id, CHANGE_EMAIL).await?;
        self.end_tokens(&mut tx, id, RESET_PASSWORD).await?;
        enqueue(
            &mut tx,
            self,
            "email_changed",
            &c.email,
            "Your email address was changed",
            &format!("The email address of your account was changed to {}. If you did not do this, contact support now.\n", email.display),
        )
        .await?;
        self.audit(
            &mut tx,
            &format!("customer:{id}"),
            "customer.email_changed",
            &format!("customer:{id}"),
            None,
            json!({"email": [c.email, email.display]}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
