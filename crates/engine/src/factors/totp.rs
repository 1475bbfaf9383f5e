//! TOTP authenticators (RFC 6238: SHA-1, 6 digits, 30-second steps, ±1 step of clock
//! drift). Enrolment makes a pending factor with a fresh 160-bit secret and shows it once as
//! an `otpauth://` URI (and base32 for typing); the first correct code activates it. Each
//! time step is accepted once per factor: a code seen by a shoulder-surfer or replayed from a
//! proxy log is refused even inside its 30 seconds.

use crate::Engine;
use crate::clock::{new_id, random_bytes};
use crate::error::{Error, Result};
use crate::storage::Tx;
use crate::time::to_us;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use totp_rs::{Algorithm, Builder, Secret, Totp};
use uuid::Uuid;

/// Pending TOTP factors older than this are removed when the customer enrols again.
const PENDING_FOR: chrono::Duration = chrono::Duration::minutes(30);

/// What the customer needs to set up an authenticator app: shown once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpEnrolment {
    /// Confirm with this id and a first code.
    pub factor_id: Uuid,
    /// The secret in base32, for typing into an app.
    pub secret: String,
    /// `otpauth://totp/…` for a QR code.
    pub uri: String,
}

impl TotpEnrolment {
    /// The `otpauth://` URI as a QR code: inline SVG (no XML prolog, so it can sit inside
    /// HTML), labelled as an image; empty if the URI cannot be encoded.
    pub fn qr_svg(&self) -> String {
        qr_svg(&self.uri)
    }
}

/// `text` as an inline SVG QR code (see [`TotpEnrolment::qr_svg`]).
pub fn qr_svg(text: &str) -> String {
    qrcode::QrCode::new(text.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        })
        .ok()
        .and_then(|svg| svg.split_once("?>").map(|(_, svg)| svg.trim().to_owned()))
        .map(|svg| svg.replacen("<svg ", "<svg role=\"img\" aria-label=\"QR code\" ", 1))
        .unwrap_or_default()
}

fn aad(factor: Uuid) -> String {
    format!("customer_factors:{factor}")
}

pub(crate) fn totp_for(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Totp> {
    // The otpauth label may not contain ':' (it separates issuer and account).
    let clean = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::from(secret))
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .map_err(|e| Error::Internal(format!("totp: {e}")))
}

/// Digits only, spaces and dashes people type ignored; anything else is not a code.
pub(crate) fn normalise_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

impl Engine {
    /// Start enrolling an authenticator app for the signed-in customer.
    pub async fn begin_totp(&self, session_token: &str, issuer: &str) -> Result<TotpEnrolment> {
        let s = self.validate_session(session_token).await?;
        let key = self.factor_key()?;
        let (customer, _) = self.customer_with_hash(s.customer_id).await?;
        let now = self.now();
        let id = new_id(now, self.entropy.as_ref());
        let secret: [u8; 20] = random_bytes(self.entropy.as_ref());
        let totp = totp_for(secret.to_vec(), issuer, &customer.email)?;
        let uri = totp
            .to_url()
            .map_err(|e| Error::Internal(format!("totp uri: {e}")))?;
        let sealed = key.seal(&secret, &aad(id), self.entropy.as_ref())?;
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "DELETE FROM customer_factors WHERE customer_id = $1 AND status = 'pending' AND created_us < $2",
        )
        .bind(s.customer_id.to_string())
        .bind(to_us(now - PENDING_FOR))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO customer_factors (id, customer_id, kind, name, status, sealed, created_us) \
             VALUES ($1, $2, 'totp', '', 'pending', $3, $4)",
        )
        .bind(id.to_string())
        .bind(s.customer_id.to_string())
        .bind(sealed)
        .bind(to_us(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TotpEnrolment {
            factor_id: id,
            secret: Secret::from(secret.to_vec()).to_base32(),
            uri,
        })
    }

    /// A pending enrolment again (the page after a mistyped first code): its secret and URI.
    pub async fn pending_totp(
        &self,
        session_token: &str,
        factor: Uuid,
        issuer: &str,
    ) -> Result<TotpEnrolment> {
        let s = self.validate_session(session_token).await?;
        let sealed: Vec<u8> = sqlx::query_scalar(
            "SELECT sealed FROM customer_factors WHERE id = $1 AND customer_id = $2 \
             AND kind = 'totp' AND status = 'pending' AND created_us > $3",
        )
        .bind(factor.to_string())
        .bind(s.customer_id.to_string())
        .bind(to_us(self.now() - PENDING_FOR))
        .fetch_optional(self.store.reader())
        .await?
        .ok_or(Error::NotFound("pending authenticator"))?;
        let secret = self.factor_key()?.open(&sealed, &aad(factor))?;
        let (customer, _) = self.customer_with_hash(s.customer_id).await?;
        let uri = totp_for(secret.clone(), issuer, &customer.email)?
            .to_url()
            .map_err(|e| Error::Internal(format!("totp uri: {e}")))?;
        Ok(TotpEnrolment {
            factor_id: factor,
            secret: Secret::from(secret).to_base32(),
            uri,
        })
    }

    /// Finish enrolling: the first code from the app activates the factor under `name`. The
    /// customer's first factor comes with ten recovery codes, returned here once.
    pub async fn confirm_totp(
        &self,
        session_token: &str,
        factor: Uuid,
        code: &str,
        name: &str,
    ) -> Result<Option<Vec<String>>> {
        let s = self.validate_session(session_token).await?;
        let name = crate::accounts::normalize::text("name", name, 60)?;
        let name = if name.is_empty() {
            "Authenticator app".to_owned()
        } else {
            name
        };
        let mut tx = self.store.begin().await?;
        let row = sqlx::query(
            "SELECT sealed, last_step FROM customer_factors WHERE id = $1 AND customer_id = $2 \
             AND kind = 'totp' AND status = 'pending' AND created_us > $3",
        )
        .bind(factor.to_string())
        .bind(s.customer_id.to_string())
        .bind(to_us(self.now() - PENDING_FOR))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("pending authenticator"))?;
        let step = self.matching_step(factor, &row.try_get::<Vec<u8>, _>("sealed")?, code)?;
        let step = step.ok_or_else(|| {
            Error::invalid(
                "code",
                "that code is not right; check the app's clock and try the current code",
            )
        })?;
        let had_factor = !self
            .active_factors(&mut *tx, s.customer_id)
            .await?
            .is_empty();
        sqlx::query(
            "UPDATE customer_factors SET status = 'active', name = $1, last_step = $2, last_used_us = $3, \
             version = version + 1 WHERE id = $4",
        )
        .bind(&name)
        .bind(i64::try_from(step).unwrap_or(i64::MAX))
        .bind(to_us(self.now()))
        .bind(factor.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE customers SET mfa_enabled = 1, version = version + 1 WHERE id = $1")
            .bind(s.customer_id.to_string())
            .execute(&mut *tx)
            .await?;
        crate::analytics::factor_added(&mut tx, self.now(), s.customer_id, "totp").await?;
        let codes = if had_factor {
            None
        } else {
            Some(self.replace_recovery_codes(&mut tx, s.customer_id).await?)
        };
        self.audit(
            &mut tx,
            &format!("customer:{}", s.customer_id),
            "customer.factor_added",
            &format!("customer:{}", s.customer_id),
            None,
            json!({"factor": factor, "kind": "totp", "name": name}),
        )
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// The time step `code` matches for this sealed secret now (±1 step), if any.
    pub(crate) fn matching_step(
        &self,
        factor: Uuid,
        sealed: &[u8],
        code: &str,
    ) -> Result<Option<u64>> {
        let Some(code) = normalise_code(code) else {
            return Ok(None);
        };
        let secret = self.factor_key()?.open(sealed, &aad(factor))?;
        let totp = totp_for(secret, "vestibule", "check")?;
        let now = u64::try_from(self.now().timestamp()).unwrap_or(0);
        Ok(totp.check(&code, now))
    }

    /// Check a TOTP code against the customer's active authenticators, accepting each time
    /// step once: the step is recorded in the same statement that checks it was not used.
    pub(crate) async fn use_totp_code(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        code: &str,
    ) -> Result<bool> {
        let rows = sqlx::query(
            "SELECT id, sealed, last_step FROM customer_factors WHERE customer_id = $1 \
             AND kind = 'totp' AND status = 'active'",
        )
        .bind(customer.to_string())
        .fetch_all(&mut **tx)
        .await?;
        for r in &rows {
            let id = Uuid::parse_str(&r.try_get::<String, _>("id")?)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let Some(step) = self.matching_step(id, &r.try_get::<Vec<u8>, _>("sealed")?, code)?
            else {
                continue;
            };
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            let n = sqlx::query(
                "UPDATE customer_factors SET last_step = $1, last_used_us = $2, version = version + 1 \
                 WHERE id = $3 AND last_step < $1",
            )
            .bind(step)
            .bind(to_us(self.now()))
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?
            .rows_affected();
            return Ok(n == 1);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vectors_and_code_shapes() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", 8 digits truncated to 6.
        let t = totp_for(b"12345678901234567890".to_vec(), "Shop", "a@b.example").unwrap();
        assert_eq!(t.generate(59).to_string(), "287082");
        assert_eq!(t.generate(1_111_111_109).to_string(), "081804");
        assert_eq!(t.check("081804", 1_111_111_109), Some(1_111_111_109 / 30));
        assert_eq!(normalise_code("081 804").as_deref(), Some("081804"));
        assert_eq!(normalise_code("08180"), None);
        assert_eq!(normalise_code("08180x"), None);
        let uri = totp_for(vec![1; 20], "Shop: Example", "a@b.example")
            .unwrap()
            .to_url()
            .unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("issuer=Shop"), "{uri}");
    }
}
