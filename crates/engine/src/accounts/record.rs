//! The customer record: its types as staff and customers see them ([`Customer`],
//! [`CustomerSummary`], [`ProfilePatch`], …), how a row becomes one, validation of the
//! fields both sides may edit (attributes, locale), and the writes every flow shares: a
//! versioned update (`bump_customer`), a profile patch, an audit entry. Self-service
//! (`selfservice`) and staff work (`support`) both build on this module; neither imports the
//! other.

use crate::Engine;
use crate::accounts::normalize;
use crate::error::{Error, Result};
use crate::staff::audit::{self, NewEntry};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
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
    /// Its number in the record (what review decisions name).
    pub seq: i64,
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
    /// The /24 or /48 network of the address.
    pub network: String,
    /// Where GeoIP put the address, when a database is configured.
    pub country: Option<String>,
    /// The risk score (0–100); none for attempts recorded before scoring.
    pub score: Option<u32>,
    pub decision: Option<crate::risk::policy::Decision>,
    /// The decision took effect (not audit-only).
    pub enforced: bool,
    /// Why: each triggered signal with its points and evidence in words.
    pub signals: Vec<crate::risk::signals::Signal>,
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

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid> {
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

pub(crate) fn row_to_summary(r: &AnyRow) -> Result<CustomerSummary> {
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
/// The address a customer's emails go to (none for an unknown or erased customer).
pub(crate) async fn email_of<'e>(
    ex: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: Uuid,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT email FROM customers WHERE id = $1 AND status <> 'erased'")
            .bind(id.to_string())
            .fetch_optional(ex)
            .await?,
    )
}

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
            !(allow_breaks && matches!(c, '\n' | '\t')) && normalize::is_invisible_or_control(c)
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

/// Columns of a [`CustomerSummary`] row (table alias `c`).
pub(crate) const SUMMARY_COLUMNS: &str = "c.seq, c.id, c.email, c.email_key, c.name_key, c.display_name, c.phone, c.status, c.email_verified";

impl Engine {
    /// Validate and apply a profile patch as `actor` (the customer themself when
    /// `by_customer`: then only attributes they may edit can change), audited with a diff.
    /// Attribute changes are checked against the organisation's definitions.
    pub(crate) async fn apply_profile_patch(
        &self,
        actor: &str,
        by_customer: bool,
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
        if let Some(after) = &patch.attributes {
            crate::accounts::attributes::read(&mut *tx)
                .await?
                .check_change(&before.attributes, after, by_customer)?;
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
        .await?;
        // Security changes are told to the customer where they are recorded.
        self.notice_security_change(tx, action, target).await
    }
}
