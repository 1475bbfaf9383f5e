//! The demo's consent: four purposes with their first versions (English and German texts),
//! and an answer to the three consent purposes from a deterministic share of the seeded
//! customers, as the sign-up page would have recorded them — so the Consent area shows
//! opt-in rates and a material version asks real numbers of customers again.

use crate::Engine;
use crate::clock::new_id;
use crate::consent::{ConsentText, LegalBasis, PublishVersion, PurposeInput};
use crate::error::Result;
use crate::staff::Staff;
use crate::time::to_us;
use chrono::Duration;

/// (id, name, basis, categories, retention days, consent required, en, de).
type DemoPurpose = (
    &'static str,
    &'static str,
    LegalBasis,
    &'static [&'static str],
    u32,
    bool,
    (&'static str, &'static str),
    (&'static str, &'static str),
);

const PURPOSES: &[DemoPurpose] = &[
    (
        "marketing_email",
        "Marketing email",
        LegalBasis::Consent,
        &["email address", "purchase history"],
        730,
        true,
        (
            "News and offers by email",
            "We send you news and offers by email, at most twice a month. You can withdraw at any time in your account.",
        ),
        (
            "Neuigkeiten und Angebote per E-Mail",
            "Wir senden Ihnen höchstens zweimal im Monat Neuigkeiten und Angebote. Sie können jederzeit in Ihrem Konto widerrufen.",
        ),
    ),
    (
        "personalisation",
        "Personalised recommendations",
        LegalBasis::Consent,
        &["purchase history", "browsing history"],
        365,
        true,
        (
            "Recommendations for you",
            "We use what you bought and looked at to suggest products you may like.",
        ),
        (
            "Empfehlungen für Sie",
            "Wir nutzen, was Sie gekauft und angesehen haben, um Ihnen passende Produkte vorzuschlagen.",
        ),
    ),
    (
        "partner_sharing",
        "Sharing with partners",
        LegalBasis::Consent,
        &["email address", "name"],
        365,
        true,
        (
            "Offers from our partners",
            "We share your name and email address with selected partners so they can send you their offers.",
        ),
        (
            "Angebote unserer Partner",
            "Wir geben Ihren Namen und Ihre E-Mail-Adresse an ausgewählte Partner weiter, damit diese Ihnen Angebote senden können.",
        ),
    ),
    (
        "service_analytics",
        "Service analytics",
        LegalBasis::LegitimateInterests,
        &["usage of the service"],
        395,
        false,
        (
            "Improving the service",
            "We count how the service is used, without telling customers apart, to make it work better.",
        ),
        (
            "Verbesserung des Dienstes",
            "Wir zählen, wie der Dienst genutzt wird, ohne Kunden zu unterscheiden, um ihn zu verbessern.",
        ),
    ),
];

/// Rows per INSERT.
const BATCH: usize = 400;

impl Engine {
    /// Add the demo's consent purposes and customers' answers (`ManageConsent`). A store
    /// that already has purposes is left as it is (0 answers added).
    pub async fn seed_demo_consent(&self, admin: &Staff) -> Result<u64> {
        if !self.consent_purposes().await?.is_empty() {
            return Ok(0);
        }
        for (id, name, basis, cats, days, required, en, de) in PURPOSES {
            self.save_consent_purpose(
                admin,
                &PurposeInput {
                    id: (*id).to_owned(),
                    name: (*name).to_owned(),
                    legal_basis: *basis,
                    data_categories: cats.iter().map(|c| (*c).to_owned()).collect(),
                    retention_days: *days,
                    consent_required: *required,
                    version: 0,
                },
            )
            .await?;
            let text = |(locale, (title, body)): (&str, (&str, &str))| ConsentText {
                locale: locale.to_owned(),
                title: title.to_owned(),
                body: body.to_owned(),
            };
            self.publish_consent_version(
                admin,
                &PublishVersion {
                    purpose_id: (*id).to_owned(),
                    version: 1,
                    material: true,
                    texts: vec![text(("en", *en)), text(("de", *de))],
                },
            )
            .await?;
        }
        // Each customer answered at sign-up: marketing 45 % yes (15 % no), personalisation
        // 60 % yes, partners 12 % yes (30 % no); the rest were not asked.
        let customers: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT id, created_us, locale FROM customers ORDER BY seq")
                .fetch_all(self.store.reader())
                .await?;
        let answers = |i: usize| -> [(&'static str, Option<bool>); 3] {
            let r = i.wrapping_mul(2_654_435_761) % 100;
            [
                ("marketing_email", (r < 60).then_some(r < 45)),
                ("personalisation", ((r + 37) % 100 < 60).then_some(true)),
                (
                    "partner_sharing",
                    ((r + 71) % 100 < 42).then_some((r + 71) % 100 < 12),
                ),
            ]
        };
        let now = self.now();
        let mut rows: Vec<(String, String, &'static str, String, bool, i64)> = vec![];
        for (i, (id, created_us, locale)) in customers.iter().enumerate() {
            for (purpose, answer) in answers(i) {
                if let Some(granted) = answer {
                    let at = (*created_us).min(to_us(now - Duration::minutes(1)));
                    let receipt = new_id(now, self.entropy.as_ref()).to_string();
                    let locale = if locale.starts_with("de") { "de" } else { "en" };
                    rows.push((receipt, id.clone(), purpose, locale.to_owned(), granted, at));
                }
            }
        }
        let mut tx = self.store.begin().await?;
        let marks = crate::analytics::bulk_marks(&mut tx).await?;
        for chunk in rows.chunks(BATCH) {
            let values = (0..chunk.len())
                .map(|k| {
                    let b = k * 6;
                    format!(
                        "(${}, ${}, ${}, 1, ${}, ${}, ${}, 'sign_up', '', 'demo')",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO consent_ledger (id, customer_id, purpose_id, version, locale, granted, \
                 at_us, channel, ip, user_agent) VALUES {values}"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (receipt, customer, purpose, locale, granted, at) in chunk {
                q = q
                    .bind(receipt.clone())
                    .bind(customer.clone())
                    .bind(*purpose)
                    .bind(locale.clone())
                    .bind(i64::from(*granted))
                    .bind(*at);
            }
            q.execute(&mut *tx).await?;
        }
        crate::analytics::record_bulk(&mut tx, i64::MAX, i64::MAX, marks.2).await?;
        sqlx::query(
            "INSERT INTO consent_state (customer_id, purpose_id, granted, version, ledger_seq, at_us) \
             SELECT customer_id, purpose_id, granted, version, seq, at_us FROM consent_ledger",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}
