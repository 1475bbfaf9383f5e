//! The DSAR export: schema-driven completeness (a table that refers to a customer and is
//! not exported fails here), and what a customer with a history gets — without secrets.

use super::*;
use std::collections::BTreeSet;
use vestibule_engine::consent::ledger::Collector;
use vestibule_engine::consent::{
    ConsentAnswer, ConsentChannel, ConsentText, LegalBasis, PublishVersion, PurposeInput,
};
use vestibule_engine::privacy::CUSTOMER_TABLES;
use vestibule_engine::{Error, Role};

const PW: &str = "lantern orchard violet";

/// Columns that name a customer or hold a customer's email address.
const REFERS: &[&str] = &[
    "customer_id",
    "email",
    "email_key",
    "to_addr",
    "to_key",
    "upstream_email",
];
/// Tables with such a column that are about staff, not customers, or that exist only once
/// the customer is gone (the erasure tombstone and its event).
const STAFF_TABLES: &[&str] = &[
    "staff",
    "staff_sign_in_attempts",
    "erasures",
    "erasure_events",
];

#[tokio::test]
async fn every_table_that_refers_to_a_customer_is_exported() {
    for h in backends().await {
        let columns = h.engine.schema_columns_for_test().await.unwrap();
        let tables: BTreeSet<&str> = columns.iter().map(|(t, _)| t.as_str()).collect();
        let exported: BTreeSet<&str> = CUSTOMER_TABLES.iter().map(|t| t.table).collect();
        // Nothing exported that the store does not have.
        for t in &exported {
            assert!(
                tables.contains(t),
                "{}: exported table {t} does not exist",
                h.name
            );
        }
        let referring: BTreeSet<&str> = columns
            .iter()
            .filter(|(_, c)| REFERS.contains(&c.as_str()))
            .map(|(t, _)| t.as_str())
            .filter(|t| !STAFF_TABLES.contains(t))
            .collect();
        assert!(referring.len() >= 15, "{}: {referring:?}", h.name);
        let missing: Vec<_> = referring.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{}: tables referring to a customer missing from the export: {missing:?}",
            h.name
        );
    }
}

#[tokio::test]
async fn a_customer_gets_everything_held_on_them_and_no_secrets() {
    for h in backends().await {
        let e = &h.engine;
        let who = verified_customer(&h, "ada@shop.example", PW).await;
        let signed = e.sign_in("ada@shop.example", PW, &ctx()).await.unwrap();
        let _ = e
            .sign_in("ada@shop.example", "wrong password", &ctx())
            .await;
        e.save_consent_purpose(
            &h.admin,
            &PurposeInput {
                id: "newsletter".into(),
                name: "Newsletter".into(),
                legal_basis: LegalBasis::Consent,
                data_categories: vec!["email address".into()],
                retention_days: 365,
                consent_required: true,
                version: 0,
            },
        )
        .await
        .unwrap();
        e.publish_consent_version(
            &h.admin,
            &PublishVersion {
                purpose_id: "newsletter".into(),
                version: 1,
                material: true,
                texts: vec![ConsentText {
                    locale: "en".into(),
                    title: "Newsletter".into(),
                    body: "A monthly email.".into(),
                }],
            },
        )
        .await
        .unwrap();
        e.record_consent(
            who,
            &[ConsentAnswer {
                purpose_id: "newsletter".into(),
                version: 1,
                locale: "en".into(),
                granted: true,
            }],
            Collector::Customer {
                channel: ConsentChannel::SignUp,
                client_id: None,
            },
            &ctx(),
        )
        .await
        .unwrap();
        e.get_customer(&h.admin, who, Some("ticket 12"))
            .await
            .unwrap();

        let x = e.export_customer(&h.admin, who).await.unwrap();
        assert_eq!(x.customer_id, who);
        let rows = |t: &str| x.tables[t].len();
        assert_eq!(rows("customers"), 1);
        assert_eq!(x.tables["customers"][0]["email"], "ada@shop.example");
        assert_eq!(x.tables["customers"][0]["display_name"], "Test Customer");
        assert!(
            x.tables["customers"][0]["created_at"]
                .as_str()
                .unwrap()
                .contains('T')
        );
        assert!(
            rows("sessions") >= 1 && rows("sign_in_attempts") >= 2,
            "{}",
            h.name
        );
        assert!(
            rows("risk_devices") >= 1 && rows("outbox") >= 1,
            "{}",
            h.name
        );
        assert_eq!(rows("consent_ledger"), 1);
        assert_eq!(x.tables["consent_ledger"][0]["channel"], "sign_up");
        assert!(rows("audit_log") >= 1, "{}", h.name);
        assert!(x.withheld["customers"].contains(&"password_hash".to_owned()));
        assert!(x.withheld["sessions"].contains(&"token_hash".to_owned()));
        // No secret in it: not the password's hash, not a session's token.
        let text = serde_json::to_string(&x).unwrap();
        assert!(!text.contains("$argon2id$"), "{}", h.name);
        assert!(!text.contains(&signed.token));
        for (table, rows) in &x.tables {
            for row in rows {
                for key in row.as_object().unwrap().keys() {
                    assert!(!key.ends_with("_hash") && key != "sealed", "{table}.{key}");
                }
            }
        }
        // The summary for people: a section per table, escaped, no secret either.
        let html = x.to_html("Shop & Co").unwrap();
        let title = html
            .lines()
            .find(|l| l.contains("<title>"))
            .unwrap_or_default();
        assert!(!html.contains("Shop & Co"), "{title}");
        assert!(
            title.contains("Shop &#38; Co") || title.contains("Shop &amp; Co"),
            "{title}"
        );
        assert!(html.contains("<h2 id=\"consent_ledger\">Consent given and withdrawn</h2>"));
        assert!(html.contains("ada@shop.example") && html.contains("password_hash"));
        assert!(!html.contains("$argon2id$"));
        // One file to keep: a ZIP of the JSON and the summary, read back with the reader.
        let bundle = x.bundle("Shop & Co").unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bundle)).unwrap();
        let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["export.json", "summary.html"]);
        let mut inner = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("export.json").unwrap(), &mut inner)
            .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&inner).unwrap(),
            serde_json::to_value(&x).unwrap()
        );
        let mut page = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("summary.html").unwrap(), &mut page)
            .unwrap();
        assert_eq!(page, html);
        assert!(
            x.bundle_name()
                .starts_with(&format!("customer-{who}-export-"))
                && x.bundle_name().ends_with(".zip")
        );
        // The customer's own copy says the same; the export is audited.
        let own = e.export_my_data(&signed.token).await.unwrap();
        assert_eq!(own.tables["consent_ledger"], x.tables["consent_ledger"]);
        let audit = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.action == "privacy.exported" && a.target == format!("customer:{who}"))
        );
        // Support may not export; an unknown customer is not found.
        e.add_staff(
            &h.admin,
            "sup@staff.example",
            "Sam",
            Role::Support,
            "staff member passphrase",
        )
        .await
        .unwrap();
        let sup = staff_signed_in(&h, "sup@staff.example", "staff member passphrase").await;
        assert!(matches!(
            e.export_customer(&sup, who).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            e.export_customer(&h.admin, uuid::Uuid::nil()).await,
            Err(Error::NotFound(_))
        ));
    }
}
