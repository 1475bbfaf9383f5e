//! Recovery codes: ten per customer, made with the first second factor and on request, each
//! 10 characters from an unambiguous alphabet (50 bits), shown once, stored as a digest keyed
//! by the factor key (a copy of the database cannot test guesses), and each usable once.
//! Making new ones (which shows them) needs recent authentication; the old ones stop working.

use crate::Engine;
use crate::clock::random_bytes;
use crate::error::Result;
use crate::storage::Tx;
use crate::time::to_us;
use serde_json::json;
use uuid::Uuid;

pub const RECOVERY_CODES: usize = 10;
/// No 0/O, 1/I/L: codes are read off paper. 31 symbols, about 4.95 bits each.
const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Upper case, without spaces and dashes: how a code is compared.
fn canonical(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl Engine {
    fn new_recovery_code(&self) -> String {
        let mut chars = String::with_capacity(11);
        while chars.len() < 10 {
            // Rejection sampling: uniform over the 31 symbols.
            let [b] = random_bytes::<1>(self.entropy.as_ref());
            if let Some(c) = ALPHABET.get(usize::from(b & 31)) {
                chars.push(char::from(*c));
            }
        }
        chars.insert(5, '-');
        chars
    }

    /// Replace the customer's recovery codes with ten new ones (returned, shown once).
    pub(crate) async fn replace_recovery_codes(
        &self,
        tx: &mut Tx,
        customer: Uuid,
    ) -> Result<Vec<String>> {
        let key = self.factor_key()?;
        sqlx::query("DELETE FROM recovery_codes WHERE customer_id = $1")
            .bind(customer.to_string())
            .execute(&mut **tx)
            .await?;
        let now = to_us(self.now());
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        while codes.len() < RECOVERY_CODES {
            let code = self.new_recovery_code();
            if codes.contains(&code) {
                continue;
            }
            sqlx::query(
                "INSERT INTO recovery_codes (customer_id, code_hash, created_us) VALUES ($1, $2, $3)",
            )
            .bind(customer.to_string())
            .bind(key.digest(&format!("recovery:{customer}"), canonical(&code).as_bytes())?)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            codes.push(code);
        }
        Ok(codes)
    }

    /// New recovery codes for the signed-in customer (needs recent authentication).
    pub async fn regenerate_recovery_codes(&self, session_token: &str) -> Result<Vec<String>> {
        let s = self.validate_session(session_token).await?;
        s.require_recent_auth(self.now())?;
        let mut tx = self.store.begin().await?;
        if self
            .active_factors(&mut *tx, s.customer_id)
            .await?
            .is_empty()
        {
            return Err(crate::Error::invalid(
                "recovery_codes",
                "recovery codes come with a second factor; add an authenticator app first",
            ));
        }
        let codes = self.replace_recovery_codes(&mut tx, s.customer_id).await?;
        self.audit(
            &mut tx,
            &format!("customer:{}", s.customer_id),
            "customer.recovery_codes_regenerated",
            &format!("customer:{}", s.customer_id),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// How many unused recovery codes the signed-in customer has.
    pub async fn recovery_codes_left(&self, session_token: &str) -> Result<i64> {
        let s = self.validate_session(session_token).await?;
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM recovery_codes WHERE customer_id = $1 AND used_us IS NULL",
        )
        .bind(s.customer_id.to_string())
        .fetch_one(self.store.reader())
        .await?)
    }

    /// Spend a recovery code: true if it was an unused code of this customer (now used).
    pub(crate) async fn use_recovery_code(
        &self,
        tx: &mut Tx,
        customer: Uuid,
        code: &str,
    ) -> Result<bool> {
        let code = canonical(code);
        if code.len() != 10 {
            return Ok(false);
        }
        let digest = self
            .factor_key()?
            .digest(&format!("recovery:{customer}"), code.as_bytes())?;
        let n = sqlx::query(
            "UPDATE recovery_codes SET used_us = $1 WHERE customer_id = $2 AND code_hash = $3 AND used_us IS NULL",
        )
        .bind(to_us(self.now()))
        .bind(customer.to_string())
        .bind(digest)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn codes_compare_without_case_spaces_or_dashes() {
        assert_eq!(canonical(" abcde-fghjk "), "ABCDEFGHJK");
        assert_eq!(canonical("ABCDE FGHJK"), "ABCDEFGHJK");
    }
}
