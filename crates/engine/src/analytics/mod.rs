//! Registration and sign-in analytics. This module owns the event table as analytics reads
//! it (`record`, called in the transaction of whatever happened), the incremental aggregator
//! that keeps the rollups current (`aggregate`: one pass at a time, its watermark advanced in
//! the transaction that counts), the distinct-customer sketches (`sketch`), and the figures
//! staff read (`figures`, behind [`Permission::ReadAnalytics`](crate::staff::Permission)).
//!
//! Events carry no personal data — kinds, codes, the customer's id — and erasure sets their
//! customer to NULL; the counts stay. A rebuild after an erasure can differ from the
//! incremental figures only in distinct-customer figures that included the erased customer.

pub mod aggregate;
pub mod figures;
pub mod sketch;

pub use figures::{
    ActivePoint, AnalyticsFilter, AnalyticsQuery, AnalyticsReport, Breakdown, FunnelCohort,
    Granularity, Kpis, OptInRate, Series,
};

use crate::error::Result;
use crate::storage::Tx;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The kinds of event the engine records.
pub mod kind {
    pub const REGISTERED: &str = "registered";
    pub const VERIFIED: &str = "verified";
    /// A sign-in attempt (every step: password, code, passkey, …) with its outcome.
    pub const ATTEMPT: &str = "attempt";
    /// A completed sign-in: a session was made.
    pub const SESSION: &str = "session";
    /// A second factor (TOTP) confirmed or a passkey added.
    pub const FACTOR_ADDED: &str = "factor_added";
    /// A consent answer (granted or withdrawn).
    pub const CONSENT: &str = "consent";
}

/// One event as a flow describes it; the customer's tier and whether they have a second
/// factor or a passkey are read by the insert itself.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Event<'a> {
    pub kind: &'a str,
    pub customer: Option<Uuid>,
    pub client: &'a str,
    pub method: &'a str,
    pub outcome: &'a str,
    pub reason: &'a str,
    pub country: &'a str,
    pub decision: &'a str,
    pub purpose: &'a str,
}

/// Record an event in the caller's transaction: one insert, no read-modify-write of a shared
/// row, so concurrent sign-ins on several server instances never wait for each other here.
pub(crate) async fn record(tx: &mut Tx, at: DateTime<Utc>, e: &Event<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (at_us, kind, customer_id, client, method, outcome, reason, country, decision, purpose, tier, mfa, passkey) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         COALESCE((SELECT tier FROM customers WHERE id = $3), ''), \
         COALESCE((SELECT mfa_enabled FROM customers WHERE id = $3), 0), \
         CASE WHEN EXISTS (SELECT 1 FROM passkeys WHERE customer_id = $3) THEN 1 ELSE 0 END",
    )
    .bind(crate::time::to_us(at))
    .bind(e.kind)
    .bind(e.customer.map(|c| c.to_string()))
    .bind(bounded(e.client))
    .bind(e.method)
    .bind(e.outcome)
    .bind(e.reason)
    .bind(e.country)
    .bind(e.decision)
    .bind(e.purpose)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The customer's address was confirmed for the first time (`how`: link, code, reset,
/// staff, email_sign_in, social).
pub(crate) async fn verified(
    tx: &mut Tx,
    at: DateTime<Utc>,
    customer: Uuid,
    how: &str,
) -> Result<()> {
    record(
        tx,
        at,
        &Event {
            kind: kind::VERIFIED,
            customer: Some(customer),
            method: how,
            ..Default::default()
        },
    )
    .await
}

/// A second factor (`totp`) was confirmed or a passkey (`passkey`) added.
pub(crate) async fn factor_added(
    tx: &mut Tx,
    at: DateTime<Utc>,
    customer: Uuid,
    what: &str,
) -> Result<()> {
    record(
        tx,
        at,
        &Event {
            kind: kind::FACTOR_ADDED,
            customer: Some(customer),
            method: what,
            ..Default::default()
        },
    )
    .await
}

/// A client id as recorded: at most 128 characters, no control characters.
fn bounded(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(128).collect()
}

/// The events of rows a bulk loader (the demo generator) inserted directly, after the given
/// sequence numbers of `customers`, `sign_in_attempts` and `consent_ledger`, in time order:
/// registrations, verification (at registration), attempts, and each successful attempt's
/// session (generated customers have no second factor, so a successful password is a
/// completed sign-in).
pub(crate) async fn record_bulk(
    tx: &mut Tx,
    customers: i64,
    attempts: i64,
    ledger: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (at_us, kind, customer_id, method, outcome, reason, decision, tier, mfa) \
         SELECT at_us, kind, customer_id, method, outcome, reason, decision, tier, mfa FROM ( \
           SELECT created_us AS at_us, 'registered' AS kind, id AS customer_id, 'password' AS method, \
                  '' AS outcome, '' AS reason, '' AS decision, tier, mfa_enabled AS mfa, 0 AS part, seq AS ord \
             FROM customers WHERE seq > $1 \
           UNION ALL \
           SELECT created_us, 'verified', id, 'link', '', '', '', tier, mfa_enabled, 1, seq \
             FROM customers WHERE seq > $1 AND email_verified = 1 \
           UNION ALL \
           SELECT a.at_us, 'attempt', a.customer_id, a.method, a.outcome, a.reason, COALESCE(a.decision, ''), \
                  COALESCE(c.tier, ''), COALESCE(c.mfa_enabled, 0), 2, a.seq \
             FROM sign_in_attempts a LEFT JOIN customers c ON c.id = a.customer_id WHERE a.seq > $2 \
           UNION ALL \
           SELECT a.at_us, 'session', a.customer_id, 'password', '', '', '', c.tier, c.mfa_enabled, 3, a.seq \
             FROM sign_in_attempts a JOIN customers c ON c.id = a.customer_id \
            WHERE a.seq > $2 AND a.outcome = 'success' \
           UNION ALL \
           SELECT l.at_us, 'consent', l.customer_id, l.purpose_id, \
                  CASE WHEN l.granted = 1 THEN 'granted' ELSE 'withdrawn' END, '', '', \
                  COALESCE(c.tier, ''), COALESCE(c.mfa_enabled, 0), 4, l.seq \
             FROM consent_ledger l LEFT JOIN customers c ON c.id = l.customer_id WHERE l.seq > $3 \
         ) bulk ORDER BY at_us, part, ord",
    )
    .bind(customers)
    .bind(attempts)
    .bind(ledger)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The highest sequence numbers of the tables [`record_bulk`] reads, before a bulk load.
pub(crate) async fn bulk_marks(tx: &mut Tx) -> Result<(i64, i64, i64)> {
    let row = sqlx::query(
        "SELECT (SELECT COALESCE(max(seq), 0) FROM customers) AS c, \
         (SELECT COALESCE(max(seq), 0) FROM sign_in_attempts) AS a, \
         (SELECT COALESCE(max(seq), 0) FROM consent_ledger) AS l",
    )
    .fetch_one(&mut **tx)
    .await?;
    use sqlx::Row;
    Ok((row.try_get("c")?, row.try_get("a")?, row.try_get("l")?))
}
