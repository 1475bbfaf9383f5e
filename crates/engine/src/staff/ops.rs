//! Staff account operations: the first admin, staff sign-in, adding and removing staff,
//! changing a staff password (which re-wraps the vault key), and reading/verifying the audit
//! log. On a vault, the key file is updated together with the database row.

use crate::Engine;
use crate::accounts::normalize::{self, Email};
use crate::clock::new_id;
use crate::error::{Error, Result};
use crate::outbox::enqueue;
use crate::staff::audit::{self, AuditEntry, VerifyReport};
use crate::staff::authenticator::factor_after_password;
use crate::staff::{Permission, Role, Staff, StaffFactor, StaffMember};
use crate::storage::Tx;
use crate::storage::vault::{Keyring, SignInLog};
use crate::time::to_us;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

/// Where a staff member signed in from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffChannel {
    /// The admin API (staff bearer tokens).
    Api,
    /// The desktop console unlocking a vault.
    Vault,
    /// The `vestibule` command line.
    Cli,
}

impl StaffChannel {
    fn as_str(self) -> &'static str {
        match self {
            StaffChannel::Api => "api",
            StaffChannel::Vault => "vault",
            StaffChannel::Cli => "cli",
        }
    }
    fn describe(self) -> &'static str {
        match self {
            StaffChannel::Api => "admin API",
            StaffChannel::Vault => "desktop console",
            StaffChannel::Cli => "command line",
        }
    }
}

/// Record a staff sign-in attempt; `reason` "ok" is a success, anything else a failure.
async fn record_staff_attempt(
    tx: &mut Tx,
    at: chrono::DateTime<chrono::Utc>,
    email_key: &str,
    known: Option<&StaffMember>,
    reason: &str,
    channel: StaffChannel,
    ip: &str,
) -> Result<()> {
    let ip: String = ip.chars().filter(|c| !c.is_control()).take(64).collect();
    sqlx::query(
        "INSERT INTO staff_sign_in_attempts (at_us, email_key, staff_id, outcome, reason, channel, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(to_us(at))
    .bind(email_key)
    .bind(known.map(|m| m.id.to_string()))
    .bind(if reason == "ok" { "success" } else { "failure" })
    .bind(reason)
    .bind(channel.as_str())
    .bind(ip)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn staff_from_row(r: &sqlx::any::AnyRow) -> Result<StaffMember> {
    let id: String = r.try_get("id")?;
    Ok(StaffMember {
        id: Uuid::parse_str(&id).map_err(|e| Error::Internal(e.to_string()))?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        role: Role::parse(&r.try_get::<String, _>("role")?)?,
        status: r.try_get("status")?,
        version: r.try_get("version")?,
        authenticator: false,
    })
}

impl Engine {
    pub(crate) async fn insert_first_admin(&self, email: &Email, password: &str) -> Result<Staff> {
        let hash = self.hash_password(password).await?;
        let now = self.now();
        let id = new_id(now, self.entropy.as_ref());
        let mut tx = self.store.begin().await?;
        let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM staff")
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            return Err(Error::invalid(
                "database",
                "this database already has staff; sign in instead of initialising it again",
            ));
        }
        sqlx::query(
            "INSERT INTO staff (id, email, email_key, display_name, role, password_hash, status, created_us, updated_us) \
             VALUES ($1, $2, $3, '', 'admin', $4, 'active', $5, $5)",
        )
        .bind(id.to_string())
        .bind(&email.display)
        .bind(&email.key)
        .bind(hash)
        .bind(to_us(now))
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            "system",
            "staff.created",
            &format!("staff:{id}"),
            Some("first admin"),
            json!({"email": [null, email.display], "role": [null, "admin"]}),
        )
        .await?;
        tx.commit().await?;
        Ok(Staff {
            id,
            email: email.display.clone(),
            display_name: String::new(),
            role: Role::Admin,
            factor: StaffFactor::EnrolmentNeeded,
        })
    }

    /// Check staff credentials from the command line (see [`Engine::staff_sign_in_via`]).
    pub async fn staff_sign_in(
        &self,
        email: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<Staff> {
        self.staff_sign_in_via(email, password, code, StaffChannel::Cli, "")
            .await
    }

    /// Check staff credentials. Unknown staff cost the same work as a wrong password. Every
    /// attempt is recorded (`staff_sign_in_attempts`), failures are audited, an account with
    /// [`crate::Config::staff_throttle_failures`] recent failures is refused until the window
    /// has passed, and a burst of [`crate::Config::staff_alert_failures`] emails the other
    /// admins. With an authenticator set up and no `code`, the result is
    /// [`StaffFactor::CodeNeeded`]: finish with [`Engine::staff_second_factor`].
    pub async fn staff_sign_in_via(
        &self,
        email: &str,
        password: &str,
        code: Option<&str>,
        channel: StaffChannel,
        ip: &str,
    ) -> Result<Staff> {
        let email = normalize::email(email).map_err(|_| Error::InvalidCredentials)?;
        if password.len() > 1024 {
            return Err(Error::InvalidCredentials);
        }
        let row = sqlx::query(
            "SELECT id, email, display_name, role, status, version, password_hash FROM staff WHERE email_key = $1 AND status = 'active'",
        )
        .bind(&email.key)
        .fetch_optional(self.store.reader())
        .await?;
        let known = row.as_ref().map(staff_from_row).transpose()?;
        self.staff_throttle(&email.key, channel, ip, known.as_ref())
            .await?;
        let phc: Option<String> = row
            .as_ref()
            .map(|r| r.try_get("password_hash"))
            .transpose()?;
        let ok = self.verify_password(phc, password).await?;
        match known {
            Some(m) if ok => {
                let has = self.has_staff_authenticator(m.id).await?;
                let factor = factor_after_password(m.role, has);
                if factor == StaffFactor::CodeNeeded {
                    let staff = Staff::signed_in(m, factor);
                    return match code {
                        Some(code) => self.staff_second_factor(&staff, code, channel, ip).await,
                        None => Ok(staff),
                    };
                }
                let mut tx = self.store.begin().await?;
                self.staff_signed_in(&mut tx, &email.key, &m, channel, ip)
                    .await?;
                tx.commit().await?;
                Ok(Staff::signed_in(m, factor))
            }
            known => {
                let reason = if known.is_some() {
                    "wrong_password"
                } else {
                    "unknown_account"
                };
                let mut tx = self.store.begin().await?;
                self.staff_failed(&mut tx, &email.key, known.as_ref(), reason, channel, ip)
                    .await?;
                tx.commit().await?;
                Err(Error::InvalidCredentials)
            }
        }
    }

    /// Refuse (and record it) while this address has too many recent failures.
    pub(crate) async fn staff_throttle(
        &self,
        email_key: &str,
        channel: StaffChannel,
        ip: &str,
        known: Option<&StaffMember>,
    ) -> Result<()> {
        let now = self.now();
        let failures: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM staff_sign_in_attempts WHERE email_key = $1 AND at_us > $2 \
             AND outcome = 'failure' AND reason <> 'throttled'",
        )
        .bind(email_key)
        .bind(to_us(now - self.config.throttle_window))
        .fetch_one(self.store.reader())
        .await?;
        if failures < self.config.staff_throttle_failures {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        record_staff_attempt(&mut tx, now, email_key, known, "throttled", channel, ip).await?;
        tx.commit().await?;
        Err(Error::throttled(self.config.throttle_window))
    }

    /// Record and audit a completed staff sign-in.
    pub(crate) async fn staff_signed_in(
        &self,
        tx: &mut Tx,
        email_key: &str,
        m: &StaffMember,
        channel: StaffChannel,
        ip: &str,
    ) -> Result<()> {
        record_staff_attempt(tx, self.now(), email_key, Some(m), "ok", channel, ip).await?;
        self.audit(
            tx,
            &format!("staff:{}", m.id),
            "staff.signed_in",
            &format!("staff:{}", m.id),
            None,
            json!({"channel": channel.as_str()}),
        )
        .await
    }

    /// Record and audit a failed staff sign-in (alerting the admins on a burst).
    pub(crate) async fn staff_failed(
        &self,
        tx: &mut Tx,
        email_key: &str,
        known: Option<&StaffMember>,
        reason: &str,
        channel: StaffChannel,
        ip: &str,
    ) -> Result<()> {
        let now = self.now();
        record_staff_attempt(tx, now, email_key, known, reason, channel, ip).await?;
        self.staff_failure_recorded(tx, now, known, email_key, channel, ip)
            .await
    }

    /// An active staff member by id.
    pub(crate) async fn staff_member(&self, id: Uuid) -> Result<StaffMember> {
        let row = sqlx::query(
            "SELECT id, email, display_name, role, status, version FROM staff WHERE id = $1 AND status = 'active'",
        )
        .bind(id.to_string())
        .fetch_optional(self.store.reader())
        .await?
        .ok_or(Error::InvalidSession)?;
        staff_from_row(&row)
    }

    /// After a failed staff sign-in was recorded: audit it, and on a burst alert the admins.
    async fn staff_failure_recorded(
        &self,
        tx: &mut Tx,
        at: chrono::DateTime<chrono::Utc>,
        known: Option<&StaffMember>,
        email_key: &str,
        channel: StaffChannel,
        ip: &str,
    ) -> Result<()> {
        // An unknown address is not written into the append-only log: it may be anybody's.
        let target = known.map_or("staff:unknown".to_string(), |m| format!("staff:{}", m.id));
        self.audit(
            tx,
            "system",
            "staff.sign_in_failed",
            &target,
            None,
            json!({"channel": channel.as_str(), "ip": ip}),
        )
        .await?;
        let Some(m) = known else { return Ok(()) };
        let recent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM staff_sign_in_attempts WHERE email_key = $1 AND at_us > $2 \
             AND at_us <= $3 AND outcome = 'failure' AND reason <> 'throttled'",
        )
        .bind(email_key)
        .bind(to_us(at - self.config.throttle_window))
        .bind(to_us(at))
        .fetch_one(&mut **tx)
        .await?;
        // Exactly at the threshold: one alert per burst, not one per further failure.
        if recent != self.config.staff_alert_failures {
            return Ok(());
        }
        let admins: Vec<String> = sqlx::query_scalar(
            "SELECT email FROM staff WHERE role = 'admin' AND status = 'active' AND id <> $1 ORDER BY created_us",
        )
        .bind(m.id.to_string())
        .fetch_all(&mut **tx)
        .await?;
        let minutes = self.config.throttle_window.num_minutes();
        for admin in admins.iter().chain(std::iter::once(&m.email)) {
            enqueue(
                tx,
                self,
                "staff_sign_in_alert",
                admin,
                "Repeated failed sign-ins to a staff account",
                &format!(
                    "There were {recent} failed sign-ins to the staff account {} in the last {minutes} minutes \
                     (latest through the {}{}).\nIf this was not a colleague mistyping, review the audit log and \
                     consider changing that password.\n",
                    m.email,
                    channel.describe(),
                    if ip.is_empty() { String::new() } else { format!(" from {ip}") },
                ),
            )
            .await?;
        }
        self.audit(
            tx,
            "system",
            "staff.sign_in_alert_sent",
            &format!("staff:{}", m.id),
            None,
            json!({"failures": recent, "notified": admins.len() + 1}),
        )
        .await
    }

    /// Move the console's failed vault sign-ins (kept beside the locked vault) into the
    /// attempt table and the audit log, and alert on a burst as for any staff sign-in.
    pub(crate) async fn import_vault_failures(
        &self,
        ring: &Keyring,
        log: &mut SignInLog,
    ) -> Result<()> {
        if log.failures.is_empty() {
            return Ok(());
        }
        let rows = sqlx::query(
            "SELECT id, email, display_name, role, status, version, email_key FROM staff WHERE status = 'active'",
        )
        .fetch_all(self.store.reader())
        .await?;
        let mut by_holder = std::collections::HashMap::new();
        for r in &rows {
            let key: String = r.try_get("email_key")?;
            by_holder.insert(ring.holder_of(&key), (key, staff_from_row(r)?));
        }
        let mut tx = self.store.begin().await?;
        for f in &log.failures {
            let known = by_holder.get(&f.holder);
            let (key, member) = match known {
                Some((k, m)) => (k.as_str(), Some(m)),
                None => ("", None),
            };
            let reason = if member.is_some() {
                "wrong_password"
            } else {
                "unknown_account"
            };
            record_staff_attempt(
                &mut tx,
                crate::time::from_us(f.at_us),
                key,
                member,
                reason,
                StaffChannel::Vault,
                "",
            )
            .await?;
            let at = crate::time::from_us(f.at_us);
            self.staff_failure_recorded(&mut tx, at, member, key, StaffChannel::Vault, "")
                .await?;
        }
        tx.commit().await?;
        log.clear()
    }

    /// Sign a staff member in for API use: checks the credentials (and the authenticator's
    /// code, when they have one: without it the answer is [`Error::SecondFactorRequired`])
    /// and returns an opaque token (stored as SHA-256) with its absolute expiry.
    pub async fn staff_session_create(
        &self,
        email: &str,
        password: &str,
        code: Option<&str>,
        ip: &str,
    ) -> Result<(String, Staff, chrono::DateTime<chrono::Utc>)> {
        let staff = self
            .staff_sign_in_via(email, password, code, StaffChannel::Api, ip)
            .await?;
        if staff.factor == StaffFactor::CodeNeeded {
            return Err(Error::SecondFactorRequired);
        }
        let now = self.now();
        let (token, digest) = crate::credentials::tokens::new_token(self.entropy.as_ref());
        let absolute = now + self.config.staff_session_absolute;
        let idle = (now + self.config.staff_session_idle).min(absolute);
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO staff_sessions (id, staff_id, token_hash, created_us, last_seen_us, idle_expires_us, absolute_expires_us) \
             VALUES ($1, $2, $3, $4, $4, $5, $6)",
        )
        .bind(new_id(now, self.entropy.as_ref()).to_string())
        .bind(staff.id.to_string())
        .bind(digest)
        .bind(to_us(now))
        .bind(to_us(idle))
        .bind(to_us(absolute))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((token, staff, absolute))
    }

    /// The staff member a token belongs to; extends its idle timeout. Unknown, revoked,
    /// expired tokens and removed staff all give [`Error::InvalidSession`].
    pub async fn staff_from_token(&self, token: &str) -> Result<Staff> {
        if token.len() > 256 {
            return Err(Error::InvalidSession);
        }
        let now = self.now();
        let row = sqlx::query(
            "SELECT s.id AS session_id, s.last_seen_us, s.absolute_expires_us, t.id, t.email, t.display_name, t.role, t.status, t.version, \
             (SELECT count(*) FROM staff_authenticators a WHERE a.staff_id = t.id AND a.status = 'active') AS authenticators \
             FROM staff_sessions s JOIN staff t ON t.id = s.staff_id \
             WHERE s.token_hash = $1 AND s.revoked_us IS NULL AND s.idle_expires_us > $2 \
             AND s.absolute_expires_us > $2 AND t.status = 'active'",
        )
        .bind(crate::credentials::tokens::digest(token))
        .bind(to_us(now))
        .fetch_optional(self.store.reader())
        .await?
        .ok_or(Error::InvalidSession)?;
        let m = staff_from_row(&row)?;
        // A session is only made once the code was given (or while there was none to give):
        // with an authenticator now, it was given or set up through this session.
        let factor =
            match factor_after_password(m.role, row.try_get::<i64, _>("authenticators")? > 0) {
                StaffFactor::CodeNeeded => StaffFactor::Verified,
                other => other,
            };
        let last_seen: i64 = row.try_get("last_seen_us")?;
        if to_us(now) - last_seen > 30_000_000 {
            let absolute: i64 = row.try_get("absolute_expires_us")?;
            let idle = to_us(now + self.config.staff_session_idle).min(absolute);
            let mut tx = self.store.begin().await?;
            sqlx::query("UPDATE staff_sessions SET last_seen_us = $1, idle_expires_us = $2, version = version + 1 WHERE id = $3")
                .bind(to_us(now))
                .bind(idle)
                .bind(row.try_get::<String, _>("session_id")?)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(Staff::signed_in(m, factor))
    }

    /// End a staff API session. Unknown tokens are not an error.
    pub async fn staff_sign_out(&self, token: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        sqlx::query("UPDATE staff_sessions SET revoked_us = $1, version = version + 1 WHERE token_hash = $2 AND revoked_us IS NULL")
            .bind(to_us(self.now()))
            .bind(crate::credentials::tokens::digest(token))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Add a staff member with an initial password (admins only). On a vault the new
    /// member gets their own wrapped copy of the data key.
    pub async fn add_staff(
        &self,
        actor: &Staff,
        email: &str,
        display_name: &str,
        role: Role,
        password: &str,
    ) -> Result<StaffMember> {
        actor.require(Permission::ManageStaff)?;
        let email = normalize::email(email)?;
        normalize::check_single_script(&email)?;
        let name = normalize::text("display_name", display_name, 200)?;
        self.check_new_password(password, &[&email.key, &name], false)?;
        let hash = self.hash_password(password).await?;
        let now = self.now();
        let id = new_id(now, self.entropy.as_ref());
        let mut tx = self.store.begin().await?;
        let taken: i64 = sqlx::query_scalar("SELECT count(*) FROM staff WHERE email_key = $1")
            .bind(&email.key)
            .fetch_one(&mut *tx)
            .await?;
        if taken > 0 {
            return Err(Error::EmailInUse);
        }
        sqlx::query(
            "INSERT INTO staff (id, email, email_key, display_name, role, password_hash, status, created_us, updated_us) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)",
        )
        .bind(id.to_string())
        .bind(&email.display)
        .bind(&email.key)
        .bind(&name)
        .bind(role.as_str())
        .bind(hash)
        .bind(to_us(now))
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            &actor.actor(),
            "staff.created",
            &format!("staff:{id}"),
            None,
            json!({"email": [null, email.display], "role": [null, role.as_str()]}),
        )
        .await?;
        // Write the key file before committing: if it fails, the row is rolled back; if the
        // commit fails after it, the extra wrap is harmless and overwritten on retry.
        self.rewrap(&email.key, Some(password)).await?;
        tx.commit().await?;
        Ok(StaffMember {
            id,
            email: email.display,
            display_name: name,
            role,
            status: "active".into(),
            version: 1,
            authenticator: false,
        })
    }

    /// Remove a staff member (admins only; not yourself). Their vault key wrap is deleted.
    pub async fn remove_staff(&self, actor: &Staff, id: Uuid) -> Result<()> {
        actor.require(Permission::ManageStaff)?;
        if actor.id == id {
            return Err(Error::invalid("staff", "you cannot remove yourself"));
        }
        let mut tx = self.store.begin().await?;
        let row = sqlx::query("SELECT email_key, role, status FROM staff WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound("staff member"))?;
        let key: String = row.try_get("email_key")?;
        sqlx::query("UPDATE staff SET status = 'removed', password_hash = '', version = version + 1, updated_us = $1 WHERE id = $2")
            .bind(to_us(self.now()))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE staff_sessions SET revoked_us = $1 WHERE staff_id = $2 AND revoked_us IS NULL",
        )
        .bind(to_us(self.now()))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            &actor.actor(),
            "staff.removed",
            &format!("staff:{id}"),
            None,
            json!({"status": ["active", "removed"]}),
        )
        .await?;
        self.rewrap(&key, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Change your own staff password (needs the current one); re-wraps your vault key.
    pub async fn change_staff_password(
        &self,
        actor: &Staff,
        current: &str,
        new_password: &str,
    ) -> Result<()> {
        actor.require_signed_in()?;
        self.staff_sign_in(&actor.email, current, None).await?;
        let email = normalize::email(&actor.email)?;
        self.check_new_password(new_password, &[&email.key], false)?;
        let hash = self.hash_password(new_password).await?;
        let mut tx = self.store.begin().await?;
        sqlx::query("UPDATE staff SET password_hash = $1, version = version + 1, updated_us = $2 WHERE id = $3")
            .bind(hash)
            .bind(to_us(self.now()))
            .bind(actor.id.to_string())
            .execute(&mut *tx)
            .await?;
        self.audit(
            &mut tx,
            &actor.actor(),
            "staff.password_changed",
            &format!("staff:{}", actor.id),
            None,
            json!({"password": ["(hidden)", "(changed)"]}),
        )
        .await?;
        self.rewrap(&email.key, Some(new_password)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Update the vault key file: wrap for `email_key` under `password`, or remove the wrap.
    /// No-op on PostgreSQL.
    async fn rewrap(&self, email_key: &str, password: Option<&str>) -> Result<()> {
        let Some(v) = &self.vault else {
            return Ok(());
        };
        let v = v.lock().await;
        let mut ring = Keyring::load(&v.path, self.entropy.as_ref())?;
        match password {
            Some(pw) => {
                let kdf = crate::credentials::password::Hasher::new_for_kdf(self.config.hash)?;
                ring.set_staff(email_key, pw, &v.key, &kdf, self.entropy.as_ref())?;
            }
            None => ring.remove_staff(email_key),
        }
        ring.save()
    }

    /// Staff holders in the vault key file (diagnostics; admins).
    pub async fn vault_key_holders(&self, actor: &Staff) -> Result<Vec<String>> {
        actor.require(Permission::ManageStaff)?;
        let Some(v) = &self.vault else {
            return Ok(vec![]);
        };
        let v = v.lock().await;
        let ring = Keyring::load(&v.path, self.entropy.as_ref())?;
        let rows = sqlx::query("SELECT email, email_key FROM staff ORDER BY created_us")
            .fetch_all(self.store.reader())
            .await?;
        let mut named = std::collections::HashMap::new();
        for r in &rows {
            named.insert(
                ring.holder_of(&r.try_get::<String, _>("email_key")?),
                r.try_get::<String, _>("email")?,
            );
        }
        Ok(ring
            .staff_holders()
            .into_iter()
            .map(|h| named.remove(&h).unwrap_or_else(|| "(unknown)".into()))
            .collect())
    }

    /// All staff accounts (admins only).
    pub async fn list_staff(&self, actor: &Staff) -> Result<Vec<StaffMember>> {
        actor.require(Permission::ManageStaff)?;
        let rows = sqlx::query(
            "SELECT id, email, display_name, role, status, version FROM staff ORDER BY created_us",
        )
        .fetch_all(self.store.reader())
        .await?;
        let with = self.staff_with_authenticators().await?;
        rows.iter()
            .map(|r| {
                let mut m = staff_from_row(r)?;
                m.authenticator = with.contains(&m.id);
                Ok(m)
            })
            .collect()
    }

    /// The staff members review items can be assigned to (active admin and security staff),
    /// for analysts to pick from.
    pub async fn review_analysts(&self, actor: &Staff) -> Result<Vec<StaffMember>> {
        actor.require(Permission::ReviewRisk)?;
        let rows = sqlx::query(
            "SELECT id, email, display_name, role, status, version FROM staff \
             WHERE role IN ('admin', 'security') AND status = 'active' ORDER BY display_name, email",
        )
        .fetch_all(self.store.reader())
        .await?;
        rows.iter().map(staff_from_row).collect()
    }

    /// Page through the whole audit log, oldest first.
    pub async fn audit_log(
        &self,
        actor: &Staff,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        actor.require(Permission::ReadAudit)?;
        audit::page(self.store.reader(), after_seq, limit.clamp(1, 1000)).await
    }

    /// Walk the audit hash chain; fails with [`Error::AuditTampered`] at the first bad entry.
    pub async fn verify_audit(&self, actor: &Staff) -> Result<VerifyReport> {
        actor.require(Permission::ReadAudit)?;
        audit::verify(self.store.reader()).await
    }
}
