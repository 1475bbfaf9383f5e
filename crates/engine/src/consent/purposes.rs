//! Purposes and their published versions. Admins and privacy staff (`ManageConsent`) define a
//! purpose and publish numbered versions of its text, one per locale; a published version
//! never changes (the store refuses it too), and publishing says how many customers now need
//! to be asked again.

use crate::Engine;
use crate::accounts::record::check_locale;
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeSet;

/// A purpose's title may be this long (characters).
pub const MAX_TITLE: usize = 200;
/// A purpose's text may be this long (characters).
pub const MAX_BODY: usize = 20_000;
/// Texts (locales) per version.
pub const MAX_LOCALES: usize = 50;

/// Why the organisation may use the data (GDPR Art. 6(1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterests,
}

impl LegalBasis {
    pub fn name(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::LegalObligation => "legal_obligation",
            LegalBasis::VitalInterests => "vital_interests",
            LegalBasis::PublicTask => "public_task",
            LegalBasis::LegitimateInterests => "legitimate_interests",
        }
    }

    fn from_name(s: &str) -> Result<Self> {
        Ok(match s {
            "consent" => LegalBasis::Consent,
            "contract" => LegalBasis::Contract,
            "legal_obligation" => LegalBasis::LegalObligation,
            "vital_interests" => LegalBasis::VitalInterests,
            "public_task" => LegalBasis::PublicTask,
            "legitimate_interests" => LegalBasis::LegitimateInterests,
            other => return Err(Error::Internal(format!("stored legal basis {other}"))),
        })
    }
}

/// What a purpose is, as staff define it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PurposeInput {
    /// `a-z0-9_`, starting with a letter: `marketing_email`. Fixed once created.
    pub id: String,
    pub name: String,
    pub legal_basis: LegalBasis,
    /// What data it uses, in words ("email address", "purchase history").
    pub data_categories: Vec<String>,
    pub retention_days: u32,
    /// Data is used for it only with the customer's consent (otherwise the customer may
    /// object, and a withdrawal is honoured).
    pub consent_required: bool,
    /// The version read (0: a new purpose); a stale one is a conflict.
    pub version: i64,
}

/// One locale's text of a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentText {
    pub locale: String,
    pub title: String,
    pub body: String,
}

/// A published version of a purpose's text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurposeVersion {
    pub purpose_id: String,
    pub version: i64,
    pub material: bool,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub published_at: DateTime<Utc>,
    pub published_by: String,
    pub texts: Vec<ConsentText>,
}

/// A purpose with its latest published version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Purpose {
    pub id: String,
    pub name: String,
    pub legal_basis: LegalBasis,
    pub data_categories: Vec<String>,
    pub retention_days: u32,
    pub consent_required: bool,
    /// Of the fields above (for [`PurposeInput::version`]).
    pub version: i64,
    /// None until a first version is published (customers are not asked before).
    pub latest: Option<PurposeVersion>,
    /// The newest material version: consent given to an older one must be asked again.
    pub material_version: i64,
}

/// A version to publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishVersion {
    pub purpose_id: String,
    /// The number it gets: one more than the latest (anything else: it was published over).
    pub version: i64,
    pub material: bool,
    pub texts: Vec<ConsentText>,
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    pub version: PurposeVersion,
    /// Customers whose consent rests on an older version and who are now asked again (0 for
    /// a minor version).
    pub reconsent: u64,
}

fn check_id(id: &str) -> Result<()> {
    let ok = (2..=48).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "id",
            "2 to 48 of a-z, 0-9 and _, starting with a letter (marketing_email)",
        ))
    }
}

fn check_input(p: &PurposeInput) -> Result<()> {
    check_id(&p.id)?;
    let name = p.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "a name of 1 to 100 characters"));
    }
    if p.data_categories.len() > 20
        || p.data_categories
            .iter()
            .any(|c| c.trim().is_empty() || c.chars().count() > 60)
    {
        return Err(Error::invalid(
            "data_categories",
            "up to 20 categories of 1 to 60 characters each",
        ));
    }
    if !(1..=36_500).contains(&p.retention_days) {
        return Err(Error::invalid(
            "retention_days",
            "retention is 1 to 36,500 days",
        ));
    }
    if p.legal_basis == LegalBasis::Consent && !p.consent_required {
        return Err(Error::invalid(
            "consent_required",
            "a purpose whose legal basis is consent requires consent",
        ));
    }
    Ok(())
}

/// Check a version's texts; they come back with canonical locales.
fn check_texts(texts: &[ConsentText]) -> Result<Vec<ConsentText>> {
    if texts.is_empty() || texts.len() > MAX_LOCALES {
        return Err(Error::invalid(
            "texts",
            format!("a version has 1 to {MAX_LOCALES} texts, one per locale"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(texts.len());
    for t in texts {
        let locale = check_locale(&t.locale)?;
        if !seen.insert(locale.to_ascii_lowercase()) {
            return Err(Error::invalid("locale", format!("two texts for {locale}")));
        }
        let (title, body) = (t.title.trim(), t.body.trim());
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return Err(Error::invalid(
                "title",
                format!("a title of 1 to {MAX_TITLE} characters ({locale})"),
            ));
        }
        if body.is_empty() || body.chars().count() > MAX_BODY {
            return Err(Error::invalid(
                "body",
                format!("a text of 1 to {MAX_BODY} characters ({locale})"),
            ));
        }
        out.push(ConsentText {
            locale,
            title: title.to_owned(),
            body: body.to_owned(),
        });
    }
    Ok(out)
}

fn categories(raw: &str) -> Result<Vec<String>> {
    serde_json::from_str(raw).map_err(|e| Error::Internal(format!("data categories: {e}")))
}

/// How customers answered one version of a purpose (the answers in force).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentRate {
    pub purpose_id: String,
    pub version: i64,
    /// Customers whose consent rests on this version.
    pub opted_in: i64,
    /// Customers who refused or withdrew it on this version.
    pub opted_out: i64,
}

impl Engine {
    /// Every purpose with its latest version (public: the hosted pages show them).
    pub async fn consent_purposes(&self) -> Result<Vec<Purpose>> {
        let rows = sqlx::query(
            "SELECT id, name, legal_basis, data_categories, retention_days, consent_required, version, \
             (SELECT max(v.version) FROM consent_versions v WHERE v.purpose_id = p.id) AS latest, \
             (SELECT max(v.version) FROM consent_versions v WHERE v.purpose_id = p.id AND v.material = 1) AS material \
             FROM consent_purposes p ORDER BY id",
        )
        .fetch_all(self.store.reader())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.try_get("id")?;
            let latest = match r.try_get::<Option<i64>, _>("latest")? {
                Some(v) => Some(self.purpose_version(&id, v).await?),
                None => None,
            };
            out.push(Purpose {
                name: r.try_get("name")?,
                legal_basis: LegalBasis::from_name(&r.try_get::<String, _>("legal_basis")?)?,
                data_categories: categories(&r.try_get::<String, _>("data_categories")?)?,
                retention_days: u32::try_from(r.try_get::<i64, _>("retention_days")?)
                    .unwrap_or(u32::MAX),
                consent_required: r.try_get::<i64, _>("consent_required")? != 0,
                version: r.try_get("version")?,
                latest,
                material_version: r.try_get::<Option<i64>, _>("material")?.unwrap_or(0),
                id,
            });
        }
        Ok(out)
    }

    /// One purpose (public).
    pub async fn consent_purpose(&self, id: &str) -> Result<Purpose> {
        self.consent_purposes()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(Error::NotFound("purpose"))
    }

    /// A published version with its texts.
    pub async fn purpose_version(&self, purpose: &str, version: i64) -> Result<PurposeVersion> {
        let head = sqlx::query(
            "SELECT material, published_us, published_by FROM consent_versions \
             WHERE purpose_id = $1 AND version = $2",
        )
        .bind(purpose)
        .bind(version)
        .fetch_optional(self.store.reader())
        .await?
        .ok_or(Error::NotFound("purpose version"))?;
        let texts = sqlx::query(
            "SELECT locale, title, body FROM consent_texts WHERE purpose_id = $1 AND version = $2 \
             ORDER BY locale",
        )
        .bind(purpose)
        .bind(version)
        .fetch_all(self.store.reader())
        .await?
        .iter()
        .map(|r| {
            Ok(ConsentText {
                locale: r.try_get("locale")?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(PurposeVersion {
            purpose_id: purpose.to_owned(),
            version,
            material: head.try_get::<i64, _>("material")? != 0,
            published_at: from_us(head.try_get("published_us")?),
            published_by: head.try_get("published_by")?,
            texts,
        })
    }

    /// Create a purpose (`version` 0) or change one (`version` as read). `ManageConsent`;
    /// audited with the change.
    pub async fn save_consent_purpose(&self, staff: &Staff, p: &PurposeInput) -> Result<Purpose> {
        staff.require(Permission::ManageConsent)?;
        check_input(p)?;
        let now = to_us(self.now());
        let cats = serde_json::to_string(
            &p.data_categories
                .iter()
                .map(|c| c.trim())
                .collect::<Vec<_>>(),
        )
        .map_err(|e| Error::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        let before: Option<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT name, legal_basis, data_categories, retention_days, consent_required \
             FROM consent_purposes WHERE id = $1",
        )
        .bind(&p.id)
        .fetch_optional(&mut *tx)
        .await?;
        let changed = if p.version == 0 {
            if before.is_some() {
                return Err(Error::Conflict("the purpose"));
            }
            sqlx::query(
                "INSERT INTO consent_purposes (id, name, legal_basis, data_categories, retention_days, \
                 consent_required, created_us, updated_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(&p.id)
            .bind(p.name.trim())
            .bind(p.legal_basis.name())
            .bind(&cats)
            .bind(i64::from(p.retention_days))
            .bind(i64::from(p.consent_required))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            sqlx::query(
                "UPDATE consent_purposes SET name = $2, legal_basis = $3, data_categories = $4, \
                 retention_days = $5, consent_required = $6, updated_us = $7, version = version + 1 \
                 WHERE id = $1 AND version = $8",
            )
            .bind(&p.id)
            .bind(p.name.trim())
            .bind(p.legal_basis.name())
            .bind(&cats)
            .bind(i64::from(p.retention_days))
            .bind(i64::from(p.consent_required))
            .bind(now)
            .bind(p.version)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        };
        if changed == 0 {
            return Err(match before {
                None => Error::NotFound("purpose"),
                Some(_) => Error::Conflict("the purpose"),
            });
        }
        let after = json!({
            "name": p.name.trim(), "legal_basis": p.legal_basis.name(),
            "data_categories": p.data_categories, "retention_days": p.retention_days,
            "consent_required": p.consent_required,
        });
        let diff = match before {
            None => json!({"created": after}),
            Some((name, basis, cats, days, required)) => json!({
                "before": {"name": name, "legal_basis": basis,
                           "data_categories": categories(&cats)?, "retention_days": days,
                           "consent_required": required != 0},
                "after": after,
            }),
        };
        self.audit(
            &mut tx,
            &staff.actor(),
            "consent.purpose_saved",
            &format!("purpose:{}", p.id),
            None,
            diff,
        )
        .await?;
        tx.commit().await?;
        self.consent_purpose(&p.id).await
    }

    /// Customers who would be asked again if a material version of `purpose` were published
    /// now: those whose consent to it is in force (`ManageConsent`, for the publish dialog).
    pub async fn reconsent_preview(&self, staff: &Staff, purpose: &str) -> Result<u64> {
        staff.require(Permission::ManageConsent)?;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM consent_state WHERE purpose_id = $1 AND granted = 1",
        )
        .bind(purpose)
        .fetch_one(self.store.reader())
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Opt-in and opt-out counts per purpose and version, from the answers in force
    /// (`ReadCustomers` or `ManageConsent`).
    pub async fn consent_rates(&self, staff: &Staff) -> Result<Vec<ConsentRate>> {
        staff
            .require(Permission::ManageConsent)
            .or_else(|_| staff.require(Permission::ReadCustomers))?;
        let rows = sqlx::query(
            "SELECT purpose_id, version, \
             sum(CASE WHEN granted = 1 THEN 1 ELSE 0 END) AS opted_in, \
             sum(CASE WHEN granted = 1 THEN 0 ELSE 1 END) AS opted_out \
             FROM consent_state GROUP BY purpose_id, version ORDER BY purpose_id, version",
        )
        .fetch_all(self.store.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConsentRate {
                    purpose_id: r.try_get("purpose_id")?,
                    version: r.try_get("version")?,
                    opted_in: r.try_get("opted_in")?,
                    opted_out: r.try_get("opted_out")?,
                })
            })
            .collect()
    }

    /// Publish the next version of a purpose's text (`ManageConsent`; audited). A version
    /// number already taken is a conflict and nothing changes.
    pub async fn publish_consent_version(
        &self,
        staff: &Staff,
        v: &PublishVersion,
    ) -> Result<Published> {
        staff.require(Permission::ManageConsent)?;
        let texts = check_texts(&v.texts)?;
        let mut tx = self.store.begin().await?;
        let latest = latest_version(&mut tx, &v.purpose_id).await?;
        if v.version != latest + 1 {
            return Err(if v.version >= 1 && v.version <= latest {
                Error::Conflict("this version of the purpose (it is published already)")
            } else {
                Error::invalid(
                    "version",
                    format!("the next version of {} is {}", v.purpose_id, latest + 1),
                )
            });
        }
        let now = self.now();
        sqlx::query(
            "INSERT INTO consent_versions (purpose_id, version, material, published_us, published_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&v.purpose_id)
        .bind(v.version)
        .bind(i64::from(v.material))
        .bind(to_us(now))
        .bind(staff.actor())
        .execute(&mut *tx)
        .await?;
        for t in &texts {
            sqlx::query(
                "INSERT INTO consent_texts (purpose_id, version, locale, title, body) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&v.purpose_id)
            .bind(v.version)
            .bind(&t.locale)
            .bind(&t.title)
            .bind(&t.body)
            .execute(&mut *tx)
            .await?;
        }
        let reconsent: i64 = if v.material {
            sqlx::query_scalar(
                "SELECT count(*) FROM consent_state WHERE purpose_id = $1 AND granted = 1 AND version < $2",
            )
            .bind(&v.purpose_id)
            .bind(v.version)
            .fetch_one(&mut *tx)
            .await?
        } else {
            0
        };
        self.audit(
            &mut tx,
            &staff.actor(),
            "consent.version_published",
            &format!("purpose:{}", v.purpose_id),
            None,
            json!({
                "version": v.version, "material": v.material, "reconsent": reconsent,
                "locales": texts.iter().map(|t| t.locale.as_str()).collect::<Vec<_>>(),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(Published {
            version: PurposeVersion {
                purpose_id: v.purpose_id.clone(),
                version: v.version,
                material: v.material,
                published_at: now,
                published_by: staff.actor(),
                texts,
            },
            reconsent: u64::try_from(reconsent).unwrap_or(0),
        })
    }
}

/// The latest published version of a purpose (0: none yet); unknown purpose: not found.
pub(crate) async fn latest_version(tx: &mut Tx, purpose: &str) -> Result<i64> {
    let row = sqlx::query(
        "SELECT (SELECT max(version) FROM consent_versions WHERE purpose_id = p.id) AS latest \
         FROM consent_purposes p WHERE p.id = $1",
    )
    .bind(purpose)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("purpose"))?;
    Ok(row.try_get::<Option<i64>, _>("latest")?.unwrap_or(0))
}
