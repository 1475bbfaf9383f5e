//! Custom attribute definitions and progressive profiling: admins define attributes, every
//! write is checked against them, the hosted pages learn when to ask, a skip keeps quiet, and a
//! definition's scope releases the attribute to clients.

use super::*;
use serde_json::json;
use vestibule_engine::oidc::{Authorization, AuthorizeParams, ClientAuth, TokenRequest};
use vestibule_engine::{
    AttributeAsk, AttributeDefinition, AttributeDefinitions, AttributeKind, Error, NewClient,
    ProfileMoment, ProfilePatch, RegisterInput, Role, SKIP_QUIET,
};

const PW: &str = "lantern orchard violet";
const ISS: &str = "https://id.shop.example";
const REDIRECT: &str = "https://shop.example/cb";
const VERIFIER: &str = "a-very-long-code-verifier-with-enough-entropy-0123456789";

fn attr(name: &str, kind: AttributeKind, ask: AttributeAsk) -> AttributeDefinition {
    AttributeDefinition {
        ask,
        ..AttributeDefinition::new(name, &name.replace('_', " "), kind)
    }
}

fn definitions(version: i64) -> AttributeDefinitions {
    let mut size = attr("shoe_size", AttributeKind::Number, AttributeAsk::SignIn);
    size.min = Some(30.0);
    size.max = Some(50.0);
    size.after_sign_ins = 2;
    let mut club = attr("club", AttributeKind::Choice, AttributeAsk::SignUp);
    club.options = vec!["silver".into(), "gold".into()];
    let mut address = attr("shipping_address", AttributeKind::Text, AttributeAsk::Scope);
    address.scope = Some("shipping".into());
    address.max_length = Some(200);
    let mut crm = attr("crm_id", AttributeKind::Text, AttributeAsk::Never);
    crm.customer_editable = false;
    crm.pattern = Some("C[0-9]{4}".into());
    AttributeDefinitions {
        definitions: vec![size, club, address, crm],
        version,
    }
}

async fn my_version(h: &Harness, token: &str) -> i64 {
    h.engine.my_profile(token).await.unwrap().version
}

fn attrs(patch: serde_json::Value) -> ProfilePatch {
    ProfilePatch {
        attributes: Some(patch),
        ..Default::default()
    }
}

#[tokio::test]
async fn attribute_definitions_are_admin_only_validated_and_audited() {
    for h in backends().await {
        let e = &h.engine;
        assert_eq!(e.attribute_definitions().await.unwrap().definitions, vec![]);
        e.add_staff(
            &h.admin,
            "sup@staff.example",
            "Sam",
            Role::Support,
            "staff member passphrase",
        )
        .await
        .unwrap();
        let sup = e
            .staff_sign_in("sup@staff.example", "staff member passphrase", None)
            .await
            .unwrap();
        assert!(matches!(
            e.update_attribute_definitions(&sup, &definitions(0)).await,
            Err(Error::Forbidden(_))
        ));
        // A bad definition names its field and stores nothing.
        let mut bad = definitions(0);
        bad.definitions[0].name = "email".into();
        assert!(matches!(
            e.update_attribute_definitions(&h.admin, &bad).await,
            Err(Error::InvalidInput { field: "name", .. })
        ));
        let mut twice = definitions(0);
        twice.definitions[1].name = "shoe_size".into();
        assert!(
            e.update_attribute_definitions(&h.admin, &twice)
                .await
                .is_err()
        );
        let mut pattern = definitions(0);
        pattern.definitions[3].pattern = Some("[unclosed".into());
        assert!(matches!(
            e.update_attribute_definitions(&h.admin, &pattern).await,
            Err(Error::InvalidInput {
                field: "pattern",
                ..
            })
        ));
        assert_eq!(
            e.attribute_definitions().await.unwrap().version,
            0,
            "{}",
            h.name
        );

        let saved = e
            .update_attribute_definitions(&h.admin, &definitions(0))
            .await
            .unwrap();
        assert_eq!(saved.version, 1);
        assert_eq!(saved.definitions, definitions(0).definitions);
        // A stale version is a conflict.
        assert!(matches!(
            e.update_attribute_definitions(&h.admin, &definitions(0))
                .await,
            Err(Error::Conflict(_))
        ));
        let log = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        assert!(
            log.iter()
                .any(|a| a.action == "settings.attributes_updated"
                    && a.target == "settings:attributes"),
            "{}",
            h.name
        );
    }
}

#[tokio::test]
async fn every_attribute_write_is_checked_against_the_definitions() {
    for h in backends().await {
        let e = &h.engine;
        e.update_attribute_definitions(&h.admin, &definitions(0))
            .await
            .unwrap();
        // Sign-up: only defined, editable attributes with valid values.
        let register = |attributes: serde_json::Value| RegisterInput {
            email: "new@example.com".into(),
            password: PW.into(),
            display_name: "New".into(),
            attributes: Some(attributes),
            ..Default::default()
        };
        for refused in [
            json!({"club": "platinum"}),
            json!({"crm_id": "C1234"}),
            json!({"favourite": "x"}),
        ] {
            assert!(
                matches!(
                    e.register(register(refused.clone()), &ctx()).await,
                    Err(Error::InvalidInput {
                        field: "attributes",
                        ..
                    })
                ),
                "{refused} at sign-up ({})",
                h.name
            );
        }
        e.register(register(json!({"club": "gold"})), &ctx())
            .await
            .unwrap();
        let t = token_from_outbox(&h, "verify_email", "new@example.com").await;
        e.verify_email(&t).await.unwrap();
        let s = e.sign_in("new@example.com", PW, &ctx()).await.unwrap();
        let me = e.my_profile(&s.token).await.unwrap();
        assert_eq!(me.attributes, json!({"club": "gold"}));

        // The customer: their editable attributes, valid values, nothing else.
        let v = me.version;
        for refused in [
            json!({"club": "gold", "shoe_size": 12}),
            json!({"club": "gold", "shoe_size": "42"}),
            json!({"club": "gold", "crm_id": "C0001"}),
            json!({"club": "gold", "note": "free text"}),
        ] {
            assert!(
                e.update_my_profile(&s.token, v, attrs(refused.clone()))
                    .await
                    .is_err(),
                "{refused} by the customer ({})",
                h.name
            );
        }
        assert_eq!(my_version(&h, &s.token).await, v, "nothing changed");
        let me = e
            .update_my_profile(
                &s.token,
                v,
                attrs(json!({"club": "silver", "shoe_size": 42})),
            )
            .await
            .unwrap();
        assert_eq!(me.attributes["shoe_size"], 42);

        // Staff: defined attributes keep their rules (also the ones customers cannot edit);
        // undefined keys stay free-form notes.
        assert!(
            e.update_customer_profile(
                &h.admin,
                me.id,
                me.version,
                attrs(json!({"club": "silver", "shoe_size": 42, "crm_id": "X"}))
            )
            .await
            .is_err()
        );
        let me = e
            .update_customer_profile(
                &h.admin,
                me.id,
                me.version,
                attrs(json!({"club": "silver", "shoe_size": 42, "crm_id": "C0042", "note": "vip"})),
            )
            .await
            .unwrap();
        // The customer can still change what is theirs without touching the rest, and
        // cannot remove what is not.
        let me = e
            .update_my_profile(
                &s.token,
                me.version,
                attrs(json!({"club": "silver", "shoe_size": 43, "crm_id": "C0042", "note": "vip"})),
            )
            .await
            .unwrap();
        assert!(
            e.update_my_profile(&s.token, me.version, attrs(json!({"club": "silver"})))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn the_pages_ask_for_missing_attributes_when_due_and_a_skip_keeps_quiet() {
    for h in backends().await {
        let e = &h.engine;
        e.update_attribute_definitions(&h.admin, &definitions(0))
            .await
            .unwrap();
        verified_customer(&h, "due@example.com", PW).await;
        let at_sign_in = ProfileMoment::SignIn { scope: None };
        let names = |d: Vec<AttributeDefinition>| d.into_iter().map(|d| d.name).collect::<Vec<_>>();

        // First sign-in: shoe size is asked from the second on.
        let s1 = e.sign_in("due@example.com", PW, &ctx()).await.unwrap();
        assert!(
            e.profile_due(&s1.token, at_sign_in)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            h.name
        );
        let s2 = e.sign_in("due@example.com", PW, &ctx()).await.unwrap();
        assert_eq!(
            names(e.profile_due(&s2.token, at_sign_in).await.unwrap()),
            ["shoe_size"]
        );
        // A client asking for `shipping` also asks for the address; at sign-in both at once.
        assert_eq!(
            names(
                e.profile_due(
                    &s2.token,
                    ProfileMoment::SignIn {
                        scope: Some("openid shipping")
                    }
                )
                .await
                .unwrap()
            ),
            ["shoe_size", "shipping_address"]
        );
        assert_eq!(
            names(
                e.profile_due(
                    &s2.token,
                    ProfileMoment::Authorize {
                        scope: "openid shipping"
                    }
                )
                .await
                .unwrap()
            ),
            ["shipping_address"],
            "a session that is enough is asked only for the scope's attributes"
        );

        // Skipping keeps the step away for a week, then it comes back.
        e.skip_profile_step(&s2.token).await.unwrap();
        assert!(
            e.profile_due(&s2.token, at_sign_in)
                .await
                .unwrap()
                .is_empty()
        );
        h.clock.advance(SKIP_QUIET + chrono::Duration::minutes(1));
        let s3 = e.sign_in("due@example.com", PW, &ctx()).await.unwrap();
        assert_eq!(
            names(e.profile_due(&s3.token, at_sign_in).await.unwrap()),
            ["shoe_size"]
        );
        // Answered: not asked again.
        let v = my_version(&h, &s3.token).await;
        e.update_my_profile(&s3.token, v, attrs(json!({"shoe_size": 44})))
            .await
            .unwrap();
        assert!(
            e.profile_due(&s3.token, at_sign_in)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn an_attribute_scope_asks_in_the_authorization_and_releases_the_claim() {
    for h in backends().await {
        let e = &h.engine;
        e.update_attribute_definitions(&h.admin, &definitions(0))
            .await
            .unwrap();
        let reg = e
            .register_client(
                &h.admin,
                NewClient {
                    name: "Shop".into(),
                    redirect_uris: vec![REDIRECT.into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let client = reg.client;
        verified_customer(&h, "scope@example.com", PW).await;
        let p = AuthorizeParams {
            client_id: Some(client.id.clone()),
            redirect_uri: Some(REDIRECT.into()),
            response_type: Some("code".into()),
            scope: Some("openid shipping unheard-of".into()),
            state: Some("st".into()),
            code_challenge: Some({
                use base64::Engine as _;
                use sha2::Digest as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
            }),
            code_challenge_method: Some("S256".into()),
            ..Default::default()
        };
        let c = e.authorize_client(&p).await.unwrap();
        let req = e.authorize_request(&c, &p).unwrap();
        // The password sign-in for the request gives no code while the address is missing.
        let (step, url) = e
            .begin_sign_in_for_code("scope@example.com", PW, &ctx(), ISS, &req)
            .await
            .unwrap();
        assert!(url.is_none(), "{}", h.name);
        let vestibule_engine::SignInStep::SignedIn(signed) = step else {
            panic!("no second factor here")
        };
        assert!(
            e.profile_due_for(&signed.session, &req, true)
                .await
                .unwrap()
        );
        assert_eq!(
            e.authorize_with_session(ISS, &req, Some(&signed.token))
                .await
                .unwrap(),
            Authorization::Profile
        );
        let v = my_version(&h, &signed.token).await;
        e.update_my_profile(
            &signed.token,
            v,
            attrs(json!({"shipping_address": "1 Harbour Road, Kiel"})),
        )
        .await
        .unwrap();
        let Authorization::Redirect(url) = e
            .authorize_with_session(ISS, &req, Some(&signed.token))
            .await
            .unwrap()
        else {
            panic!("a code once the address is there")
        };
        let code = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let t = e
            .token(
                ISS,
                &ClientAuth {
                    client_id: client.id.clone(),
                    client_secret: reg.client_secret.clone(),
                },
                &TokenRequest {
                    grant_type: Some("authorization_code".into()),
                    code: Some(code),
                    redirect_uri: Some(REDIRECT.into()),
                    code_verifier: Some(VERIFIER.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        // The defined scope is granted, the unknown one is not.
        assert_eq!(t.scope, "openid shipping", "{}", h.name);
        let info = e.userinfo(&t.access_token).await.unwrap();
        assert_eq!(info["shipping_address"], "1 Harbour Road, Kiel");
        assert!(info.get("shoe_size").is_none(), "no scope, no claim");
        let id_token = t.id_token.unwrap();
        let payload = id_token.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["shipping_address"], "1 Harbour Road, Kiel");
    }
}
