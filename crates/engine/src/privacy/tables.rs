//! The catalogue of tables that hold data about a customer: how their rows are found (for
//! the export) and what erasure does to them. One list serves both, and a schema-driven
//! test fails when a table that refers to a customer is missing from it.

use crate::accounts::normalize;
use crate::error::Result;
use sqlx::Row;
use std::collections::BTreeSet;
use uuid::Uuid;

/// How a table's rows are found for a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// `WHERE <column> = <the customer's id>`.
    CustomerId(&'static str),
    /// The customer's id in `customer`, or one of their addresses (current and past) in
    /// `key` (attempts made against their address whether or not it was known).
    CustomerOrAddress {
        customer: &'static str,
        key: &'static str,
    },
    /// `WHERE <column>` is one of the customer's addresses, current or past (emails sent).
    Address(&'static str),
    /// Audit entries about them or by them (`customer:<id>` as target or actor).
    AboutOrBy,
    /// Review items of the customer's own sign-in attempts.
    TheirAttempts,
}

/// What erasure does to a table's rows about the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erase {
    /// The rows are deleted.
    Delete,
    /// The rows stay, stripped of everything that identifies the customer (`SET …`), so
    /// counts over time still add up.
    Anonymise(&'static str),
    /// The rows stay with `SET …` applied, under a legal basis (recorded in the tombstone).
    Keep {
        set: &'static str,
        basis: &'static str,
    },
    /// Audit entries: personal values replaced by markers; the hash chain still verifies.
    Redact,
}

/// One table holding data about a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerTable {
    pub table: &'static str,
    pub selector: Selector,
    pub erase: Erase,
}

const fn t(table: &'static str, selector: Selector, erase: Erase) -> CustomerTable {
    CustomerTable {
        table,
        selector,
        erase,
    }
}

/// The legal basis for keeping an erased customer's consent records.
pub const CONSENT_PROOF_BASIS: &str = "GDPR Art. 7(1) and 17(3)(e): proof of what the customer \
     consented to and withdrew, kept with the address and user agent removed";
/// The legal basis for keeping audit entries about an erased customer.
pub const AUDIT_BASIS: &str = "GDPR Art. 5(2) accountability: what staff did, kept with every \
     personal value replaced by a marker";

/// Every table holding data about a customer, the profile first. Erasure runs the list
/// backwards, so rows that find theirs through another table go before it.
pub const CUSTOMER_TABLES: &[CustomerTable] = &[
    t("customers", Selector::CustomerId("id"), Erase::Delete),
    t(
        "sessions",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t("tokens", Selector::CustomerId("customer_id"), Erase::Delete),
    t(
        "sign_in_attempts",
        Selector::CustomerOrAddress {
            customer: "customer_id",
            key: "email_key",
        },
        Erase::Anonymise(
            "customer_id = NULL, email_key = '', ip = '', user_agent = '', device = '', \
             network = '', asn = NULL, signals = '[]'",
        ),
    ),
    t(
        "events",
        Selector::CustomerId("customer_id"),
        Erase::Anonymise("customer_id = NULL"),
    ),
    t(
        "analytics_milestones",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t("risk_reviews", Selector::TheirAttempts, Erase::Delete),
    t(
        "risk_devices",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "risk_networks",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "customer_factors",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "recovery_codes",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "passkeys",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "sign_in_challenges",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "webauthn_ceremonies",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "email_sign_ins",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "social_links",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "social_flows",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "oidc_codes",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "oidc_tokens",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t(
        "consent_ledger",
        Selector::CustomerId("customer_id"),
        Erase::Keep {
            set: "ip = '', user_agent = ''",
            basis: CONSENT_PROOF_BASIS,
        },
    ),
    t(
        "consent_state",
        Selector::CustomerId("customer_id"),
        Erase::Delete,
    ),
    t("outbox", Selector::Address("to_key"), Erase::Delete),
    t("audit_log", Selector::AboutOrBy, Erase::Redact),
];

/// A selector's `WHERE` clause and its values: `$1` is the customer's id (or
/// `customer:<id>`), `$2…` their addresses.
pub(crate) fn clause(selector: Selector, id: Uuid, addresses: &[String]) -> (String, Vec<String>) {
    let list = || {
        (0..addresses.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let with_addresses = |first: String| {
        let mut v = vec![first];
        v.extend(addresses.iter().cloned());
        v
    };
    match selector {
        Selector::CustomerId(c) => (format!("{c} = $1"), vec![id.to_string()]),
        Selector::CustomerOrAddress { customer, key } => (
            format!(
                "({customer} = $1 OR ({key} IN ({}) AND {key} <> ''))",
                list()
            ),
            with_addresses(id.to_string()),
        ),
        // `$1` is bound (PostgreSQL wants every parameter used) and compared with nothing.
        Selector::Address(c) => (
            format!("($1 = $1 AND {c} IN ({}))", list()),
            with_addresses(id.to_string()),
        ),
        Selector::AboutOrBy => (
            "(target = $1 OR actor = $1)".to_owned(),
            vec![format!("customer:{id}")],
        ),
        Selector::TheirAttempts => (
            format!(
                "attempt_seq IN (SELECT seq FROM sign_in_attempts WHERE customer_id = $1 \
                 OR (email_key IN ({}) AND email_key <> ''))",
                list()
            ),
            with_addresses(id.to_string()),
        ),
    }
}

/// Every address the customer has had (normalised keys): the current one, the ones in their
/// email links, the ones their sign-in attempts named, and the ones in the audit of their
/// email changes. `current` is the stored address.
pub(crate) async fn addresses(
    conn: &mut sqlx::AnyConnection,
    id: Uuid,
    current: &str,
) -> Result<Vec<String>> {
    let mut keys = BTreeSet::from([normalize::key_of_stored(current)]);
    let rows = sqlx::query(
        "SELECT email AS a FROM tokens WHERE customer_id = $1 \
         UNION SELECT email_key AS a FROM sign_in_attempts WHERE customer_id = $1",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        let a: String = r.try_get("a")?;
        if !a.is_empty() {
            keys.insert(normalize::key_of_stored(&a));
        }
    }
    let diffs: Vec<String> = sqlx::query_scalar(
        "SELECT diff FROM audit_log WHERE target = $1 AND action = 'customer.email_changed'",
    )
    .bind(format!("customer:{id}"))
    .fetch_all(&mut *conn)
    .await?;
    for d in diffs {
        let v: serde_json::Value = serde_json::from_str(&d).unwrap_or_default();
        for a in v
            .get("email")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(a) = a.as_str().filter(|a| a.contains('@')) {
                keys.insert(normalize::key_of_stored(a));
            }
        }
    }
    Ok(keys.into_iter().collect())
}
