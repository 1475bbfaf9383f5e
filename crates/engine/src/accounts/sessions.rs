//! Customer sessions: opaque tokens (stored only as SHA-256) with idle and absolute
//! lifetimes, created at sign-in, validated on every request (touched at most once a minute),
//! listed and revoked by their owner or by staff.

use crate::Engine;
use crate::clock::new_id;
use crate::credentials::tokens;
use crate::error::{Error, Result};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;

/// Where a request came from; recorded with attempts and sessions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RequestContext {
    pub ip: String,
    pub user_agent: String,
    /// The long-lived identifier of the device: the hosted pages' device cookie, or an app's
    /// device id. Only its digest is stored; without one, the device is its user agent on
    /// its network.
    #[serde(default)]
    pub device: Option<String>,
    /// Milliseconds between a sign-in form being shown and sent, when the form says.
    #[serde(default)]
    pub form_ms: Option<u64>,
    /// The OpenID Connect client the customer is signing in or registering to, when the
    /// request is part of its authorization request (counted by analytics).
    #[serde(default)]
    pub client: Option<String>,
}

impl RequestContext {
    pub(crate) fn bounded(&self) -> (String, String) {
        let clean = |s: &str, n| s.chars().filter(|c| !c.is_control()).take(n).collect();
        (clean(&self.ip, 64), clean(&self.user_agent, 512))
    }
}

/// A session as shown to its owner or to staff (never the token).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
    pub device: String,
    /// How the customer proved who they are (RFC 8176 values: `pwd`, `otp`, `mfa`, …).
    pub amr: Vec<String>,
    /// When they last did (sign-in or step-up): "recent authentication" is measured from here.
    pub auth_at: DateTime<Utc>,
}

/// How recent an authentication a sensitive change needs (email, password, factors,
/// recovery codes).
pub const RECENT_AUTH: Duration = Duration::minutes(5);

impl SessionInfo {
    /// `StepUpRequired` unless this session was authenticated within [`RECENT_AUTH`] of `now`.
    pub fn require_recent_auth(&self, now: DateTime<Utc>) -> Result<()> {
        if now - self.auth_at <= RECENT_AUTH {
            Ok(())
        } else {
            Err(Error::StepUpRequired)
        }
    }
}

/// A successful sign-in: the opaque token to hand to the client, once.
#[derive(Debug, Clone, Serialize)]
pub struct SignedIn {
    pub token: String,
    pub session: SessionInfo,
}

/// "Firefox on Linux" from a user agent, for people reading sessions and attempts.
pub(crate) fn device_label(user_agent: &str) -> String {
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(r) if r.name != "UNKNOWN" => {
            if r.os != "UNKNOWN" {
                format!("{} on {}", r.name, r.os)
            } else {
                r.name.to_string()
            }
        }
        _ => "Unknown device".into(),
    }
}

pub(crate) fn session_from_row(r: &sqlx::any::AnyRow) -> Result<SessionInfo> {
    let id: String = r.try_get("id")?;
    let cid: String = r.try_get("customer_id")?;
    Ok(SessionInfo {
        id: Uuid::parse_str(&id).map_err(|e| Error::Internal(e.to_string()))?,
        customer_id: Uuid::parse_str(&cid).map_err(|e| Error::Internal(e.to_string()))?,
        created_at: from_us(r.try_get("created_us")?),
        last_seen_at: from_us(r.try_get("last_seen_us")?),
        idle_expires_at: from_us(r.try_get("idle_expires_us")?),
        absolute_expires_at: from_us(r.try_get("absolute_expires_us")?),
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        device: r.try_get("device")?,
        amr: r
            .try_get::<String, _>("amr")?
            .split(' ')
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
        auth_at: from_us(r.try_get("auth_us")?),
    })
}

pub(crate) const SESSION_COLUMNS: &str = "id, customer_id, created_us, last_seen_us, idle_expires_us, absolute_expires_us, ip, user_agent, device, amr, auth_us";

impl Engine {
    /// A new session for `customer`, authenticated by `amr` (RFC 8176 method values).
    pub(crate) async fn create_session(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        amr: &[&str],
        ctx: &RequestContext,
    ) -> Result<SignedIn> {
        let now = self.now();
        let (token, digest) = tokens::new_token(self.entropy.as_ref());
        let id = new_id(now, self.entropy.as_ref());
        let (ip, ua) = ctx.bounded();
        let absolute = now + self.config.session_absolute;
        let idle = (now + self.config.session_idle).min(absolute);
        let device = device_label(&ua);
        sqlx::query(
            "INSERT INTO sessions (id, customer_id, token_hash, created_us, last_seen_us, idle_expires_us, absolute_expires_us, ip, user_agent, device, amr, auth_us) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $4)",
        )
        .bind(id.to_string())
        .bind(customer.to_string())
        .bind(digest)
        .bind(to_us(now))
        .bind(to_us(idle))
        .bind(to_us(absolute))
        .bind(&ip)
        .bind(&ua)
        .bind(&device)
        .bind(amr.join(" "))
        .execute(&mut **tx)
        .await?;
        let country = self.geoip().and_then(|g| g.locate(&ip).country);
        crate::analytics::record(
            tx,
            now,
            &crate::analytics::Event {
                kind: crate::analytics::kind::SESSION,
                customer: Some(customer),
                client: ctx.client.as_deref().unwrap_or(""),
                method: session_method(amr),
                country: country.as_deref().unwrap_or(""),
                ..Default::default()
            },
        )
        .await?;
        self.learn_sign_in(tx, customer, ctx).await?;
        Ok(SignedIn {
            token,
            session: SessionInfo {
                id,
                customer_id: customer,
                created_at: now,
                last_seen_at: now,
                idle_expires_at: idle,
                absolute_expires_at: absolute,
                ip,
                user_agent: ua,
                device,
                amr: amr.iter().map(|m| (*m).to_owned()).collect(),
                auth_at: now,
            },
        })
    }

    /// Check a session token and extend its idle timeout. Unknown, revoked and expired
    /// tokens all give [`Error::InvalidSession`].
    pub async fn validate_session(&self, token: &str) -> Result<SessionInfo> {
        if token.len() > 256 {
            return Err(Error::InvalidSession);
        }
        let now = self.now();
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE token_hash = $1 AND revoked_us IS NULL \
             AND idle_expires_us > $2 AND absolute_expires_us > $2 \
             AND EXISTS (SELECT 1 FROM customers c WHERE c.id = s.customer_id AND c.status = 'active')"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tokens::digest(token))
            .bind(to_us(now))
            .fetch_optional(self.store.reader())
            .await?
            .ok_or(Error::InvalidSession)?;
        let mut s = session_from_row(&row)?;
        // Touch at most once a minute: validation is hot, writes are not free.
        if now - s.last_seen_at > Duration::seconds(60) {
            let idle = (now + self.config.session_idle).min(s.absolute_expires_at);
            let mut tx = self.store.begin().await?;
            sqlx::query("UPDATE sessions SET last_seen_us = $1, idle_expires_us = $2, version = version + 1 WHERE id = $3")
                .bind(to_us(now))
                .bind(to_us(idle))
                .bind(s.id.to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            s.last_seen_at = now;
            s.idle_expires_at = idle;
        }
        Ok(s)
    }

    /// End the session this token belongs to. Unknown tokens are not an error.
    pub async fn sign_out(&self, token: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        sqlx::query("UPDATE sessions SET revoked_us = $1, version = version + 1 WHERE token_hash = $2 AND revoked_us IS NULL")
            .bind(to_us(self.now()))
            .bind(tokens::digest(token))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The signed-in customer's own valid sessions.
    pub async fn my_sessions(&self, token: &str) -> Result<Vec<SessionInfo>> {
        let s = self.validate_session(token).await?;
        self.active_sessions(s.customer_id).await
    }

    /// Revoke one of the signed-in customer's own sessions.
    pub async fn revoke_my_session(&self, token: &str, session: Uuid) -> Result<()> {
        let s = self.validate_session(token).await?;
        let mut tx = self.store.begin().await?;
        let n = self
            .revoke_all_sessions_tx(&mut tx, s.customer_id, Some(session))
            .await?;
        if n == 0 {
            return Err(Error::NotFound("session"));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn active_sessions(&self, customer: Uuid) -> Result<Vec<SessionInfo>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE customer_id = $1 AND revoked_us IS NULL \
             AND idle_expires_us > $2 AND absolute_expires_us > $2 ORDER BY created_us DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer.to_string())
            .bind(to_us(self.now()))
            .fetch_all(self.store.reader())
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Revoke a customer's sessions: one (`only`), or all except none. Returns how many.
    pub(crate) async fn revoke_all_sessions_tx(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        only: Option<Uuid>,
    ) -> Result<u64> {
        self.revoke_sessions_where(tx, customer, only, None).await
    }

    pub(crate) async fn revoke_sessions_where(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        only: Option<Uuid>,
        except: Option<Uuid>,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_us = $1, version = version + 1 WHERE customer_id = $2 AND revoked_us IS NULL \
             AND ($3 = '' OR id = $3) AND ($4 = '' OR id <> $4)",
        )
        .bind(to_us(self.now()))
        .bind(customer.to_string())
        .bind(only.map(|u| u.to_string()).unwrap_or_default())
        .bind(except.map(|u| u.to_string()).unwrap_or_default())
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected())
    }
}

/// The method a sign-in is counted under, from how the customer proved who they are: the
/// strongest proof they gave (a passkey, then a second factor, then the first step).
pub(crate) fn session_method(amr: &[&str]) -> &'static str {
    let has = |m: &str| amr.contains(&m);
    if has("hwk") || has("swk") {
        "passkey"
    } else if has("otp") {
        "totp"
    } else if has("fed") {
        "social"
    } else if has("email") {
        "email"
    } else {
        "password"
    }
}
