//! The attack overview the analysts watch: failed and successful sign-ins per interval over
//! a window ending now, the addresses and ranges failing most, and the accounts failing
//! most — what is being attacked right now, and from where. Read-only, from the recorded
//! attempts; the console asks again every few seconds while the screen is open.

use super::assess::in_network;
use crate::Engine;
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::time::{from_us, to_us};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;
use std::net::IpAddr;
use uuid::Uuid;

/// The windows the overview covers, in minutes (an hour, a day, a week).
pub const WINDOWS: [u32; 3] = [60, 1440, 10_080];

/// The length of one interval for each window: a minute, a quarter of an hour, two hours.
fn bucket_of(window_minutes: u32) -> u32 {
    match window_minutes {
        60 => 1,
        1440 => 15,
        _ => 120,
    }
}

/// Rows in each top list.
const TOP: i64 = 10;

/// One address or range in the top lists.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttackSource {
    /// An address, or a /24 (/48) range.
    pub source: String,
    pub failures: u32,
    /// Distinct addresses (accounts or not) tried from it.
    pub accounts: u32,
    pub last_at: DateTime<Utc>,
    /// A block in force covers it.
    pub blocked: bool,
}

/// One account in the "under attack" list.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetedAccount {
    pub customer_id: Uuid,
    pub email: String,
    pub failures: u32,
    /// Distinct addresses the failures came from.
    pub sources: u32,
    pub last_at: DateTime<Utc>,
}

/// Sign-in activity over a window ending now.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttackOverview {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub window_minutes: u32,
    /// The length of one interval of `failures` and `successes`.
    pub bucket_minutes: u32,
    /// Failed sign-ins per interval, oldest first.
    pub failures: Vec<u32>,
    /// Successful sign-ins per interval, oldest first.
    pub successes: Vec<u32>,
    pub failed_total: u64,
    pub succeeded_total: u64,
    /// Attempts the policy challenged or denied in the window.
    pub challenged_or_denied: u64,
    pub top_ips: Vec<AttackSource>,
    pub top_networks: Vec<AttackSource>,
    /// Accounts with at least three failures in the window, most first.
    pub targeted_accounts: Vec<TargetedAccount>,
    /// Blocks in force now.
    pub active_blocks: u32,
}

fn num(r: &sqlx::any::AnyRow, column: &str) -> Result<u32> {
    Ok(u32::try_from(r.try_get::<Option<i64>, _>(column)?.unwrap_or(0)).unwrap_or(u32::MAX))
}

impl Engine {
    /// What is failing, from where, over the last `window_minutes` (60, 1440 or 10080) —
    /// security and admin staff.
    pub async fn attack_overview(
        &self,
        staff: &Staff,
        window_minutes: u32,
    ) -> Result<AttackOverview> {
        staff.require(Permission::ReviewRisk)?;
        if !WINDOWS.contains(&window_minutes) {
            return Err(Error::invalid(
                "window_minutes",
                "the overview covers 60 minutes, 1440 (a day) or 10080 (a week)",
            ));
        }
        let until = self.now();
        let since = until - Duration::minutes(window_minutes.into());
        let bucket_minutes = bucket_of(window_minutes);
        let buckets = (window_minutes / bucket_minutes) as usize;
        let bucket_us = i64::from(bucket_minutes) * 60_000_000;
        let from = to_us(since);
        let db = self.store.reader();

        let mut failures = vec![0u32; buckets];
        let mut successes = vec![0u32; buckets];
        let rows = sqlx::query(
            "SELECT b, \
             sum(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failed, \
             sum(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) AS succeeded, \
             sum(CASE WHEN decision IN ('challenge', 'deny') THEN 1 ELSE 0 END) AS stopped \
             FROM (SELECT (at_us - $1) / $2 AS b, outcome, decision FROM sign_in_attempts \
             WHERE at_us >= $1) t GROUP BY b",
        )
        .bind(from)
        .bind(bucket_us)
        .fetch_all(db)
        .await?;
        let (mut failed_total, mut succeeded_total, mut challenged_or_denied) = (0u64, 0u64, 0u64);
        for r in &rows {
            let b = usize::try_from(r.try_get::<i64, _>("b")?).unwrap_or(usize::MAX);
            let (f, s) = (num(r, "failed")?, num(r, "succeeded")?);
            failed_total += u64::from(f);
            succeeded_total += u64::from(s);
            challenged_or_denied += u64::from(num(r, "stopped")?);
            if let (Some(fb), Some(sb)) = (failures.get_mut(b), successes.get_mut(b)) {
                *fb += f;
                *sb += s;
            }
        }

        let blocks: Vec<String> =
            sqlx::query_scalar("SELECT network FROM ip_blocks WHERE expires_us > $1")
                .bind(to_us(until))
                .fetch_all(db)
                .await?;
        let blocked = |source: &str| {
            let first = source.split('/').next().unwrap_or_default();
            first
                .parse::<IpAddr>()
                .is_ok_and(|ip| blocks.iter().any(|b| in_network(&ip.to_canonical(), b)))
        };
        let top = |column: &'static str| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {column} AS source, count(*) AS failures, count(DISTINCT email_key) AS accounts, \
                 max(at_us) AS last_us FROM sign_in_attempts \
                 WHERE at_us >= $1 AND outcome = 'failure' AND {column} <> '' \
                 GROUP BY {column} ORDER BY count(*) DESC, {column} LIMIT {TOP}"
            )))
            .bind(from)
            .fetch_all(db)
        };
        let ip_rows = top("ip").await?;
        let network_rows = top("network").await?;
        let sources = |rows: &[sqlx::any::AnyRow]| -> Result<Vec<AttackSource>> {
            rows.iter()
                .map(|r| {
                    let source: String = r.try_get("source")?;
                    Ok(AttackSource {
                        blocked: blocked(&source),
                        source,
                        failures: num(r, "failures")?,
                        accounts: num(r, "accounts")?,
                        last_at: from_us(r.try_get("last_us")?),
                    })
                })
                .collect()
        };
        let top_ips = sources(&ip_rows)?;
        let top_networks = sources(&network_rows)?;

        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT a.customer_id AS id, c.email AS email, count(*) AS failures, \
             count(DISTINCT a.ip) AS sources, max(a.at_us) AS last_us \
             FROM sign_in_attempts a JOIN customers c ON c.id = a.customer_id \
             WHERE a.at_us >= $1 AND a.outcome = 'failure' \
             GROUP BY a.customer_id, c.email HAVING count(*) >= 3 \
             ORDER BY count(*) DESC, a.customer_id LIMIT {TOP}"
        )))
        .bind(from)
        .fetch_all(db)
        .await?;
        let targeted_accounts = rows
            .iter()
            .map(|r| {
                Ok(TargetedAccount {
                    customer_id: Uuid::parse_str(&r.try_get::<String, _>("id")?)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                    email: r.try_get("email")?,
                    failures: num(r, "failures")?,
                    sources: num(r, "sources")?,
                    last_at: from_us(r.try_get("last_us")?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AttackOverview {
            since,
            until,
            window_minutes,
            bucket_minutes,
            failures,
            successes,
            failed_total,
            succeeded_total,
            challenged_or_denied,
            top_ips,
            top_networks,
            targeted_accounts,
            active_blocks: u32::try_from(blocks.len()).unwrap_or(u32::MAX),
        })
    }
}
