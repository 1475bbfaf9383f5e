//! The security analysts' review queue: sign-ins that were challenged, denied or scored at or
//! above the policy's review threshold, riskiest and newest first, filtered by signal,
//! country, address or network, time and decision. An analyst assigns items, and decides
//! them — one or a whole wave at once: **legitimate** trusts that device and network for the
//! customer (their next sign-in from it is not challenged for them; the replay shows the
//! feedback), **fraud** can lock the accounts, revoke their sessions, force a password reset
//! and block the address or range for a while. Every decision is audited per item.

use super::blocks::{check_hours, parse_network};
use super::policy::{Decision, SignalKind};
use crate::Engine;
use crate::accounts::normalize;
use crate::accounts::record::{CustomerStatus, SignInAttempt, load};
use crate::accounts::support::{ATTEMPT_COLUMNS, row_to_attempt};
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::time::{from_us, to_us};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

/// Items named one by one in one decision at most.
pub const MAX_BULK: usize = 500;

/// Items of one wave decided in one go at most.
pub const MAX_WAVE: i64 = 10_000;

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    #[default]
    Open,
    Legitimate,
    Fraud,
}

impl ReviewStatus {
    fn name(self) -> &'static str {
        match self {
            ReviewStatus::Open => "open",
            ReviewStatus::Legitimate => "legitimate",
            ReviewStatus::Fraud => "fraud",
        }
    }

    fn parse(s: &str) -> ReviewStatus {
        match s {
            "legitimate" => ReviewStatus::Legitimate,
            "fraud" => ReviewStatus::Fraud,
            _ => ReviewStatus::Open,
        }
    }
}

/// One sign-in in the queue.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewItem {
    pub attempt: SignInAttempt,
    pub status: ReviewStatus,
    /// The analyst it is assigned to.
    pub assignee: Option<Uuid>,
    pub note: String,
    /// Who decided it (`staff:<id>`) and when.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// What to list. Every field is optional; without a status, the open items.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ReviewFilter {
    #[serde(default)]
    pub status: Option<ReviewStatus>,
    /// Items where this signal triggered.
    #[serde(default)]
    pub signal: Option<SignalKind>,
    /// Two-letter country code (GeoIP).
    #[serde(default)]
    pub country: Option<String>,
    /// One address, or the /24 (/48) an attempt's address is counted under.
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub decision: Option<Decision>,
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// At most this many (1–500; 100 when not given).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// A legitimate or fraud decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Legitimate,
    Fraud,
}

/// A range to block with a fraud decision.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    pub network: String,
    pub hours: u32,
}

/// A decision on one or more items (a whole wave at once).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// The attempts' `seq`s (up to 500).
    #[serde(default)]
    pub attempts: Vec<i64>,
    /// A whole wave: every open item from this address or /24 (IPv6: /48), up to 10,000.
    #[serde(default)]
    pub wave: Option<String>,
    pub verdict: Verdict,
    /// Fraud: lock the accounts (which also ends their sessions).
    #[serde(default)]
    pub lock: bool,
    /// Fraud: end the accounts' sessions.
    #[serde(default)]
    pub revoke_sessions: bool,
    /// Fraud: the password stops working; the customer is emailed a reset link.
    #[serde(default)]
    pub force_reset: bool,
    /// Fraud: block this address or range for a while.
    #[serde(default)]
    pub block: Option<BlockRequest>,
    #[serde(default)]
    pub note: String,
}

/// What a decision did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewOutcome {
    pub decided: u32,
    pub accounts_locked: u32,
    pub sessions_revoked: u32,
    pub passwords_reset: u32,
    /// Devices and networks now trusted for their customers.
    pub trusted: u32,
    pub blocked: Option<String>,
}

fn row_to_item(r: &sqlx::any::AnyRow) -> Result<ReviewItem> {
    Ok(ReviewItem {
        attempt: row_to_attempt(r)?,
        status: ReviewStatus::parse(
            &r.try_get::<Option<String>, _>("r_status")?
                .unwrap_or_default(),
        ),
        assignee: r
            .try_get::<Option<String>, _>("r_assignee")?
            .and_then(|s| Uuid::parse_str(&s).ok()),
        note: r
            .try_get::<Option<String>, _>("r_note")?
            .unwrap_or_default(),
        decided_by: r.try_get("r_decided_by")?,
        decided_at: r.try_get::<Option<i64>, _>("r_decided_us")?.map(from_us),
    })
}

impl Engine {
    /// The review queue (security and admin staff): riskiest, then newest first.
    pub async fn review_queue(&self, staff: &Staff, f: &ReviewFilter) -> Result<Vec<ReviewItem>> {
        staff.require(Permission::ReviewRisk)?;
        let mut clauses = vec!["a.review = 1".to_owned()];
        let mut binds: Vec<String> = vec![];
        let mut times: Vec<i64> = vec![];
        let param = |bound: usize| format!("${}", bound + 1);
        let status = f.status.unwrap_or_default();
        if status == ReviewStatus::Open {
            clauses.push("(r.status IS NULL OR r.status = 'open')".into());
        } else {
            clauses.push(format!("r.status = '{}'", status.name()));
        }
        if let Some(d) = f.decision {
            clauses.push(format!("a.decision = '{}'", d.name()));
        }
        if let Some(k) = f.signal {
            // Names are the enum's own: safe to inline.
            clauses.push(format!("a.signals LIKE '%\"signal\":\"{}\"%'", k.name()));
        }
        if let Some(c) = f
            .country
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                return Err(Error::invalid(
                    "country",
                    "a two-letter country code, like DE",
                ));
            }
            clauses.push(format!("a.country = {}", param(binds.len())));
            binds.push(c.to_ascii_uppercase());
        }
        if let Some(n) = f
            .network
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let (column, canon) = wave_column(n).map_err(|_| {
                Error::invalid("network", "filter by one address or by a /24 (IPv6: /48)")
            })?;
            clauses.push(format!("a.{column} = {}", param(binds.len())));
            binds.push(canon);
        }
        for (bound, op) in [(f.since, ">="), (f.until, "<")] {
            if let Some(t) = bound {
                clauses.push(format!("a.at_us {op} {}", param(binds.len() + times.len())));
                times.push(to_us(t));
            }
        }
        let limit = f.limit.unwrap_or(100).clamp(1, 500);
        let columns: Vec<String> = ATTEMPT_COLUMNS
            .split(", ")
            .map(|c| format!("a.{}", c.trim()))
            .collect();
        let sql = format!(
            "SELECT {}, r.status AS r_status, r.assignee AS r_assignee, r.note AS r_note, \
             r.decided_by AS r_decided_by, r.decided_us AS r_decided_us \
             FROM sign_in_attempts a LEFT JOIN risk_reviews r ON r.attempt_seq = a.seq \
             WHERE {} ORDER BY a.score DESC, a.at_us DESC, a.seq DESC LIMIT {limit}",
            columns.join(", "),
            clauses.join(" AND ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b);
        }
        for t in &times {
            q = q.bind(*t);
        }
        let rows = q.fetch_all(self.store.reader()).await?;
        rows.iter().map(row_to_item).collect()
    }

    /// Assign items to an analyst (or to nobody), with an optional note (audited).
    pub async fn assign_reviews(
        &self,
        staff: &Staff,
        attempts: &[i64],
        assignee: Option<Uuid>,
        note: &str,
    ) -> Result<()> {
        staff.require(Permission::ReviewRisk)?;
        check_bulk(attempts)?;
        let note = normalize::text("note", note, 2000)?;
        let mut tx = self.store.begin().await?;
        if let Some(a) = assignee {
            let ok: i64 = sqlx::query_scalar("SELECT count(*) FROM staff WHERE id = $1")
                .bind(a.to_string())
                .fetch_one(&mut *tx)
                .await?;
            if ok == 0 {
                return Err(Error::invalid("assignee", "no such staff member"));
            }
        }
        for seq in attempts {
            self.review_target(&mut tx, *seq).await?;
            sqlx::query(
                "INSERT INTO risk_reviews (attempt_seq, status, assignee, note) VALUES ($1, 'open', $2, $3) \
                 ON CONFLICT (attempt_seq) DO UPDATE SET assignee = excluded.assignee, \
                 note = CASE WHEN excluded.note = '' THEN risk_reviews.note ELSE excluded.note END",
            )
            .bind(*seq)
            .bind(assignee.map(|a| a.to_string()))
            .bind(&note)
            .execute(&mut *tx)
            .await?;
            self.audit(
                &mut tx,
                &staff.actor(),
                "risk.review_assigned",
                &format!("attempt:{seq}"),
                (!note.is_empty()).then_some(note.as_str()),
                json!({"assignee": assignee}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Decide items (security and admin staff): all of them in one transaction, each
    /// audited. Fraud actions on an account happen once however many of its items are named.
    pub async fn decide_reviews(&self, staff: &Staff, d: &ReviewDecision) -> Result<ReviewOutcome> {
        staff.require(Permission::ReviewRisk)?;
        if d.wave.is_none() || !d.attempts.is_empty() {
            check_bulk(&d.attempts)?;
        }
        let note = normalize::text("note", &d.note, 2000)?;
        let fraud = d.verdict == Verdict::Fraud;
        if !fraud && (d.lock || d.revoke_sessions || d.force_reset || d.block.is_some()) {
            return Err(Error::invalid(
                "verdict",
                "locking, revoking, resetting and blocking go with a fraud decision",
            ));
        }
        if d.lock {
            staff.require(Permission::LockCustomers)?;
        }
        let block = match &d.block {
            Some(b) => {
                check_hours(b.hours)?;
                Some((parse_network(&b.network)?, b.hours))
            }
            None => None,
        };
        let now = self.now();
        let mut out = ReviewOutcome::default();
        let mut tx = self.store.begin().await?;
        let mut items = d.attempts.clone();
        if let Some(w) = &d.wave {
            let (column, value) = wave_column(w)?;
            let wave: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(wave_sql(column)))
                .bind(&value)
                .fetch_all(&mut *tx)
                .await?;
            if wave.is_empty() {
                return Err(Error::invalid("wave", "no open items come from there"));
            }
            items.extend(wave.into_iter().filter(|s| !d.attempts.contains(s)));
        }
        let mut done: Vec<Uuid> = vec![];
        for seq in &items {
            let (customer, device, network, country) = self.review_target(&mut tx, *seq).await?;
            let mut actions = json!({});
            if let Some(c) = customer {
                if !fraud {
                    // Trust what the customer signed in from (inserting it if it never
                    // reached a session).
                    sqlx::query(
                        "INSERT INTO risk_devices (customer_id, device, label, first_us, last_us, trusted_us) \
                         VALUES ($1, $2, '', $3, $3, $3) ON CONFLICT (customer_id, device) DO UPDATE SET trusted_us = $3",
                    )
                    .bind(c.to_string())
                    .bind(&device)
                    .bind(to_us(now))
                    .execute(&mut *tx)
                    .await?;
                    if !network.is_empty() {
                        sqlx::query(
                            "INSERT INTO risk_networks (customer_id, network, country, first_us, last_us, trusted_us) \
                             VALUES ($1, $2, $3, $4, $4, $4) ON CONFLICT (customer_id, network) DO UPDATE SET trusted_us = $4",
                        )
                        .bind(c.to_string())
                        .bind(&network)
                        .bind(&country)
                        .bind(to_us(now))
                        .execute(&mut *tx)
                        .await?;
                    }
                    out.trusted += 1;
                    actions = json!({"trusted": true});
                } else if !done.contains(&c) {
                    done.push(c);
                    let before = load(&mut tx, c).await?;
                    if d.lock && before.status == CustomerStatus::Active {
                        self.bump_customer(&mut tx, c, before.version, now, "status = $4", |q| {
                            q.bind(CustomerStatus::Locked.as_str())
                        })
                        .await?;
                        out.accounts_locked += 1;
                    }
                    if d.force_reset && before.status != CustomerStatus::Erased {
                        sqlx::query("UPDATE customers SET password_hash = NULL, version = version + 1 WHERE id = $1")
                            .bind(c.to_string())
                            .execute(&mut *tx)
                            .await?;
                        self.send_reset(&mut tx, &before).await?;
                        out.passwords_reset += 1;
                    }
                    if d.lock || d.revoke_sessions || d.force_reset {
                        out.sessions_revoked +=
                            u32::try_from(self.revoke_all_sessions_tx(&mut tx, c, None).await?)
                                .unwrap_or(u32::MAX);
                    }
                    actions = json!({"lock": d.lock, "revoke_sessions": d.revoke_sessions, "force_reset": d.force_reset});
                }
            }
            sqlx::query(
                "INSERT INTO risk_reviews (attempt_seq, status, note, decided_by, decided_us, actions) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (attempt_seq) DO UPDATE SET status = excluded.status, \
                 note = CASE WHEN excluded.note = '' THEN risk_reviews.note ELSE excluded.note END, \
                 decided_by = excluded.decided_by, decided_us = excluded.decided_us, actions = excluded.actions",
            )
            .bind(*seq)
            .bind(if fraud { "fraud" } else { "legitimate" })
            .bind(&note)
            .bind(staff.actor())
            .bind(to_us(now))
            .bind(actions.to_string())
            .execute(&mut *tx)
            .await?;
            self.audit(
                &mut tx,
                &staff.actor(),
                if fraud {
                    "risk.review_fraud"
                } else {
                    "risk.review_legitimate"
                },
                &format!("attempt:{seq}"),
                (!note.is_empty()).then_some(note.as_str()),
                json!({"customer": customer, "actions": actions}),
            )
            .await?;
            out.decided += 1;
        }
        if let Some((network, hours)) = block {
            let why = if note.is_empty() {
                "fraud decision in the review queue".to_owned()
            } else {
                note.clone()
            };
            self.insert_block(&mut tx, &network, &why, hours, &staff.actor())
                .await?;
            out.blocked = Some(network);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// An attempt in the queue: its customer, device, network and country.
    async fn review_target(
        &self,
        tx: &mut crate::storage::Tx,
        seq: i64,
    ) -> Result<(Option<Uuid>, String, String, Option<String>)> {
        let row = sqlx::query(
            "SELECT customer_id, device, network, country FROM sign_in_attempts WHERE seq = $1 AND review = 1",
        )
        .bind(seq)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("review item"))?;
        Ok((
            row.try_get::<Option<String>, _>("customer_id")?
                .and_then(|s| Uuid::parse_str(&s).ok()),
            row.try_get("device")?,
            row.try_get("network")?,
            row.try_get("country")?,
        ))
    }
}

/// The column and value that select the attempts of one address (`ip`) or of one /24 or /48
/// (`network`).
/// The open items from one address or network (`column` = $1), oldest first.
pub(crate) fn wave_sql(column: &str) -> String {
    format!(
        "SELECT a.seq FROM sign_in_attempts a LEFT JOIN risk_reviews r ON r.attempt_seq = a.seq \
         WHERE a.review = 1 AND a.{column} = $1 AND a.{column} <> '' \
         AND (r.status IS NULL OR r.status = 'open') ORDER BY a.seq LIMIT {MAX_WAVE}"
    )
}

fn wave_column(input: &str) -> Result<(&'static str, String)> {
    let canon = parse_network(input.trim())?;
    if !canon.contains('/') {
        return Ok(("ip", canon));
    }
    if canon != super::geo::network_of(canon.split('/').next().unwrap_or_default()) {
        return Err(Error::invalid(
            "wave",
            "name one address or a /24 (IPv6: /48)",
        ));
    }
    Ok(("network", canon))
}

fn check_bulk(attempts: &[i64]) -> Result<()> {
    if attempts.is_empty() || attempts.len() > MAX_BULK {
        return Err(Error::invalid(
            "attempts",
            "name from 1 to 500 items of the queue",
        ));
    }
    Ok(())
}
