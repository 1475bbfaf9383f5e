//! The operator's breached-password corpus: SHA-1 digests of passwords known from data
//! breaches, one per line as Have I Been Pwned's "Pwned Passwords" lists them (`HEX` or
//! `HEX:COUNT`, either case). Loaded into memory as a sorted list (20 bytes a password: a
//! subset such as every password seen ten times or more fits in a few hundred megabytes),
//! consulted when a password is set (refused, NIST 800-63B) and at every password sign-in
//! (the risk engine's `common_password` signal). A file that does not parse is refused with
//! its line number, and the corpus in use stays.

use crate::error::{Error, Result};
use std::io::BufRead;
use std::path::Path;

/// A loaded corpus.
#[derive(Debug, Default)]
pub struct Breached {
    digests: Vec<[u8; 20]>,
}

impl Breached {
    /// Read a corpus (see the module): blank lines are skipped, anything else must be a
    /// 40-digit hex digest with an optional `:count`.
    pub fn read(input: impl BufRead, name: &str) -> Result<Breached> {
        let mut digests = Vec::new();
        for (n, line) in input.lines().enumerate() {
            let line = line.map_err(|e| {
                Error::invalid("breached_passwords", format!("{name}: cannot be read: {e}"))
            })?;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let hex_part = line.split(':').next().unwrap_or_default();
            let mut d = [0u8; 20];
            if hex_part.len() != 40 || hex::decode_to_slice(hex_part, &mut d).is_err() {
                return Err(Error::invalid(
                    "breached_passwords",
                    format!(
                        "{name}, line {}: expected a SHA-1 digest in hex (40 digits), optionally followed by :count",
                        n + 1
                    ),
                ));
            }
            digests.push(d);
        }
        digests.sort_unstable();
        digests.dedup();
        Ok(Breached { digests })
    }

    /// Read a corpus from a file.
    pub fn open(path: &Path) -> Result<Breached> {
        let name = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|e| {
            Error::invalid(
                "breached_passwords",
                format!("{name}: cannot be opened: {e}"),
            )
        })?;
        Breached::read(std::io::BufReader::new(f), &name)
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether the password (as typed) is in the corpus.
    pub fn contains(&self, password: &str) -> bool {
        let d = sha1_smol::Sha1::from(password.as_bytes()).digest().bytes();
        self.digests.binary_search(&d).is_ok()
    }
}

impl crate::Engine {
    /// Use this breached-password corpus from now on (the operator's configuration); how
    /// many digests it holds. A file that does not parse is refused and the corpus in use
    /// (if any) stays.
    pub fn load_breached_passwords(&self, path: &Path) -> Result<usize> {
        let corpus = Breached::open(path)?;
        let n = corpus.len();
        *self
            .breached
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::sync::Arc::new(corpus));
        Ok(n)
    }

    /// The password is in the operator's corpus.
    pub(crate) fn is_breached(&self, password: &str) -> bool {
        self.breached
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|b| b.contains(password))
    }

    /// Check a new password against the policy and the breached corpus.
    pub(crate) fn check_new_password(
        &self,
        password: &str,
        context: &[&str],
        has_second_factor: bool,
    ) -> Result<()> {
        self.config
            .policy
            .check(password, context, has_second_factor)?;
        if self.is_breached(password) {
            return Err(Error::WeakPassword(
                "this password appeared in a data breach and is tried by attackers; choose something only you would think of, such as a few unrelated words".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pwned_passwords_lines_and_finds_what_is_in_them() {
        // SHA-1("password1") and SHA-1("letmein"), as the lists print them.
        let text = "E38AD214943DAAD1D64C102FAEC29DE4AFE9DA3D:2427088\n\nb7a875fc1ea228b9061041b7cec4bd3c52ab3ce3\n";
        let b = Breached::read(text.as_bytes(), "list").unwrap();
        assert_eq!(b.len(), 2);
        assert!(b.contains("password1") && b.contains("letmein"));
        assert!(!b.contains("a long phrase nobody leaked"));
    }

    #[test]
    fn a_bad_line_is_refused_by_its_number() {
        let text = "E38AD214943DAAD1D64C102FAEC29DE4AFE9DA3D:1\nhunter2\n";
        let e = Breached::read(text.as_bytes(), "leaks.txt")
            .unwrap_err()
            .to_string();
        assert!(e.contains("leaks.txt, line 2"), "{e}");
    }
}
