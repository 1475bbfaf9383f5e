//! Opaque secrets handed to customers (session tokens, emailed verification and reset
//! tokens): 256 random bits, base64url, stored only as SHA-256 digests.

use crate::clock::{Entropy, random_bytes};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A new token and the digest to store.
pub(crate) fn new_token(e: &dyn Entropy) -> (String, Vec<u8>) {
    let raw: [u8; 32] = random_bytes(e);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let digest = digest(&token);
    (token, digest)
}

/// The stored form of a token. Any string (even malformed) has a digest, so lookups of
/// garbage simply find nothing.
pub(crate) fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// Token kinds in the `tokens` table.
pub(crate) const VERIFY_EMAIL: &str = "verify_email";
pub(crate) const RESET_PASSWORD: &str = "reset_password";
pub(crate) const CHANGE_EMAIL: &str = "change_email";
/// The 6-digit code in a verification email (typed in by the signed-in customer).
pub(crate) const VERIFY_CODE: &str = "verify_code";

/// Six digits, uniform (rejection sampling keeps 000000–999999 equally likely).
pub(crate) fn six_digits(e: &dyn Entropy) -> String {
    loop {
        let n = u32::from_be_bytes(crate::clock::random_bytes(e));
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// What the store keeps of a customer's typed code: SHA-256 over the customer and the code,
/// so two customers' codes never meet and a code alone names nobody.
pub(crate) fn code_digest(customer: uuid::Uuid, code: &str) -> Vec<u8> {
    digest(&format!("code\0{customer}\0{code}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededEntropy;
    use proptest::prelude::*;

    #[test]
    fn tokens_are_256_bits_and_distinct() {
        let e = SeededEntropy::new(7);
        let (a, da) = new_token(&e);
        let (b, db) = new_token(&e);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_ne!(da, db);
        assert_eq!(digest(&a), da);
    }

    proptest! {
        #[test]
        fn digest_never_equals_token_and_is_fixed_size(s in "\\PC{0,200}") {
            let d = digest(&s);
            prop_assert_eq!(d.len(), 32);
            prop_assert_ne!(d, s.as_bytes().to_vec());
        }

        #[test]
        fn distinct_seeds_give_distinct_tokens(a in any::<u64>(), b in any::<u64>()) {
            prop_assume!(a != b);
            let (ta, _) = new_token(&SeededEntropy::new(a));
            let (tb, _) = new_token(&SeededEntropy::new(b));
            prop_assert_ne!(ta, tb);
        }
    }
}
