//! The OpenID Connect provider's flows at the engine level (the server tests drive the same
//! flows over HTTP with a real relying-party library).

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use vestibule_engine::oidc::{
    AuthRequest, Authorization, AuthorizeParams, ClientAuth, IdClaims, TokenRequest,
};
use vestibule_engine::{Error, NewClient, OidcClient, SigningAlg};

const ISS: &str = "https://id.shop.example";
const REDIRECT: &str = "https://shop.example/cb";
const SIGNED_OUT: &str = "https://shop.example/signed-out";

/// RP-initiated logout as the server runs it: plan, then end the session (as if confirmed).
async fn logout(
    e: &vestibule_engine::Engine,
    hint: Option<&str>,
    uri: Option<&str>,
    state: Option<&str>,
    browser: Option<&str>,
) -> Result<vestibule_engine::oidc::LogoutPlan, Error> {
    let plan = e
        .plan_logout(
            &vestibule_engine::oidc::LogoutRequest {
                id_token_hint: hint.map(str::to_owned),
                post_logout_redirect_uri: uri.map(str::to_owned),
                state: state.map(str::to_owned),
                ..Default::default()
            },
            browser,
        )
        .await?;
    e.end_session(&plan, browser).await?;
    Ok(plan)
}
const VERIFIER: &str = "a-very-long-code-verifier-with-enough-entropy-0123456789";
const PW: &str = "lantern orchard violet";

fn challenge(v: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
}

fn params(client: &OidcClient, scope: &str) -> AuthorizeParams {
    AuthorizeParams {
        client_id: Some(client.id.clone()),
        redirect_uri: Some(REDIRECT.into()),
        response_type: Some("code".into()),
        scope: Some(scope.into()),
        state: Some("st-1".into()),
        nonce: Some("n-1".into()),
        code_challenge: Some(challenge(VERIFIER)),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    }
}

async fn setup(h: &Harness, alg: Option<SigningAlg>) -> (OidcClient, String, uuid::Uuid) {
    let reg = h
        .engine
        .register_client(
            &h.admin,
            NewClient {
                name: "Shop".into(),
                redirect_uris: vec![REDIRECT.into()],
                post_logout_redirect_uris: vec![SIGNED_OUT.into()],
                id_token_alg: alg,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id = verified_customer(h, "oidc@example.com", PW).await;
    (reg.client, reg.client_secret.unwrap(), id)
}

fn oauth_code(e: Error) -> &'static str {
    match e {
        Error::OAuth { error, .. } => error,
        other => panic!("expected an OAuth error, got {other:?}"),
    }
}

fn query(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Sign in for `req` and return the code.
async fn code_for(h: &Harness, req: &AuthRequest) -> String {
    let s = h
        .engine
        .sign_in("oidc@example.com", PW, &ctx())
        .await
        .unwrap();
    let url = h.engine.issue_code(ISS, req, &s.session).await.unwrap();
    assert_eq!(query(&url, "state").as_deref(), Some("st-1"));
    assert_eq!(query(&url, "iss").as_deref(), Some(ISS));
    query(&url, "code").unwrap()
}

fn exchange(code: &str) -> TokenRequest {
    TokenRequest {
        grant_type: Some("authorization_code".into()),
        code: Some(code.into()),
        redirect_uri: Some(REDIRECT.into()),
        code_verifier: Some(VERIFIER.into()),
        ..Default::default()
    }
}

/// Verify an ID token against the published JWKS, as a relying party would.
async fn verify(h: &Harness, token: &str, aud: &str) -> IdClaims {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks = h.engine.jwks().await.unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"].as_str() == header.kid.as_deref())
            .expect("the token's kid is published")
            .clone(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[ISS]);
    v.validate_exp = false;
    jsonwebtoken::decode::<IdClaims>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &v,
    )
    .unwrap()
    .claims
}

#[tokio::test]
async fn code_flow_with_pkce_issues_verifiable_tokens_once() {
    for alg in [None, Some(SigningAlg::EdDSA)] {
        for h in backends().await {
            let e = &h.engine;
            let (client, secret, cust) = setup(&h, alg).await;
            let p = params(&client, "openid email profile offline_access");
            let c = e.authorize_client(&p).await.unwrap();
            let req = e.authorize_request(&c, &p).unwrap();
            // No browser session yet: show the sign-in page.
            assert_eq!(
                e.authorize_with_session(ISS, &req, None).await.unwrap(),
                Authorization::SignIn(Box::new(req.clone()))
            );
            let code = code_for(&h, &req).await;
            let auth = ClientAuth {
                client_id: client.id.clone(),
                client_secret: Some(secret.clone()),
            };
            let t = e.token(ISS, &auth, &exchange(&code)).await.unwrap();
            assert_eq!(t.token_type, "Bearer");
            assert!(
                t.refresh_token.is_some(),
                "offline_access gives a refresh token"
            );
            let claims = verify(&h, t.id_token.as_deref().unwrap(), &client.id).await;
            assert_eq!(claims.sub, cust.to_string());
            assert_eq!(claims.nonce.as_deref(), Some("n-1"));
            // What actually happened: a password, nothing more.
            assert_eq!(claims.amr, ["pwd"]);
            assert_eq!(claims.acr, vestibule_engine::oidc::ACR_PASSWORD);
            assert_eq!(claims.email.as_deref(), Some("oidc@example.com"));
            let header = jsonwebtoken::decode_header(t.id_token.as_deref().unwrap()).unwrap();
            assert_eq!(
                header.alg,
                if alg == Some(SigningAlg::EdDSA) {
                    jsonwebtoken::Algorithm::EdDSA
                } else {
                    jsonwebtoken::Algorithm::RS256
                }
            );

            let info = e.userinfo(&t.access_token).await.unwrap();
            assert_eq!(info["sub"], cust.to_string());
            assert_eq!(info["email"], "oidc@example.com");
            assert!(
                info.get("phone_number").is_none(),
                "phone scope not granted"
            );

            // The code is single use, and reusing it revokes what it bought.
            let err = e.token(ISS, &auth, &exchange(&code)).await.unwrap_err();
            assert_eq!(oauth_code(err), "invalid_grant");
            assert!(
                e.userinfo(&t.access_token).await.is_err(),
                "access token revoked on code reuse"
            );
            h.engine.close().await;
        }
    }
}

#[tokio::test]
async fn bad_authorization_and_token_requests_are_refused() {
    for h in backends().await {
        let e = &h.engine;
        let (client, secret, _) = setup(&h, None).await;
        let auth = ClientAuth {
            client_id: client.id.clone(),
            client_secret: Some(secret.clone()),
        };
        // Not redirectable: unknown client, unregistered redirect URI.
        let mut p = params(&client, "openid");
        p.redirect_uri = Some("https://evil.example/cb".into());
        assert_eq!(
            oauth_code(e.authorize_client(&p).await.unwrap_err()),
            "invalid_request"
        );
        p = params(&client, "openid");
        p.client_id = Some("vst_nope".into());
        assert_eq!(
            oauth_code(e.authorize_client(&p).await.unwrap_err()),
            "invalid_client"
        );
        // Redirectable: PKCE missing or plain, no openid scope, bad response_type.
        type Tweak = Box<dyn Fn(&mut AuthorizeParams)>;
        let cases: Vec<(Tweak, &str)> = vec![
            (Box::new(|p| p.code_challenge = None), "invalid_request"),
            (
                Box::new(|p| p.code_challenge_method = Some("plain".into())),
                "invalid_request",
            ),
            (
                Box::new(|p| p.scope = Some("email".into())),
                "invalid_scope",
            ),
            (
                Box::new(|p| p.response_type = Some("token".into())),
                "unsupported_response_type",
            ),
            (
                Box::new(|p| p.max_age = Some("-1".into())),
                "invalid_request",
            ),
            (
                Box::new(|p| p.prompt = Some("none login".into())),
                "invalid_request",
            ),
        ];
        for (f, want) in cases {
            let mut p = params(&client, "openid");
            f(&mut p);
            let c = e.authorize_client(&p).await.unwrap();
            assert_eq!(oauth_code(e.authorize_request(&c, &p).unwrap_err()), want);
        }
        // Missing nonce is allowed in the code flow; the ID token then has none.
        let mut p = params(&client, "openid");
        p.nonce = None;
        let req = e.authorize_request(&client, &p).unwrap();
        let code = code_for(&h, &req).await;
        let t = e.token(ISS, &auth, &exchange(&code)).await.unwrap();
        assert!(
            verify(&h, t.id_token.as_deref().unwrap(), &client.id)
                .await
                .nonce
                .is_none()
        );

        // Token endpoint: wrong secret, wrong redirect, wrong verifier, unknown grant.
        let req = e
            .authorize_request(&client, &params(&client, "openid"))
            .unwrap();
        let bad_auth = ClientAuth {
            client_id: client.id.clone(),
            client_secret: Some("nope".into()),
        };
        let code = code_for(&h, &req).await;
        assert_eq!(
            oauth_code(e.token(ISS, &bad_auth, &exchange(&code)).await.unwrap_err()),
            "invalid_client"
        );
        let public_auth = ClientAuth {
            client_id: client.id.clone(),
            client_secret: None,
        };
        assert_eq!(
            oauth_code(
                e.token(ISS, &public_auth, &exchange(&code))
                    .await
                    .unwrap_err()
            ),
            "invalid_client",
            "a confidential client must authenticate"
        );
        let mut t = exchange(&code);
        t.redirect_uri = Some("https://shop.example/other".into());
        assert_eq!(
            oauth_code(e.token(ISS, &auth, &t).await.unwrap_err()),
            "invalid_grant"
        );
        let code = code_for(&h, &req).await;
        let mut t = exchange(&code);
        t.code_verifier = Some("x".repeat(50));
        assert_eq!(
            oauth_code(e.token(ISS, &auth, &t).await.unwrap_err()),
            "invalid_grant"
        );
        let mut t = exchange("whatever");
        t.grant_type = Some("password".into());
        assert_eq!(
            oauth_code(e.token(ISS, &auth, &t).await.unwrap_err()),
            "unsupported_grant_type"
        );
        // Codes expire after ten minutes.
        let code = code_for(&h, &req).await;
        h.clock.advance(chrono::Duration::minutes(11));
        assert_eq!(
            oauth_code(e.token(ISS, &auth, &exchange(&code)).await.unwrap_err()),
            "invalid_grant"
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn prompt_and_max_age_follow_the_browser_session() {
    for h in backends().await {
        let e = &h.engine;
        let (client, _, _) = setup(&h, None).await;
        let s = e.sign_in("oidc@example.com", PW, &ctx()).await.unwrap();
        let mut p = params(&client, "openid");
        p.prompt = Some("none".into());
        let req = e.authorize_request(&client, &p).unwrap();
        // prompt=none without a session: login_required back to the client.
        match e.authorize_with_session(ISS, &req, None).await.unwrap() {
            Authorization::Redirect(url) => {
                assert_eq!(query(&url, "error").as_deref(), Some("login_required"));
                assert_eq!(query(&url, "state").as_deref(), Some("st-1"));
            }
            other => panic!("{other:?}"),
        }
        // With a session: a code straight away.
        match e
            .authorize_with_session(ISS, &req, Some(&s.token))
            .await
            .unwrap()
        {
            Authorization::Redirect(url) => assert!(query(&url, "code").is_some()),
            other => panic!("{other:?}"),
        }
        // prompt=login always shows the sign-in page.
        let mut p = params(&client, "openid");
        p.prompt = Some("login".into());
        let req = e.authorize_request(&client, &p).unwrap();
        assert!(matches!(
            e.authorize_with_session(ISS, &req, Some(&s.token))
                .await
                .unwrap(),
            Authorization::SignIn(_)
        ));
        // max_age: a session older than max_age needs a fresh sign-in.
        h.clock.advance(chrono::Duration::seconds(120));
        let mut p = params(&client, "openid");
        p.max_age = Some("60".into());
        let req = e.authorize_request(&client, &p).unwrap();
        assert!(matches!(
            e.authorize_with_session(ISS, &req, Some(&s.token))
                .await
                .unwrap(),
            Authorization::SignIn(_)
        ));
        p.max_age = Some("600".into());
        let req = e.authorize_request(&client, &p).unwrap();
        assert!(matches!(
            e.authorize_with_session(ISS, &req, Some(&s.token))
                .await
                .unwrap(),
            Authorization::Redirect(_)
        ));
        h.engine.close().await;
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    for h in backends().await {
        let e = &h.engine;
        let (client, secret, _) = setup(&h, None).await;
        let auth = ClientAuth {
            client_id: client.id.clone(),
            client_secret: Some(secret),
        };
        let req = e
            .authorize_request(&client, &params(&client, "openid email offline_access"))
            .unwrap();
        let code = code_for(&h, &req).await;
        let first = e.token(ISS, &auth, &exchange(&code)).await.unwrap();
        let r1 = first.refresh_token.clone().unwrap();
        let refresh = |t: &str, scope: Option<&str>| TokenRequest {
            grant_type: Some("refresh_token".into()),
            refresh_token: Some(t.into()),
            scope: scope.map(str::to_owned),
            ..Default::default()
        };
        let second = e.token(ISS, &auth, &refresh(&r1, None)).await.unwrap();
        let r2 = second.refresh_token.clone().unwrap();
        assert_ne!(r1, r2, "rotated");
        assert_eq!(
            oauth_code(
                e.token(ISS, &auth, &refresh(&r2, Some("openid phone")))
                    .await
                    .unwrap_err()
            ),
            "invalid_scope"
        );
        // r1 again: reuse. The whole family dies, including r2 and its access token.
        assert_eq!(
            oauth_code(e.token(ISS, &auth, &refresh(&r1, None)).await.unwrap_err()),
            "invalid_grant"
        );
        assert_eq!(
            oauth_code(e.token(ISS, &auth, &refresh(&r2, None)).await.unwrap_err()),
            "invalid_grant"
        );
        assert!(e.userinfo(&second.access_token).await.is_err());

        // Revocation of a refresh token ends its family too.
        let code = code_for(&h, &req).await;
        let t = e.token(ISS, &auth, &exchange(&code)).await.unwrap();
        e.revoke_token(&auth, t.refresh_token.as_deref().unwrap())
            .await
            .unwrap();
        assert!(e.userinfo(&t.access_token).await.is_err());
        e.revoke_token(&auth, "unknown token").await.unwrap();
        h.engine.close().await;
    }
}

#[tokio::test]
async fn keys_rotate_and_logout_needs_a_genuine_hint() {
    for h in backends().await {
        let e = &h.engine;
        let (client, secret, _) = setup(&h, None).await;
        let auth = ClientAuth {
            client_id: client.id.clone(),
            client_secret: Some(secret),
        };
        let req = e
            .authorize_request(&client, &params(&client, "openid"))
            .unwrap();
        let code = code_for(&h, &req).await;
        let t = e.token(ISS, &auth, &exchange(&code)).await.unwrap();
        let id_token = t.id_token.unwrap();
        let before: Vec<String> = e.jwks().await.unwrap()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(before.len(), 2, "RS256 + Ed25519");
        e.rotate_signing_keys(&h.admin).await.unwrap();
        let after = e.jwks().await.unwrap();
        assert_eq!(
            after["keys"].as_array().unwrap().len(),
            4,
            "old keys stay published"
        );
        verify(&h, &id_token, &client.id).await;
        h.clock.advance(chrono::Duration::days(3));
        let later = e.jwks().await.unwrap();
        assert_eq!(
            later["keys"].as_array().unwrap().len(),
            2,
            "retired keys leave after they expire"
        );

        // An unsigned token (alg none) or a forged one is not a valid hint.
        let parts: Vec<&str> = id_token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(
            oauth_code(
                logout(e, Some(&unsigned), None, None, None)
                    .await
                    .unwrap_err()
            ),
            "invalid_request"
        );
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode([0u8; 256])
        );
        assert!(logout(e, Some(&forged), None, None, None).await.is_err());

        // A fresh token's hint logs out and redirects only to a registered address.
        let s = e.sign_in("oidc@example.com", PW, &ctx()).await.unwrap();
        let url = e.issue_code(ISS, &req, &s.session).await.unwrap();
        let t = e
            .token(ISS, &auth, &exchange(&query(&url, "code").unwrap()))
            .await
            .unwrap();
        let hint = t.id_token.unwrap();
        assert_eq!(
            oauth_code(
                logout(e, Some(&hint), Some("https://evil.example/"), None, None)
                    .await
                    .unwrap_err()
            ),
            "invalid_request"
        );
        // A login redirect URI is not a post-logout one (registered apart, §3.1).
        assert_eq!(
            oauth_code(
                logout(e, Some(&hint), Some(REDIRECT), None, None)
                    .await
                    .unwrap_err()
            ),
            "invalid_request"
        );
        assert!(e.validate_session(&s.token).await.is_ok(), "nothing ended");
        // Without a state, no stray `?`.
        let plan = e
            .plan_logout(
                &vestibule_engine::oidc::LogoutRequest {
                    id_token_hint: Some(hint.clone()),
                    post_logout_redirect_uri: Some(SIGNED_OUT.into()),
                    ..Default::default()
                },
                Some(&s.token),
            )
            .await
            .unwrap();
        assert_eq!(plan.redirect.as_deref(), Some(SIGNED_OUT));
        assert!(
            !plan.ask,
            "the hint names this browser's customer: no question"
        );
        let to = logout(
            e,
            Some(&hint),
            Some(SIGNED_OUT),
            Some("bye"),
            Some(&s.token),
        )
        .await
        .unwrap()
        .redirect
        .unwrap();
        assert_eq!(query(&to, "state").as_deref(), Some("bye"));
        assert!(
            e.validate_session(&s.token).await.is_err(),
            "the session ended"
        );
        h.engine.close().await;
    }
}

/// The conformance gaps found when the provider was tried as relying parties use it
/// (issue 11): each is a behaviour the specifications require.
#[tokio::test]
async fn conformance_gaps_are_closed() {
    for h in backends().await {
        let e = &h.engine;
        let (client, secret, alice) = setup(&h, None).await;
        let auth = ClientAuth {
            client_id: client.id.clone(),
            client_secret: Some(secret.clone()),
        };
        let p = params(&client, "openid email offline_access");
        let c = e.authorize_client(&p).await.unwrap();
        let req = e.authorize_request(&c, &p).unwrap();

        // RFC 6749 §4.1.2: a replayed code revokes every token issued from it, including
        // those obtained by refreshing.
        let code = code_for(&h, &req).await;
        let first = e.token(ISS, &auth, &exchange(&code)).await.unwrap();
        let refreshed = e
            .token(
                ISS,
                &auth,
                &TokenRequest {
                    grant_type: Some("refresh_token".into()),
                    refresh_token: first.refresh_token.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(e.userinfo(&refreshed.access_token).await.is_ok());
        assert_eq!(
            oauth_code(e.token(ISS, &auth, &exchange(&code)).await.unwrap_err()),
            "invalid_grant"
        );
        assert!(matches!(
            e.userinfo(&refreshed.access_token).await,
            Err(Error::InvalidToken)
        ));
        let again = e
            .token(
                ISS,
                &auth,
                &TokenRequest {
                    grant_type: Some("refresh_token".into()),
                    refresh_token: refreshed.refresh_token.clone(),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(oauth_code(again.unwrap_err()), "invalid_grant");

        // RFC 6749 §6: a refresh asking for a narrower scope without offline_access narrows
        // the access token but still rotates the refresh token with the grant's scope.
        let code = code_for(&h, &req).await;
        let t = e.token(ISS, &auth, &exchange(&code)).await.unwrap();
        let narrow = |rt: Option<String>| TokenRequest {
            grant_type: Some("refresh_token".into()),
            refresh_token: rt,
            scope: Some("openid".into()),
            ..Default::default()
        };
        let n1 = e.token(ISS, &auth, &narrow(t.refresh_token)).await.unwrap();
        assert_eq!(n1.scope, "openid");
        assert!(n1.refresh_token.is_some(), "the refresh token rotates");
        let info = e.userinfo(&n1.access_token).await.unwrap();
        assert!(info.get("email").is_none(), "the access token is narrowed");
        let n2 = e
            .token(ISS, &auth, &narrow(n1.refresh_token.clone()))
            .await
            .expect("the next refresh is not treated as reuse");
        let wide = e
            .token(
                ISS,
                &auth,
                &TokenRequest {
                    grant_type: Some("refresh_token".into()),
                    refresh_token: n2.refresh_token,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            wide.scope, "email offline_access openid",
            "the grant is intact"
        );

        // RFC 7009 §2.1: another client's token is refused, not silently kept.
        let other = e
            .register_client(
                &h.admin,
                NewClient {
                    name: "Other".into(),
                    redirect_uris: vec!["https://other.example/cb".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let other_auth = ClientAuth {
            client_id: other.client.id.clone(),
            client_secret: other.client_secret.clone(),
        };
        assert_eq!(
            oauth_code(
                e.revoke_token(&other_auth, &wide.access_token)
                    .await
                    .unwrap_err()
            ),
            "unauthorized_client"
        );
        assert!(e.userinfo(&wide.access_token).await.is_ok(), "left alone");
        e.revoke_token(&other_auth, "never-issued").await.unwrap();
        e.revoke_token(&auth, &wide.access_token).await.unwrap();
        assert!(e.userinfo(&wide.access_token).await.is_err());

        // RP-Initiated Logout §2: without a hint, or with someone else's, the customer is
        // asked; another customer's session never ends on that hint.
        let code = code_for(&h, &req).await;
        let t = e.token(ISS, &auth, &exchange(&code)).await.unwrap();
        let alice_hint = t.id_token.unwrap();
        let alice_sessions = e.customer_sessions(&h.admin, alice).await.unwrap().len();
        verified_customer(&h, "bob@example.com", PW).await;
        let bob = e.sign_in("bob@example.com", PW, &ctx()).await.unwrap();
        let plan = |hint: Option<String>| vestibule_engine::oidc::LogoutRequest {
            id_token_hint: hint,
            ..Default::default()
        };
        let p = e.plan_logout(&plan(None), Some(&bob.token)).await.unwrap();
        assert!(p.ask, "no hint: ask");
        let p = e
            .plan_logout(&plan(Some(alice_hint.clone())), Some(&bob.token))
            .await
            .unwrap();
        assert!(p.ask, "a hint for another customer: ask");
        e.end_session(&p, Some(&bob.token)).await.unwrap();
        assert!(
            e.validate_session(&bob.token).await.is_err(),
            "bob confirmed"
        );
        assert_eq!(
            e.customer_sessions(&h.admin, alice).await.unwrap().len(),
            alice_sessions,
            "alice's sessions are untouched"
        );
        let p = e.plan_logout(&plan(None), None).await.unwrap();
        assert!(!p.ask, "no browser session: nothing to ask about");
        h.engine.close().await;
    }
}

/// ID tokens for a client registered with `Ed25519` carry the fully specified algorithm
/// (RFC 9864) and verify with the published key; `EdDSA` still works.
#[tokio::test]
async fn ed25519_is_fully_specified_and_eddsa_still_accepted() {
    use ed25519_dalek::Verifier as _;
    for h in backends().await {
        let e = &h.engine;
        let (client, secret, _) = setup(&h, Some(SigningAlg::Ed25519)).await;
        let auth = ClientAuth {
            client_id: client.id.clone(),
            client_secret: Some(secret),
        };
        let p = params(&client, "openid");
        let c = e.authorize_client(&p).await.unwrap();
        let req = e.authorize_request(&c, &p).unwrap();
        let code = code_for(&h, &req).await;
        let t = e.token(ISS, &auth, &exchange(&code)).await.unwrap();
        let token = t.id_token.unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "Ed25519");
        let jwks = e.jwks().await.unwrap();
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .expect("published");
        assert_eq!(jwk["crv"], "Ed25519");
        assert!(jwk.get("alg").is_none(), "usable as Ed25519 and EdDSA");
        let x: [u8; 32] = URL_SAFE_NO_PAD
            .decode(jwk["x"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let sig: [u8; 64] = URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap()
            .try_into()
            .unwrap();
        ed25519_dalek::VerifyingKey::from_bytes(&x)
            .unwrap()
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&sig),
            )
            .expect("an independent Ed25519 check passes");
        // The provider accepts its own Ed25519 token as a logout hint; a tampered one not.
        let plan = vestibule_engine::oidc::LogoutRequest {
            id_token_hint: Some(token.clone()),
            post_logout_redirect_uri: Some(SIGNED_OUT.into()),
            ..Default::default()
        };
        assert!(e.plan_logout(&plan, None).await.is_ok());
        let mut bad = plan.clone();
        bad.id_token_hint = Some(format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode([7u8; 64])
        ));
        assert!(e.plan_logout(&bad, None).await.is_err());
        h.engine.close().await;
    }
}
