//! Erasure (GDPR Art. 17): everything held on a customer removed in one transaction — rows
//! deleted or anonymised table by table from [`CUSTOMER_TABLES`] (the search index follows
//! the customer row through its triggers, removing terms at once), the consent ledger kept
//! without address and user agent, audit entries kept with their personal values replaced —
//! then a minimal tombstone (id, when, at whose request, what was kept and under which legal
//! basis), an erasure event for connected systems, and the `privacy.erased` audit entry.
//! On SQLite, writers run with `secure_delete` (freed bytes are zeroed) and the WAL is
//! checkpointed and truncated after the commit, so the old bytes survive neither in free
//! pages nor in WAL frames. On PostgreSQL dead tuples stay until VACUUM (the operator's).

use crate::Engine;
use crate::accounts::normalize;
use crate::accounts::record::load;
use crate::error::{Error, Result};
use crate::privacy::tables::{self as catalogue, AUDIT_BASIS, CUSTOMER_TABLES, Erase};
use crate::staff::{Permission, Staff, audit};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Rows kept after an erasure, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeptRows {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub rows: u64,
    pub basis: String,
}

/// What stays of an erased customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tombstone {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub customer_id: Uuid,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub erased_at: DateTime<Utc>,
    /// `customer:<id>` (they asked, in the account center or API) or `staff:<id>`.
    pub requested_by: String,
    pub reason: Option<String>,
    /// Table → rows kept and the legal basis for keeping them.
    pub kept: BTreeMap<String, KeptRows>,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Erasure {
    pub tombstone: Tombstone,
    /// Table → rows deleted.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, number>"))]
    pub deleted: BTreeMap<String, u64>,
    /// Table → rows kept without anything that identifies the customer.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, number>"))]
    pub anonymised: BTreeMap<String, u64>,
    /// SQLite: every WAL frame reached the main file and the WAL was truncated (`false`: a
    /// reader held old frames; the next checkpoint removes them). PostgreSQL: `true`.
    pub wal_truncated: bool,
}

/// `value` as a LIKE pattern matching it anywhere (`\` escapes).
fn containing(value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Engine {
    /// Erase a customer on their behalf (`EraseCustomers`): `confirm_email` must be their
    /// address, typed by the staff member, and the reason (a ticket reference) is recorded.
    pub async fn erase_customer(
        &self,
        staff: &Staff,
        id: Uuid,
        confirm_email: &str,
        reason: &str,
    ) -> Result<Erasure> {
        staff.require(Permission::EraseCustomers)?;
        let reason = normalize::text("reason", reason, 500)?;
        if reason.is_empty() {
            return Err(Error::invalid(
                "reason",
                "say why the customer is erased (e.g. the request's ticket reference)",
            ));
        }
        self.erase(id, &staff.actor(), Some(&reason), confirm_email)
            .await
    }

    /// "Delete my account": the signed-in customer erases themselves. Needs a recent
    /// sign-in or step-up, and their address typed as confirmation.
    pub async fn erase_my_account(&self, token: &str, confirm_email: &str) -> Result<Erasure> {
        let s = self.validate_session(token).await?;
        s.require_recent_auth(self.now())?;
        self.erase(
            s.customer_id,
            &format!("customer:{}", s.customer_id),
            None,
            confirm_email,
        )
        .await
    }

    /// The tombstone of an erased customer (`ReadCustomers`); `None` if never erased.
    pub async fn erasure_of(&self, staff: &Staff, id: Uuid) -> Result<Option<Tombstone>> {
        staff.require(Permission::ReadCustomers)?;
        let row = sqlx::query(
            "SELECT customer_id, erased_us, requested_by, reason, kept FROM erasures \
             WHERE customer_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.store.reader())
        .await?;
        row.map(|r| {
            Ok(Tombstone {
                customer_id: id,
                erased_at: from_us(r.try_get("erased_us")?),
                requested_by: r.try_get("requested_by")?,
                reason: r.try_get("reason")?,
                kept: serde_json::from_str(&r.try_get::<String, _>("kept")?)
                    .map_err(|e| Error::Internal(format!("erasure tombstone: {e}")))?,
            })
        })
        .transpose()
    }

    async fn erase(
        &self,
        id: Uuid,
        requested_by: &str,
        reason: Option<&str>,
        confirm_email: &str,
    ) -> Result<Erasure> {
        let mut tx = self.store.begin().await?;
        let (tombstone, deleted, anonymised) = self
            .erase_in(&mut tx, id, requested_by, reason, Some(confirm_email))
            .await?;
        tx.commit().await?;
        let wal_truncated = self.store.checkpoint_truncate().await?;
        Ok(Erasure {
            tombstone,
            deleted,
            anonymised,
            wal_truncated,
        })
    }

    /// The erasure itself, inside the caller's transaction (the WAL is the caller's to
    /// checkpoint). `confirm_email`, when given, must be the customer's address.
    pub(crate) async fn erase_in(
        &self,
        tx: &mut Tx,
        id: Uuid,
        requested_by: &str,
        reason: Option<&str>,
        confirm_email: Option<&str>,
    ) -> Result<(Tombstone, BTreeMap<String, u64>, BTreeMap<String, u64>)> {
        let now = self.now();
        let erased_us: Option<i64> =
            sqlx::query_scalar("SELECT erased_us FROM erasures WHERE customer_id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(us) = erased_us {
            return Err(Error::invalid(
                "customer",
                format!(
                    "this customer was already erased on {}",
                    from_us(us).format("%Y-%m-%d %H:%M UTC")
                ),
            ));
        }
        let c = load(tx, id).await?;
        if confirm_email.is_some_and(|typed| {
            normalize::key_of_stored(typed.trim()) != normalize::key_of_stored(&c.email)
        }) {
            return Err(Error::invalid(
                "confirm_email",
                "type the account's email address exactly to confirm the erasure",
            ));
        }
        let addresses = catalogue::addresses(tx, id, &c.email).await?;
        let (mut deleted, mut anonymised, mut kept) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for t in CUSTOMER_TABLES.iter().rev() {
            let (clause, values) = catalogue::clause(t.selector, id, &addresses);
            let sql = match t.erase {
                Erase::Delete => format!("DELETE FROM {} WHERE {clause}", t.table),
                Erase::Anonymise(set) | Erase::Keep { set, .. } => {
                    format!("UPDATE {} SET {set} WHERE {clause}", t.table)
                }
                Erase::Redact => {
                    let (done, legacy) =
                        audit::redact_customer(tx, now, &format!("customer:{id}")).await?;
                    kept.insert(
                        t.table.to_owned(),
                        KeptRows {
                            rows: done,
                            basis: AUDIT_BASIS.to_owned(),
                        },
                    );
                    if legacy > 0 {
                        kept.insert(
                            format!("{} (written before entries could be redacted)", t.table),
                            KeptRows {
                                rows: legacy,
                                basis: "their hash covers their text: kept as written".to_owned(),
                            },
                        );
                    }
                    continue;
                }
            };
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in values {
                q = q.bind(v);
            }
            let n = q.execute(&mut **tx).await?.rows_affected();
            match t.erase {
                Erase::Delete => {
                    deleted.insert(t.table.to_owned(), n);
                }
                Erase::Anonymise(_) => {
                    anonymised.insert(t.table.to_owned(), n);
                }
                Erase::Keep { basis, .. } => {
                    kept.insert(
                        t.table.to_owned(),
                        KeptRows {
                            rows: n,
                            basis: basis.to_owned(),
                        },
                    );
                }
                Erase::Redact => {}
            }
        }
        let pending = self.drop_pending_work(tx, id, &addresses).await?;
        deleted.insert("deferred_work".to_owned(), pending);
        let tombstone = Tombstone {
            customer_id: id,
            erased_at: now,
            requested_by: requested_by.to_owned(),
            reason: reason.map(str::to_owned),
            kept,
        };
        let kept_json =
            serde_json::to_string(&tombstone.kept).map_err(|e| Error::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO erasures (customer_id, erased_us, requested_by, reason, kept) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(to_us(now))
        .bind(requested_by)
        .bind(reason)
        .bind(kept_json)
        .execute(&mut **tx)
        .await?;
        sqlx::query("INSERT INTO erasure_events (customer_id, erased_us) VALUES ($1, $2)")
            .bind(id.to_string())
            .bind(to_us(now))
            .execute(&mut **tx)
            .await?;
        self.audit(
            tx,
            requested_by,
            "privacy.erased",
            &format!("customer:{id}"),
            reason,
            json!({
                "deleted": deleted,
                "anonymised": anonymised,
                "kept": tombstone.kept.iter().map(|(t, k)| (t.clone(), k.rows)).collect::<BTreeMap<_, _>>(),
            }),
        )
        .await?;
        Ok((tombstone, deleted, anonymised))
    }

    /// Queued work naming the customer or one of their addresses (a registration notice,
    /// a reset request still waiting for its turn) is dropped with them.
    async fn drop_pending_work(&self, tx: &mut Tx, id: Uuid, addresses: &[String]) -> Result<u64> {
        let mut n = 0;
        for needle in std::iter::once(id.to_string()).chain(addresses.iter().cloned()) {
            n += sqlx::query("DELETE FROM deferred_work WHERE lower(payload) LIKE $1 ESCAPE '\\'")
                .bind(containing(&needle))
                .execute(&mut **tx)
                .await?
                .rows_affected();
        }
        Ok(n)
    }
}
