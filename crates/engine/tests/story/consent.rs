//! Consent: purposes with versioned texts (immutable once published; material versions ask
//! again), the append-only ledger and the state kept beside it, the decision API, signed
//! receipts, and bad input changing nothing.

use super::*;
use vestibule_engine::consent::ledger::Collector;
use vestibule_engine::consent::{
    ConsentAnswer, ConsentChannel, ConsentText, DecisionBasis, LegalBasis, PublishVersion,
    PurposeInput,
};
use vestibule_engine::{Error, Role};

const PW: &str = "lantern orchard violet";

fn marketing(version: i64) -> PurposeInput {
    PurposeInput {
        id: "marketing_email".into(),
        name: "Marketing email".into(),
        legal_basis: LegalBasis::Consent,
        data_categories: vec!["email address".into(), "purchase history".into()],
        retention_days: 730,
        consent_required: true,
        version,
    }
}

fn text(locale: &str, title: &str) -> ConsentText {
    ConsentText {
        locale: locale.into(),
        title: title.into(),
        body: format!("{title}: we send news and offers; withdraw any time."),
    }
}

fn publish(version: i64, material: bool) -> PublishVersion {
    PublishVersion {
        purpose_id: "marketing_email".into(),
        version,
        material,
        texts: vec![
            text("en", "News and offers"),
            text("de", "Neuigkeiten und Angebote"),
        ],
    }
}

fn answer(version: i64, locale: &str, granted: bool) -> ConsentAnswer {
    ConsentAnswer {
        purpose_id: "marketing_email".into(),
        version,
        locale: locale.into(),
        granted,
    }
}

/// The field an input error names.
fn field<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    match r {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("{other:?}"),
    }
}

/// A verified customer, and the marketing purpose with version 1 published.
async fn with_marketing(h: &Harness, email: &str) -> uuid::Uuid {
    let who = verified_customer(h, email, PW).await;
    h.engine
        .save_consent_purpose(&h.admin, &marketing(0))
        .await
        .unwrap();
    h.engine
        .publish_consent_version(&h.admin, &publish(1, true))
        .await
        .unwrap();
    who
}

const ACCOUNT: Collector<'static> = Collector::Customer {
    channel: ConsentChannel::AccountCenter,
    client_id: None,
};

#[tokio::test]
async fn material_versions_ask_again_minor_ones_do_not_and_decisions_follow_the_ledger() {
    for h in backends().await {
        let e = &h.engine;
        let who = verified_customer(&h, "mia@shop.example", PW).await;
        let other = verified_customer(&h, "ole@shop.example", PW).await;
        e.save_consent_purpose(&h.admin, &marketing(0))
            .await
            .unwrap();
        // Never asked: a consent purpose says no.
        let d = e.consent_decision(who, "marketing_email").await.unwrap();
        assert_eq!(
            (d.allowed, d.basis, d.record),
            (false, DecisionBasis::NeverAsked, None)
        );

        let v1 = e
            .publish_consent_version(&h.admin, &publish(1, true))
            .await
            .unwrap();
        assert_eq!((v1.version.version, v1.reconsent), (1, 0), "{}", h.name);
        let granted = e
            .record_consent(who, &[answer(1, "de", true)], ACCOUNT, &ctx())
            .await
            .unwrap();
        e.record_consent(other, &[answer(1, "en", false)], ACCOUNT, &ctx())
            .await
            .unwrap();
        let d = e.consent_decision(who, "marketing_email").await.unwrap();
        assert_eq!((d.allowed, d.basis), (true, DecisionBasis::Granted));
        let r = d.record.unwrap();
        assert_eq!(r, granted[0]);
        assert_eq!(
            (r.version, r.locale.as_str(), r.channel),
            (1, "de", ConsentChannel::AccountCenter)
        );
        assert_eq!(r.ip, ctx().ip);
        let d = e.consent_decision(other, "marketing_email").await.unwrap();
        assert_eq!((d.allowed, d.basis), (false, DecisionBasis::Withdrawn));

        // A minor version: nobody is asked again.
        let v2 = e
            .publish_consent_version(&h.admin, &publish(2, false))
            .await
            .unwrap();
        assert_eq!(v2.reconsent, 0);
        assert!(
            e.consent_decision(who, "marketing_email")
                .await
                .unwrap()
                .allowed
        );
        // A material one: the one customer whose consent rests on version 1.
        assert_eq!(
            e.reconsent_preview(&h.admin, "marketing_email")
                .await
                .unwrap(),
            1
        );
        let v3 = e
            .publish_consent_version(&h.admin, &publish(3, true))
            .await
            .unwrap();
        assert_eq!(v3.reconsent, 1, "{}", h.name);
        let d = e.consent_decision(who, "marketing_email").await.unwrap();
        assert_eq!(
            (d.allowed, d.basis),
            (false, DecisionBasis::ReconsentNeeded)
        );
        assert_eq!(d.record.unwrap().id, granted[0].id);
        let state = e.consent_state(who).await.unwrap();
        assert_eq!(state.len(), 1);
        assert!(state[0].needs_reconsent && state[0].granted == Some(true));
        // Asked again and given: allowed; then withdrawn: not — and the history stays.
        e.record_consent(who, &[answer(3, "en", true)], ACCOUNT, &ctx())
            .await
            .unwrap();
        assert!(
            e.consent_decision(who, "marketing_email")
                .await
                .unwrap()
                .allowed
        );
        assert!(!e.consent_state(who).await.unwrap()[0].needs_reconsent);
        e.record_consent(who, &[answer(3, "en", false)], ACCOUNT, &ctx())
            .await
            .unwrap();
        let d = e.consent_decision(who, "marketing_email").await.unwrap();
        assert_eq!((d.allowed, d.basis), (false, DecisionBasis::Withdrawn));
        let ledger = e.consent_ledger(&h.admin, who).await.unwrap();
        let seen: Vec<(i64, bool)> = ledger.iter().map(|r| (r.version, r.granted)).collect();
        assert_eq!(seen, vec![(3, false), (3, true), (1, true)], "{}", h.name);
        let audit = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.action == "consent.version_published")
        );
        assert!(audit.iter().any(|a| a.action == "consent.purpose_saved"));
    }
}

#[tokio::test]
async fn the_ledger_and_published_versions_cannot_be_rewritten() {
    for h in backends().await {
        let e = &h.engine;
        let who = with_marketing(&h, "ida@shop.example").await;
        e.record_consent(who, &[answer(1, "en", true)], ACCOUNT, &ctx())
            .await
            .unwrap();
        for sql in [
            "UPDATE consent_ledger SET granted = 0",
            "UPDATE consent_ledger SET version = 2",
            "UPDATE consent_ledger SET ip = '198.51.100.1'",
            "DELETE FROM consent_ledger",
            "UPDATE consent_texts SET body = 'something else'",
            "DELETE FROM consent_texts",
            "UPDATE consent_versions SET material = 0",
            "DELETE FROM consent_versions",
        ] {
            assert!(e.execute_unchecked(sql).await.is_err(), "{}: {sql}", h.name);
        }
        // Erasure may blank where it came from, and nothing else.
        assert_eq!(
            e.execute_unchecked("UPDATE consent_ledger SET ip = '', user_agent = ''")
                .await
                .unwrap(),
            1
        );
        let r = &e.consent_ledger(&h.admin, who).await.unwrap()[0];
        assert_eq!((r.granted, r.version, r.ip.as_str()), (true, 1, ""));
        let v = e.purpose_version("marketing_email", 1).await.unwrap();
        assert_eq!(v.texts[0].body, publish(1, true).texts[1].body);
    }
}

#[tokio::test]
async fn receipts_are_kantara_documents_signed_with_the_published_key() {
    let h = sqlite(fast_config()).await;
    let e = &h.engine;
    let who = with_marketing(&h, "eva@shop.example").await;
    let r = e
        .record_consent(
            who,
            &[answer(1, "de", true)],
            Collector::Customer {
                channel: ConsentChannel::SignUp,
                client_id: None,
            },
            &ctx(),
        )
        .await
        .unwrap()
        .remove(0);
    let jws = e.staff_consent_receipt(&h.admin, r.id).await.unwrap();
    // Verified with jsonwebtoken against the JWKS (the engine signs RS256 with ring).
    let header = jsonwebtoken::decode_header(&jws).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(e.jwks().await.unwrap()).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims: serde_json::Value = jsonwebtoken::decode(
        &jws,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["version"], "KI-CR-v1.1.0");
    assert_eq!(claims["consentReceiptID"], r.id.to_string());
    assert_eq!(claims["piiPrincipalId"], who.to_string());
    assert_eq!(claims["language"], "de");
    assert_eq!(claims["collectionMethod"], "sign-up page");
    assert_eq!(claims["consentTimestamp"], r.at.timestamp());
    let purpose = &claims["services"][0]["purposes"][0];
    assert_eq!(purpose["purpose"], "Neuigkeiten und Angebote");
    assert_eq!(purpose["purposeCategory"][0], "marketing_email");
    assert_eq!(purpose["consentType"], "EXPLICIT");
    assert_eq!(purpose["piiCategory"][1], "purchase history");
    assert_eq!(
        (
            claims["granted"].as_bool(),
            claims["purposeVersion"].as_i64()
        ),
        (Some(true), Some(1))
    );
    // A tampered receipt does not verify.
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert!(
        jsonwebtoken::decode::<serde_json::Value>(
            &parts.join("."),
            &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
            &validation
        )
        .is_err()
    );
    assert!(matches!(
        e.staff_consent_receipt(&h.admin, uuid::Uuid::nil()).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn bad_purposes_versions_and_answers_are_refused_and_change_nothing() {
    for h in backends().await {
        let e = &h.engine;
        let who = with_marketing(&h, "uli@shop.example").await;
        // Purposes.
        let mut bad = marketing(0);
        bad.id = "Marketing Email".into();
        assert_eq!(field(e.save_consent_purpose(&h.admin, &bad).await), "id");
        let mut bad = marketing(1);
        bad.retention_days = 0;
        assert_eq!(
            field(e.save_consent_purpose(&h.admin, &bad).await),
            "retention_days"
        );
        let mut bad = marketing(1);
        bad.consent_required = false;
        assert_eq!(
            field(e.save_consent_purpose(&h.admin, &bad).await),
            "consent_required"
        );
        assert!(matches!(
            e.save_consent_purpose(&h.admin, &marketing(0)).await,
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            e.save_consent_purpose(&h.admin, &marketing(7)).await,
            Err(Error::Conflict(_))
        ));
        // Versions: over an existing one, skipping one, too long, two texts of one locale,
        // an unknown purpose.
        assert!(matches!(
            e.publish_consent_version(&h.admin, &publish(1, false))
                .await,
            Err(Error::Conflict(_))
        ));
        assert_eq!(
            field(
                e.publish_consent_version(&h.admin, &publish(5, false))
                    .await
            ),
            "version"
        );
        let mut long = publish(2, false);
        long.texts[0].body = "x".repeat(20_001);
        assert_eq!(
            field(e.publish_consent_version(&h.admin, &long).await),
            "body"
        );
        let mut twice = publish(2, false);
        twice.texts[1].locale = "EN".into();
        twice.texts[0].locale = "en".into();
        assert_eq!(
            field(e.publish_consent_version(&h.admin, &twice).await),
            "locale"
        );
        let mut unknown = publish(1, false);
        unknown.purpose_id = "nope".into();
        assert!(matches!(
            e.publish_consent_version(&h.admin, &unknown).await,
            Err(Error::NotFound(_))
        ));
        let p = e.consent_purpose("marketing_email").await.unwrap();
        assert_eq!((p.version, p.latest.unwrap().version), (1, 1));

        // Answers: unknown purpose, unpublished version, a locale with no text; all or
        // nothing.
        let mut none = answer(1, "en", true);
        none.purpose_id = "nope".into();
        assert!(matches!(
            e.record_consent(who, &[answer(1, "en", true), none], ACCOUNT, &ctx())
                .await,
            Err(Error::NotFound(_))
        ));
        assert_eq!(
            field(
                e.record_consent(who, &[answer(2, "en", true)], ACCOUNT, &ctx())
                    .await
            ),
            "locale"
        );
        assert_eq!(
            field(
                e.record_consent(who, &[answer(1, "fr", true)], ACCOUNT, &ctx())
                    .await
            ),
            "locale"
        );
        assert!(
            e.consent_ledger(&h.admin, who).await.unwrap().is_empty(),
            "{}",
            h.name
        );
        assert!(matches!(
            e.record_consent(uuid::Uuid::nil(), &[answer(1, "en", true)], ACCOUNT, &ctx())
                .await,
            Err(Error::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn staff_record_consent_for_a_customer_with_a_reason_and_support_only_reads() {
    for h in backends().await {
        let e = &h.engine;
        let who = with_marketing(&h, "kai@shop.example").await;
        for (email, role) in [
            ("dpo@staff.example", Role::Privacy),
            ("sup@staff.example", Role::Support),
        ] {
            e.add_staff(&h.admin, email, "Staff", role, "staff member passphrase")
                .await
                .unwrap();
        }
        let dpo = staff_signed_in(&h, "dpo@staff.example", "staff member passphrase").await;
        let sup = staff_signed_in(&h, "sup@staff.example", "staff member passphrase").await;
        let by = |s| Collector::Staff {
            staff: s,
            reason: "phone call, ticket 4711",
        };
        assert!(matches!(
            e.record_consent(who, &[answer(1, "en", false)], by(&sup), &ctx())
                .await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            e.save_consent_purpose(&sup, &marketing(1)).await,
            Err(Error::Forbidden(_))
        ));
        let no_reason = Collector::Staff {
            staff: &dpo,
            reason: " ",
        };
        assert!(matches!(
            e.record_consent(who, &[answer(1, "en", false)], no_reason, &ctx())
                .await,
            Err(Error::InvalidInput {
                field: "reason",
                ..
            })
        ));
        let r = e
            .record_consent(who, &[answer(1, "en", false)], by(&dpo), &ctx())
            .await
            .unwrap()
            .remove(0);
        assert_eq!(r.channel, ConsentChannel::Staff);
        assert_eq!(
            r.staff_id.as_deref(),
            Some(format!("staff:{}", dpo.id()).as_str())
        );
        assert_eq!(r.reason.as_deref(), Some("phone call, ticket 4711"));
        // Support reads the state and the ledger.
        assert_eq!(e.consent_ledger(&sup, who).await.unwrap(), vec![r]);
        let audit = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        let entry = audit
            .iter()
            .find(|a| a.action == "consent.recorded_for_customer")
            .unwrap();
        assert_eq!(entry.reason.as_deref(), Some("phone call, ticket 4711"));
    }
}

#[tokio::test]
async fn sign_up_records_what_the_form_showed_with_the_new_account() {
    for h in backends().await {
        let e = &h.engine;
        e.save_consent_purpose(&h.admin, &marketing(0))
            .await
            .unwrap();
        e.publish_consent_version(&h.admin, &publish(1, true))
            .await
            .unwrap();
        let input = |consents: Vec<ConsentAnswer>| vestibule_engine::RegisterInput {
            email: "new@shop.example".into(),
            password: PW.into(),
            display_name: "New Customer".into(),
            consents,
            ..Default::default()
        };
        // A text that was never published is refused before anything happens.
        let bad = e.register(input(vec![answer(2, "en", true)]), &ctx()).await;
        assert_eq!(field(bad), "consents", "{}", h.name);
        e.settle().await.unwrap();
        assert!(
            e.search_customers(&h.admin, "new@shop.example", None, 1)
                .await
                .unwrap()
                .items
                .is_empty()
        );
        // Shown in German, left unticked: recorded as refused, on the sign-up channel.
        e.register(input(vec![answer(1, "de", false)]), &ctx())
            .await
            .unwrap();
        e.settle().await.unwrap();
        let id = e
            .search_customers(&h.admin, "new@shop.example", None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        let ledger = e.consent_ledger(&h.admin, id).await.unwrap();
        assert_eq!(ledger.len(), 1, "{}", h.name);
        assert_eq!(ledger[0].channel, ConsentChannel::SignUp);
        assert_eq!((ledger[0].version, ledger[0].locale.as_str()), (1, "de"));
        assert!(!ledger[0].granted);
        assert_eq!(ledger[0].ip, ctx().ip);
        let decision = e.consent_decision(id, "marketing_email").await.unwrap();
        assert!(!decision.allowed);
        // The same address again: the owner is told, and nothing is recorded for them.
        e.register(input(vec![answer(1, "en", true)]), &ctx())
            .await
            .unwrap();
        e.settle().await.unwrap();
        assert_eq!(e.consent_ledger(&h.admin, id).await.unwrap().len(), 1);
    }
}
