//! Address blocks: an address or range refused for a while, by an analyst (with a reason) or
//! by the throttle when one address or /24 keeps failing. A block is a risk signal (weight 100
//! by default: denied) rather than a wall in front of the engine, so the policy, audit-only
//! mode and the replay see it like every other reason.

use crate::Engine;
use crate::accounts::normalize;
use crate::clock::new_id;
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use std::net::IpAddr;
use uuid::Uuid;

/// The longest block staff can set: 30 days.
pub const MAX_BLOCK_HOURS: u32 = 720;

/// A block in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IpBlock {
    pub id: Uuid,
    /// "203.0.113.0/24", "2001:db8::/48", or one address.
    pub network: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `staff:<id>` or `system` (the throttle).
    pub created_by: String,
}

/// The canonical form of an address or range staff typed, or why it cannot be blocked.
/// Ranges wider than /16 (IPv4) or /32 (IPv6) would refuse whole providers and are refused.
pub fn parse_network(input: &str) -> Result<String> {
    let s = input.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(ip.to_canonical().to_string());
    }
    let net = s.parse::<ipnet::IpNet>().map_err(|_| {
        Error::invalid(
            "network",
            "give an address (203.0.113.9) or a range (203.0.113.0/24)",
        )
    })?;
    let too_wide = match net {
        ipnet::IpNet::V4(n) => n.prefix_len() < 16,
        ipnet::IpNet::V6(n) => n.prefix_len() < 32,
    };
    if too_wide {
        return Err(Error::invalid(
            "network",
            "ranges wider than /16 (IPv4) or /32 (IPv6) would block whole providers",
        ));
    }
    Ok(net.trunc().to_string())
}

/// A block's length, 1 hour to [`MAX_BLOCK_HOURS`].
pub(crate) fn check_hours(hours: u32) -> Result<()> {
    if (1..=MAX_BLOCK_HOURS).contains(&hours) {
        Ok(())
    } else {
        Err(Error::invalid(
            "hours",
            "a block lasts from 1 hour to 30 days (720 hours)",
        ))
    }
}

fn row_to_block(r: &sqlx::any::AnyRow) -> Result<IpBlock> {
    Ok(IpBlock {
        id: Uuid::parse_str(&r.try_get::<String, _>("id")?)
            .map_err(|e| Error::Internal(e.to_string()))?,
        network: r.try_get("network")?,
        reason: r.try_get("reason")?,
        created_at: from_us(r.try_get("created_us")?),
        expires_at: from_us(r.try_get("expires_us")?),
        created_by: r.try_get("created_by")?,
    })
}

impl Engine {
    /// Block an address or range for `hours` (1 to 720), with the reason staff give.
    /// Security and admin staff; audited.
    pub async fn block_network(
        &self,
        staff: &Staff,
        network: &str,
        reason: &str,
        hours: u32,
    ) -> Result<IpBlock> {
        staff.require(Permission::ReviewRisk)?;
        let network = parse_network(network)?;
        let reason = normalize::text("reason", reason, 200)?;
        if reason.is_empty() {
            return Err(Error::invalid(
                "reason",
                "say why the addresses are blocked",
            ));
        }
        check_hours(hours)?;
        let mut tx = self.store.begin().await?;
        let block = self
            .insert_block(&mut tx, &network, &reason, hours, &staff.actor())
            .await?;
        tx.commit().await?;
        Ok(block)
    }

    /// Block `network` for `hours` in `tx`, audited as `by` (`staff:<id>` or `system`).
    pub(crate) async fn insert_block(
        &self,
        tx: &mut Tx,
        network: &str,
        reason: &str,
        hours: u32,
        by: &str,
    ) -> Result<IpBlock> {
        let lasting = Duration::hours(hours.into());
        let now = self.now();
        let block = IpBlock {
            id: new_id(now, self.entropy.as_ref()),
            network: network.to_owned(),
            reason: reason.to_owned(),
            created_at: now,
            expires_at: now + lasting,
            created_by: by.to_owned(),
        };
        sqlx::query(
            "INSERT INTO ip_blocks (id, network, reason, created_us, expires_us, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(block.id.to_string())
        .bind(&block.network)
        .bind(&block.reason)
        .bind(to_us(block.created_at))
        .bind(to_us(block.expires_at))
        .bind(&block.created_by)
        .execute(&mut **tx)
        .await?;
        self.audit(
            tx,
            by,
            "risk.network_blocked",
            &format!("network:{network}"),
            Some(reason),
            json!({"network": network, "hours": hours}),
        )
        .await?;
        Ok(block)
    }

    /// The blocks in force, newest first (security and admin staff).
    pub async fn ip_blocks(&self, staff: &Staff) -> Result<Vec<IpBlock>> {
        staff.require(Permission::ReviewRisk)?;
        let rows = sqlx::query(
            "SELECT id, network, reason, created_us, expires_us, created_by FROM ip_blocks \
             WHERE expires_us > $1 ORDER BY created_us DESC LIMIT 1000",
        )
        .bind(to_us(self.now()))
        .fetch_all(self.store.reader())
        .await?;
        rows.iter().map(row_to_block).collect()
    }

    /// End a block now (security and admin staff; audited). An unknown or ended block is
    /// `NotFound`.
    pub async fn unblock_network(&self, staff: &Staff, id: Uuid) -> Result<()> {
        staff.require(Permission::ReviewRisk)?;
        let now = to_us(self.now());
        let mut tx = self.store.begin().await?;
        let network: Option<String> = sqlx::query_scalar(
            "UPDATE ip_blocks SET expires_us = $1 WHERE id = $2 AND expires_us > $1 RETURNING network",
        )
        .bind(now)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let network = network.ok_or(Error::NotFound("block"))?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "risk.network_unblocked",
            &format!("network:{network}"),
            None,
            json!({"network": network}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A block of exactly this (canonical) address or range is in force.
    pub(crate) async fn blocked_exactly(&self, tx: &mut Tx, network: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ip_blocks WHERE network = $1 AND expires_us > $2",
        )
        .bind(network)
        .bind(to_us(self.now()))
        .fetch_one(&mut **tx)
        .await?;
        Ok(n > 0)
    }
}
