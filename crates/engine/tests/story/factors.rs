//! Second factors: TOTP enrolment and sign-in (codes computed by an independent RFC 6238
//! implementation in the test), each time step accepted once, recovery codes used once,
//! challenges that end after a few wrong codes, recent authentication for sensitive changes,
//! secrets sealed in their rows, and support seeing and removing factors with a reason.

use super::*;
use vestibule_engine::{Clock, Error, FactorProof, Role, SignInStep, StepUpProof};

const PW: &str = "lantern orchard violet";

/// RFC 6238 with SHA-1, written out here so the engine is checked against something else.
pub(super) fn totp_code(secret_b32: &str, unix: i64) -> String {
    use sha1_smol::Sha1;
    let key = base32_decode(secret_b32);
    let counter = (unix / 30) as u64;
    // HMAC-SHA-1 (RFC 2104) by hand.
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(&key);
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let mut inner = Sha1::new();
    inner.update(&ipad);
    inner.update(&counter.to_be_bytes());
    let mut outer = Sha1::new();
    outer.update(&opad);
    outer.update(&inner.digest().bytes());
    let mac = outer.digest().bytes();
    let off = (mac[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([mac[off] & 0x7f, mac[off + 1], mac[off + 2], mac[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = vec![];
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = A.iter().position(|a| *a == c).unwrap() as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            out.push((bits >> (n - 8)) as u8);
            n -= 8;
        }
    }
    out
}

async fn sign_in_token(h: &Harness) -> String {
    match h
        .engine
        .begin_sign_in("mfa@example.com", PW, &ctx())
        .await
        .unwrap()
    {
        SignInStep::SignedIn(s) => s.token,
        SignInStep::SecondFactor(_) => panic!("no factor yet"),
    }
}

fn challenge(step: SignInStep) -> String {
    match step {
        SignInStep::SecondFactor(c) => c.token,
        SignInStep::SignedIn(_) => panic!("a second factor should be asked for"),
    }
}

#[tokio::test]
async fn totp_and_recovery_codes_guard_the_sign_in() {
    for h in backends().await {
        let e = &h.engine;
        let id = verified_customer(&h, "mfa@example.com", PW).await;
        let token = sign_in_token(&h).await;

        // Enrol: a secret shown once, confirmed by a first code; ten recovery codes with it.
        let en = e.begin_totp(&token, "Shop Example").await.unwrap();
        assert!(
            en.uri
                .starts_with("otpauth://totp/Shop%20Example:mfa%40example.com?"),
            "{}",
            en.uri
        );
        assert_eq!(base32_decode(&en.secret).len(), 20, "160-bit secret");
        let now = || h.clock.now().timestamp();
        let err = e
            .confirm_totp(&token, en.factor_id, "000000", "Phone")
            .await;
        assert_eq!(
            err.unwrap_err().field(),
            Some("code"),
            "a wrong first code activates nothing"
        );
        assert!(e.my_factors(&token).await.unwrap().is_empty());
        let codes = e
            .confirm_totp(&token, en.factor_id, &totp_code(&en.secret, now()), "Phone")
            .await
            .unwrap()
            .expect("recovery codes with the first factor");
        assert_eq!(codes.len(), 10);
        assert_eq!(e.recovery_codes_left(&token).await.unwrap(), 10);
        let factors = e.my_factors(&token).await.unwrap();
        assert_eq!((factors.len(), factors[0].name.as_str()), (1, "Phone"));

        // The secret is sealed in its row: its bytes are nowhere in the stored value.
        let raw = base32_decode(&en.secret);
        let sealed = e.raw_factor_secret_for_test(en.factor_id).await.unwrap();
        assert!(!sealed.windows(raw.len()).any(|w| w == raw.as_slice()));

        // Signing in now needs the second factor; the password alone makes no session.
        let c = challenge(
            e.begin_sign_in("mfa@example.com", PW, &ctx())
                .await
                .unwrap(),
        );
        assert!(matches!(
            e.sign_in("mfa@example.com", PW, &ctx()).await,
            Err(Error::SecondFactorRequired)
        ));
        let wrong = e
            .complete_sign_in(&c, &FactorProof::Totp("123456".into()), &ctx())
            .await;
        assert_eq!(wrong.unwrap_err().field(), Some("code"));
        // The step used at enrolment is spent: the same code again is refused.
        h.clock.advance(chrono::Duration::seconds(10));
        let same_step = totp_code(&en.secret, now());
        assert!(
            e.complete_sign_in(&c, &FactorProof::Totp(same_step), &ctx())
                .await
                .is_err()
        );
        h.clock.advance(chrono::Duration::seconds(30));
        let code = totp_code(&en.secret, now());
        let signed = e
            .complete_sign_in(&c, &FactorProof::Totp(code.clone()), &ctx())
            .await
            .unwrap();
        assert_eq!(signed.session.amr, ["pwd", "otp", "mfa"]);
        assert!(e.validate_session(&signed.token).await.is_ok());
        // The challenge is spent, and the code cannot be replayed on a new one.
        assert!(matches!(
            e.complete_sign_in(&c, &FactorProof::Totp(code.clone()), &ctx())
                .await,
            Err(Error::InvalidSession)
        ));
        let c2 = challenge(
            e.begin_sign_in("mfa@example.com", PW, &ctx())
                .await
                .unwrap(),
        );
        assert!(
            e.complete_sign_in(&c2, &FactorProof::Totp(code), &ctx())
                .await
                .is_err(),
            "each time step is accepted once"
        );

        // A recovery code works once (any case, with or without its dash).
        let rc = codes[3].to_lowercase().replace('-', " ");
        let c3 = challenge(
            e.begin_sign_in("mfa@example.com", PW, &ctx())
                .await
                .unwrap(),
        );
        e.complete_sign_in(&c3, &FactorProof::RecoveryCode(rc.clone()), &ctx())
            .await
            .unwrap();
        let c4 = challenge(
            e.begin_sign_in("mfa@example.com", PW, &ctx())
                .await
                .unwrap(),
        );
        assert!(
            e.complete_sign_in(&c4, &FactorProof::RecoveryCode(rc), &ctx())
                .await
                .is_err()
        );
        assert_eq!(e.recovery_codes_left(&token).await.unwrap(), 9);

        // Five wrong codes end a challenge: the password must be proven again.
        let c5 = challenge(
            e.begin_sign_in("mfa@example.com", PW, &ctx())
                .await
                .unwrap(),
        );
        for i in 0..5 {
            let r = e
                .complete_sign_in(&c5, &FactorProof::Totp("999999".into()), &ctx())
                .await;
            if i < 4 {
                assert_eq!(r.unwrap_err().field(), Some("code"));
            } else {
                assert!(matches!(r, Err(Error::InvalidSession)));
            }
        }
        let attempts = e.customer_attempts(&h.admin, id, 50).await.unwrap();
        assert!(
            attempts
                .iter()
                .any(|a| a.reason == "wrong_second_factor" && a.method == "totp")
        );

        // Sensitive changes need recent authentication; with a factor, only the factor
        // steps up (the password alone does not).
        h.clock.advance(chrono::Duration::minutes(6));
        let fid = factors[0].id;
        assert!(matches!(
            e.remove_my_factor(&token, fid).await,
            Err(Error::StepUpRequired)
        ));
        assert!(matches!(
            e.regenerate_recovery_codes(&token).await,
            Err(Error::StepUpRequired)
        ));
        assert!(matches!(
            e.change_password(&token, PW, "a whole new passphrase here", &ctx())
                .await,
            Err(Error::StepUpRequired)
        ));
        assert_eq!(
            e.step_up(&token, &StepUpProof::Password(PW.into()), &ctx())
                .await
                .unwrap_err()
                .field(),
            Some("code")
        );
        let stepped = e
            .step_up(
                &token,
                &StepUpProof::Factor(FactorProof::Totp(totp_code(&en.secret, now()))),
                &ctx(),
            )
            .await
            .unwrap();
        assert!(stepped.amr.contains(&"otp".to_owned()));
        let fresh = e.regenerate_recovery_codes(&token).await.unwrap();
        assert_eq!(fresh.len(), 10);
        assert_ne!(fresh, codes, "new codes; the old ones stop working");
        e.remove_my_factor(&token, fid).await.unwrap();
        assert!(e.my_factors(&token).await.unwrap().is_empty());
        assert_eq!(e.recovery_codes_left(&token).await.unwrap(), 0);
        assert!(matches!(
            e.begin_sign_in("mfa@example.com", PW, &ctx())
                .await
                .unwrap(),
            SignInStep::SignedIn(_)
        ));
        h.engine.close().await;
    }
}

#[tokio::test]
async fn support_sees_factors_and_removes_a_lost_one_with_a_reason() {
    for h in backends().await {
        let e = &h.engine;
        let id = verified_customer(&h, "mfa@example.com", PW).await;
        let token = sign_in_token(&h).await;
        let en = e.begin_totp(&token, "Shop").await.unwrap();
        e.confirm_totp(
            &token,
            en.factor_id,
            &totp_code(&en.secret, h.clock.now().timestamp()),
            "Old phone",
        )
        .await
        .unwrap();
        e.add_staff(
            &h.admin,
            "sup@staff.example",
            "Sam Support",
            Role::Support,
            "support staff password",
        )
        .await
        .unwrap();
        let sup = e
            .staff_sign_in("sup@staff.example", "support staff password", None)
            .await
            .unwrap();
        let listed = e.customer_factors(&sup, id).await.unwrap();
        assert_eq!(listed[0].name, "Old phone");
        let shown = serde_json::to_string(&listed).unwrap();
        assert!(!shown.contains(&en.secret), "never a secret");
        assert_eq!(
            e.remove_customer_factor(&sup, id, en.factor_id, "  ")
                .await
                .unwrap_err()
                .field(),
            Some("reason")
        );
        e.remove_customer_factor(&sup, id, en.factor_id, "ticket #88: phone lost")
            .await
            .unwrap();
        assert!(e.customer_factors(&sup, id).await.unwrap().is_empty());
        assert!(
            e.validate_session(&token).await.is_err(),
            "their sessions end too"
        );
        let trail = e.customer_audit(&h.admin, id, 20).await.unwrap();
        let removed = trail
            .iter()
            .find(|a| a.action == "customer.factor_removed")
            .unwrap();
        assert_eq!(removed.reason.as_deref(), Some("ticket #88: phone lost"));
        h.engine.close().await;
    }
}

/// On PostgreSQL the operator supplies the factor key; without it TOTP is refused clearly.
#[tokio::test]
async fn without_a_factor_key_postgres_refuses_totp_clearly() {
    let Some(h) = postgres(Config {
        factor_key: None,
        ..fast_config()
    })
    .await
    else {
        return;
    };
    verified_customer(&h, "mfa@example.com", PW).await;
    let token = sign_in_token(&h).await;
    assert!(matches!(
        h.engine.begin_totp(&token, "Shop").await,
        Err(Error::NotConfigured(_))
    ));
    // Staff authenticators too: an admin signing in to it is told what is missing.
    let admin = h
        .engine
        .staff_sign_in(ADMIN_EMAIL, ADMIN_PASSWORD, None)
        .await
        .unwrap();
    assert!(matches!(
        h.engine.begin_staff_authenticator(&admin).await,
        Err(Error::NotConfigured(_))
    ));
    h.engine.close().await;
}

/// A client asking for a second factor (`acr_values`) is not given a code from a session
/// that was proven with a password only; a session proven with the factor is enough, and its
/// ID token says so.
#[tokio::test]
async fn acr_values_ask_for_a_second_factor_the_session_must_have() {
    use vestibule_engine::NewClient;
    use vestibule_engine::oidc::{
        ACR_MFA, Authorization, AuthorizeParams, ClientAuth, IdClaims, TokenRequest,
    };
    for h in backends().await {
        let e = &h.engine;
        verified_customer(&h, "mfa@example.com", PW).await;
        let token = sign_in_token(&h).await;
        let en = e.begin_totp(&token, "Shop").await.unwrap();
        e.confirm_totp(
            &token,
            en.factor_id,
            &totp_code(&en.secret, h.clock.now().timestamp()),
            "Phone",
        )
        .await
        .unwrap();
        let reg = e
            .register_client(
                &h.admin,
                NewClient {
                    name: "Bank".into(),
                    redirect_uris: vec!["https://bank.example/cb".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let verifier = "v".repeat(43);
        let pkce = {
            use base64::Engine as _;
            use sha2::Digest as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()))
        };
        let p = |acr: Option<&str>| AuthorizeParams {
            client_id: Some(reg.client.id.clone()),
            redirect_uri: Some("https://bank.example/cb".into()),
            response_type: Some("code".into()),
            scope: Some("openid".into()),
            code_challenge: Some(pkce.clone()),
            code_challenge_method: Some("S256".into()),
            acr_values: acr.map(str::to_owned),
            ..Default::default()
        };
        let iss = "https://id.shop.example";
        let ask = |acr: Option<&'static str>, session: String| {
            let p = p(acr);
            async move {
                let c = e.authorize_client(&p).await.unwrap();
                let req = e.authorize_request(&c, &p).unwrap();
                e.authorize_with_session(iss, &req, Some(&session))
                    .await
                    .unwrap()
            }
        };
        // The session from before the factor was added: a password only.
        assert!(matches!(
            ask(None, token.clone()).await,
            Authorization::Redirect(_)
        ));
        assert!(matches!(
            ask(Some(ACR_MFA), token.clone()).await,
            Authorization::SignIn(_)
        ));
        // A session proven with the factor satisfies it.
        let c = challenge(
            e.begin_sign_in("mfa@example.com", PW, &ctx())
                .await
                .unwrap(),
        );
        h.clock.advance(chrono::Duration::seconds(31));
        let mfa = e
            .complete_sign_in(
                &c,
                &FactorProof::Totp(totp_code(&en.secret, h.clock.now().timestamp())),
                &ctx(),
            )
            .await
            .unwrap();
        let Authorization::Redirect(url) = ask(Some(ACR_MFA), mfa.token.clone()).await else {
            panic!("a code for the two-factor session");
        };
        let code = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let t = e
            .token(
                iss,
                &ClientAuth {
                    client_id: reg.client.id.clone(),
                    client_secret: reg.client_secret.clone(),
                },
                &TokenRequest {
                    grant_type: Some("authorization_code".into()),
                    code: Some(code),
                    redirect_uri: Some("https://bank.example/cb".into()),
                    code_verifier: Some(verifier.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let payload = t.id_token.unwrap().split('.').nth(1).unwrap().to_owned();
        let claims: IdClaims = {
            use base64::Engine as _;
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(claims.acr, ACR_MFA);
        assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
        h.engine.close().await;
    }
}
