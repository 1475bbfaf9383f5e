//! Scoring one attempt inside the transaction that records it: what the store holds about the
//! account, the address and the device is read into a [`History`], the signals run under the
//! policy in force, and the score becomes a decision — enforced, or in audit-only mode only
//! recorded. After a success the device and network join what the customer is known by, and
//! a sign-in from a new device or country is emailed to them.

use super::geo;
use super::policy::{self, Decision, RiskMode};
use super::signals::{self, Facts, History, LastSuccess, Signal};
use crate::Engine;
use crate::accounts::sessions::{RequestContext, device_label};
use crate::error::{Error, Result};
use crate::outbox::enqueue_capped;
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::Duration;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::net::IpAddr;
use uuid::Uuid;

/// At most this many recent attempts are read to count the distinct accounts tried from one
/// address, network or user agent: more than any limit needs, and bounded however large the
/// attack, so scoring costs the same during one.
const VELOCITY_SCAN: i64 = 2000;

/// The outbox kind of the "new sign-in" email.
pub(crate) const NEW_SIGN_IN_EMAIL: &str = "new_sign_in";

/// What the policy made of an attempt.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub score: u32,
    pub decision: Decision,
    /// The decision takes effect (the policy enforces; audit-only records it only).
    pub enforced: bool,
    pub signals: Vec<Signal>,
    pub policy_version: i64,
    /// It belongs in the analysts' review queue.
    pub review: bool,
    pub(crate) device: String,
    pub(crate) network: String,
    pub(crate) country: Option<String>,
}

impl Assessment {
    /// What happens: the policy's decision, or allow when it only audits.
    pub fn effective(&self) -> Decision {
        if self.enforced {
            self.decision
        } else {
            Decision::Allow
        }
    }
}

/// An attempt to be scored.
pub(crate) struct Attempt<'a> {
    pub email_key: &'a str,
    pub customer: Option<Uuid>,
    pub ctx: &'a RequestContext,
    /// The password given is on the common-password list (password attempts only).
    pub common_password: bool,
}

/// The stored key of a device: the digest of its identifier, or without one of its user
/// agent on its network.
pub(crate) fn device_key(ctx: &RequestContext, network: &str) -> String {
    let mut h = Sha256::new();
    match ctx.device.as_deref().filter(|d| !d.is_empty()) {
        Some(id) => {
            h.update(b"device\0");
            h.update(id.as_bytes());
        }
        None => {
            h.update(b"agent\0");
            h.update(ctx.user_agent.as_bytes());
            h.update(b"\0");
            h.update(network.as_bytes());
        }
    }
    hex::encode(h.finalize().get(..16).unwrap_or_default())
}

/// The network an attempt is counted under: the /24 or /48 of its address, or nothing for
/// a loopback or unspecified address (a reverse proxy on the same machine that does not pass
/// the client's address on, or a local test), which says nothing about who is signing in —
/// otherwise every customer would share one "network" and trip each other's limits.
pub(crate) fn network_key(ip: &str) -> String {
    match ip.parse::<IpAddr>().map(|a| a.to_canonical()) {
        Ok(a) if a.is_loopback() || a.is_unspecified() => String::new(),
        Ok(_) => geo::network_of(ip),
        Err(_) => String::new(),
    }
}

/// Whether `ip` falls in `network` ("203.0.113.0/24", "2001:db8::/48", or one address).
pub(crate) fn in_network(ip: &IpAddr, network: &str) -> bool {
    if let Ok(net) = network.parse::<ipnet::IpNet>() {
        return net.contains(ip);
    }
    network
        .parse::<IpAddr>()
        .is_ok_and(|a| a.to_canonical() == *ip)
}

fn count(row: &sqlx::any::AnyRow, column: &str) -> Result<u32> {
    Ok(u32::try_from(row.try_get::<i64, _>(column)?).unwrap_or(u32::MAX))
}

impl Engine {
    /// Score an attempt (in `tx`, before it is recorded).
    pub(crate) async fn assess(&self, tx: &mut Tx, a: &Attempt<'_>) -> Result<Assessment> {
        let now = self.now();
        let policy = policy::load(&mut **tx).await?;
        let limits = &policy.limits;
        let (ip, ua) = a.ctx.bounded();
        let network = network_key(&ip);
        let geoip = self.geoip();
        let place = geoip.as_ref().map(|g| g.locate(&ip)).unwrap_or_default();
        let device = device_key(a.ctx, &network);
        let label = device_label(&ua);
        let history_from = to_us(now - Duration::days(limits.history_days.into()));
        let velocity_from = to_us(now - Duration::minutes(limits.velocity_minutes.into()));
        let mut h = History {
            account: a.customer.is_some(),
            geoip: geoip.is_some(),
            ..History::default()
        };
        if let Some(customer) = a.customer {
            let id = customer.to_string();
            let row = sqlx::query(
                "SELECT \
                 (SELECT count(*) FROM risk_devices WHERE customer_id = $1 AND (last_us > $2 OR trusted_us IS NOT NULL)) AS devices, \
                 (SELECT count(*) FROM risk_devices WHERE customer_id = $1 AND device = $3 AND (last_us > $2 OR trusted_us IS NOT NULL)) AS device_known, \
                 (SELECT count(*) FROM risk_networks WHERE customer_id = $1 AND (last_us > $2 OR trusted_us IS NOT NULL)) AS networks, \
                 (SELECT count(*) FROM risk_networks WHERE customer_id = $1 AND network = $4 AND (last_us > $2 OR trusted_us IS NOT NULL)) AS network_known, \
                 (SELECT count(*) FROM sign_in_attempts WHERE email_key = $5 AND at_us > $6 AND outcome = 'failure') AS failures",
            )
            .bind(&id)
            .bind(history_from)
            .bind(&device)
            .bind(&network)
            .bind(a.email_key)
            .bind(to_us(now - Duration::hours(1)))
            .fetch_one(&mut **tx)
            .await?;
            h.devices_seen = count(&row, "devices")?;
            h.device_known = count(&row, "device_known")? > 0;
            h.networks_seen = count(&row, "networks")?;
            h.network_known = network.is_empty() || count(&row, "network_known")? > 0;
            h.account_failures = count(&row, "failures")?;
            h.countries_seen = sqlx::query_scalar(
                "SELECT DISTINCT country FROM risk_networks WHERE customer_id = $1 \
                 AND last_us > $2 AND country IS NOT NULL ORDER BY country",
            )
            .bind(&id)
            .bind(history_from)
            .fetch_all(&mut **tx)
            .await?;
            let last = sqlx::query(
                "SELECT at_us, ip FROM sign_in_attempts WHERE customer_id = $1 AND outcome = 'success' \
                 ORDER BY at_us DESC LIMIT 1",
            )
            .bind(&id)
            .fetch_optional(&mut **tx)
            .await?;
            if let Some(r) = last {
                let there = geoip
                    .as_ref()
                    .map(|g| g.locate(&r.try_get::<String, _>("ip").unwrap_or_default()))
                    .unwrap_or_default();
                h.last_success = Some(LastSuccess {
                    at: from_us(r.try_get("at_us")?),
                    coordinates: there.coordinates,
                    country: there.country,
                });
            }
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT \
             (SELECT count(DISTINCT email_key) FROM (SELECT email_key FROM sign_in_attempts \
               WHERE ip = $1 AND at_us > $2 AND outcome = 'failure' ORDER BY at_us DESC LIMIT {VELOCITY_SCAN}) i) AS by_ip, \
             (SELECT count(DISTINCT email_key) FROM (SELECT email_key FROM sign_in_attempts \
               WHERE network = $3 AND at_us > $2 AND outcome = 'failure' ORDER BY at_us DESC LIMIT {VELOCITY_SCAN}) n) AS by_network, \
             (SELECT count(DISTINCT email_key) FROM (SELECT email_key FROM sign_in_attempts \
               WHERE user_agent = $4 AND at_us > $2 AND outcome = 'failure' ORDER BY at_us DESC LIMIT {VELOCITY_SCAN}) u) AS by_agent"
        )))
        .bind(&ip)
        .bind(velocity_from)
        .bind(&network)
        .bind(&ua)
        .fetch_one(&mut **tx)
        .await?;
        if !network.is_empty() {
            h.accounts_from_ip = count(&row, "by_ip")?;
            h.accounts_from_network = count(&row, "by_network")?;
        }
        if !ua.is_empty() {
            h.accounts_failed_by_user_agent = count(&row, "by_agent")?;
        }
        let blocked = self.block_for(tx, &ip).await?;
        let facts = Facts {
            at: now,
            ip,
            network: network.clone(),
            device_label: label.clone(),
            country: place.country.clone(),
            coordinates: place.coordinates,
            form_ms: a.ctx.form_ms,
            common_password: a.common_password,
            blocked,
        };
        let signals = signals::evaluate(&policy, &facts, &h);
        let score = signals::score(&signals);
        let decision = policy.decide(score);
        Ok(Assessment {
            score,
            decision,
            review: decision != Decision::Allow || score >= policy.review_at,
            enforced: policy.mode == RiskMode::Enforce,
            signals,
            policy_version: policy.version,
            device,
            network,
            country: place.country,
        })
    }

    /// The blocks in force: each range and why.
    pub(crate) async fn active_blocks(&self, tx: &mut Tx) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT network, reason FROM ip_blocks WHERE expires_us > $1")
            .bind(to_us(self.now()))
            .fetch_all(&mut **tx)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("network")?, r.try_get("reason")?)))
            .collect()
    }

    /// A customer signed in (a session was made): the device and network are known for them
    /// from now on, and if the account had signed in before but never from this device or in
    /// this country, the customer is told (within the hourly share of emails every address
    /// has).
    pub(crate) async fn learn_sign_in(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        ctx: &RequestContext,
    ) -> Result<()> {
        let now = to_us(self.now());
        let id = customer.to_string();
        let (ip, ua) = ctx.bounded();
        let network = network_key(&ip);
        let device = device_key(ctx, &network);
        let label = device_label(&ua);
        let country = self.geoip().and_then(|g| g.locate(&ip).country);
        let row = sqlx::query(
            "SELECT \
             (SELECT count(*) FROM risk_devices WHERE customer_id = $1) AS devices, \
             (SELECT count(*) FROM risk_devices WHERE customer_id = $1 AND device = $2) AS this_device, \
             (SELECT count(*) FROM risk_networks WHERE customer_id = $1 AND country IS NOT NULL) AS located, \
             (SELECT count(*) FROM risk_networks WHERE customer_id = $1 AND country = $3) AS this_country",
        )
        .bind(&id)
        .bind(&device)
        .bind(&country)
        .fetch_one(&mut **tx)
        .await?;
        let new_device = count(&row, "devices")? > 0 && count(&row, "this_device")? == 0;
        let new_country =
            country.is_some() && count(&row, "located")? > 0 && count(&row, "this_country")? == 0;
        sqlx::query(
            "INSERT INTO risk_devices (customer_id, device, label, first_us, last_us) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (customer_id, device) DO UPDATE SET last_us = excluded.last_us, label = excluded.label",
        )
        .bind(&id)
        .bind(&device)
        .bind(&label)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if !network.is_empty() {
            sqlx::query(
                "INSERT INTO risk_networks (customer_id, network, country, first_us, last_us) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (customer_id, network) DO UPDATE SET last_us = excluded.last_us, \
                 country = COALESCE(excluded.country, risk_networks.country)",
            )
            .bind(&id)
            .bind(&network)
            .bind(&country)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        if !(new_device || new_country) {
            return Ok(());
        }
        let email: String = sqlx::query_scalar("SELECT email FROM customers WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut **tx)
            .await?;
        let device = if label.is_empty() {
            "a device not seen before".to_owned()
        } else {
            label
        };
        let place = country.map(|c| format!(" in {c}")).unwrap_or_default();
        let when = self.now().format("%Y-%m-%d %H:%M UTC");
        enqueue_capped(
            tx,
            self,
            NEW_SIGN_IN_EMAIL,
            &email,
            "A new sign-in to your account",
            &format!(
                "Your account was just signed in to from {device}{place} ({when}).\n\n\
                 If this was you, there is nothing to do.\n\n\
                 If it was not, change your password now at {}/account and sign out the \
                 devices you do not recognise; the account page lists them.\n",
                self.config.public_url
            ),
        )
        .await?;
        Ok(())
    }

    /// Record an attempt with its assessment; its sequence number.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_attempt(
        &self,
        tx: &mut Tx,
        email_key: &str,
        customer: Option<Uuid>,
        reason: &str,
        method: &str,
        ctx: &RequestContext,
        a: &Assessment,
    ) -> Result<i64> {
        let (ip, ua) = ctx.bounded();
        let outcome = match reason {
            "ok" => "success",
            "risk_challenged" => "challenged",
            _ => "failure",
        };
        let signals =
            serde_json::to_string(&a.signals).map_err(|e| Error::Internal(e.to_string()))?;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO sign_in_attempts (at_us, email_key, customer_id, outcome, reason, method, ip, user_agent, \
             device, network, country, score, decision, enforced, signals, policy_version, review) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING seq",
        )
        .bind(to_us(self.now()))
        .bind(email_key)
        .bind(customer.map(|c| c.to_string()))
        .bind(outcome)
        .bind(reason)
        .bind(method)
        .bind(ip)
        .bind(ua)
        .bind(&a.device)
        .bind(&a.network)
        .bind(&a.country)
        .bind(i64::from(a.score))
        .bind(a.decision.name())
        .bind(i64::from(a.enforced))
        .bind(signals)
        .bind(a.policy_version)
        .bind(i64::from(a.review))
        .fetch_one(&mut **tx)
        .await?;
        Ok(seq)
    }
}
