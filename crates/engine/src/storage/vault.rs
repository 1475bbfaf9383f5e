//! The vault's key file (`<vault>.keys`, next to the SQLCipher database). The database is
//! encrypted with a random 256-bit data key that is stored only wrapped (AES-256-GCM): once
//! per staff member under a key derived from their password with argon2id, and once under
//! the recovery key printed at `init`. Signing in to the console is unwrapping; a stolen
//! laptop without a password or the recovery key reveals nothing.
//!
//! The file is rewritten atomically (write to a temporary file, fsync, rename) so a crash
//! never leaves it half-written, and it is owner-only (0600): its wraps are an offline
//! guessing target. It names no one: a staff member's wrap is found by a keyed hash of their
//! email key (SHA-256 under a random per-vault salt), not by the address (format 2; a format-1
//! file, which named staff in clear, is converted the first time it is loaded).
//!
//! Failed console sign-ins cannot be written into a vault nobody has unlocked, so they go to
//! `<vault>.signins` (owner-only, opaque holder ids and times only): the next failures of the
//! same holder within the window are refused before any hashing ([`SignInLog`]), and the next
//! successful unlock moves them into the vault's attempt table and audit log.

use crate::clock::{Entropy, random_bytes};
use crate::credentials::password::{HashParams, Hasher};
use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

const FORMAT: u32 = 2;
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
    /// `staff:<keyed hash of the email key>` or `recovery`; bound into the AEAD as associated
    /// data (except for wraps converted from format 1, see `legacy_aad`).
    holder: String,
    /// Converted from format 1: the associated data is still `staff:<email key>`, which the
    /// person signing in supplies, so the address need not be kept here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    legacy_aad: bool,
    /// argon2id parameters for staff wraps; absent for the (full-entropy) recovery key.
    kdf: Option<HashParams>,
    salt: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    /// Salt of the keyed hash that names staff wraps (format 2).
    #[serde(default)]
    holder_salt: String,
    wraps: Vec<Wrap>,
}

/// Path of the key file belonging to a vault.
pub fn key_file_path(vault: &Path) -> PathBuf {
    let mut s = vault.as_os_str().to_owned();
    s.push(".keys");
    PathBuf::from(s)
}

/// Path of the failed-sign-in log belonging to a vault.
pub(crate) fn signin_log_path(vault: &Path) -> PathBuf {
    let mut s = vault.as_os_str().to_owned();
    s.push(".signins");
    PathBuf::from(s)
}

/// The opaque name of a staff member's wrap: a keyed hash of their email key.
fn staff_holder(salt: &str, email_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"vestibule staff holder v2\0");
    h.update(salt.as_bytes());
    h.update(b"\0");
    h.update(email_key.as_bytes());
    let digest = h.finalize();
    format!(
        "staff:{}",
        hex::encode(digest.get(..16).unwrap_or_default())
    )
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

fn open(key: &[u8; 32], w: &Wrap, aad: &str) -> Result<DataKey> {
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
                aad: aad.as_bytes(),
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
                holder_salt: B64.encode(random_bytes::<16>(e)),
                wraps: vec![Wrap {
                    holder: RECOVERY_HOLDER.into(),
                    legacy_aad: false,
                    kdf: None,
                    salt: B64.encode(salt),
                    nonce,
                    ciphertext,
                }],
            },
        };
        Ok((ring, data, recovery))
    }

    /// Load a key file, converting a format-1 file (staff named in clear) to format 2 and
    /// saving it at once; tightens the file's permissions if they are too open.
    pub(crate) fn load(vault: &Path, e: &dyn Entropy) -> Result<Self> {
        let path = key_file_path(vault);
        crate::storage::files::tighten(&path, 0o600)
            .map_err(|err| Error::Vault(format!("{}: {err}", path.display())))?;
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Vault(format!("cannot read the key file {}: {e}", path.display()))
        })?;
        let mut file: KeyFile = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Vault(format!("the key file is damaged: {e}")))?;
        match file.format {
            FORMAT => Ok(Self { path, file }),
            1 => {
                file.holder_salt = B64.encode(random_bytes::<16>(e));
                for w in &mut file.wraps {
                    if let Some(email_key) = w.holder.strip_prefix("staff:") {
                        let named = staff_holder(&file.holder_salt, email_key);
                        w.holder = named;
                        w.legacy_aad = true;
                    }
                }
                file.format = FORMAT;
                let ring = Self { path, file };
                ring.save()?;
                Ok(ring)
            }
            other => Err(Error::Vault(format!("unknown key file format {other}"))),
        }
    }

    /// The opaque holder id of a staff email key in this vault.
    pub(crate) fn holder_of(&self, email_key: &str) -> String {
        staff_holder(&self.file.holder_salt, email_key)
    }

    pub(crate) fn save(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| Error::Internal(format!("key file: {e}")))?;
        let tmp = self.path.with_extension("keys.tmp");
        let io = |e: std::io::Error| Error::Vault(format!("writing {}: {e}", self.path.display()));
        {
            let _ = std::fs::remove_file(&tmp);
            let mut f = crate::storage::files::open_private(&tmp, true).map_err(io)?;
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
        let holder = self.holder_of(email_key);
        let salt: [u8; 16] = random_bytes(e);
        let kek = hasher.derive_key(password.as_bytes(), &salt)?;
        let (nonce, ciphertext) = seal(&kek, &holder, data, e)?;
        self.file.wraps.retain(|w| w.holder != holder);
        self.file.wraps.push(Wrap {
            holder,
            legacy_aad: false,
            kdf: Some(hasher.params()),
            salt: B64.encode(salt),
            nonce,
            ciphertext,
        });
        Ok(())
    }

    pub(crate) fn remove_staff(&mut self, email_key: &str) {
        let holder = self.holder_of(email_key);
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
        let holder = self.holder_of(email_key);
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
        let aad = if w.legacy_aad {
            format!("staff:{email_key}")
        } else {
            w.holder.clone()
        };
        open(&kek, w, &aad).map_err(|e| match e {
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
        open(&key.kek(&salt), w, RECOVERY_HOLDER)
    }

    /// Opaque ids of the staff wraps present (diagnostics).
    pub(crate) fn staff_holders(&self) -> Vec<String> {
        self.file
            .wraps
            .iter()
            .filter(|w| w.holder.starts_with("staff:"))
            .map(|w| w.holder.clone())
            .collect()
    }
}

/// One failed console sign-in waiting to be recorded in the vault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingFailure {
    /// The holder id tried (a keyed hash; an unknown address gives an id no wrap has).
    pub holder: String,
    pub at_us: i64,
}

/// Failed console sign-ins of a vault that is not unlocked (`<vault>.signins`).
pub(crate) struct SignInLog {
    path: PathBuf,
    pub failures: Vec<PendingFailure>,
}

/// Entries kept at most; the oldest go first (the log must not grow without bound).
const SIGNIN_LOG_MAX: usize = 1000;

impl SignInLog {
    pub(crate) fn load(vault: &Path) -> Result<Self> {
        let path = signin_log_path(vault);
        let failures = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                tracing::warn!(path = %path.display(), "unreadable sign-in log; starting a new one");
                Vec::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::Vault(format!("{}: {e}", path.display()))),
        };
        Ok(Self { path, failures })
    }

    /// Failures of `holder` at or after `since_us`.
    pub(crate) fn recent(&self, holder: &str, since_us: i64) -> i64 {
        let n = self
            .failures
            .iter()
            .filter(|f| f.holder == holder && f.at_us >= since_us)
            .count();
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    pub(crate) fn record(&mut self, holder: String, at_us: i64) -> Result<()> {
        self.failures.push(PendingFailure { holder, at_us });
        let excess = self.failures.len().saturating_sub(SIGNIN_LOG_MAX);
        self.failures.drain(..excess);
        self.save()
    }

    /// Forget the entries (after they were recorded in the vault).
    pub(crate) fn clear(&mut self) -> Result<()> {
        self.failures.clear();
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Vault(format!("{}: {e}", self.path.display()))),
        }
    }

    fn save(&self) -> Result<()> {
        let json = serde_json::to_vec(&self.failures)
            .map_err(|e| Error::Internal(format!("sign-in log: {e}")))?;
        let tmp = self.path.with_extension("signins.tmp");
        let io = |e: std::io::Error| Error::Vault(format!("writing {}: {e}", self.path.display()));
        let _ = std::fs::remove_file(&tmp);
        crate::storage::files::write_private(&tmp, &json).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededEntropy;

    fn kdf() -> Hasher {
        Hasher::new_for_kdf(HashParams {
            m_kib: 64,
            t: 1,
            p: 1,
        })
        .unwrap()
    }

    /// A key file as format 1 wrote it: the staff member's address in clear as the holder.
    fn format_1_file(vault: &Path, e: &SeededEntropy) -> DataKey {
        let data = DataKey(random_bytes(e));
        let salt: [u8; 16] = random_bytes(e);
        let kek = kdf().derive_key(b"old staff words", &salt).unwrap();
        let holder = "staff:old@shop.example";
        let (nonce, ciphertext) = seal(&kek, holder, &data, e).unwrap();
        let file = serde_json::json!({"format": 1, "wraps": [{
            "holder": holder, "kdf": {"m_kib": 64, "t": 1, "p": 1},
            "salt": B64.encode(salt), "nonce": nonce, "ciphertext": ciphertext}]});
        std::fs::write(key_file_path(vault), file.to_string()).unwrap();
        data
    }

    #[test]
    fn a_format_1_key_file_is_converted_and_names_no_one_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("old.vault");
        let e = SeededEntropy::new(5);
        let data = format_1_file(&vault, &e);
        let ring = Keyring::load(&vault, &e).unwrap();
        let on_disk = std::fs::read_to_string(key_file_path(&vault)).unwrap();
        assert!(!on_disk.contains("old@shop.example"), "{on_disk}");
        assert!(on_disk.contains("\"format\": 2"), "{on_disk}");
        // The converted wrap still opens with the same password, and only with it.
        let key = ring
            .unlock_staff("old@shop.example", "old staff words", &kdf())
            .unwrap();
        assert_eq!(key.0, data.0);
        assert!(matches!(
            ring.unlock_staff("old@shop.example", "wrong", &kdf()),
            Err(Error::InvalidCredentials)
        ));
        let again = Keyring::load(&vault, &e).unwrap();
        assert!(
            again
                .unlock_staff("old@shop.example", "old staff words", &kdf())
                .is_ok()
        );
    }
}
