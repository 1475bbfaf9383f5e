//! The consent ledger: every answer a customer gave (or staff recorded for them, with a
//! reason), exactly as shown — purpose, version and locale — with the channel, who recorded
//! it and from where. Records are only ever appended (the store refuses anything else but
//! blanking the address and user agent at erasure); the answer in force per customer and
//! purpose is kept beside them in the same transaction, and the decision API reads it.

use crate::Engine;
use crate::accounts::record::check_locale;
use crate::accounts::sessions::RequestContext;
use crate::error::{Error, Result};
use crate::oidc::signing::SigningAlg;
use crate::staff::{Permission, Staff};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

/// Answers recorded in one call.
pub const MAX_ANSWERS: usize = 50;

/// How an answer was collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsentChannel {
    /// The hosted sign-up page.
    SignUp,
    /// The hosted account center's preference center (or a re-consent at sign-in).
    AccountCenter,
    /// The customer API, through a client.
    Api,
    /// Staff on the customer's behalf, with a reason.
    Staff,
}

impl ConsentChannel {
    pub fn name(self) -> &'static str {
        match self {
            ConsentChannel::SignUp => "sign_up",
            ConsentChannel::AccountCenter => "account_center",
            ConsentChannel::Api => "api",
            ConsentChannel::Staff => "staff",
        }
    }

    fn from_name(s: &str) -> Result<Self> {
        Ok(match s {
            "sign_up" => ConsentChannel::SignUp,
            "account_center" => ConsentChannel::AccountCenter,
            "api" => ConsentChannel::Api,
            "staff" => ConsentChannel::Staff,
            other => return Err(Error::Internal(format!("stored consent channel {other}"))),
        })
    }

    /// In words, for receipts.
    fn method(self) -> &'static str {
        match self {
            ConsentChannel::SignUp => "sign-up page",
            ConsentChannel::AccountCenter => "account preference center",
            ConsentChannel::Api => "application (API)",
            ConsentChannel::Staff => "staff on the customer's behalf",
        }
    }
}

/// One answer: the purpose, the version and locale of the text shown, and yes or no.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentAnswer {
    pub purpose_id: String,
    pub version: i64,
    pub locale: String,
    pub granted: bool,
}

/// A ledger record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentRecord {
    /// The receipt id.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub id: Uuid,
    pub seq: i64,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub customer_id: Uuid,
    pub purpose_id: String,
    pub version: i64,
    pub locale: String,
    pub granted: bool,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub at: DateTime<Utc>,
    pub channel: ConsentChannel,
    pub client_id: Option<String>,
    pub staff_id: Option<String>,
    pub reason: Option<String>,
    pub ip: String,
    pub user_agent: String,
}

/// Where a customer stands on one purpose.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurposeState {
    pub purpose_id: String,
    /// The purpose's name, for people.
    pub name: String,
    /// Whether the purpose needs consent at all (false: another legal basis; nobody is asked).
    pub consent_required: bool,
    /// None: never answered.
    pub granted: Option<bool>,
    /// The version the answer was given to.
    pub version: Option<i64>,
    /// Consent was given to a version older than the newest material one.
    pub needs_reconsent: bool,
    /// The record in force.
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub record_id: Option<Uuid>,
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub at: Option<DateTime<Utc>>,
}

/// Why the decision API answered as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionBasis {
    /// Consent in force for the current material version.
    Granted,
    /// The customer withdrew (or refused, or objected).
    Withdrawn,
    /// Consent was given to a version older than the newest material one.
    ReconsentNeeded,
    /// The purpose needs consent and the customer never gave it.
    NeverAsked,
    /// The purpose rests on another legal basis and the customer did not object.
    OtherLegalBasis,
}

/// "May we use this customer's data for this purpose now?"
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentDecision {
    pub allowed: bool,
    pub basis: DecisionBasis,
    /// The record that justifies the answer, if one does.
    pub record: Option<ConsentRecord>,
}

/// Who records answers, and through what.
pub enum Collector<'a> {
    /// The customer on a hosted page or through a client of the customer API.
    Customer {
        channel: ConsentChannel,
        client_id: Option<&'a str>,
    },
    /// Staff on the customer's behalf (`ManageConsent`), with a reason.
    Staff { staff: &'a Staff, reason: &'a str },
}

pub(crate) const RECORD_COLUMNS: &str = "seq, id, customer_id, purpose_id, version, locale, granted, at_us, channel, \
     client_id, staff_id, reason, ip, user_agent";

fn row_to_record(r: &sqlx::any::AnyRow) -> Result<ConsentRecord> {
    let uuid = |col: &str| -> Result<Uuid> {
        Uuid::parse_str(&r.try_get::<String, _>(col)?)
            .map_err(|e| Error::Internal(format!("stored {col}: {e}")))
    };
    Ok(ConsentRecord {
        id: uuid("id")?,
        seq: r.try_get("seq")?,
        customer_id: uuid("customer_id")?,
        purpose_id: r.try_get("purpose_id")?,
        version: r.try_get("version")?,
        locale: r.try_get("locale")?,
        granted: r.try_get::<i64, _>("granted")? != 0,
        at: from_us(r.try_get("at_us")?),
        channel: ConsentChannel::from_name(&r.try_get::<String, _>("channel")?)?,
        client_id: r.try_get("client_id")?,
        staff_id: r.try_get("staff_id")?,
        reason: r.try_get("reason")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
    })
}

impl Engine {
    /// Record answers for a customer in one transaction (all or nothing): each names a
    /// published version with a text in that locale. Staff need `ManageConsent` and a
    /// reason, and are audited.
    pub async fn record_consent(
        &self,
        customer: Uuid,
        answers: &[ConsentAnswer],
        by: Collector<'_>,
        ctx: &RequestContext,
    ) -> Result<Vec<ConsentRecord>> {
        let mut tx = self.store.begin().await?;
        let records = self
            .record_consent_in(&mut tx, customer, answers, &by, ctx)
            .await?;
        tx.commit().await?;
        Ok(records)
    }

    /// [`Engine::record_consent`] inside the caller's transaction (sign-up records the
    /// answers with the account).
    pub(crate) async fn record_consent_in(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        answers: &[ConsentAnswer],
        by: &Collector<'_>,
        ctx: &RequestContext,
    ) -> Result<Vec<ConsentRecord>> {
        if answers.is_empty() || answers.len() > MAX_ANSWERS {
            return Err(Error::invalid(
                "answers",
                format!("1 to {MAX_ANSWERS} answers"),
            ));
        }
        let (channel, client_id, staff_id, reason) = match by {
            Collector::Customer { channel, client_id } => {
                if *channel == ConsentChannel::Staff {
                    return Err(Error::invalid("channel", "staff record answers as staff"));
                }
                (*channel, client_id.map(str::to_owned), None, None)
            }
            Collector::Staff { staff, reason } => {
                staff.require(Permission::ManageConsent)?;
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > 500 {
                    return Err(Error::invalid(
                        "reason",
                        "say why (1 to 500 characters, e.g. a ticket reference)",
                    ));
                }
                (
                    ConsentChannel::Staff,
                    None,
                    Some(staff.actor()),
                    Some(reason.to_owned()),
                )
            }
        };
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM customers WHERE id = $1")
                .bind(customer.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        match status.as_deref() {
            None => return Err(Error::NotFound("customer")),
            Some("erased") => {
                return Err(Error::invalid(
                    "customer",
                    "an erased customer's consent cannot be recorded",
                ));
            }
            Some(_) => {}
        }
        let (ip, ua) = ctx.bounded();
        let now = to_us(self.now());
        let mut records = Vec::with_capacity(answers.len());
        for a in answers {
            let locale = check_locale(&a.locale)?;
            let shown: Option<i64> = sqlx::query_scalar(
                "SELECT count(*) FROM consent_texts WHERE purpose_id = $1 AND version = $2 AND locale = $3",
            )
            .bind(&a.purpose_id)
            .bind(a.version)
            .bind(&locale)
            .fetch_optional(&mut **tx)
            .await?;
            if shown.unwrap_or(0) == 0 {
                super::purposes::latest_version(tx, &a.purpose_id).await?;
                return Err(Error::invalid(
                    "locale",
                    format!(
                        "{} has no published version {} in {locale}",
                        a.purpose_id, a.version
                    ),
                ));
            }
            let id = crate::clock::new_id(self.now(), self.entropy.as_ref());
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO consent_ledger (id, customer_id, purpose_id, version, locale, granted, at_us, \
                 channel, client_id, staff_id, reason, ip, user_agent) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq",
            )
            .bind(id.to_string())
            .bind(customer.to_string())
            .bind(&a.purpose_id)
            .bind(a.version)
            .bind(&locale)
            .bind(i64::from(a.granted))
            .bind(now)
            .bind(channel.name())
            .bind(&client_id)
            .bind(&staff_id)
            .bind(&reason)
            .bind(&ip)
            .bind(&ua)
            .fetch_one(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO consent_state (customer_id, purpose_id, granted, version, ledger_seq, at_us) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id, purpose_id) DO UPDATE SET \
                 granted = excluded.granted, version = excluded.version, ledger_seq = excluded.ledger_seq, \
                 at_us = excluded.at_us",
            )
            .bind(customer.to_string())
            .bind(&a.purpose_id)
            .bind(i64::from(a.granted))
            .bind(a.version)
            .bind(seq)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            crate::analytics::record(
                tx,
                self.now(),
                &crate::analytics::Event {
                    kind: crate::analytics::kind::CONSENT,
                    customer: Some(customer),
                    client: client_id.as_deref().unwrap_or(""),
                    method: channel.name(),
                    outcome: if a.granted { "granted" } else { "withdrawn" },
                    purpose: &a.purpose_id,
                    ..Default::default()
                },
            )
            .await?;
            records.push(ConsentRecord {
                id,
                seq,
                customer_id: customer,
                purpose_id: a.purpose_id.clone(),
                version: a.version,
                locale,
                granted: a.granted,
                at: from_us(now),
                channel,
                client_id: client_id.clone(),
                staff_id: staff_id.clone(),
                reason: reason.clone(),
                ip: ip.clone(),
                user_agent: ua.clone(),
            });
        }
        if let Collector::Staff { staff, .. } = by {
            self.audit(
                tx,
                &staff.actor(),
                "consent.recorded_for_customer",
                &format!("customer:{customer}"),
                reason.as_deref(),
                json!({"answers": records.iter().map(|r| json!({
                    "purpose": r.purpose_id, "version": r.version, "granted": r.granted,
                    "record": r.id,
                })).collect::<Vec<_>>()}),
            )
            .await?;
        }
        Ok(records)
    }

    /// Where a customer stands on every purpose that has a published version (the
    /// preference center; staff see it on the customer's record).
    pub async fn consent_state(&self, customer: Uuid) -> Result<Vec<PurposeState>> {
        let rows = sqlx::query(
            "SELECT p.id AS purpose_id, p.name AS name, p.consent_required AS required, \
             s.granted AS granted, s.version AS version, s.at_us AS at_us, l.id AS record_id, \
             (SELECT max(v.version) FROM consent_versions v WHERE v.purpose_id = p.id AND v.material = 1) AS material \
             FROM consent_purposes p \
             LEFT JOIN consent_state s ON s.purpose_id = p.id AND s.customer_id = $1 \
             LEFT JOIN consent_ledger l ON l.seq = s.ledger_seq \
             WHERE EXISTS (SELECT 1 FROM consent_versions v WHERE v.purpose_id = p.id) ORDER BY p.id",
        )
        .bind(customer.to_string())
        .fetch_all(self.store.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let granted = r.try_get::<Option<i64>, _>("granted")?.map(|g| g != 0);
                let version: Option<i64> = r.try_get("version")?;
                let material = r.try_get::<Option<i64>, _>("material")?.unwrap_or(0);
                Ok(PurposeState {
                    purpose_id: r.try_get("purpose_id")?,
                    name: r.try_get("name")?,
                    consent_required: r.try_get::<i64, _>("required")? != 0,
                    needs_reconsent: granted == Some(true) && version.unwrap_or(0) < material,
                    granted,
                    version,
                    record_id: r
                        .try_get::<Option<String>, _>("record_id")?
                        .and_then(|s| Uuid::parse_str(&s).ok()),
                    at: r.try_get::<Option<i64>, _>("at_us")?.map(from_us),
                })
            })
            .collect()
    }

    /// Refuse answers to texts that were never published (purpose, version, locale) before
    /// any work is done: sign-up checks what its form showed up front, the same for every
    /// address.
    pub(crate) async fn check_shown(&self, answers: &[ConsentAnswer]) -> Result<()> {
        if answers.len() > MAX_ANSWERS {
            return Err(Error::invalid(
                "answers",
                format!("at most {MAX_ANSWERS} answers"),
            ));
        }
        for a in answers {
            let locale = check_locale(&a.locale)?;
            let shown: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM consent_texts WHERE purpose_id = $1 AND version = $2 AND locale = $3",
            )
            .bind(&a.purpose_id)
            .bind(a.version)
            .bind(&locale)
            .fetch_one(self.store.reader())
            .await?;
            if shown == 0 {
                return Err(Error::invalid(
                    "consents",
                    format!(
                        "{} has no published version {} in {locale}",
                        a.purpose_id, a.version
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A customer's ledger, newest first (staff who may read customers).
    pub async fn consent_ledger(
        &self,
        staff: &Staff,
        customer: Uuid,
    ) -> Result<Vec<ConsentRecord>> {
        staff.require(Permission::ReadCustomers)?;
        self.customer_consent_records(customer).await
    }

    /// A customer's own ledger, newest first (the preference center and the export).
    pub async fn customer_consent_records(&self, customer: Uuid) -> Result<Vec<ConsentRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM consent_ledger WHERE customer_id = $1 ORDER BY seq DESC"
        )))
        .bind(customer.to_string())
        .fetch_all(self.store.reader())
        .await?;
        rows.iter().map(row_to_record).collect()
    }

    /// May the customer's data be used for `purpose` now? One indexed read; the answer
    /// comes with the record that justifies it. (Adapters decide who may ask: a back end
    /// with client credentials, or staff.)
    pub async fn consent_decision(&self, customer: Uuid, purpose: &str) -> Result<ConsentDecision> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT p.consent_required AS required, \
             (SELECT max(v.version) FROM consent_versions v WHERE v.purpose_id = p.id AND v.material = 1) AS material, \
             {} FROM consent_purposes p \
             LEFT JOIN consent_state s ON s.purpose_id = p.id AND s.customer_id = $2 \
             LEFT JOIN consent_ledger l ON l.seq = s.ledger_seq WHERE p.id = $1",
            RECORD_COLUMNS
                .split(", ")
                .map(|c| format!("l.{c} AS {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .bind(purpose)
        .bind(customer.to_string())
        .fetch_optional(self.store.reader())
        .await?
        .ok_or(Error::NotFound("purpose"))?;
        let required = row.try_get::<i64, _>("required")? != 0;
        let material = row.try_get::<Option<i64>, _>("material")?.unwrap_or(0);
        let record = match row.try_get::<Option<i64>, _>("seq")? {
            Some(_) => Some(row_to_record(&row)?),
            None => None,
        };
        let (allowed, basis) = match &record {
            None if required => (false, DecisionBasis::NeverAsked),
            None => (true, DecisionBasis::OtherLegalBasis),
            Some(r) if !r.granted => (false, DecisionBasis::Withdrawn),
            Some(r) if required && r.version < material => (false, DecisionBasis::ReconsentNeeded),
            Some(_) if required => (true, DecisionBasis::Granted),
            Some(_) => (true, DecisionBasis::OtherLegalBasis),
        };
        Ok(ConsentDecision {
            allowed,
            basis,
            record,
        })
    }

    /// The signed-in customer's own standing on every purpose, with the purposes and their
    /// latest texts (the customer API and the preference center).
    pub async fn my_consent(
        &self,
        token: &str,
    ) -> Result<(Vec<super::Purpose>, Vec<PurposeState>)> {
        let session = self.validate_session(token).await?;
        Ok((
            self.consent_purposes()
                .await?
                .into_iter()
                .filter(|p| p.latest.is_some())
                .collect(),
            self.consent_state(session.customer_id).await?,
        ))
    }

    /// Record the signed-in customer's own answers (`channel`: the account center's pages or
    /// the customer API, naming the client when one is known).
    pub async fn record_my_consent(
        &self,
        token: &str,
        answers: &[ConsentAnswer],
        channel: ConsentChannel,
        client_id: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Vec<ConsentRecord>> {
        let session = self.validate_session(token).await?;
        self.record_consent(
            session.customer_id,
            answers,
            Collector::Customer { channel, client_id },
            ctx,
        )
        .await
    }

    /// The signed-in customer's ledger, newest first.
    pub async fn my_consent_records(&self, token: &str) -> Result<Vec<ConsentRecord>> {
        let session = self.validate_session(token).await?;
        self.customer_consent_records(session.customer_id).await
    }

    /// The receipt of one of the signed-in customer's own records (another's: not found).
    pub async fn my_consent_receipt(&self, token: &str, record: Uuid) -> Result<String> {
        let session = self.validate_session(token).await?;
        let owner: Option<String> =
            sqlx::query_scalar("SELECT customer_id FROM consent_ledger WHERE id = $1")
                .bind(record.to_string())
                .fetch_optional(self.store.reader())
                .await?;
        if owner != Some(session.customer_id.to_string()) {
            return Err(Error::NotFound("consent record"));
        }
        self.consent_receipt(record).await
    }

    /// A receipt for staff who may read customers.
    pub async fn staff_consent_receipt(&self, staff: &Staff, record: Uuid) -> Result<String> {
        staff.require(Permission::ReadCustomers)?;
        self.consent_receipt(record).await
    }

    /// The receipt of a ledger record: a Kantara Consent Receipt v1.1 document, signed as a
    /// JWS (RS256) with the provider's current key, verifiable with its published JWKS.
    pub(crate) async fn consent_receipt(&self, record: Uuid) -> Result<String> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM consent_ledger WHERE id = $1"
        )))
        .bind(record.to_string())
        .fetch_optional(self.store.reader())
        .await?
        .ok_or(Error::NotFound("consent record"))?;
        let r = row_to_record(&row)?;
        let purpose = self.consent_purpose(&r.purpose_id).await?;
        let version = self.purpose_version(&r.purpose_id, r.version).await?;
        let title = version
            .texts
            .iter()
            .find(|t| t.locale == r.locale)
            .map(|t| t.title.clone())
            .unwrap_or_else(|| purpose.name.clone());
        let brand = self.branding().await?;
        let receipt = json!({
            "version": "KI-CR-v1.1.0",
            "jurisdiction": "EU",
            "consentTimestamp": r.at.timestamp(),
            "collectionMethod": r.channel.method(),
            "consentReceiptID": r.id,
            "language": r.locale,
            "piiPrincipalId": r.customer_id,
            "piiControllers": [{
                "piiController": brand.name,
                "contact": brand.support_url.clone().unwrap_or_else(|| self.config.public_url.clone()),
                "address": self.config.public_url,
                "email": self.config.mail_from,
                "phone": "",
            }],
            "policyUrl": format!("{}/account/privacy", self.config.public_url),
            "services": [{
                "service": brand.name,
                "purposes": [{
                    "purpose": title,
                    "purposeCategory": [purpose.id],
                    "consentType": if purpose.consent_required { "EXPLICIT" } else { "IMPLIED" },
                    "piiCategory": purpose.data_categories,
                    "primaryPurpose": false,
                    "termination": format!("until withdrawn; data kept at most {} days", purpose.retention_days),
                    "thirdPartyDisclosure": false,
                }],
            }],
            "sensitive": false,
            "spiCat": [],
            // Extensions: what this record says (v1.1 describes a grant; a withdrawal is a
            // record too), and which version of the text was shown.
            "granted": r.granted,
            "purposeVersion": r.version,
            "iss": self.config.public_url,
            "iat": r.at.timestamp(),
        });
        self.sign_jwt(SigningAlg::RS256, &receipt).await
    }
}
