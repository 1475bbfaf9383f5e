//! Customers as staff see and manage them: the record, search, status changes, profile
//! edits and the help actions (resend verification, start a reset, mark verified, revoke
//! sessions). Every operation checks the acting staff member's permission first, runs in one
//! transaction with optimistic concurrency on `version`, and is audited (reads included).

use crate::Engine;
use crate::audit::{self, AuditEntry, NewEntry};
use crate::auth::SessionInfo;
use crate::error::{Error, Result};
use crate::normalize;
use crate::staff::{Permission, Staff};
use crate::store::{Backend, Tx};
use crate::time::{from_us, to_us};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CustomerStatus {
    Active,
    Locked,
    Disabled,
    Erased,
}

impl CustomerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerStatus::Active => "active",
            CustomerStatus::Locked => "locked",
            CustomerStatus::Disabled => "disabled",
            CustomerStatus::Erased => "erased",
        }
    }
    pub(crate) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "active" => CustomerStatus::Active,
            "locked" => CustomerStatus::Locked,
            "disabled" => CustomerStatus::Disabled,
            "erased" => CustomerStatus::Erased,
            other => return Err(Error::Internal(format!("unknown status {other}"))),
        })
    }
}

/// A customer record.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Customer {
    pub id: Uuid,
    pub email: String,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub display_name: String,
    pub locale: String,
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub attributes: serde_json::Value,
    pub status: CustomerStatus,
    pub tier: String,
    pub roles: Vec<String>,
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// One search hit.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerSummary {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub status: CustomerStatus,
    pub email_verified: bool,
}

/// A page of search results; `next` is an opaque cursor for the following page.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchPage {
    pub items: Vec<CustomerSummary>,
    pub next: Option<String>,
}

/// A recorded sign-in attempt.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignInAttempt {
    pub at: DateTime<Utc>,
    pub email: String,
    pub customer_id: Option<Uuid>,
    pub outcome: String,
    pub reason: String,
    pub method: String,
    pub ip: String,
    pub user_agent: String,
    /// The user agent in words ("Firefox on Linux").
    pub device: String,
}

/// How worrying a customer's recent sign-in activity looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Elevated,
    High,
}

/// The risk badge of a customer: failed sign-ins in the last 24 hours and from how many
/// addresses. Ten or more failures, or failures from five or more addresses, is high; three
/// or more is elevated.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CustomerRisk {
    pub level: RiskLevel,
    pub failed_last_24h: i64,
    pub failed_ips_last_24h: i64,
}

/// Profile fields staff may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProfilePatch {
    pub display_name: Option<String>,
    /// `Some("")` removes the phone number.
    pub phone: Option<String>,
    pub locale: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown> | null"))]
    pub attributes: Option<serde_json::Value>,
    pub tier: Option<String>,
}

pub(crate) const CUSTOMER_COLUMNS: &str = "id, email, email_verified, phone, display_name, locale, attributes, status, tier, roles, mfa_enabled, created_us, updated_us, last_sign_in_us, version";

fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| Error::Internal(format!("stored id: {e}")))
}

pub(crate) fn row_to_customer(r: &AnyRow) -> Result<Customer> {
    let attrs: String = r.try_get("attributes")?;
    let roles: String = r.try_get("roles")?;
    Ok(Customer {
        id: parse_uuid(&r.try_get::<String, _>("id")?)?,
        email: r.try_get("email")?,
        email_verified: r.try_get::<i64, _>("email_verified")? != 0,
        phone: r.try_get("phone")?,
        display_name: r.try_get("display_name")?,
        locale: r.try_get("locale")?,
        attributes: serde_json::from_str(&attrs).unwrap_or_else(|_| json!({})),
        status: CustomerStatus::parse(&r.try_get::<String, _>("status")?)?,
        tier: r.try_get("tier")?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        mfa_enabled: r.try_get::<i64, _>("mfa_enabled")? != 0,
        created_at: from_us(r.try_get("created_us")?),
        updated_at: from_us(r.try_get("updated_us")?),
        last_sign_in_at: r.try_get::<Option<i64>, _>("last_sign_in_us")?.map(from_us),
        version: r.try_get("version")?,
    })
}

fn row_to_summary(r: &AnyRow) -> Result<CustomerSummary> {
    Ok(CustomerSummary {
        id: parse_uuid(&r.try_get::<String, _>("id")?)?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        phone: r.try_get("phone")?,
        status: CustomerStatus::parse(&r.try_get::<String, _>("status")?)?,
        email_verified: r.try_get::<i64, _>("email_verified")? != 0,
    })
}

/// Read a customer inside a transaction.
pub(crate) async fn load(tx: &mut Tx, id: Uuid) -> Result<Customer> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("customer"))?;
    row_to_customer(&row)
}

/// Validate a custom-attributes document: a JSON object within the size limit.
pub(crate) fn check_attributes(v: &serde_json::Value, max_bytes: usize) -> Result<String> {
    if !v.is_object() {
        return Err(Error::invalid(
            "attributes",
            "custom attributes must be a JSON object",
        ));
    }
    check_attribute_text(v)?;
    let s = v.to_string();
    if s.len() > max_bytes {
        return Err(Error::invalid(
            "attributes",
            format!("custom attributes can be at most {max_bytes} bytes"),
        ));
    }
    Ok(s)
}

/// Attribute names and text values may not hide what they say: no control characters in
/// names, none but line breaks and tabs in values, and no bidirectional overrides or other
/// invisible formatting anywhere (`"\u{202E}"` would show staff a reversed value).
fn check_attribute_text(v: &serde_json::Value) -> Result<()> {
    let refused = |s: &str, allow_breaks: bool| {
        s.chars().any(|c| {
            !(allow_breaks && matches!(c, '\n' | '\t'))
                && normalize::has_invisible_or_control(c.encode_utf8(&mut [0; 4]))
        })
    };
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if refused(k, false) {
                    return Err(Error::invalid(
                        "attributes",
                        "attribute names cannot contain control or invisible characters",
                    ));
                }
                check_attribute_text(v)?;
            }
            Ok(())
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(check_attribute_text),
        serde_json::Value::String(s) if refused(s, true) => Err(Error::invalid(
            "attributes",
            "attribute values cannot contain control characters or invisible formatting such as bidirectional overrides",
        )),
        _ => Ok(()),
    }
}

pub(crate) fn check_locale(s: &str) -> Result<String> {
    let t = s.trim();
    if t.is_empty()
        || t.len() > 35
        || !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid(
            "locale",
            "a locale is a language tag such as en or pt-BR",
        ));
    }
    Ok(t.replace('_', "-"))
}

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

const SUMMARY_COLUMNS: &str = "c.seq, c.id, c.email, c.email_key, c.name_key, c.display_name, c.phone, c.status, c.email_verified";

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
        let text = crate::normalize::search_key(&text);
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

    /// Open a customer record. Audited as a read, with the reason or ticket reference if given.
    pub async fn get_customer(
        &self,
        staff: &Staff,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<Customer> {
        staff.require(Permission::ReadCustomers)?;
        let reason = reason
            .map(|r| normalize::text("reason", r, 500))
            .transpose()?
            .filter(|r| !r.is_empty());
        let mut tx = self.store.begin().await?;
        if reason.is_none() && crate::settings::load(&mut *tx).await?.require_access_reason {
            return Err(Error::invalid(
                "reason",
                "give a reason or ticket reference before opening a customer record",
            ));
        }
        let c = load(&mut tx, id).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.viewed",
            &format!("customer:{id}"),
            reason.as_deref(),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Recent sign-in attempts for a customer, newest first.
    pub async fn customer_attempts(
        &self,
        staff: &Staff,
        id: Uuid,
        limit: i64,
    ) -> Result<Vec<SignInAttempt>> {
        staff.require(Permission::ReadCustomers)?;
        let rows = sqlx::query(
            "SELECT at_us, email_key, customer_id, outcome, reason, method, ip, user_agent \
             FROM sign_in_attempts WHERE customer_id = $1 ORDER BY at_us DESC, seq DESC LIMIT $2",
        )
        .bind(id.to_string())
        .bind(limit.clamp(1, 500))
        .fetch_all(self.store.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SignInAttempt {
                    at: from_us(r.try_get("at_us")?),
                    email: r.try_get("email_key")?,
                    customer_id: r
                        .try_get::<Option<String>, _>("customer_id")?
                        .and_then(|s| Uuid::parse_str(&s).ok()),
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    method: r.try_get("method")?,
                    ip: r.try_get("ip")?,
                    device: crate::auth::device_label(&r.try_get::<String, _>("user_agent")?),
                    user_agent: r.try_get("user_agent")?,
                })
            })
            .collect()
    }

    /// The customer's risk badge from recent failed sign-ins.
    pub async fn customer_risk(&self, staff: &Staff, id: Uuid) -> Result<CustomerRisk> {
        staff.require(Permission::ReadCustomers)?;
        let since = to_us(self.now() - chrono::Duration::hours(24));
        let (failed, ips): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT ip) FROM sign_in_attempts \
             WHERE customer_id = $1 AND at_us > $2 AND outcome <> 'success'",
        )
        .bind(id.to_string())
        .bind(since)
        .fetch_one(self.store.reader())
        .await?;
        let level = if failed >= 10 || ips >= 5 {
            RiskLevel::High
        } else if failed >= 3 {
            RiskLevel::Elevated
        } else {
            RiskLevel::Low
        };
        Ok(CustomerRisk {
            level,
            failed_last_24h: failed,
            failed_ips_last_24h: ips,
        })
    }

    /// A customer's sessions that are still valid.
    pub async fn customer_sessions(&self, staff: &Staff, id: Uuid) -> Result<Vec<SessionInfo>> {
        staff.require(Permission::ReadCustomers)?;
        self.active_sessions(id).await
    }

    /// Audit entries about a customer (who looked, who changed what), newest first.
    /// Other customers whose address looks like this one's (same UTS #39 confusable
    /// skeleton: `аlice@…` in Cyrillic beside `alice@…`), so staff are warned before they act
    /// on the wrong record. Empty for most customers.
    pub async fn customer_lookalikes(
        &self,
        staff: &Staff,
        id: Uuid,
    ) -> Result<Vec<CustomerSummary>> {
        staff.require(Permission::ReadCustomers)?;
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM customers c JOIN customers me ON me.id = $1 \
             WHERE c.email_skeleton = me.email_skeleton AND c.email_skeleton <> '' AND c.id <> me.id \
             ORDER BY c.seq LIMIT 20"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_all(self.store.reader())
            .await?;
        rows.iter().map(row_to_summary).collect()
    }

    /// Fill `email_skeleton` for customers stored before it existed (once, when a store
    /// opens; a no-op afterwards).
    pub(crate) async fn backfill_email_skeletons(&self) -> Result<()> {
        loop {
            let rows = sqlx::query(
                "SELECT seq, email_key FROM customers WHERE email_skeleton = '' ORDER BY seq LIMIT 5000",
            )
            .fetch_all(self.store.reader())
            .await?;
            if rows.is_empty() {
                return Ok(());
            }
            let mut tx = self.store.begin().await?;
            for r in &rows {
                let key: String = r.try_get("email_key")?;
                let skeleton = normalize::email_skeleton(&key);
                sqlx::query("UPDATE customers SET email_skeleton = $1 WHERE seq = $2")
                    // Never '' again, even for a key whose skeleton is empty.
                    .bind(if skeleton.is_empty() { key } else { skeleton })
                    .bind(r.try_get::<i64, _>("seq")?)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }

    pub async fn customer_audit(
        &self,
        staff: &Staff,
        id: Uuid,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        staff.require(Permission::ReadCustomers)?;
        audit::for_target(
            self.store.reader(),
            &format!("customer:{id}"),
            limit.clamp(1, 1000),
        )
        .await
    }

    /// Change a customer's status. Locking and disabling revoke every session.
    /// `expected_version` is the version the staff member saw; a newer one is a conflict.
    pub async fn set_customer_status(
        &self,
        staff: &Staff,
        id: Uuid,
        expected_version: i64,
        status: CustomerStatus,
        reason: Option<&str>,
    ) -> Result<Customer> {
        let reason = reason
            .map(|r| normalize::text("reason", r, 500))
            .transpose()?
            .filter(|r| !r.is_empty());
        let mut tx = self.store.begin().await?;
        let before = load(&mut tx, id).await?;
        let needed = match (before.status, status) {
            (_, CustomerStatus::Locked) => Permission::LockCustomers,
            (CustomerStatus::Locked, CustomerStatus::Active) => Permission::UnlockCustomers,
            (_, CustomerStatus::Disabled) | (CustomerStatus::Disabled, CustomerStatus::Active) => {
                Permission::DisableCustomers
            }
            (_, CustomerStatus::Erased) => Permission::EraseCustomers,
            (_, CustomerStatus::Active) => Permission::UnlockCustomers,
        };
        staff.require(needed)?;
        if before.status == CustomerStatus::Erased {
            return Err(Error::invalid(
                "status",
                "an erased customer cannot be changed",
            ));
        }
        let now = self.now();
        self.bump_customer(&mut tx, id, expected_version, now, "status = $4", |q| {
            q.bind(status.as_str())
        })
        .await?;
        if matches!(status, CustomerStatus::Locked | CustomerStatus::Disabled) {
            self.revoke_all_sessions_tx(&mut tx, id, None).await?;
        }
        let action = format!(
            "customer.{}",
            match status {
                CustomerStatus::Active => "activated",
                CustomerStatus::Locked => "locked",
                CustomerStatus::Disabled => "disabled",
                CustomerStatus::Erased => "erased",
            }
        );
        self.audit(
            &mut tx,
            &staff.actor(),
            &action,
            &format!("customer:{id}"),
            reason.as_deref(),
            audit::diff(&[("status", json!(before.status), json!(status))]),
        )
        .await?;
        let after = load(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Edit profile fields, with validation and optimistic concurrency.
    pub async fn update_customer_profile(
        &self,
        staff: &Staff,
        id: Uuid,
        expected_version: i64,
        patch: ProfilePatch,
    ) -> Result<Customer> {
        staff.require(Permission::EditCustomers)?;
        self.apply_profile_patch(&staff.actor(), id, expected_version, patch)
            .await
    }

    /// Validate and apply a profile patch as `actor`, audited with a diff.
    pub(crate) async fn apply_profile_patch(
        &self,
        actor: &str,
        id: Uuid,
        expected_version: i64,
        patch: ProfilePatch,
    ) -> Result<Customer> {
        let name = patch
            .display_name
            .as_deref()
            .map(|n| normalize::text("display_name", n, 200))
            .transpose()?;
        let phone = match patch.phone.as_deref() {
            None => None,
            Some(p) if p.trim().is_empty() => Some(None),
            Some(p) => Some(Some(normalize::phone(p, self.config.default_region)?)),
        };
        let locale = patch.locale.as_deref().map(check_locale).transpose()?;
        let attributes = patch
            .attributes
            .as_ref()
            .map(|a| check_attributes(a, self.config.max_attributes_bytes))
            .transpose()?;
        let tier = patch
            .tier
            .as_deref()
            .map(|t| normalize::text("tier", t, 50))
            .transpose()?;
        let mut tx = self.store.begin().await?;
        let before = load(&mut tx, id).await?;
        if before.version != expected_version {
            return Err(Error::Conflict("the customer"));
        }
        let new_name = name.clone().unwrap_or(before.display_name.clone());
        let new_phone = phone.clone().unwrap_or(before.phone.clone());
        let new_locale = locale.clone().unwrap_or(before.locale.clone());
        let new_attrs = attributes
            .clone()
            .unwrap_or_else(|| before.attributes.to_string());
        let new_tier = tier.clone().unwrap_or(before.tier.clone());
        let now = self.now();
        self.bump_customer(
            &mut tx,
            id,
            expected_version,
            now,
            "display_name = $4, phone = $5, locale = $6, attributes = $7, tier = $8, name_key = $9",
            |q| {
                q.bind(new_name.clone())
                    .bind(new_phone.clone())
                    .bind(new_locale.clone())
                    .bind(new_attrs.clone())
                    .bind(new_tier.clone())
                    .bind(normalize::search_key(&new_name))
            },
        )
        .await?;
        let after = load(&mut tx, id).await?;
        self.audit(
            &mut tx,
            actor,
            "customer.profile_updated",
            &format!("customer:{id}"),
            None,
            audit::diff(&[
                (
                    "display_name",
                    json!(before.display_name),
                    json!(after.display_name),
                ),
                ("phone", json!(before.phone), json!(after.phone)),
                ("locale", json!(before.locale), json!(after.locale)),
                (
                    "attributes",
                    before.attributes.clone(),
                    after.attributes.clone(),
                ),
                ("tier", json!(before.tier), json!(after.tier)),
            ]),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Mark the email address verified after an out-of-band check (reason required).
    pub async fn mark_email_verified(
        &self,
        staff: &Staff,
        id: Uuid,
        expected_version: i64,
        reason: &str,
    ) -> Result<Customer> {
        staff.require(Permission::MarkEmailVerified)?;
        let reason = normalize::text("reason", reason, 500)?;
        if reason.is_empty() {
            return Err(Error::invalid(
                "reason",
                "say how the address was verified (e.g. a ticket reference)",
            ));
        }
        let mut tx = self.store.begin().await?;
        let before = load(&mut tx, id).await?;
        self.bump_customer(
            &mut tx,
            id,
            expected_version,
            self.now(),
            "email_verified = 1",
            |q| q,
        )
        .await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.email_marked_verified",
            &format!("customer:{id}"),
            Some(&reason),
            audit::diff(&[("email_verified", json!(before.email_verified), json!(true))]),
        )
        .await?;
        let after = load(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Send the customer a new verification email.
    pub async fn resend_verification(&self, staff: &Staff, id: Uuid) -> Result<()> {
        staff.require(Permission::ResendVerification)?;
        let mut tx = self.store.begin().await?;
        let c = load(&mut tx, id).await?;
        if c.email_verified {
            return Err(Error::invalid("email", "this address is already verified"));
        }
        self.send_verification(&mut tx, &c).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.verification_resent",
            &format!("customer:{id}"),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Email the customer a password-reset link. Staff never see or set passwords.
    pub async fn start_password_reset(&self, staff: &Staff, id: Uuid) -> Result<()> {
        staff.require(Permission::StartPasswordReset)?;
        let mut tx = self.store.begin().await?;
        let c = load(&mut tx, id).await?;
        if c.status == CustomerStatus::Erased {
            return Err(Error::NotFound("customer"));
        }
        self.send_reset(&mut tx, &c).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.password_reset_started",
            &format!("customer:{id}"),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revoke one session (`Some(session)`) or all of a customer's sessions.
    pub async fn revoke_customer_sessions(
        &self,
        staff: &Staff,
        id: Uuid,
        session: Option<Uuid>,
    ) -> Result<u64> {
        staff.require(Permission::RevokeSessions)?;
        let mut tx = self.store.begin().await?;
        load(&mut tx, id).await?;
        let n = self.revoke_all_sessions_tx(&mut tx, id, session).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "customer.sessions_revoked",
            &format!("customer:{id}"),
            None,
            json!({"sessions": n, "session": session}),
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// `UPDATE customers SET <set>, version = version + 1, updated_us = $2 WHERE id = $1 AND
    /// version = $3`, failing with a conflict when the version moved on.
    pub(crate) async fn bump_customer<'q>(
        &self,
        tx: &mut Tx,
        id: Uuid,
        expected_version: i64,
        now: DateTime<Utc>,
        set: &str,
        bind_rest: impl FnOnce(
            sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE customers SET {set}, version = version + 1, updated_us = $2 WHERE id = $1 AND version = $3"
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(to_us(now))
            .bind(expected_version);
        let done = bind_rest(q).execute(&mut **tx).await?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT version FROM customers WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut **tx)
                    .await?;
            return Err(match exists {
                None => Error::NotFound("customer"),
                Some(_) => Error::Conflict("the customer"),
            });
        }
        Ok(())
    }

    /// Append an audit entry in the given transaction.
    pub(crate) async fn audit(
        &self,
        tx: &mut Tx,
        actor: &str,
        action: &str,
        target: &str,
        reason: Option<&str>,
        diff: serde_json::Value,
    ) -> Result<()> {
        audit::append(
            tx,
            self.now(),
            self.entropy.as_ref(),
            NewEntry {
                actor,
                action,
                target,
                reason,
                diff,
            },
        )
        .await
    }
}
