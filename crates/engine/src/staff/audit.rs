//! The audit log: append-only and hash-chained. Each entry's hash is
//! SHA-256(previous hash ‖ canonical JSON of the entry), and the head (last sequence number
//! and hash) is kept in `settings` and updated in the same transaction. Verification walks
//! the chain: an edited entry breaks its own hash, a deleted entry breaks the next link, and
//! a truncated tail no longer matches the head.
//!
//! The canonical entry holds the digest of its reason and diff (`body_digest`), not their
//! text, so erasing a customer can replace the personal values in the entries about them
//! ([`redact_customer`]) and the chain still verifies: a redacted entry must hold nothing but
//! `[erased]` markers, and its customer must have an erasure tombstone. Entries written
//! before body digests existed (`body_digest = ''`) are hashed over their text and cannot be
//! redacted.
//!
//! Appending first bumps the head row (`UPDATE … RETURNING`), which takes its row lock on
//! PostgreSQL and so serialises concurrent appenders without a dialect-specific lock.

use crate::clock::{Entropy, new_id};
use crate::error::{Error, Result};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

const HEAD_KEY: &str = "audit_head";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry as read back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub seq: i64,
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub reason: Option<String>,
    /// `{field: [before, after]}` for changes; `{}` for reads.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub diff: serde_json::Value,
    /// Who `actor` is, in words ("Ana Ruiz <ana@example.com>"), when the actor is a staff
    /// member; filled on reads that join the staff table, not part of the hash chain.
    #[serde(default)]
    pub actor_label: Option<String>,
}

/// What is appended.
#[derive(Debug, Clone)]
pub(crate) struct NewEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub reason: Option<&'a str>,
    pub diff: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Head {
    seq: i64,
    hash: String,
}

/// What a redacted value becomes.
pub(crate) const ERASED: &str = "[erased]";

/// The hash of an entry written before body digests (over its whole text).
fn legacy_entry_hash(prev: &str, id: &str, at_us: i64, e: &NewEntry<'_>) -> String {
    let canonical = serde_json::json!({
        "id": id, "at_us": at_us, "actor": e.actor, "action": e.action,
        "target": e.target, "reason": e.reason, "diff": e.diff,
    });
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// SHA-256 of an entry's reason and diff.
fn body_digest(reason: Option<&str>, diff: &serde_json::Value) -> String {
    let body = serde_json::json!({"reason": reason, "diff": diff});
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// The hash of an entry: its fields with the body's digest in place of the body.
fn entry_hash(prev: &str, id: &str, at_us: i64, e: &NewEntry<'_>, body_digest: &str) -> String {
    let canonical = serde_json::json!({
        "id": id, "at_us": at_us, "actor": e.actor, "action": e.action,
        "target": e.target, "body_digest": body_digest,
    });
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// `value` with every string, number and boolean replaced by [`ERASED`] (keys and shape kept).
fn redacted(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Null => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), redacted(v))).collect())
        }
        _ => Value::String(ERASED.to_owned()),
    }
}

/// Does `value` hold nothing but [`ERASED`] markers (and nulls)?
fn is_redacted(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null => true,
        Value::String(s) => s == ERASED,
        Value::Array(items) => items.iter().all(is_redacted),
        Value::Object(m) => m.values().all(is_redacted),
        _ => false,
    }
}

/// Replace the personal values of every entry about (or by) a customer being erased, inside
/// the erasure's transaction. Returns (entries redacted, entries too old to redact).
pub(crate) async fn redact_customer(
    tx: &mut Tx,
    now: DateTime<Utc>,
    customer: &str,
) -> Result<(u64, u64)> {
    let rows = sqlx::query(
        "SELECT seq, reason, diff, body_digest FROM audit_log \
         WHERE (target = $1 OR actor = $1) AND redacted_us IS NULL",
    )
    .bind(customer)
    .fetch_all(&mut **tx)
    .await?;
    let (mut done, mut legacy) = (0, 0);
    for r in &rows {
        if r.try_get::<String, _>("body_digest")?.is_empty() {
            legacy += 1;
            continue;
        }
        let diff: serde_json::Value =
            serde_json::from_str(&r.try_get::<String, _>("diff")?).unwrap_or_default();
        let reason = r
            .try_get::<Option<String>, _>("reason")?
            .map(|_| ERASED.to_owned());
        sqlx::query("UPDATE audit_log SET reason = $1, diff = $2, redacted_us = $3 WHERE seq = $4")
            .bind(reason)
            .bind(redacted(&diff).to_string())
            .bind(to_us(now))
            .bind(r.try_get::<i64, _>("seq")?)
            .execute(&mut **tx)
            .await?;
        done += 1;
    }
    Ok((done, legacy))
}

/// Build a `{field: [before, after]}` diff from pairs, leaving out unchanged fields.
pub(crate) fn diff(pairs: &[(&str, serde_json::Value, serde_json::Value)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, before, after) in pairs {
        if before != after {
            m.insert((*k).to_owned(), serde_json::json!([before, after]));
        }
    }
    serde_json::Value::Object(m)
}

/// Append one entry inside the caller's transaction.
pub(crate) async fn append(
    tx: &mut Tx,
    now: DateTime<Utc>,
    entropy: &dyn Entropy,
    e: NewEntry<'_>,
) -> Result<()> {
    let head_json: Option<String> = sqlx::query_scalar(
        "UPDATE settings SET version = version + 1 WHERE key = $1 RETURNING value",
    )
    .bind(HEAD_KEY)
    .fetch_optional(&mut **tx)
    .await?;
    let head: Head = match head_json {
        Some(j) => {
            serde_json::from_str(&j).map_err(|e| Error::Internal(format!("audit head: {e}")))?
        }
        None => {
            sqlx::query("INSERT INTO settings (key, value, version) VALUES ($1, $2, 1)")
                .bind(HEAD_KEY)
                .bind(serde_json::json!({"seq": 0, "hash": GENESIS}).to_string())
                .execute(&mut **tx)
                .await?;
            Head {
                seq: 0,
                hash: GENESIS.into(),
            }
        }
    };
    let id = new_id(now, entropy).to_string();
    let at_us = to_us(now);
    let digest = body_digest(e.reason, &e.diff);
    let hash = entry_hash(&head.hash, &id, at_us, &e, &digest);
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (id, at_us, actor, action, target, reason, diff, prev_hash, hash, \
         body_digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
    )
    .bind(&id)
    .bind(at_us)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.target)
    .bind(e.reason)
    .bind(e.diff.to_string())
    .bind(&head.hash)
    .bind(&hash)
    .bind(&digest)
    .fetch_one(&mut **tx)
    .await?;
    let new_head =
        serde_json::to_string(&Head { seq, hash }).map_err(|e| Error::Internal(e.to_string()))?;
    sqlx::query("UPDATE settings SET value = $1 WHERE key = $2")
        .bind(new_head)
        .bind(HEAD_KEY)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn row_to_entry(r: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    let diff: String = r.try_get("diff")?;
    Ok(AuditEntry {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        at: from_us(r.try_get("at_us")?),
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        reason: r.try_get("reason")?,
        diff: serde_json::from_str(&diff).unwrap_or(serde_json::Value::Null),
        actor_label: r.try_get::<Option<String>, _>("actor_label").ok().flatten(),
    })
}

/// Entries about one target, newest first.
pub(crate) async fn for_target(
    pool: &sqlx::AnyPool,
    target: &str,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT a.seq, a.id, a.at_us, a.actor, a.action, a.target, a.reason, a.diff, \
         CASE WHEN s.id IS NULL THEN NULL ELSE s.display_name || ' <' || s.email || '>' END \
         AS actor_label FROM audit_log a LEFT JOIN staff s ON a.actor = 'staff:' || s.id \
         WHERE a.target = $1 ORDER BY a.seq DESC LIMIT $2",
    )
    .bind(target)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(row_to_entry).collect()
}

/// Entries after `after_seq`, oldest first (paging through the whole log).
pub(crate) async fn page(
    pool: &sqlx::AnyPool,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT seq, id, at_us, actor, action, target, reason, diff FROM audit_log \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(row_to_entry).collect()
}

/// Result of walking the chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyReport {
    pub entries: i64,
    pub head_hash: String,
}

/// Walk the whole chain; `Err(AuditTampered(seq))` names the first entry that fails.
pub(crate) async fn verify(pool: &sqlx::AnyPool) -> Result<VerifyReport> {
    let mut prev = GENESIS.to_owned();
    let mut count = 0i64;
    let mut last_seq = 0i64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, id, at_us, actor, action, target, reason, diff, prev_hash, hash, \
             body_digest, redacted_us, \
             (SELECT count(*) FROM erasures WHERE 'customer:' || customer_id IN (target, actor)) \
             AS erased FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000",
        )
        .bind(last_seq)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let entry = row_to_entry(r)?;
            let stored_prev: String = r.try_get("prev_hash")?;
            let stored_hash: String = r.try_get("hash")?;
            let diff_text: String = r.try_get("diff")?;
            let diff: serde_json::Value =
                serde_json::from_str(&diff_text).map_err(|_| Error::AuditTampered(entry.seq))?;
            let stored_digest: String = r.try_get("body_digest")?;
            let fields = NewEntry {
                actor: &entry.actor,
                action: &entry.action,
                target: &entry.target,
                reason: entry.reason.as_deref(),
                diff,
            };
            let body_ok = if stored_digest.is_empty() {
                true
            } else if r.try_get::<Option<i64>, _>("redacted_us")?.is_some() {
                // Redaction only ever removes: markers only, for an erased customer.
                is_redacted(&fields.diff)
                    && fields.reason.is_none_or(|r| r == ERASED)
                    && r.try_get::<i64, _>("erased")? > 0
            } else {
                body_digest(fields.reason, &fields.diff) == stored_digest
            };
            let recomputed = if stored_digest.is_empty() {
                legacy_entry_hash(&prev, &entry.id, to_us(entry.at), &fields)
            } else {
                entry_hash(&prev, &entry.id, to_us(entry.at), &fields, &stored_digest)
            };
            if !body_ok || stored_prev != prev || stored_hash != recomputed {
                return Err(Error::AuditTampered(entry.seq));
            }
            prev = stored_hash;
            count += 1;
            last_seq = entry.seq;
        }
    }
    let head_json: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(HEAD_KEY)
        .fetch_optional(pool)
        .await?;
    let head = match head_json {
        Some(j) => serde_json::from_str::<Head>(&j).map_err(|_| Error::AuditTampered(last_seq))?,
        None => Head {
            seq: 0,
            hash: GENESIS.into(),
        },
    };
    if head.seq != last_seq || head.hash != prev {
        return Err(Error::AuditTampered(head.seq.max(last_seq)));
    }
    Ok(VerifyReport {
        entries: count,
        head_hash: prev,
    })
}
