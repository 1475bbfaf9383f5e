//! Passkeys, against a software authenticator written from the WebAuthn specification
//! (`tests/support/softkey.rs`): registration needs recent authentication, username-less
//! sign-in gives a multi-factor session, and every bent message — replayed assertion, other
//! origin, other rp id, no user verification, expired or foreign ceremony, malformed JSON,
//! a counter going backwards — is refused with nothing changed (or the passkey flagged).

use super::*;
use crate::softkey::SoftKey;
use vestibule_engine::{CEREMONY_TTL, Error, FactorKind, Role};

const PW: &str = "lantern orchard violet";
const ORIGIN: &str = "http://localhost:8080";

async fn session(h: &Harness, email: &str) -> String {
    h.engine.sign_in(email, PW, &ctx()).await.unwrap().token
}

#[tokio::test]
async fn a_passkey_signs_in_without_an_address_and_counts_as_two_factors() {
    for h in backends().await {
        let e = &h.engine;
        let id = verified_customer(&h, "pk@example.com", PW).await;
        let token = session(&h, "pk@example.com").await;

        // Registration: options name the customer (by id, not address) and this site.
        let reg = e.begin_passkey_registration(&token).await.unwrap();
        let pk = &reg.options["publicKey"];
        assert_eq!(pk["rp"]["id"], "localhost", "{}", h.name);
        assert_eq!(pk["authenticatorSelection"]["residentKey"], "preferred");
        assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
        let mut key = SoftKey::new(ORIGIN, 1);
        let answer = key.register(&reg.options);
        assert_eq!(
            key.user_handle,
            id.as_bytes(),
            "the user handle is the customer id"
        );
        let added = e
            .finish_passkey_registration(&token, &reg.ceremony, &answer, "  Work laptop ")
            .await
            .unwrap();
        assert_eq!(added.kind, FactorKind::Passkey);
        assert_eq!(added.name, "Work laptop");
        // The ceremony was single use.
        let again = e
            .finish_passkey_registration(&token, &reg.ceremony, &answer, "Twice")
            .await
            .unwrap_err();
        assert_eq!(again.field(), Some("ceremony"));

        // The same authenticator cannot be registered twice (it is excluded, and refused).
        let reg2 = e.begin_passkey_registration(&token).await.unwrap();
        let excluded = reg2.options["publicKey"]["excludeCredentials"]
            .as_array()
            .unwrap();
        assert_eq!(excluded.len(), 1);
        let dup = e
            .finish_passkey_registration(&token, &reg2.ceremony, &key.register(&reg2.options), "")
            .await
            .unwrap_err();
        assert_eq!(dup.field(), Some("credential"));

        // Username-less sign-in: the options name no account and no credential.
        let auth = e.begin_passkey_sign_in().await.unwrap();
        let ro = &auth.options["publicKey"];
        assert!(
            ro.get("allowCredentials")
                .is_none_or(|a| a.as_array().unwrap().is_empty())
        );
        assert_eq!(ro["rpId"], "localhost");
        let assertion = key.assert(&auth.options);
        let signed = e
            .finish_passkey_sign_in(&auth.ceremony, &assertion, &ctx())
            .await
            .unwrap();
        assert_eq!(signed.session.customer_id, id);
        assert_eq!(signed.session.amr, ["hwk", "user", "mfa"]);
        // Replaying the same assertion: its ceremony is gone.
        let replay = e
            .finish_passkey_sign_in(&auth.ceremony, &assertion, &ctx())
            .await
            .unwrap_err();
        assert_eq!(replay.field(), Some("ceremony"));

        // Listed with its last use, for the customer and for support.
        let mine = e.my_factors(&signed.token).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert!(mine[0].last_used_at.is_some());
        e.rename_my_passkey(&signed.token, added.id, "Laptop")
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
        assert_eq!(listed[0].name, "Laptop");

        // Removing it needs recent authentication; afterwards it signs no one in.
        h.clock.advance(chrono::Duration::minutes(6));
        assert!(matches!(
            e.remove_my_factor(&signed.token, added.id).await,
            Err(Error::StepUpRequired)
        ));
        assert!(matches!(
            e.begin_passkey_registration(&signed.token).await,
            Err(Error::StepUpRequired)
        ));
        let fresh = session(&h, "pk@example.com").await;
        e.remove_my_factor(&fresh, added.id).await.unwrap();
        let auth = e.begin_passkey_sign_in().await.unwrap();
        let gone = e
            .finish_passkey_sign_in(&auth.ceremony, &key.assert(&auth.options), &ctx())
            .await
            .unwrap_err();
        assert_eq!(gone.field(), Some("passkey"), "{gone}");
        h.engine.close().await;
    }
}

#[tokio::test]
async fn bent_webauthn_messages_are_refused_and_change_nothing() {
    for h in backends().await {
        let e = &h.engine;
        let id = verified_customer(&h, "bent@example.com", PW).await;
        let token = session(&h, "bent@example.com").await;

        // Registration made for another origin or another rp id is refused.
        for (origin, rp) in [
            ("http://evil.example:8080", None),
            (ORIGIN, Some("example.org")),
        ] {
            let reg = e.begin_passkey_registration(&token).await.unwrap();
            let mut k = SoftKey::new(origin, 9);
            if let Some(rp) = rp {
                k.rp_id = rp.into();
            }
            let err = e
                .finish_passkey_registration(&token, &reg.ceremony, &k.register(&reg.options), "x")
                .await
                .unwrap_err();
            assert_eq!(err.field(), Some("credential"), "{origin} {rp:?}: {err}");
        }
        // No user verification: not a passkey.
        let reg = e.begin_passkey_registration(&token).await.unwrap();
        let mut k = SoftKey::new(ORIGIN, 9);
        let answer = k.register_with_flags(&reg.options, SoftKey::PRESENCE_ONLY);
        assert!(
            e.finish_passkey_registration(&token, &reg.ceremony, &answer, "x")
                .await
                .is_err()
        );
        // Malformed JSON, and a ceremony that belongs to a different customer.
        let reg = e.begin_passkey_registration(&token).await.unwrap();
        for junk in ["", "{", "{\"id\":1}", &"[".repeat(20_000)] {
            let err = e
                .finish_passkey_registration(&token, &reg.ceremony, junk, "x")
                .await
                .unwrap_err();
            assert_eq!(err.field(), Some("credential"));
        }
        verified_customer(&h, "other@example.com", PW).await;
        let other = session(&h, "other@example.com").await;
        let err = e
            .finish_passkey_registration(&other, &reg.ceremony, &k.register(&reg.options), "x")
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("ceremony"));
        assert!(
            e.my_factors(&token).await.unwrap().is_empty(),
            "nothing added"
        );

        // A good passkey, then bent assertions.
        let reg = e.begin_passkey_registration(&token).await.unwrap();
        let mut key = SoftKey::new(ORIGIN, 3);
        e.finish_passkey_registration(&token, &reg.ceremony, &key.register(&reg.options), "k")
            .await
            .unwrap();

        // Expired ceremony.
        let auth = e.begin_passkey_sign_in().await.unwrap();
        h.clock.advance(CEREMONY_TTL + chrono::Duration::seconds(1));
        let err = e
            .finish_passkey_sign_in(&auth.ceremony, &key.assert(&auth.options), &ctx())
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("ceremony"));
        // A registration ceremony is not a sign-in ceremony.
        let fresh = session(&h, "bent@example.com").await;
        let reg = e.begin_passkey_registration(&fresh).await.unwrap();
        let err = e
            .finish_passkey_sign_in(&reg.ceremony, &key.assert(&reg.options), &ctx())
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("ceremony"));
        // Signed over another challenge, another origin, without user verification.
        let auth = e.begin_passkey_sign_in().await.unwrap();
        let other = e.begin_passkey_sign_in().await.unwrap();
        let err = e
            .finish_passkey_sign_in(&auth.ceremony, &key.assert(&other.options), &ctx())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCredentials), "{err}");
        let auth = e.begin_passkey_sign_in().await.unwrap();
        key.origin = "http://evil.example:8080".into();
        assert!(matches!(
            e.finish_passkey_sign_in(&auth.ceremony, &key.assert(&auth.options), &ctx())
                .await,
            Err(Error::InvalidCredentials)
        ));
        key.origin = ORIGIN.into();
        let auth = e.begin_passkey_sign_in().await.unwrap();
        key.counter += 1;
        let touch_only = key.assert_with_flags(&auth.options, SoftKey::PRESENCE_ONLY);
        assert!(matches!(
            e.finish_passkey_sign_in(&auth.ceremony, &touch_only, &ctx())
                .await,
            Err(Error::InvalidCredentials)
        ));
        // A user handle naming someone else with this key's credential id.
        let auth = e.begin_passkey_sign_in().await.unwrap();
        let real = key.user_handle.clone();
        key.user_handle = uuid::Uuid::nil().as_bytes().to_vec();
        let err = e
            .finish_passkey_sign_in(&auth.ceremony, &key.assert(&auth.options), &ctx())
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("passkey"));
        key.user_handle = real;

        // Still works after all that.
        let auth = e.begin_passkey_sign_in().await.unwrap();
        let ok = e
            .finish_passkey_sign_in(&auth.ceremony, &key.assert(&auth.options), &ctx())
            .await
            .unwrap();
        assert_eq!(ok.session.customer_id, id);

        // A counter going backwards: a copied key. Refused, flagged, audited, and refused
        // from then on even with a good counter.
        let auth = e.begin_passkey_sign_in().await.unwrap();
        key.counter -= 2;
        let cloned = key.assert(&auth.options);
        let err = e
            .finish_passkey_sign_in(&auth.ceremony, &cloned, &ctx())
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("passkey"));
        assert!(err.to_string().contains("copied"), "{err}");
        let listed = e.my_factors(&ok.token).await.unwrap();
        assert!(listed[0].flagged_at.is_some());
        let audit = e.customer_audit(&h.admin, id, 20).await.unwrap();
        assert!(audit.iter().any(|a| a.action == "customer.passkey_flagged"));
        key.counter += 10;
        let auth = e.begin_passkey_sign_in().await.unwrap();
        assert!(
            e.finish_passkey_sign_in(&auth.ceremony, &key.assert(&auth.options), &ctx())
                .await
                .is_err()
        );
        h.engine.close().await;
    }
}
