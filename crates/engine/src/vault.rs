//! The vault's key file (`<vault>.keys`, next to the SQLCipher database). The database is
//! encrypted with a random 256-bit data key that is stored only wrapped (AES-256-GCM): once
//! per staff member under a key derived from their password with argon2id, and once under
//! the recovery key printed at `init`. Signing in to the console is unwrapping; a stolen
//! laptop without a password or the recovery key reveals nothing.
//!
//! The file is rewritten atomically (write to a temporary file, fsync, rename) so a crash
//! never leaves it half-written.

use crate::clock::{Entropy, random_bytes};
use crate::error::{Error, Result};
use crate::password::{HashParams, Hasher};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

const FORMAT: u32 = 1;
const RECOVERY_HOLDER: &str = "recovery";

/// The data key in memory; never written anywhere unwrapped.
#[derive(Clone)]
pub struct DataKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// One wrapped copy of the data key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wrap {
    /// `staff:<email key>` or `recovery`; bound into the AEAD as associated data.
    holder: String,
    /// argon2id parameters for staff wraps; absent for the (full-entropy) recovery key.
    kdf: Option<HashParams>,
    salt: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    wraps: Vec<Wrap>,
}

/// Path of the key file belonging to a vault.
pub fn key_file_path(vault: &Path) -> PathBuf {
    let mut s = vault.as_os_str().to_owned();
    s.push(".keys");
    PathBuf::from(s)
}

fn staff_holder(email_key: &str) -> String {
    format!("staff:{email_key}")
}

fn seal(key: &[u8; 32], holder: &str, data: &DataKey, e: &dyn Entropy) -> Result<(String, String)> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| Error::Internal(e.to_string()))?;
    let nonce: [u8; 12] = random_bytes(e);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &data.0,
                aad: holder.as_bytes(),
            },
        )
        .map_err(|_| Error::Internal("wrapping the data key failed".into()))?;
    Ok((B64.encode(nonce), B64.encode(ct)))
}

fn open(key: &[u8; 32], w: &Wrap) -> Result<DataKey> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| Error::Internal(e.to_string()))?;
    let nonce = B64
        .decode(&w.nonce)
        .map_err(|_| Error::Vault("bad nonce".into()))?;
    let ct = B64
        .decode(&w.ciphertext)
        .map_err(|_| Error::Vault("bad ciphertext".into()))?;
    if nonce.len() != 12 {
        return Err(Error::Vault("bad nonce length".into()));
    }
    let pt = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: w.holder.as_bytes(),
            },
        )
        .map_err(|_| Error::VaultLocked)?;
    let key: [u8; 32] = pt
        .try_into()
        .map_err(|_| Error::Vault("wrapped key has the wrong length".into()))?;
    Ok(DataKey(key))
}

/// The recovery key as shown to the operator: 64 hex digits in groups of eight.
#[derive(Clone)]
pub struct RecoveryKey(pub(crate) [u8; 32]);

impl RecoveryKey {
    pub fn parse(s: &str) -> Result<Self> {
        let hexits: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        let bytes = hex::decode(&hexits)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| Error::invalid("recovery_key", "a recovery key is 64 hex digits"))?;
        Ok(Self(bytes))
    }
    fn kek(&self, salt: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"vestibule recovery key v1");
        h.update(salt);
        h.update(self.0);
        h.finalize().into()
    }
}

impl std::fmt::Display for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = hex::encode(self.0);
        let groups: Vec<&str> = (0..8).filter_map(|i| h.get(i * 8..i * 8 + 8)).collect();
        f.write_str(&groups.join("-"))
    }
}

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(..)")
    }
}

/// The key file of one vault, loaded.
pub(crate) struct Keyring {
    path: PathBuf,
    file: KeyFile,
}

impl Keyring {
    /// A fresh data key, wrapped for the recovery key; staff wraps are added separately.
    pub(crate) fn create(vault: &Path, e: &dyn Entropy) -> Result<(Self, DataKey, RecoveryKey)> {
        let path = key_file_path(vault);
        if path.exists() || vault.exists() {
            return Err(Error::Vault(format!(
                "{} already exists; choose a new file name",
                vault.display()
            )));
        }
        let data = DataKey(random_bytes(e));
        let recovery = RecoveryKey(random_bytes(e));
        let salt: [u8; 16] = random_bytes(e);
        let (nonce, ciphertext) = seal(&recovery.kek(&salt), RECOVERY_HOLDER, &data, e)?;
        let ring = Self {
            path,
            file: KeyFile {
                format: FORMAT,
                wraps: vec![Wrap {
                    holder: RECOVERY_HOLDER.into(),
                    kdf: None,
                    salt: B64.encode(salt),
                    nonce,
                    ciphertext,
                }],
            },
        };
        Ok((ring, data, recovery))
    }

    pub(crate) fn load(vault: &Path) -> Result<Self> {
        let path = key_file_path(vault);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Vault(format!("cannot read the key file {}: {e}", path.display()))
        })?;
        let file: KeyFile = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Vault(format!("the key file is damaged: {e}")))?;
        if file.format != FORMAT {
            return Err(Error::Vault(format!(
                "unknown key file format {}",
                file.format
            )));
        }
        Ok(Self { path, file })
    }

    pub(crate) fn save(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| Error::Internal(format!("key file: {e}")))?;
        let tmp = self.path.with_extension("keys.tmp");
        let io = |e: std::io::Error| Error::Vault(format!("writing {}: {e}", self.path.display()));
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&json).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Add or replace the wrap for a staff member.
    pub(crate) fn set_staff(
        &mut self,
        email_key: &str,
        password: &str,
        data: &DataKey,
        hasher: &Hasher,
        e: &dyn Entropy,
    ) -> Result<()> {
        let holder = staff_holder(email_key);
        let salt: [u8; 16] = random_bytes(e);
        let kek = hasher.derive_key(password.as_bytes(), &salt)?;
        let (nonce, ciphertext) = seal(&kek, &holder, data, e)?;
        self.file.wraps.retain(|w| w.holder != holder);
        self.file.wraps.push(Wrap {
            holder,
            kdf: Some(hasher.params()),
            salt: B64.encode(salt),
            nonce,
            ciphertext,
        });
        Ok(())
    }

    pub(crate) fn remove_staff(&mut self, email_key: &str) {
        let holder = staff_holder(email_key);
        self.file.wraps.retain(|w| w.holder != holder);
    }

    /// Unwrap with a staff password. An unknown staff member costs the same argon2id work as
    /// a wrong password and gets the same error.
    pub(crate) fn unlock_staff(
        &self,
        email_key: &str,
        password: &str,
        hasher: &Hasher,
    ) -> Result<DataKey> {
        let holder = staff_holder(email_key);
        let Some(w) = self.file.wraps.iter().find(|w| w.holder == holder) else {
            let _ = hasher.derive_key(password.as_bytes(), b"no such staff member");
            return Err(Error::InvalidCredentials);
        };
        let salt = B64
            .decode(&w.salt)
            .map_err(|_| Error::Vault("bad salt".into()))?;
        let params = w.kdf.unwrap_or(hasher.params());
        let kdf = Hasher::new_for_kdf(params)?;
        let kek = kdf.derive_key(password.as_bytes(), &salt)?;
        open(&kek, w).map_err(|e| match e {
            Error::VaultLocked => Error::InvalidCredentials,
            other => other,
        })
    }

    pub(crate) fn unlock_recovery(&self, key: &RecoveryKey) -> Result<DataKey> {
        let w = self
            .file
            .wraps
            .iter()
            .find(|w| w.holder == RECOVERY_HOLDER)
            .ok_or_else(|| Error::Vault("the key file has no recovery entry".into()))?;
        let salt = B64
            .decode(&w.salt)
            .map_err(|_| Error::Vault("bad salt".into()))?;
        open(&key.kek(&salt), w)
    }

    /// Staff holders present (for tests and diagnostics).
    pub(crate) fn staff_holders(&self) -> Vec<String> {
        self.file
            .wraps
            .iter()
            .filter_map(|w| w.holder.strip_prefix("staff:").map(str::to_owned))
            .collect()
    }
}
