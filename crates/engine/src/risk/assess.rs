//! Scoring one attempt inside the transaction that records it: what the store holds about the
//! account, the address and the device is read into a [`History`], the signals run under the
//! policy in force, and the score becomes a decision — enforced, or in audit-only mode only
//! recorded. After a success the device and network join what the customer is known by, and
//! a sign-in from a new device or country is emailed to them.

use super::geo;
use super::policy::{self, Decision, RiskMode, RiskPolicy};
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
use std::sync::Arc;
use uuid::Uuid;

/// At most this many recent attempts are read to count the distinct accounts tried from one
/// address, network or user agent: more than any limit needs, and bounded however large the
/// attack, so scoring costs the same during one.
const VELOCITY_SCAN: i64 = 2000;

/// At most this many known devices (and networks) of one customer are read, most recent
/// first: more than anyone signs in from, and bounded.
const KNOWN_SCAN: i64 = 500;

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
    pub(crate) asn: Option<u32>,
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

/// What one round trip reads for scoring an attempt, as rows of one shape (kind, key,
/// detail, a, b): the policy's version (`v`); distinct accounts failed on from the address,
/// network and user agent (`vi`, `vn`, `vu`); the blocks in force (`b`: range, reason);
/// and for an existing account its known devices (`d`: key, -, last seen, trusted) and
/// networks (`n`: key, country, last seen, trusted), last success (`s`: address, -, when)
/// and failures in the last hour (`f`); and failures from the network operator (`va`).
/// Parameters: $1 policy key, $2 address, $3 velocity window start, $4 network, $5 user
/// agent, $6 now, $7 the ASN (or NULL); with an account $8 its id, $9 its email key, $10 an
/// hour ago.
pub(crate) fn scoring_sql(account: bool) -> String {
    // Blank text is never looked up (an erased attempt's, or no address known): saying so
    // lets the planner use the partial indexes that leave blank values out.
    let velocity = |kind: &str, column: &str, param: &str| {
        let present = match column {
            "asn" => String::new(),
            _ => format!(" AND {column} <> ''"),
        };
        format!(
            " UNION ALL SELECT '{kind}', NULL, NULL, count(DISTINCT email_key), NULL FROM \
             (SELECT email_key FROM sign_in_attempts WHERE {column} = {param}{present} AND at_us > $3 \
             AND outcome = 'failure' ORDER BY at_us DESC LIMIT {VELOCITY_SCAN}) {kind}"
        )
    };
    let mut sql = String::from(
        "SELECT 'v' AS kind, CAST(NULL AS TEXT) AS k, CAST(NULL AS TEXT) AS x, \
         CAST(version AS BIGINT) AS a, CAST(NULL AS BIGINT) AS b FROM settings WHERE key = $1",
    );
    sql.push_str(&velocity("vi", "ip", "$2"));
    sql.push_str(&velocity("vn", "network", "$4"));
    sql.push_str(&velocity("vu", "user_agent", "$5"));
    sql.push_str(&velocity("va", "asn", "$7"));
    sql.push_str(
        " UNION ALL SELECT 'b', network, reason, expires_us, NULL FROM ip_blocks WHERE expires_us > $6",
    );
    if account {
        sql.push_str(&format!(
            " UNION ALL SELECT 'd', device, NULL, last_us, trusted_us FROM (SELECT device, last_us, \
             trusted_us FROM risk_devices WHERE customer_id = $8 ORDER BY last_us DESC LIMIT {KNOWN_SCAN}) d \
             UNION ALL SELECT 'n', network, country, last_us, trusted_us FROM (SELECT network, country, \
             last_us, trusted_us FROM risk_networks WHERE customer_id = $8 ORDER BY last_us DESC LIMIT {KNOWN_SCAN}) n \
             UNION ALL SELECT 's', ip, NULL, at_us, NULL FROM (SELECT ip, at_us FROM sign_in_attempts \
             WHERE customer_id = $8 AND outcome = 'success' ORDER BY at_us DESC LIMIT 1) s \
             UNION ALL SELECT 'f', NULL, NULL, count(*), NULL FROM sign_in_attempts \
             WHERE email_key = $9 AND email_key <> '' AND at_us > $10 AND outcome = 'failure'"
        ));
    }
    sql
}

/// One row of [`scoring_sql`].
struct Read {
    kind: String,
    key: Option<String>,
    detail: Option<String>,
    a: Option<i64>,
    b: Option<i64>,
}

impl Engine {
    /// The risk policy in force, read again only when its stored version changed (it is
    /// parsed once per version, not on every attempt).
    fn cached_policy(&self) -> Option<Arc<RiskPolicy>> {
        self.risk_policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// What [`scoring_sql`] reads, under the velocity window of `velocity_minutes`.
    async fn scoring_reads(
        &self,
        tx: &mut Tx,
        a: &Attempt<'_>,
        (ip, ua, network, asn): (&str, &str, &str, Option<u32>),
        velocity_minutes: u32,
    ) -> Result<Vec<Read>> {
        let now = self.now();
        let sql = scoring_sql(a.customer.is_some());
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(policy::KEY)
            .bind(ip)
            .bind(to_us(now - Duration::minutes(velocity_minutes.into())))
            .bind(network)
            .bind(ua)
            .bind(to_us(now))
            .bind(asn.map(i64::from));
        if let Some(customer) = a.customer {
            q = q
                .bind(customer.to_string())
                .bind(a.email_key)
                .bind(to_us(now - Duration::hours(1)));
        }
        let rows = q.fetch_all(&mut **tx).await?;
        rows.iter()
            .map(|r| {
                Ok(Read {
                    kind: r.try_get("kind")?,
                    key: r.try_get("k")?,
                    detail: r.try_get("x")?,
                    a: r.try_get("a")?,
                    b: r.try_get("b")?,
                })
            })
            .collect()
    }

    /// Score an attempt (in `tx`, before it is recorded): one round trip to the store, and
    /// a second only when the policy changed since the last attempt.
    pub(crate) async fn assess(&self, tx: &mut Tx, a: &Attempt<'_>) -> Result<Assessment> {
        let now = self.now();
        let (ip, ua) = a.ctx.bounded();
        let network = network_key(&ip);
        let geoip = self.geoip();
        let place = geoip.as_ref().map(|g| g.locate(&ip)).unwrap_or_default();
        let mut cached = self.cached_policy();
        let mut window = cached
            .as_ref()
            .map_or(RiskPolicy::default().limits.velocity_minutes, |p| {
                p.limits.velocity_minutes
            });
        let mut reads;
        let policy = loop {
            reads = self
                .scoring_reads(tx, a, (&ip, &ua, &network, place.asn), window)
                .await?;
            let version = reads
                .iter()
                .find(|r| r.kind == "v")
                .and_then(|r| r.a)
                .unwrap_or(0);
            match cached.take() {
                Some(p) if p.version == version && p.limits.velocity_minutes == window => break p,
                _ => {
                    let fresh = Arc::new(policy::load(&mut **tx).await?);
                    *self
                        .risk_policy
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh.clone());
                    if fresh.limits.velocity_minutes == window {
                        break fresh;
                    }
                    window = fresh.limits.velocity_minutes;
                    cached = Some(fresh);
                }
            }
        };
        let limits = &policy.limits;
        let device = device_key(a.ctx, &network);
        let label = device_label(&ua);
        let history_from = to_us(now - Duration::days(limits.history_days.into()));
        let mut h = History {
            account: a.customer.is_some(),
            geoip: geoip.is_some(),
            network_known: network.is_empty(),
            ..History::default()
        };
        let addr = ip.parse::<IpAddr>().ok().map(|a| a.to_canonical());
        let mut blocked = None;
        let mut countries = std::collections::BTreeSet::new();
        let tally = |r: &Read| u32::try_from(r.a.unwrap_or(0)).unwrap_or(u32::MAX);
        for r in &reads {
            // Known: signed in from within the history window, or trusted by an analyst.
            let known = r.a.is_some_and(|last| last > history_from) || r.b.is_some();
            let key = r.key.as_deref().unwrap_or_default();
            match r.kind.as_str() {
                "vi" if !network.is_empty() => h.accounts_from_ip = tally(r),
                "vn" if !network.is_empty() => h.accounts_from_network = tally(r),
                "vu" if !ua.is_empty() => h.accounts_failed_by_user_agent = tally(r),
                "va" => h.accounts_from_asn = tally(r),
                "f" => h.account_failures = tally(r),
                "b" if blocked.is_none() && addr.is_some_and(|ad| in_network(&ad, key)) => {
                    blocked = Some((key.to_owned(), r.detail.clone().unwrap_or_default()));
                }
                "d" if known => {
                    h.devices_seen += 1;
                    h.device_known |= key == device;
                }
                "n" if known => {
                    h.networks_seen += 1;
                    h.network_known |= key == network;
                    if let Some(c) = r.detail.as_ref().filter(|_| r.a > Some(history_from)) {
                        countries.insert(c.clone());
                    }
                }
                "s" => {
                    let there = geoip.as_ref().map(|g| g.locate(key)).unwrap_or_default();
                    h.last_success = Some(LastSuccess {
                        at: from_us(r.a.unwrap_or_default()),
                        coordinates: there.coordinates,
                        country: there.country,
                    });
                }
                _ => {}
            }
        }
        h.countries_seen = countries.into_iter().collect();
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
            asn: place.asn,
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
            asn: place.asn,
        })
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
        let Some(email) = crate::accounts::record::email_of(&mut **tx, customer).await? else {
            return Ok(());
        };
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
             device, network, country, score, decision, enforced, signals, policy_version, review, asn) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING seq",
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
        .bind(a.asn.map(i64::from))
        .fetch_one(&mut **tx)
        .await?;
        crate::analytics::record(
            tx,
            self.now(),
            &crate::analytics::Event {
                kind: crate::analytics::kind::ATTEMPT,
                customer,
                client: ctx.client.as_deref().unwrap_or(""),
                method,
                outcome,
                reason,
                country: a.country.as_deref().unwrap_or(""),
                decision: a.decision.name(),
                ..Default::default()
            },
        )
        .await?;
        Ok(seq)
    }
}
