//! Social sign-in as an attacker sees it: the engine against a provider the test plays
//! (discovery, JWKS, token endpoint through the `Fetch` the adapter would give), with ID
//! tokens bent one way at a time — wrong nonce, audience, issuer, expired, `alg: none`, an
//! HMAC keyed with the public key, a bad signature, an unknown key — each refused with no
//! account made; a replayed or foreign callback is refused too.

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};
use std::sync::Mutex;
use vestibule_engine::{Clock, Error, NewUpstreamProvider, SignInStep, SocialOutcome};

const ISSUER: &str = "https://id.upstream.example";

struct Provider {
    key: ed25519_dalek::SigningKey,
    /// (header, claims) of the next ID token.
    next: Mutex<(Value, Value)>,
    jwks_reads: Mutex<u32>,
    /// Sign with this instead of the key (a forged signature).
    forge: Mutex<Option<Vec<u8>>>,
}

impl Provider {
    fn new() -> Self {
        Self {
            key: ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
            next: Mutex::new((json!({}), json!({}))),
            jwks_reads: Mutex::new(0),
            forge: Mutex::new(None),
        }
    }

    fn token(&self) -> String {
        let (h, c) = self.next.lock().unwrap().clone();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(c.to_string())
        );
        let sig = match self.forge.lock().unwrap().clone() {
            Some(s) => s,
            None if h["alg"] == "none" => vec![],
            None if h["alg"] == "HS256" => {
                use hmac::Mac as _;
                let public = self.key.verifying_key().to_bytes();
                let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&public).unwrap();
                m.update(input.as_bytes());
                m.finalize().into_bytes().to_vec()
            }
            None => self.key.sign(input.as_bytes()).to_bytes().to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

impl vestibule_engine::Fetch for Provider {
    async fn get_json(&self, url: &str, _bearer: Option<&str>) -> Result<Value, String> {
        if url.ends_with("/.well-known/openid-configuration") {
            return Ok(json!({
                "issuer": ISSUER,
                "authorization_endpoint": format!("{ISSUER}/authorize"),
                "token_endpoint": format!("{ISSUER}/token"),
                "jwks_uri": format!("{ISSUER}/jwks"),
            }));
        }
        if url.ends_with("/jwks") {
            *self.jwks_reads.lock().unwrap() += 1;
            let x = URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes());
            return Ok(json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1"}]}));
        }
        Err(format!("no such page {url}"))
    }

    async fn post_form(
        &self,
        url: &str,
        basic: (&str, &str),
        form: &[(&str, &str)],
    ) -> Result<(u16, Value), String> {
        assert_eq!(url, format!("{ISSUER}/token"));
        assert_eq!(basic, ("shop", "s3cret"), "client_secret_basic");
        assert!(
            form.iter()
                .any(|(k, v)| *k == "code_verifier" && v.len() == 43),
            "PKCE"
        );
        Ok((
            200,
            json!({"id_token": self.token(), "token_type": "Bearer", "access_token": "a"}),
        ))
    }
}

fn param(url: &str, k: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

async fn customers(h: &Harness, email: &str) -> usize {
    let page = h
        .engine
        .search_customers(&h.admin, email, None, 10)
        .await
        .unwrap();
    page.items.iter().filter(|c| c.email == email).count()
}

#[tokio::test]
async fn id_tokens_are_checked_and_callbacks_are_single_use() {
    for h in backends().await {
        let p = Provider::new();
        let provider = h
            .engine
            .add_upstream_provider(
                &h.admin,
                NewUpstreamProvider {
                    label: "Upstream".into(),
                    issuer: ISSUER.into(),
                    client_id: "shop".into(),
                    client_secret: "s3cret".into(),
                    scopes: None,
                },
            )
            .await
            .unwrap();
        let now = h.clock.now().timestamp();
        let good = |nonce: &str| {
            json!({"iss": ISSUER, "aud": "shop", "sub": "u-1", "exp": now + 300, "iat": now,
                   "nonce": nonce, "email": "fed@example.com", "email_verified": true, "name": "Fed Eration"})
        };
        let eddsa = json!({"alg": "EdDSA", "kid": "k1", "typ": "JWT"});
        type Bend = Box<dyn Fn(&mut Value, &mut Value)>;
        let bends: Vec<(&str, Bend)> = vec![
            ("wrong nonce", Box::new(|_, c| c["nonce"] = json!("not-it"))),
            (
                "other audience",
                Box::new(|_, c| c["aud"] = json!("another-app")),
            ),
            (
                "two audiences, azp missing",
                Box::new(|_, c| c["aud"] = json!(["shop", "x"])),
            ),
            (
                "other issuer",
                Box::new(|_, c| c["iss"] = json!("https://evil.example")),
            ),
            ("expired", Box::new(move |_, c| c["exp"] = json!(now - 120))),
            (
                "no subject",
                Box::new(|_, c| {
                    c.as_object_mut().unwrap().remove("sub");
                }),
            ),
            ("alg none", Box::new(|h, _| h["alg"] = json!("none"))),
            (
                "HMAC with the public key",
                Box::new(|h, _| h["alg"] = json!("HS256")),
            ),
            ("unknown key", Box::new(|h, _| h["kid"] = json!("k2"))),
        ];
        for (what, bend) in &bends {
            let start = h
                .engine
                .begin_social_sign_in(&p, provider.id, None, "/account")
                .await
                .unwrap();
            let (mut head, mut claims) = (eddsa.clone(), good(&param(&start.redirect, "nonce")));
            bend(&mut head, &mut claims);
            *p.next.lock().unwrap() = (head, claims);
            let r = h
                .engine
                .finish_social_sign_in(
                    &p,
                    &start.binding,
                    &param(&start.redirect, "state"),
                    "code",
                    None,
                    &ctx(),
                )
                .await;
            assert!(matches!(r, Err(Error::InvalidToken)), "{what}: {r:?}");
            assert_eq!(customers(&h, "fed@example.com").await, 0, "{what}");
        }
        // The unknown key made the engine read the provider's keys again, once.
        assert_eq!(*p.jwks_reads.lock().unwrap(), 2);
        // A signature that is not the key's.
        let start = h
            .engine
            .begin_social_sign_in(&p, provider.id, None, "/account")
            .await
            .unwrap();
        *p.next.lock().unwrap() = (eddsa.clone(), good(&param(&start.redirect, "nonce")));
        *p.forge.lock().unwrap() = Some(vec![1; 64]);
        let r = h
            .engine
            .finish_social_sign_in(
                &p,
                &start.binding,
                &param(&start.redirect, "state"),
                "code",
                None,
                &ctx(),
            )
            .await;
        assert!(matches!(r, Err(Error::InvalidToken)), "forged: {r:?}");
        *p.forge.lock().unwrap() = None;

        // The real thing: a verified account, signed in with amr fed; then the same callback
        // again, another browser's binding, or a bent state: refused.
        let start = h
            .engine
            .begin_social_sign_in(&p, provider.id, None, "/account")
            .await
            .unwrap();
        let state = param(&start.redirect, "state");
        assert_eq!(
            param(&start.redirect, "redirect_uri"),
            format!("{}/signin/social/callback", h.engine.config().public_url)
        );
        let other = h
            .engine
            .begin_social_sign_in(&p, provider.id, None, "/account")
            .await
            .unwrap();
        *p.next.lock().unwrap() = (eddsa.clone(), good(&param(&start.redirect, "nonce")));
        let r = h
            .engine
            .finish_social_sign_in(&p, &other.binding, &state, "code", None, &ctx())
            .await;
        assert!(
            matches!(r, Err(Error::InvalidToken)),
            "another browser's binding: {r:?}"
        );
        let r = h
            .engine
            .finish_social_sign_in(
                &p,
                &start.binding,
                &state,
                "code",
                Some("https://evil.example"),
                &ctx(),
            )
            .await;
        assert!(
            matches!(r, Err(Error::InvalidToken)),
            "a mix-up (iss): {r:?}"
        );
        let out = h
            .engine
            .finish_social_sign_in(&p, &start.binding, &state, "code", Some(ISSUER), &ctx())
            .await
            .unwrap();
        let SocialOutcome::SignIn {
            step: SignInStep::SignedIn(signed),
            created: true,
            return_to,
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(return_to, "/account");
        let session = h.engine.validate_session(&signed.token).await.unwrap();
        assert_eq!(session.amr, vec!["fed".to_owned()]);
        assert_eq!(customers(&h, "fed@example.com").await, 1);
        let again = h
            .engine
            .finish_social_sign_in(&p, &start.binding, &state, "code", None, &ctx())
            .await;
        assert!(
            matches!(again, Err(Error::InvalidToken)),
            "replayed: {again:?}"
        );
        // Paths only: no open redirect through return_to.
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
        ] {
            let r = h
                .engine
                .begin_social_sign_in(&p, provider.id, None, bad)
                .await;
            assert!(
                matches!(
                    r,
                    Err(Error::InvalidInput {
                        field: "return_to",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        h.engine.close().await;
    }
}
