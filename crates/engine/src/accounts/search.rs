//! Customer search for staff: any fragment of email, name or phone, or an exact id, in
//! ranked tiers (exact email, email prefix, name prefix, anywhere) over FTS5 trigram indexes
//! on the vault and pg_trgm on PostgreSQL, with keyset pages.

use crate::Engine;
use crate::accounts::record::{SUMMARY_COLUMNS, SearchPage, row_to_summary};
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::storage::Backend;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

/// Turn what staff typed into an FTS5 phrase / LIKE fragment. Digits-only queries (after
/// dropping spaces, dashes, brackets, '+') search phone numbers.
fn search_terms(query: &str) -> (String, Option<String>) {
    // Control characters (NUL included) can never match and PostgreSQL refuses NUL in text.
    let lowered: String = query
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_lowercase();
    let digits: String = lowered.chars().filter(|c| c.is_ascii_digit()).collect();
    let phoneish = !digits.is_empty()
        && lowered
            .chars()
            .all(|c| c.is_ascii_digit() || " -+().".contains(c));
    (lowered, phoneish.then_some(digits))
}

/// Where a search page ended: the tier and the position inside it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Cursor {
    tier: u8,
    key: String,
    seq: i64,
}

fn encode_cursor(c: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Result<Cursor> {
    let bad = || Error::invalid("cursor", "not a search cursor; start the search again");
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if c.tier > 3 {
        return Err(bad());
    }
    Ok(c)
}

/// Parameters of a statement built from optional parts, numbered as they are added.
#[derive(Default)]
struct Params(Vec<Param>);

enum Param {
    Int(i64),
    Text(String),
}

impl Params {
    fn text(&mut self, s: &str) -> String {
        self.0.push(Param::Text(s.to_owned()));
        format!("${}", self.0.len())
    }
    fn int(&mut self, i: i64) -> String {
        self.0.push(Param::Int(i));
        format!("${}", self.0.len())
    }
}

/// Search tiers, best first. Each is one indexed query that stops at the page size.
const TIER_EXACT_EMAIL: u8 = 0;
const TIER_EMAIL_PREFIX: u8 = 1;
const TIER_NAME_PREFIX: u8 = 2;
const TIER_ANYWHERE: u8 = 3;

impl Engine {
    /// Search customers by any fragment of email, name or phone, or by exact id. Results
    /// come in tiers — exact email, email prefix, name prefix, then the fragment anywhere
    /// (trigram index) — and pages are keyset-paginated: pass the previous page's `next`.
    pub async fn search_customers(
        &self,
        staff: &Staff,
        query: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<SearchPage> {
        staff.require(Permission::ReadCustomers)?;
        let limit = usize::try_from(limit.clamp(1, 200)).unwrap_or(20);
        if query.len() > 256 {
            return Err(Error::invalid("query", "search for at most 256 characters"));
        }
        let after = cursor.map(decode_cursor).transpose()?;
        let (text, digits) = search_terms(query);
        if text.is_empty() {
            return Ok(SearchPage {
                items: vec![],
                next: None,
            });
        }
        if let Ok(id) = Uuid::parse_str(&text) {
            let sql = format!("SELECT {SUMMARY_COLUMNS} FROM customers c WHERE c.id = $1");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.to_string())
                .fetch_all(self.store.reader())
                .await?;
            let items = if after.is_some() {
                vec![]
            } else {
                rows.iter().map(row_to_summary).collect::<Result<_>>()?
            };
            return Ok(SearchPage { items, next: None });
        }
        let text = crate::accounts::normalize::search_key(&text);
        let rows = self
            .search_query(&text, digits.as_deref(), after, limit + 1)
            .await?;
        let mut items = Vec::with_capacity(limit);
        let mut last = None;
        for r in rows.iter().take(limit) {
            items.push(row_to_summary(r)?);
            let tier = u8::try_from(r.try_get::<i64, _>("tier")?).unwrap_or(TIER_ANYWHERE);
            last = Some(Cursor {
                tier,
                key: r.try_get("okey")?,
                seq: r.try_get("seq")?,
            });
        }
        let next = if rows.len() > limit {
            last.as_ref().map(encode_cursor)
        } else {
            None
        };
        Ok(SearchPage { items, next })
    }

    /// One statement for a page: each tier is an indexed sub-select that stops at the page
    /// size, resuming after the cursor in the cursor's tier and skipping earlier tiers.
    async fn search_query(
        &self,
        text: &str,
        digits: Option<&str>,
        after: Option<Cursor>,
        take: usize,
    ) -> Result<Vec<AnyRow>> {
        let take = i64::try_from(take).unwrap_or(201);
        let after = after.unwrap_or_default();
        // Upper bound of a prefix range: the prefix followed by the highest code point.
        let upper = format!("{text}\u{10FFFF}");
        let mut q = Params::default();
        let mut parts: Vec<String> = Vec::new();
        let resume = |tier: u8| -> Cursor {
            if after.tier == tier {
                after.clone()
            } else {
                Cursor::default()
            }
        };
        let cols = SUMMARY_COLUMNS;
        if digits.is_none() {
            if after.tier == TIER_EXACT_EMAIL && after.seq == 0 {
                parts.push(format!(
                    "SELECT 0 AS tier, '' AS okey, {cols} FROM customers c WHERE c.email_key = {}",
                    q.text(text)
                ));
            }
            if after.tier <= TIER_EMAIL_PREFIX {
                let r = resume(TIER_EMAIL_PREFIX);
                // Keyset conditions only when resuming: an always-true `> ''` can lead the
                // planner away from the prefix range.
                let lower = if r.key.is_empty() {
                    q.text(text)
                } else {
                    q.text(&r.key)
                };
                parts.push(format!(
                    "SELECT 1 AS tier, c.email_key AS okey, {cols} FROM customers c \
                     WHERE c.email_key > {lower} AND c.email_key < {} \
                     ORDER BY c.email_key LIMIT {}",
                    q.text(&upper),
                    q.int(take)
                ));
            }
            if after.tier <= TIER_NAME_PREFIX {
                let r = resume(TIER_NAME_PREFIX);
                let (lo, hi) = (q.text(text), q.text(&upper));
                let keyset = if r.key.is_empty() {
                    String::new()
                } else {
                    format!(
                        "AND (c.name_key, c.seq) > ({}, {})",
                        q.text(&r.key),
                        q.int(r.seq)
                    )
                };
                parts.push(format!(
                    "SELECT 2 AS tier, c.name_key AS okey, {cols} FROM customers c \
                     WHERE c.name_key >= {lo} AND c.name_key < {hi} {keyset} \
                     AND NOT (c.email_key >= {lo} AND c.email_key < {hi}) \
                     ORDER BY c.name_key, c.seq LIMIT {}",
                    q.int(take)
                ));
            }
        }
        let needle = digits.unwrap_or(text);
        // Trigram indexes need three characters.
        if needle.chars().count() >= 3 {
            let r = resume(TIER_ANYWHERE);
            // Rows the prefix tiers already list are left out (phone searches have none).
            let not_prefix = if digits.is_some() {
                String::new()
            } else {
                let (lo, hi) = (q.text(text), q.text(&upper));
                format!(
                    "AND NOT (c.email_key >= {lo} AND c.email_key < {hi}) AND NOT (c.name_key >= {lo} AND c.name_key < {hi})"
                )
            };
            parts.push(match self.store.backend {
                Backend::Sqlite => {
                    // CROSS JOIN makes SQLite drive the loop from the trigram index (in rowid
                    // order, stopping at the LIMIT) instead of scanning customers.
                    let (table, phrase) = if digits.is_some() {
                        ("customer_phone_search", format!("\"{needle}\""))
                    } else {
                        ("customer_search", format!("\"{}\"", needle.replace('"', "\"\"")))
                    };
                    format!(
                        "SELECT 3 AS tier, '' AS okey, {cols} FROM {table} s CROSS JOIN customers c ON c.seq = s.rowid \
                         WHERE {table} MATCH {} AND s.rowid > {} {not_prefix} ORDER BY s.rowid LIMIT {}",
                        q.text(&phrase),
                        q.int(r.seq),
                        q.int(take)
                    )
                }
                Backend::Postgres => {
                    let escaped = needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                    format!(
                        "SELECT 3 AS tier, '' AS okey, {cols} FROM customers c \
                         WHERE c.search_text LIKE {} AND c.seq > {} {not_prefix} ORDER BY c.seq LIMIT {}",
                        q.text(&format!("%{escaped}%")), q.int(r.seq), q.int(take)
                    )
                }
            });
        }
        if parts.is_empty() {
            return Ok(vec![]);
        }
        let union = parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("SELECT * FROM ({p}) AS t{i}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        // SQLite runs UNION ALL branches lazily in order and stops at the LIMIT, so later
        // (costlier) tiers run only when earlier ones did not fill the page; each branch is
        // already ordered. PostgreSQL may run branches in parallel, so it sorts explicitly.
        let order = match self.store.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "ORDER BY tier, okey, seq",
        };
        let sql = format!(
            "SELECT * FROM ({union}) AS hits {order} LIMIT {}",
            q.int(take)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in q.0 {
            query = match v {
                Param::Int(i) => query.bind(i),
                Param::Text(t) => query.bind(t),
            };
        }
        Ok(query.fetch_all(self.store.reader()).await?)
    }
}
