//! Throttling that an attacker cannot turn against the customer. Failures on an account are
//! counted apart by where they come from:
//!
//! - from a device the customer has signed in from before, only that device's own failures
//!   count, against the familiar limit (`throttle_failures` in `throttle_window`), so a
//!   stranger failing on the account never holds the customer's own laptop up;
//! - from anywhere else, every failure counts: from the fifth in an hour each next attempt
//!   waits progressively longer (1 s, 2 s, 4 s … at most 30 s), and at most 100 failed
//!   attempts an hour are checked at all (NIST 800-63B's limit);
//! - and per address and per /24 (or /48): too many failures in ten minutes refuse that
//!   address for a while and block it for an hour automatically (the analysts see the block,
//!   and the risk signal denies what still comes from it).
//!
//! Unknown addresses are counted like accounts nobody has signed in to, so the answers do not
//! tell whether an account exists.

use super::assess::{device_key, network_key};
use crate::Engine;
use crate::accounts::sessions::RequestContext;
use crate::error::Result;
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::Duration;
use sqlx::Row;
use uuid::Uuid;

/// Failures from devices the customer has not used, within an hour, before each next attempt
/// waits.
pub const FREE_FAILURES: i64 = 4;
/// The longest wait between two attempts from unfamiliar devices.
pub const MAX_DELAY_SECONDS: i64 = 30;
/// Failed attempts from unfamiliar devices checked per account per hour.
pub const HOURLY_CAP: i64 = 100;
/// Failures from one address within [`ADDRESS_WINDOW_MINUTES`] before it is refused and
/// blocked for an hour.
pub const ADDRESS_FAILURES: i64 = 50;
/// The same for a whole /24 (or /48).
pub const NETWORK_FAILURES: i64 = 200;
pub const ADDRESS_WINDOW_MINUTES: i64 = 10;
/// How long an automatic block lasts.
pub const AUTO_BLOCK_HOURS: u32 = 1;

/// Why an attempt must wait, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wait {
    pub retry_after: Duration,
    /// An address or range that earned an automatic block, and why.
    pub block: Option<(String, String)>,
}

/// The wait after `n` failures from unfamiliar devices (none for the first few).
fn delay_after(n: i64) -> Duration {
    if n <= FREE_FAILURES {
        return Duration::zero();
    }
    let exp = u32::try_from(n - FREE_FAILURES - 1)
        .unwrap_or(u32::MAX)
        .min(10);
    Duration::seconds((1_i64 << exp).min(MAX_DELAY_SECONDS))
}

/// Recent failures from the address ($1) and its network ($3) since $2, each counted up to
/// its limit. Blank text is never looked up (`<> ''`: the partial indexes leave it out).
pub(crate) fn source_failures_sql() -> String {
    format!(
        "SELECT \
         (SELECT count(*) FROM (SELECT 1 FROM sign_in_attempts WHERE ip = $1 AND ip <> '' AND at_us > $2 \
           AND outcome = 'failure' AND reason <> 'throttled' LIMIT {ADDRESS_FAILURES}) i) AS by_ip, \
         (SELECT count(*) FROM (SELECT 1 FROM sign_in_attempts WHERE network = $3 AND network <> '' AND at_us > $2 \
           AND outcome = 'failure' AND reason <> 'throttled' LIMIT {NETWORK_FAILURES}) n) AS by_network"
    )
}

/// Failures on the address ($1) since $2 from a device ($3) the customer signed in from.
pub(crate) const FAMILIAR_FAILURES_SQL: &str = "SELECT count(*) FROM sign_in_attempts \
     WHERE email_key = $1 AND email_key <> '' AND at_us > $2 AND device = $3 \
     AND outcome = 'failure' AND reason <> 'throttled'";

/// Failures on the address ($1) since $2 from devices the customer has not signed in from.
pub(crate) const UNFAMILIAR_FAILURES_SQL: &str = "SELECT count(*) AS n, max(at_us) AS last FROM sign_in_attempts a \
     WHERE email_key = $1 AND email_key <> '' AND at_us > $2 AND outcome = 'failure' \
     AND reason <> 'throttled' \
     AND NOT EXISTS (SELECT 1 FROM risk_devices d WHERE d.customer_id = a.customer_id AND d.device = a.device)";

impl Engine {
    /// Whether an attempt on `email_key` (the account `customer`, if it exists) from `ctx`
    /// must wait. Reads only.
    pub(crate) async fn throttle_wait(
        &self,
        conn: &mut sqlx::AnyConnection,
        email_key: &str,
        customer: Option<Uuid>,
        ctx: &RequestContext,
    ) -> Result<Option<Wait>> {
        let now = self.now();
        let (ip, _) = ctx.bounded();
        let network = network_key(&ip);
        if !network.is_empty() {
            let since = to_us(now - Duration::minutes(ADDRESS_WINDOW_MINUTES));
            let row = sqlx::query(sqlx::AssertSqlSafe(source_failures_sql()))
                .bind(&ip)
                .bind(since)
                .bind(&network)
                .fetch_one(&mut *conn)
                .await?;
            let by_ip: i64 = row.try_get("by_ip")?;
            let by_network: i64 = row.try_get("by_network")?;
            let block = if by_ip >= ADDRESS_FAILURES {
                Some((ip.clone(), by_ip))
            } else if by_network >= NETWORK_FAILURES {
                Some((network.clone(), by_network))
            } else {
                None
            };
            if let Some((range, n)) = block {
                let range = super::blocks::parse_network(&range).unwrap_or(range);
                return Ok(Some(Wait {
                    retry_after: Duration::hours(AUTO_BLOCK_HOURS.into()),
                    block: Some((
                        range,
                        format!(
                            "automatic: {n} or more failed sign-ins in {ADDRESS_WINDOW_MINUTES} min"
                        ),
                    )),
                }));
            }
        }
        let device = device_key(ctx, &network);
        let familiar = match customer {
            Some(c) => {
                let known: i64 = sqlx::query_scalar(
                    "SELECT (SELECT count(*) FROM risk_devices WHERE customer_id = $1 AND device = $2) \
                     + (SELECT count(*) FROM risk_networks WHERE customer_id = $1 AND network = $3 AND network <> '')",
                )
                .bind(c.to_string())
                .bind(&device)
                .bind(&network)
                .fetch_one(&mut *conn)
                .await?;
                known > 0
            }
            None => false,
        };
        if familiar {
            let n: i64 = sqlx::query_scalar(FAMILIAR_FAILURES_SQL)
                .bind(email_key)
                .bind(to_us(now - self.config.throttle_window))
                .bind(&device)
                .fetch_one(&mut *conn)
                .await?;
            return Ok((n >= self.config.throttle_failures).then(|| Wait {
                retry_after: self.config.throttle_window,
                block: None,
            }));
        }
        // Failures from devices this customer has not signed in from (for an address with no
        // account: every failure).
        let row = sqlx::query(UNFAMILIAR_FAILURES_SQL)
            .bind(email_key)
            .bind(to_us(now - Duration::hours(1)))
            .fetch_one(&mut *conn)
            .await?;
        let n: i64 = row.try_get("n")?;
        if n >= HOURLY_CAP {
            return Ok(Some(Wait {
                retry_after: Duration::hours(1),
                block: None,
            }));
        }
        let last: Option<i64> = row.try_get("last")?;
        let waited = last.map_or(Duration::MAX, |l| now - from_us(l));
        let delay = delay_after(n);
        Ok((waited < delay).then(|| Wait {
            retry_after: delay - waited,
            block: None,
        }))
    }

    /// Refuse an attempt that must wait: recorded as throttled, an earned automatic block
    /// made (once), committed; the answer is `RateLimited` with when to try again.
    pub(crate) async fn refuse_throttled(
        &self,
        mut tx: Tx,
        wait: Wait,
        email_key: &str,
        customer: Option<Uuid>,
        method: &str,
        ctx: &RequestContext,
    ) -> Result<crate::error::Error> {
        if let Some((range, why)) = &wait.block
            && !self.blocked_exactly(&mut tx, range).await?
        {
            self.insert_block(&mut tx, range, why, AUTO_BLOCK_HOURS, "system")
                .await?;
        }
        self.record_attempt(&mut tx, email_key, customer, "throttled", method, ctx)
            .await?;
        tx.commit().await?;
        Ok(crate::error::Error::throttled(wait.retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_from_the_fifth_failure_to_at_most_thirty_seconds() {
        let waits: Vec<i64> = (0..=12).map(|n| delay_after(n).num_seconds()).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(delay_after(i64::MAX).num_seconds(), 30);
    }
}
