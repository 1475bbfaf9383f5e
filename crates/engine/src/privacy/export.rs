//! The DSAR export: one bundle (a ZIP of JSON and an HTML summary) of everything held on a customer — the profile and
//! attributes, identifiers, credential metadata, second factors and passkeys, sessions,
//! sign-in attempts with their risk decisions and reviews, consent ledger and state, the
//! emails sent to them, the audit entries about them. Rows are read table by table from
//! [`CUSTOMER_TABLES`], every column except secrets (hashes of tokens and codes, sealed
//! factor secrets, passkey credentials, password hashes) and derived lookup keys, which are
//! named in `withheld` so the customer knows they exist. Times (`*_us`) come as RFC 3339.
//! A schema-driven test fails when a table that refers to a customer is missing here.

use crate::Engine;
use crate::error::{Error, Result};
use crate::privacy::tables::{self as catalogue, CUSTOMER_TABLES};
use crate::staff::{Permission, Staff};
use crate::time::from_us;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::{Column, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Columns never exported: secrets, and keys derived from what is exported anyway.
fn withheld(column: &str) -> bool {
    column.ends_with("_hash")
        || matches!(
            column,
            "hash"
                | "sealed"
                | "last_step"
                | "passkey"
                | "state"
                | "nonce"
                | "code_challenge"
                | "pending_link"
                | "email_key"
                | "name_key"
                | "email_skeleton"
                | "to_key"
        )
}

/// What the customer gets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerExport {
    /// `vestibule-customer-export/1`.
    pub format: String,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub generated_at: DateTime<Utc>,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub customer_id: Uuid,
    /// Table → its rows about the customer (column → value).
    #[cfg_attr(
        feature = "ts",
        ts(type = "Record<string, Array<Record<string, unknown>>>")
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub tables: BTreeMap<String, Vec<Value>>,
    /// Table → the columns left out (secrets and derived keys), so their existence is known.
    pub withheld: BTreeMap<String, Vec<String>>,
}

/// One column of a row as JSON: numbers, text (JSON documents parsed), binary as its size;
/// `*_us` times as RFC 3339 under `*_at`.
fn cell(row: &sqlx::any::AnyRow, i: usize, name: &str) -> (String, Value) {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        if let Some(stem) = name.strip_suffix("_us") {
            let key = if stem == "at" {
                "at".to_owned()
            } else {
                format!("{stem}_at")
            };
            return (
                key,
                v.map_or(Value::Null, |us| json!(from_us(us).to_rfc3339())),
            );
        }
        return (name.to_owned(), json!(v));
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return (name.to_owned(), json!(v));
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        let parsed = v
            .as_deref()
            .filter(|t| t.starts_with('{') || t.starts_with('['))
            .and_then(|t| serde_json::from_str::<Value>(t).ok());
        return (name.to_owned(), parsed.unwrap_or_else(|| json!(v)));
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
        return (
            name.to_owned(),
            v.map_or(Value::Null, |b| json!(format!("({} bytes)", b.len()))),
        );
    }
    (name.to_owned(), Value::Null)
}

/// A whole row as JSON (every column, as [`cell`] renders it).
#[cfg(feature = "test-hooks")]
pub(crate) fn row_json(row: &sqlx::any::AnyRow) -> Value {
    Value::Object(
        row.columns()
            .iter()
            .enumerate()
            .map(|(i, c)| cell(row, i, c.name()))
            .collect(),
    )
}

/// What each table is, for people.
fn heading(table: &str) -> &'static str {
    match table {
        "customers" => "Profile",
        "sessions" => "Sessions",
        "tokens" => "Email links (verification, password reset)",
        "sign_in_attempts" => "Sign-in attempts and their risk decisions",
        "risk_reviews" => "Security reviews of your sign-ins",
        "risk_devices" => "Devices you signed in from",
        "risk_networks" => "Networks you signed in from",
        "customer_factors" => "Second factors",
        "recovery_codes" => "Recovery codes",
        "passkeys" => "Passkeys",
        "sign_in_challenges" => "Sign-ins waiting for a second step",
        "webauthn_ceremonies" => "Passkey sign-ins in progress",
        "email_sign_ins" => "Sign-in codes sent by email",
        "social_links" => "Connected sign-in providers",
        "social_flows" => "Provider sign-ins in progress",
        "oidc_codes" => "Applications' authorization codes",
        "oidc_tokens" => "Applications you signed in to",
        "consent_ledger" => "Consent given and withdrawn",
        "consent_state" => "Consent in force",
        "outbox" => "Emails sent to you",
        "audit_log" => "What staff and the system did with your account",
        _ => "Other records",
    }
}

struct Section {
    table: String,
    heading: &'static str,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    withheld: String,
}

#[derive(askama::Template)]
#[template(path = "export.html")]
struct Summary<'a> {
    title: &'a str,
    /// The tables holding nothing about the customer, by heading.
    empty: String,
    customer: String,
    generated: String,
    sections: Vec<Section>,
}

impl CustomerExport {
    /// The human-readable summary: one HTML page, a section per table (HTML-escaped).
    pub fn to_html(&self, organisation: &str) -> Result<String> {
        use askama::Template as _;
        // In the order of CUSTOMER_TABLES (the profile first); empty tables are named once
        // at the end.
        let mut empty = vec![];
        let sections = CUSTOMER_TABLES
            .iter()
            .filter_map(|t| self.tables.get_key_value(t.table))
            .filter(|(table, rows)| {
                if rows.is_empty() {
                    empty.push(heading(table));
                }
                !rows.is_empty()
            })
            .map(|(table, rows)| {
                let mut columns: Vec<String> = vec![];
                for r in rows {
                    for k in r.as_object().into_iter().flat_map(|o| o.keys()) {
                        if !columns.contains(k) {
                            columns.push(k.clone());
                        }
                    }
                }
                let rows = rows
                    .iter()
                    .map(|r| {
                        columns
                            .iter()
                            .map(|c| match r.get(c) {
                                None | Some(Value::Null) => String::new(),
                                Some(Value::String(s)) => s.clone(),
                                Some(v) => v.to_string(),
                            })
                            .collect()
                    })
                    .collect();
                Section {
                    table: table.clone(),
                    heading: heading(table),
                    columns,
                    rows,
                    withheld: self
                        .withheld
                        .get(table)
                        .map(|w| w.join(", "))
                        .unwrap_or_default(),
                }
            })
            .collect();
        Summary {
            empty: empty.join(", "),
            title: organisation,
            customer: self.customer_id.to_string(),
            generated: self.generated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            sections,
        }
        .render()
        .map_err(|e| Error::Internal(format!("export summary: {e}")))
    }
}

/// The names inside the bundle.
pub const BUNDLE_JSON: &str = "export.json";
pub const BUNDLE_HTML: &str = "summary.html";

impl CustomerExport {
    /// The bundle handed to the customer or saved by staff: one ZIP file holding
    /// [`BUNDLE_JSON`] (the data for machines, Art. 20) and [`BUNDLE_HTML`] (the same for
    /// people, Art. 15), dated at the export's time.
    pub fn bundle(&self, organisation: &str) -> Result<Vec<u8>> {
        use chrono::{Datelike, Timelike};
        use std::io::Write as _;
        let bad = |e: &dyn std::fmt::Display| Error::Internal(format!("export bundle: {e}"));
        let json = serde_json::to_vec_pretty(self).map_err(|e| bad(&e))?;
        let html = self.to_html(organisation)?;
        let t = self.generated_at;
        let when = zip::DateTime::from_date_and_time(
            u16::try_from(t.year()).unwrap_or(1980),
            u8::try_from(t.month()).unwrap_or(1),
            u8::try_from(t.day()).unwrap_or(1),
            u8::try_from(t.hour()).unwrap_or(0),
            u8::try_from(t.minute()).unwrap_or(0),
            u8::try_from(t.second()).unwrap_or(0),
        )
        .unwrap_or_default();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(when)
            .unix_permissions(0o600);
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in [(BUNDLE_JSON, json), (BUNDLE_HTML, html.into_bytes())] {
            zip.start_file(name, options).map_err(|e| bad(&e))?;
            zip.write_all(&bytes).map_err(|e| bad(&e))?;
        }
        Ok(zip.finish().map_err(|e| bad(&e))?.into_inner())
    }

    /// The bundle's file name: `customer-<id>-export-<date>.zip`.
    pub fn bundle_name(&self) -> String {
        format!(
            "customer-{}-export-{}.zip",
            self.customer_id,
            self.generated_at.format("%Y-%m-%d")
        )
    }
}

impl Engine {
    /// Everything held on a customer (`ExportCustomers`; audited `privacy.exported`).
    pub async fn export_customer(&self, staff: &Staff, id: Uuid) -> Result<CustomerExport> {
        staff.require(Permission::ExportCustomers)?;
        let export = self.collect_export(id).await?;
        let mut tx = self.store.begin().await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "privacy.exported",
            &format!("customer:{id}"),
            None,
            json!({"tables": export.tables.iter().map(|(t, rows)| (t.clone(), rows.len())).collect::<BTreeMap<_, _>>()}),
        )
        .await?;
        tx.commit().await?;
        Ok(export)
    }

    /// The signed-in customer's own export ("download my data").
    pub async fn export_my_data(&self, token: &str) -> Result<CustomerExport> {
        let session = self.validate_session(token).await?;
        self.collect_export(session.customer_id).await
    }

    pub(crate) async fn collect_export(&self, id: Uuid) -> Result<CustomerExport> {
        let email = crate::accounts::record::email_of(self.store.reader(), id)
            .await?
            .ok_or(Error::NotFound("customer"))?;
        let mut conn = self.store.reader().acquire().await?;
        let addresses = catalogue::addresses(&mut conn, id, &email).await?;
        let mut tables = BTreeMap::new();
        let mut left_out = BTreeMap::new();
        for t in CUSTOMER_TABLES {
            let (clause, values) = catalogue::clause(t.selector, id, &addresses);
            let table = &t.table;
            let sql = format!("SELECT * FROM {table} WHERE {clause}");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in values {
                q = q.bind(v);
            }
            let rows = q.fetch_all(&mut *conn).await?;
            let mut out = Vec::with_capacity(rows.len());
            let mut hidden: Vec<String> = vec![];
            for r in &rows {
                let mut m = Map::new();
                for (i, col) in r.columns().iter().enumerate() {
                    let name = col.name();
                    if withheld(name) {
                        if !hidden.iter().any(|h| h == name) {
                            hidden.push(name.to_owned());
                        }
                        continue;
                    }
                    let (k, v) = cell(r, i, name);
                    m.insert(k, v);
                }
                out.push(Value::Object(m));
            }
            if !hidden.is_empty() {
                left_out.insert((*table).to_owned(), hidden);
            }
            tables.insert((*table).to_owned(), out);
        }
        Ok(CustomerExport {
            format: "vestibule-customer-export/1".into(),
            generated_at: self.now(),
            customer_id: id,
            tables,
            withheld: left_out,
        })
    }
}
