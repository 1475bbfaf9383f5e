//! A software WebAuthn authenticator for tests and benchmarks: a P-256 key that makes
//! `none`-attestation credentials and signs assertions exactly as the WebAuthn Level 3
//! specification lays the bytes out (authenticator data, CBOR attestation object, COSE key,
//! client data JSON). Written here from the specification, not taken from the library under
//! test, so the engine's checks are checked against something else. Each message can be
//! bent (origin, rp id, counter, flags) to play an attacker.

#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::{Signature, SigningKey, signature::Signer};
use sha2::{Digest, Sha256};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// Minimal CBOR (RFC 8949) writer: the few item types an attestation object uses.
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn int(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        head(out, 0, i as u64)
    } else {
        head(out, 1, (-1 - i) as u64)
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend(b);
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend(s.as_bytes());
}

/// One credential on the soft authenticator.
pub struct SoftKey {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub counter: u32,
    pub rp_id: String,
    pub origin: String,
}

impl SoftKey {
    /// A new key for `origin` (its host is the rp id), from a seed so runs repeat.
    pub fn new(origin: &str, seed: u8) -> Self {
        let mut scalar = [0u8; 32];
        scalar[31] = seed.max(1);
        scalar[0] = 0x42;
        let host = origin
            .split("://")
            .nth(1)
            .unwrap()
            .split([':', '/'])
            .next()
            .unwrap()
            .to_owned();
        SoftKey {
            key: SigningKey::from_bytes(&scalar.into()).unwrap(),
            credential_id: Sha256::digest([seed, 7, 7]).to_vec(),
            user_handle: vec![],
            counter: 0,
            rp_id: host,
            origin: origin.to_owned(),
        }
    }

    fn auth_data(&self, flags: u8, attested: bool) -> Vec<u8> {
        let mut d = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        d.push(flags);
        d.extend(self.counter.to_be_bytes());
        if attested {
            d.extend([0u8; 16]); // AAGUID: none
            d.extend((self.credential_id.len() as u16).to_be_bytes());
            d.extend(&self.credential_id);
            let point = self.key.verifying_key().to_encoded_point(false);
            let mut cose = vec![];
            head(&mut cose, 5, 5);
            int(&mut cose, 1); // kty
            int(&mut cose, 2); // EC2
            int(&mut cose, 3); // alg
            int(&mut cose, -7); // ES256
            int(&mut cose, -1); // crv
            int(&mut cose, 1); // P-256
            int(&mut cose, -2);
            bytes(&mut cose, point.x().unwrap());
            int(&mut cose, -3);
            bytes(&mut cose, point.y().unwrap());
            d.extend(cose);
        }
        d
    }

    fn client_data(&self, kind: &str, options: &serde_json::Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"].as_str().unwrap();
        serde_json::json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    /// `navigator.credentials.create()` for these options, as `PublicKeyCredential.toJSON()`.
    /// Remembers the user handle the options carry (a discoverable credential keeps it).
    pub fn register(&mut self, options: &serde_json::Value) -> String {
        self.register_with_flags(options, UP | UV | AT)
    }

    pub fn register_with_flags(&mut self, options: &serde_json::Value, flags: u8) -> String {
        let handle = options["publicKey"]["user"]["id"].as_str().unwrap();
        self.user_handle = URL_SAFE_NO_PAD.decode(handle).unwrap();
        let client = self.client_data("webauthn.create", options);
        let mut att = vec![];
        head(&mut att, 5, 3);
        text(&mut att, "fmt");
        text(&mut att, "none");
        text(&mut att, "attStmt");
        head(&mut att, 5, 0);
        text(&mut att, "authData");
        bytes(&mut att, &self.auth_data(flags | AT, true));
        serde_json::json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {"attestationObject": b64(&att), "clientDataJSON": b64(&client)},
            "clientExtensionResults": {},
        })
        .to_string()
    }

    /// `navigator.credentials.get()` for these options (the counter goes up by one first).
    pub fn assert(&mut self, options: &serde_json::Value) -> String {
        self.counter += 1;
        self.assert_with_flags(options, UP | UV)
    }

    /// An assertion with these flags and the current counter, as it stands.
    pub fn assert_with_flags(&self, options: &serde_json::Value, flags: u8) -> String {
        let client = self.client_data("webauthn.get", options);
        let data = self.auth_data(flags, false);
        let mut signed = data.clone();
        signed.extend(Sha256::digest(&client));
        let sig: Signature = self.key.sign(&signed);
        serde_json::json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&data),
                "clientDataJSON": b64(&client),
                "signature": b64(sig.to_der().as_bytes()),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }

    /// Flags without user verification (a touch only).
    pub const PRESENCE_ONLY: u8 = UP;
}
