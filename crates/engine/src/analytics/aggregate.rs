//! The incremental aggregator: each pass reads the events after the watermark (at most
//! [`PASS_EVENTS`]), folds them into counters, sketches and funnel milestones in memory, adds
//! those to the stored rollups and moves the watermark — all in one transaction, so a crash
//! (kill -9) loses the whole pass or none of it and no event is counted twice or missed.
//!
//! On SQLite there is one writer, so sequence order is commit order and the watermark is the
//! last sequence number. On PostgreSQL a sequence number is taken before its transaction
//! commits, so events are read in (transaction id, seq) order and only from transactions
//! older than the oldest one still open (`pg_snapshot_xmin`); passes hold a transaction-level
//! advisory lock, so two server instances never count the same events. Sign-ins only insert
//! events; nothing they do waits for the aggregator.

use crate::Engine;
use crate::analytics::kind;
use crate::analytics::sketch::Sketch;
use crate::error::Result;
use crate::staff::{Permission, Staff};
use crate::storage::{Backend, Tx};
use crate::time::to_us;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde_json::json;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// Events counted by one pass (one transaction).
pub const PASS_EVENTS: i64 = 2_000;
/// The key of the PostgreSQL advisory lock passes hold.
const LOCK_KEY: i64 = 0x7665_7374_616e_6131;
const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;

/// The start of the UTC hour, day or ISO week (Monday) holding `us`.
pub(crate) fn hour_of(us: i64) -> i64 {
    us.div_euclid(HOUR_US) * HOUR_US
}
pub(crate) fn day_of(us: i64) -> i64 {
    us.div_euclid(DAY_US) * DAY_US
}
pub(crate) fn week_of(us: i64) -> i64 {
    let day = day_of(us);
    let weekday = Utc
        .timestamp_micros(day)
        .single()
        .map_or(0, |d| i64::from(d.weekday().num_days_from_monday()));
    day - weekday * DAY_US
}

/// One event as the aggregator reads it.
struct Row_ {
    at_us: i64,
    kind: String,
    customer: Option<String>,
    client: String,
    method: String,
    outcome: String,
    reason: String,
    country: String,
    decision: String,
    purpose: String,
    tier: String,
    mfa: bool,
    passkey: bool,
}

type CountKey = (
    &'static str,
    String,
    &'static str,
    String,
    i64,
    String,
    String,
    String,
);
type ActiveKey = (&'static str, &'static str, String, i64);
type FunnelKey = (&'static str, String, i64, i64);

#[derive(Clone, Debug)]
struct Milestone {
    cohort_us: i64,
    client: String,
    country: String,
    tier: String,
    verified_us: Option<i64>,
    first_sign_in_us: Option<i64>,
    factor_us: Option<i64>,
    depth: i64,
}

impl Milestone {
    fn reached(&self) -> i64 {
        let mut d = 1;
        for step in [self.verified_us, self.first_sign_in_us, self.factor_us] {
            if step.is_none() {
                break;
            }
            d += 1;
        }
        d
    }

    fn dims(&self) -> Vec<(&'static str, String)> {
        dims(&self.client, &self.country, &self.tier)
    }
}

/// Everything for everyone, then each single filter dimension with a value.
fn dims(client: &str, country: &str, tier: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![("", String::new())];
    for (d, v) in [("client", client), ("country", country), ("tier", tier)] {
        if !v.is_empty() {
            out.push((d, v.to_owned()));
        }
    }
    out
}

/// What one pass adds.
#[derive(Default)]
struct Pending {
    counts: BTreeMap<CountKey, i64>,
    active: BTreeMap<ActiveKey, Sketch>,
    funnel: BTreeMap<FunnelKey, i64>,
    milestones: BTreeMap<String, Option<Milestone>>,
    changed: BTreeSet<String>,
}

impl Pending {
    fn count(&mut self, e: &Row_, metric: &str, method: &str, outcome: &str, reason: &str) {
        for (grain, bucket) in [("hour", hour_of(e.at_us)), ("day", day_of(e.at_us))] {
            for (dim, value) in dims(&e.client, &e.country, &e.tier) {
                let key = (
                    grain,
                    metric.to_owned(),
                    dim,
                    value,
                    bucket,
                    method.to_owned(),
                    outcome.to_owned(),
                    reason.to_owned(),
                );
                *self.counts.entry(key).or_default() += 1;
            }
        }
    }

    fn fold(&mut self, e: &Row_) {
        match e.kind.as_str() {
            kind::ATTEMPT => {
                self.count(e, kind::ATTEMPT, &e.method, &e.outcome, &e.reason);
                if !e.decision.is_empty() {
                    self.count(e, "risk", &e.method, &e.decision, "");
                }
            }
            kind::CONSENT => self.count(e, kind::CONSENT, &e.purpose, &e.outcome, ""),
            other => self.count(e, other, &e.method, &e.outcome, ""),
        }
        let Some(customer) = e.customer.clone() else {
            return;
        };
        if e.kind == kind::SESSION {
            let day = day_of(e.at_us);
            let mut segments = vec!["all"];
            if e.mfa {
                segments.push("mfa");
            }
            if e.passkey {
                segments.push("passkey");
            }
            let mut keys = dims(&e.client, &e.country, &e.tier);
            if !e.method.is_empty() {
                keys.push(("method", e.method.clone()));
            }
            for segment in segments {
                for (dim, value) in &keys {
                    self.active
                        .entry((segment, dim, value.clone(), day))
                        .or_default()
                        .insert(&customer);
                }
            }
        }
        let slot = self.milestones.entry(customer.clone()).or_default();
        let before = match (e.kind.as_str(), slot.as_mut()) {
            (kind::REGISTERED, None) => {
                *slot = Some(Milestone {
                    cohort_us: week_of(e.at_us),
                    client: e.client.clone(),
                    country: e.country.clone(),
                    tier: e.tier.clone(),
                    verified_us: None,
                    first_sign_in_us: None,
                    factor_us: None,
                    depth: 0,
                });
                0
            }
            (kind::VERIFIED, Some(m)) if m.verified_us.is_none() => {
                m.verified_us = Some(e.at_us);
                m.depth
            }
            (kind::SESSION, Some(m)) if m.first_sign_in_us.is_none() => {
                m.first_sign_in_us = Some(e.at_us);
                m.depth
            }
            (kind::FACTOR_ADDED, Some(m)) if m.factor_us.is_none() => {
                m.factor_us = Some(e.at_us);
                m.depth
            }
            _ => return,
        };
        let Some(m) = slot.as_mut() else {
            return;
        };
        let after = m.reached();
        m.depth = after;
        let (cohort, keys) = (m.cohort_us, m.dims());
        self.changed.insert(customer);
        for step in (before + 1)..=after {
            for (dim, value) in &keys {
                *self
                    .funnel
                    .entry((dim, value.clone(), cohort, step))
                    .or_default() += 1;
            }
        }
    }
}

impl Engine {
    /// Count every event not yet counted, a pass (one transaction) at a time; how many
    /// events were counted. The background worker calls it every second; tests and the CLI
    /// call it to be sure the figures include everything recorded so far.
    pub async fn analytics_catch_up(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self.analytics_pass(PASS_EVENTS).await?;
            total += n;
            if n < u64::try_from(PASS_EVENTS).unwrap_or(u64::MAX) {
                return Ok(total);
            }
        }
    }

    /// Recompute every figure from the raw events: the rollups are emptied (in one
    /// transaction) and counted again pass by pass. Interrupted, it carries on from the
    /// last pass at the next catch-up. Admins only, audited.
    pub async fn analytics_rebuild(&self, staff: &Staff) -> Result<u64> {
        staff.require(Permission::ManageSettings)?;
        let mut tx = self.store.begin().await?;
        self.analytics_lock(&mut tx).await?;
        for table in [
            "analytics_counts",
            "analytics_active",
            "analytics_milestones",
            "analytics_funnel",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE analytics_state SET seq = 0, last_txid = '0', counted = 0, updated_us = $1 WHERE id = 1",
        )
        .bind(to_us(self.now()))
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "analytics.rebuilt",
            "analytics",
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        self.analytics_catch_up().await
    }

    async fn analytics_lock(&self, tx: &mut Tx) -> Result<()> {
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(LOCK_KEY)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// One pass over at most `limit` events; how many it counted.
    pub(crate) async fn analytics_pass(&self, limit: i64) -> Result<u64> {
        let mut tx = self.store.begin().await?;
        self.analytics_lock(&mut tx).await?;
        let state = sqlx::query("SELECT seq, last_txid FROM analytics_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let (seq, txid): (i64, String) = (state.try_get("seq")?, state.try_get("last_txid")?);
        const COLUMNS: &str = "seq, at_us, kind, customer_id, client, method, outcome, reason, \
                               country, decision, purpose, tier, mfa, passkey";
        let rows =
            match self.backend() {
                Backend::Sqlite => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS}, '' AS txid FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
                )))
                .bind(seq)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?,
                Backend::Postgres => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {COLUMNS}, txid::text AS txid FROM events \
                     WHERE txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
                     AND (txid, seq) > ($1, $2) ORDER BY txid, seq LIMIT $3"
                    )))
                    .bind(txid.parse::<i64>().map_err(|_| {
                        crate::error::Error::Internal(
                            "analytics: a stored transaction id does not parse".into(),
                        )
                    })?)
                    .bind(seq)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?
                }
            };
        let Some(last) = rows.last() else {
            return Ok(0);
        };
        let (last_seq, last_txid): (i64, String) = (last.try_get("seq")?, last.try_get("txid")?);
        let events = rows
            .iter()
            .map(|r| {
                Ok(Row_ {
                    at_us: r.try_get("at_us")?,
                    kind: r.try_get("kind")?,
                    customer: r.try_get("customer_id")?,
                    client: r.try_get("client")?,
                    method: r.try_get("method")?,
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    country: r.try_get("country")?,
                    decision: r.try_get("decision")?,
                    purpose: r.try_get("purpose")?,
                    tier: r.try_get("tier")?,
                    mfa: r.try_get::<i64, _>("mfa")? != 0,
                    passkey: r.try_get::<i64, _>("passkey")? != 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut pending = Pending::default();
        let customers: BTreeSet<&str> = events
            .iter()
            .filter_map(|e| e.customer.as_deref())
            .collect();
        load_milestones(&mut tx, &customers, &mut pending).await?;
        for e in &events {
            pending.fold(e);
        }
        store(&mut tx, &pending).await?;
        let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
        sqlx::query(
            "UPDATE analytics_state SET seq = $1, last_txid = $2, counted = counted + $3, updated_us = $4 WHERE id = 1",
        )
        .bind(last_seq)
        .bind(if last_txid.is_empty() { "0".to_owned() } else { last_txid })
        .bind(n)
        .bind(to_us(self.now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// When the figures were last brought up to date and how many events they count.
    pub(crate) async fn analytics_watermark(&self) -> Result<(Option<DateTime<Utc>>, i64)> {
        let row = sqlx::query("SELECT counted, updated_us FROM analytics_state WHERE id = 1")
            .fetch_one(self.store.reader())
            .await?;
        let updated: i64 = row.try_get("updated_us")?;
        let at = (updated > 0).then(|| crate::time::from_us(updated));
        Ok((at, row.try_get("counted")?))
    }
}

/// The stored milestones of the customers a pass touches (absent ones are remembered as
/// absent, so a first registration creates them).
async fn load_milestones(tx: &mut Tx, customers: &BTreeSet<&str>, p: &mut Pending) -> Result<()> {
    let list: Vec<&str> = customers.iter().copied().collect();
    for chunk in list.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT customer_id, cohort_us, client, country, tier, verified_us, first_sign_in_us, factor_us, depth \
             FROM analytics_milestones WHERE customer_id IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for c in chunk {
            q = q.bind(*c);
        }
        for c in chunk {
            p.milestones.insert((*c).to_owned(), None);
        }
        for r in q.fetch_all(&mut **tx).await? {
            let id: String = r.try_get("customer_id")?;
            p.milestones.insert(
                id,
                Some(Milestone {
                    cohort_us: r.try_get("cohort_us")?,
                    client: r.try_get("client")?,
                    country: r.try_get("country")?,
                    tier: r.try_get("tier")?,
                    verified_us: r.try_get("verified_us")?,
                    first_sign_in_us: r.try_get("first_sign_in_us")?,
                    factor_us: r.try_get("factor_us")?,
                    depth: r.try_get("depth")?,
                }),
            );
        }
    }
    Ok(())
}

/// Add a pass's counters, sketches and funnel steps to the stored ones.
async fn store(tx: &mut Tx, p: &Pending) -> Result<()> {
    let counts: Vec<_> = p.counts.iter().collect();
    for chunk in counts.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO analytics_counts (grain, metric, dim, value, bucket_us, method, outcome, reason, n) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 9;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            ));
        }
        sql.push_str(
            " ON CONFLICT (grain, metric, dim, value, bucket_us, method, outcome, reason) \
             DO UPDATE SET n = analytics_counts.n + excluded.n",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for ((grain, metric, dim, value, bucket, method, outcome, reason), n) in chunk {
            q = q
                .bind(*grain)
                .bind(metric.as_str())
                .bind(*dim)
                .bind(value.as_str())
                .bind(*bucket)
                .bind(method.as_str())
                .bind(outcome.as_str())
                .bind(reason.as_str())
                .bind(**n);
        }
        q.execute(&mut **tx).await?;
    }
    for ((segment, dim, value, day), sketch) in &p.active {
        let stored: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT sketch FROM analytics_active WHERE segment = $1 AND dim = $2 AND value = $3 AND day_us = $4",
        )
        .bind(*segment)
        .bind(*dim)
        .bind(value.as_str())
        .bind(*day)
        .fetch_optional(&mut **tx)
        .await?;
        let mut merged = match stored {
            Some(bytes) => Sketch::from_bytes(&bytes)?,
            None => Sketch::default(),
        };
        merged.merge(sketch);
        sqlx::query(
            "INSERT INTO analytics_active (segment, dim, value, day_us, sketch) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (segment, dim, value, day_us) DO UPDATE SET sketch = excluded.sketch",
        )
        .bind(*segment)
        .bind(*dim)
        .bind(value.as_str())
        .bind(*day)
        .bind(merged.to_bytes())
        .execute(&mut **tx)
        .await?;
    }
    for id in &p.changed {
        let Some(Some(m)) = p.milestones.get(id) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO analytics_milestones (customer_id, cohort_us, client, country, tier, verified_us, first_sign_in_us, factor_us, depth) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (customer_id) DO UPDATE SET verified_us = excluded.verified_us, \
             first_sign_in_us = excluded.first_sign_in_us, factor_us = excluded.factor_us, depth = excluded.depth",
        )
        .bind(id.as_str())
        .bind(m.cohort_us)
        .bind(m.client.as_str())
        .bind(m.country.as_str())
        .bind(m.tier.as_str())
        .bind(m.verified_us)
        .bind(m.first_sign_in_us)
        .bind(m.factor_us)
        .bind(m.depth)
        .execute(&mut **tx)
        .await?;
    }
    for ((dim, value, cohort, step), n) in &p.funnel {
        sqlx::query(
            "INSERT INTO analytics_funnel (dim, value, cohort_us, step, n) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (dim, value, cohort_us, step) DO UPDATE SET n = analytics_funnel.n + excluded.n",
        )
        .bind(*dim)
        .bind(value.as_str())
        .bind(*cohort)
        .bind(*step)
        .bind(*n)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
