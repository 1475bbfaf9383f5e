//! Secrets the engine must read back (TOTP keys), sealed before they reach a row: each
//! secret is encrypted with its own random AES-256-GCM key, which is itself encrypted
//! ("wrapped") with the store's factor key — envelope encryption, so rotating the factor key
//! re-wraps 32-byte keys, never re-encrypts data. The row's identity is the associated data:
//! a sealed value copied to another row does not open.
//!
//! The factor key: on a vault, derived from the vault's data key (HKDF-SHA-256), so nothing
//! more to keep; on PostgreSQL, supplied by the operator (a 32-byte key file), and without it
//! the factors that need it are refused with a clear error. It also keys the digests of
//! recovery codes (HMAC-SHA-256), so a copy of the database alone cannot test guesses against them.

use crate::clock::{Entropy, random_bytes};
use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Sha256;

const VERSION: u8 = 1;

/// The key that seals factor secrets. Never printed.
#[derive(Clone)]
pub struct FactorKey([u8; 32]);

impl std::fmt::Debug for FactorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FactorKey(..)")
    }
}

impl FactorKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from the contents of an operator's key file: 32 bytes, base64 (whitespace
    /// around it ignored). `openssl rand -base64 32` makes one.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                Error::invalid(
                    "factor_key",
                    "the factor key must be 32 random bytes, base64-encoded (openssl rand -base64 32)",
                )
            })?;
        Ok(Self(bytes))
    }

    /// The factor key of a vault, from its data key.
    pub(crate) fn for_vault(data_key: &[u8; 32]) -> Self {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"vestibule vault"), data_key);
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA-256's limit: expand cannot fail.
        let _ = hk.expand(b"factor key v1", &mut out);
        Self(out)
    }

    /// A keyed digest (recovery codes): HMAC-SHA-256 (RFC 2104) over a label and the value.
    pub(crate) fn digest(&self, label: &str, value: &[u8]) -> Result<Vec<u8>> {
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(&self.0)
            .map_err(|e| Error::Internal(format!("hmac key: {e}")))?;
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(value);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// Seal `plain` for the row named by `aad`.
    pub(crate) fn seal(&self, plain: &[u8], aad: &str, e: &dyn Entropy) -> Result<Vec<u8>> {
        let data_key: [u8; 32] = random_bytes(e);
        let wrap_nonce: [u8; 12] = random_bytes(e);
        let nonce: [u8; 12] = random_bytes(e);
        let failed = |_| Error::Internal("sealing a secret failed".into());
        let wrapped = Aes256Gcm::new_from_slice(&self.0)
            .map_err(|e| Error::Internal(e.to_string()))?
            .encrypt(
                Nonce::from_slice(&wrap_nonce),
                Payload {
                    msg: &data_key,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(failed)?;
        let ct = Aes256Gcm::new_from_slice(&data_key)
            .map_err(|e| Error::Internal(e.to_string()))?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(failed)?;
        let mut out = Vec::with_capacity(1 + 12 + wrapped.len() + 12 + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&wrap_nonce);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Open what [`FactorKey::seal`] sealed for the same row.
    pub(crate) fn open(&self, sealed: &[u8], aad: &str) -> Result<Vec<u8>> {
        let bad = || Error::Internal("a sealed secret does not open (wrong key or row)".into());
        let (version, rest) = sealed.split_first().ok_or_else(bad)?;
        if *version != VERSION || rest.len() < 12 + 48 + 12 + 16 {
            return Err(bad());
        }
        let (wrap_nonce, rest) = rest.split_at(12);
        let (wrapped, rest) = rest.split_at(48);
        let (nonce, ct) = rest.split_at(12);
        let data_key = Aes256Gcm::new_from_slice(&self.0)
            .map_err(|e| Error::Internal(e.to_string()))?
            .decrypt(
                Nonce::from_slice(wrap_nonce),
                Payload {
                    msg: wrapped,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        Aes256Gcm::new_from_slice(&data_key)
            .map_err(|_| bad())?
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededEntropy;

    #[test]
    fn sealed_values_open_only_with_their_key_and_row() {
        let e = SeededEntropy::new(1);
        let k = FactorKey::from_bytes([7; 32]);
        let s = k.seal(b"totp secret", "factor:a", &e).unwrap();
        assert!(
            !s.windows(11).any(|w| w == b"totp secret"),
            "not in the clear"
        );
        assert_eq!(k.open(&s, "factor:a").unwrap(), b"totp secret");
        assert!(k.open(&s, "factor:b").is_err(), "another row");
        assert!(FactorKey::from_bytes([8; 32]).open(&s, "factor:a").is_err());
        let mut tampered = s.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert!(k.open(&tampered, "factor:a").is_err());
        assert!(FactorKey::from_base64("c2hvcnQ=").is_err());
        assert_ne!(
            FactorKey::for_vault(&[1; 32]).0,
            FactorKey::for_vault(&[2; 32]).0
        );
    }
}
