//! Normalisation of the identifiers customers and staff type: email addresses (a display form
//! and a lookup key) and phone numbers (E.164). Everything the engine stores or looks up by
//! goes through here, so "Ａlice@Example.COM" and "alice@example.com" are one account.

use crate::error::{Error, Result};
use unicode_normalization::UnicodeNormalization;

/// Longest email address accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// An email address as typed (trimmed, NFKC) and its lookup key (also lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub display: String,
    pub key: String,
}

/// Characters that have no business in an address: controls, bidi overrides, zero-width
/// joiners and other invisible formatting that make two addresses look alike.
pub(crate) fn is_invisible_or_control(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069 | 0xFEFF | 0x00AD)
}

/// Parse and normalise an email address. Rejects rather than repairs anything doubtful.
pub fn email(input: &str) -> Result<Email> {
    let display: String = input.trim().nfkc().collect();
    if display.is_empty() {
        return Err(Error::invalid("email", "enter an email address"));
    }
    if display.len() > MAX_EMAIL_LEN {
        return Err(Error::invalid(
            "email",
            format!("an email address can be at most {MAX_EMAIL_LEN} characters"),
        ));
    }
    if display
        .chars()
        .any(|c| c.is_whitespace() || is_invisible_or_control(c))
    {
        return Err(Error::invalid(
            "email",
            "an email address cannot contain spaces or invisible characters",
        ));
    }
    let Some((local, domain)) = display.rsplit_once('@') else {
        return Err(Error::invalid("email", "an email address needs an @"));
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(Error::invalid(
            "email",
            "the part before @ must be 1 to 64 characters and contain no other @",
        ));
    }
    let labels_ok = domain.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    if !domain.contains('.') || !labels_ok {
        return Err(Error::invalid(
            "email",
            "the part after @ must be a domain such as example.com",
        ));
    }
    let key = display.to_lowercase().nfkc().collect();
    Ok(Email { display, key })
}

/// Refuse an address whose local part or any domain label mixes scripts (UTS #39 mixed-script
/// detection): `аlice@shop.example` with a Cyrillic "а" looks exactly like the Latin one. A
/// whole address in one script (`иван@пример.рф`) is fine; digits and punctuation belong to
/// every script. Used where new addresses come in (registration, email change, staff).
pub fn check_single_script(email: &Email) -> Result<()> {
    use unicode_security::MixedScript as _;
    let (local, domain) = email.key.rsplit_once('@').unwrap_or((&email.key, ""));
    let mixed = !local.is_single_script() || domain.split('.').any(|l| !l.is_single_script());
    if mixed {
        return Err(Error::invalid(
            "email",
            "this address mixes letters from different alphabets (for example a Cyrillic \"а\" among Latin letters); type it again in one alphabet",
        ));
    }
    Ok(())
}

/// The UTS #39 confusable skeleton of an email key: two addresses that look alike
/// (`paypal@…` in Latin and in Cyrillic letters, `rn` and `m`) share it. Stored beside each
/// customer so staff are warned about look-alike records.
pub(crate) fn email_skeleton(key: &str) -> String {
    unicode_security::skeleton(key)
        .collect::<String>()
        .to_lowercase()
}

/// The lookup key of an address already stored (a customer's, an outbox recipient's). One
/// that no longer parses (stored before a rule tightened) falls back to lower case.
pub(crate) fn key_of_stored(address: &str) -> String {
    email(address)
        .map(|e| e.key)
        .unwrap_or_else(|_| address.to_lowercase())
}

/// Parse a phone number into E.164. Numbers without a leading `+` are read in `region`.
pub fn phone(input: &str, region: phonenumber::country::Id) -> Result<String> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 32 {
        return Err(Error::invalid(
            "phone",
            "enter a phone number of at most 32 characters",
        ));
    }
    let parsed = phonenumber::parse(Some(region), trimmed)
        .map_err(|_| Error::invalid("phone", "this is not a phone number"))?;
    if !phonenumber::is_valid(&parsed) {
        return Err(Error::invalid(
            "phone",
            "this phone number is not valid; include the country code, e.g. +44 20 7946 0958",
        ));
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// The lower-cased form names and search queries are compared in.
pub(crate) fn search_key(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase()
}

/// Free text shown to staff (names, reasons): NFKC, trimmed, no control characters, bounded.
pub fn text(field: &'static str, input: &str, max_chars: usize) -> Result<String> {
    let t: String = input.trim().nfkc().collect();
    if t.chars().count() > max_chars {
        return Err(Error::invalid(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if t.chars().any(is_invisible_or_control) {
        return Err(Error::invalid(
            field,
            "cannot contain control or invisible characters",
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fullwidth_and_case_fold_to_one_key() {
        let a = email("  Ａlice@Example.COM ").unwrap();
        let b = email("alice@example.com").unwrap();
        assert_eq!(a.key, b.key);
        assert_eq!(a.display, "Alice@Example.COM");
    }

    #[test]
    fn invisible_characters_are_refused() {
        assert!(email("ali\u{200B}ce@example.com").is_err());
        assert!(email("alice@exa\u{202E}mple.com").is_err());
        assert!(email("alice@example").is_err());
        assert!(email("@example.com").is_err());
        assert!(email("alice@@example.com").is_err());
        assert!(email("alice'; DROP TABLE customers;--@example.com").is_err());
    }

    #[test]
    fn confusable_letters_are_different_addresses_not_collisions() {
        // Cyrillic "а" (U+0430) looks like Latin "a" but is another address; it must neither
        // collide with nor be folded into the Latin one.
        let latin = email("anna@example.com").unwrap();
        let cyrillic = email("\u{0430}nna@example.com").unwrap();
        assert_ne!(latin.key, cyrillic.key);
        // Compatibility forms (fullwidth, ligatures) do fold.
        assert_eq!(
            email("ｏﬀice@example.com").unwrap().key,
            "office@example.com"
        );
    }

    #[test]
    fn mixed_script_addresses_are_refused_single_script_ones_accepted() {
        let lookalike = email("\u{0430}lice@shop.example").unwrap();
        assert!(check_single_script(&lookalike).is_err());
        assert!(check_single_script(&email("alice@shop.example").unwrap()).is_ok());
        assert!(check_single_script(&email("иван@пример.рф").unwrap()).is_ok());
        assert!(check_single_script(&email("jürgen.99@bücher.de").unwrap()).is_ok());
        assert!(check_single_script(&email("alice@sh\u{043E}p.example").unwrap()).is_err());
    }

    #[test]
    fn look_alike_addresses_share_a_skeleton() {
        let latin = email("paypal@shop.example").unwrap();
        let cyrillic = email("\u{0440}\u{0430}\u{0443}\u{0440}\u{0430}l@shop.example").unwrap();
        assert_ne!(latin.key, cyrillic.key);
        assert_eq!(email_skeleton(&latin.key), email_skeleton(&cyrillic.key));
        assert_ne!(
            email_skeleton(&latin.key),
            email_skeleton(&email("paypai@shop.example").unwrap().key)
        );
    }

    #[test]
    fn phones_become_e164() {
        let region = phonenumber::country::Id::GB;
        assert_eq!(phone("020 7946 0958", region).unwrap(), "+442079460958");
        assert_eq!(phone("+1 (650) 253-0000", region).unwrap(), "+16502530000");
        assert!(phone("12", region).is_err());
    }

    proptest! {
        #[test]
        fn email_key_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = email(&s) {
                let again = email(&e.display).unwrap();
                prop_assert_eq!(&again.key, &e.key);
                let from_key = email(&e.key).unwrap();
                prop_assert_eq!(&from_key.key, &e.key);
                prop_assert!(e.key.len() <= MAX_EMAIL_LEN * 4);
            }
        }

        #[test]
        fn script_checks_and_skeletons_never_panic(s in "\\PC{0,80}") {
            if let Ok(e) = email(&s) {
                let _ = check_single_script(&e);
                let skeleton = email_skeleton(&e.key);
                // A skeleton is stable: the skeleton of a skeleton-equal address is the same.
                prop_assert_eq!(email_skeleton(&e.key), skeleton);
            }
        }

        #[test]
        fn text_never_panics_and_respects_bound(s in "\\PC{0,300}") {
            if let Ok(t) = text("name", &s, 100) {
                prop_assert!(t.chars().count() <= 100);
            }
        }
    }
}
