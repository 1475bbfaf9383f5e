//! Retention: rules per class of data, validated and audited; a dry run that reports
//! exactly what the real run then removes; the consent record in force never removed; and
//! the daily run.

use super::*;
use vestibule_engine::consent::ledger::Collector;
use vestibule_engine::consent::{
    ConsentAnswer, ConsentChannel, ConsentText, LegalBasis, PublishVersion, PurposeInput,
};
use vestibule_engine::privacy::{RetentionClass, RetentionRules};
use vestibule_engine::{Error, RegisterInput, Role};

const PW: &str = "lantern orchard violet";

fn rules() -> RetentionRules {
    RetentionRules {
        sign_in_attempts_days: Some(90),
        ip_addresses_days: Some(30),
        ended_sessions_days: Some(30),
        unverified_accounts_days: Some(7),
        inactive_accounts_days: Some(365),
        consent_history_days: Some(365),
        version: 0,
    }
}

async fn newsletter(h: &Harness) {
    h.engine
        .save_consent_purpose(
            &h.admin,
            &PurposeInput {
                id: "newsletter".into(),
                name: "Newsletter".into(),
                legal_basis: LegalBasis::Consent,
                data_categories: vec![],
                retention_days: 365,
                consent_required: true,
                version: 0,
            },
        )
        .await
        .unwrap();
    h.engine
        .publish_consent_version(
            &h.admin,
            &PublishVersion {
                purpose_id: "newsletter".into(),
                version: 1,
                material: true,
                texts: vec![ConsentText {
                    locale: "en".into(),
                    title: "Newsletter".into(),
                    body: "Monthly news.".into(),
                }],
            },
        )
        .await
        .unwrap();
}

fn answer(granted: bool) -> ConsentAnswer {
    ConsentAnswer {
        purpose_id: "newsletter".into(),
        version: 1,
        locale: "en".into(),
        granted,
    }
}

const API: Collector<'static> = Collector::Customer {
    channel: ConsentChannel::Api,
    client_id: Some("shop-backend"),
};

#[tokio::test]
async fn the_dry_run_reports_what_the_real_run_removes() {
    for h in backends().await {
        let e = &h.engine;
        newsletter(&h).await;
        // Two years ago: an account that then went quiet, with consent given and withdrawn,
        // a session that ended, and failed attempts; one never verified.
        let quiet = verified_customer(&h, "quiet@shop.example", PW).await;
        let s = e.sign_in("quiet@shop.example", PW, &ctx()).await.unwrap();
        let _ = e.sign_in("quiet@shop.example", "wrong", &ctx()).await;
        e.record_consent(quiet, &[answer(true)], API, &ctx())
            .await
            .unwrap();
        e.record_consent(quiet, &[answer(false)], API, &ctx())
            .await
            .unwrap();
        e.sign_out(&s.token).await.unwrap();
        e.register(
            RegisterInput {
                email: "never@shop.example".into(),
                password: PW.into(),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
        e.settle().await.unwrap();
        h.clock.advance(chrono::Duration::days(730));
        // Now: an active customer, signed in today, consent given today.
        let active = verified_customer(&h, "active@shop.example", PW).await;
        e.sign_in("active@shop.example", PW, &ctx()).await.unwrap();
        e.record_consent(active, &[answer(true)], API, &ctx())
            .await
            .unwrap();

        // Bad rules change nothing; support may not touch them.
        let short = RetentionRules {
            sign_in_attempts_days: Some(5),
            ..rules()
        };
        assert!(matches!(
            e.update_retention_rules(&h.admin, &short).await,
            Err(Error::InvalidInput {
                field: "sign_in_attempts_days",
                ..
            })
        ));
        let consent_short = RetentionRules {
            consent_history_days: Some(30),
            ..rules()
        };
        assert!(matches!(
            e.update_retention_rules(&h.admin, &consent_short).await,
            Err(Error::InvalidInput {
                field: "consent_history_days",
                ..
            })
        ));
        assert_eq!(
            e.retention_rules(&h.admin).await.unwrap(),
            RetentionRules::default()
        );
        let sup = staff_member(&h, "sup@staff.example", Role::Support).await;
        assert!(matches!(
            e.update_retention_rules(&sup, &rules()).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            e.run_retention(&sup, true).await,
            Err(Error::Forbidden(_))
        ));

        // Nothing is due without rules.
        assert!(e.run_scheduled_retention().await.unwrap().is_none());
        let dpo = staff_member(&h, "dpo@staff.example", Role::Privacy).await;
        let saved = e.update_retention_rules(&dpo, &rules()).await.unwrap();
        assert_eq!(saved.version, 1);
        assert!(matches!(
            e.update_retention_rules(&dpo, &rules()).await,
            Err(Error::Conflict(_))
        ));

        let dry = e.run_retention(&dpo, true).await.unwrap();
        assert!(dry.dry_run);
        let count = |r: &vestibule_engine::privacy::RetentionReport, c: RetentionClass| {
            r.items.iter().find(|i| i.class == c).unwrap().rows
        };
        assert!(
            count(&dry, RetentionClass::SignInAttempts) >= 2,
            "{}: {dry:?}",
            h.name
        );
        assert!(count(&dry, RetentionClass::EndedSessions) >= 1, "{dry:?}");
        assert_eq!(count(&dry, RetentionClass::ConsentHistory), 1, "{dry:?}");
        assert_eq!(
            count(&dry, RetentionClass::UnverifiedAccounts),
            1,
            "{dry:?}"
        );
        assert_eq!(count(&dry, RetentionClass::InactiveAccounts), 1, "{dry:?}");
        assert!(count(&dry, RetentionClass::IpAddresses) >= 1, "{dry:?}");
        // The dry run removed nothing.
        assert!(e.get_customer(&h.admin, quiet, None).await.is_ok());

        let real = e.run_retention(&dpo, false).await.unwrap();
        assert!(!real.dry_run);
        assert_eq!(
            real.items, dry.items,
            "{}: the dry run is what happens",
            h.name
        );
        assert_eq!(
            e.last_retention_run(&dpo).await.unwrap(),
            Some(real.clone())
        );

        // What went: the quiet account (erased, with a tombstone), the unverified one; the
        // superseded consent record. What stayed: the active customer and her consent, and
        // the withdrawn record in force for the erased customer is now superseded proof
        // kept until the consent horizon.
        assert!(matches!(
            e.get_customer(&h.admin, quiet, None).await,
            Err(Error::NotFound(_))
        ));
        let tomb = e.erasure_of(&h.admin, quiet).await.unwrap().unwrap();
        assert_eq!(tomb.requested_by, "system:retention");
        assert!(tomb.reason.unwrap().contains("no sign-in after 365 days"));
        assert!(
            e.search_customers(&h.admin, "never@shop.example", None, 5)
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(e.get_customer(&h.admin, active, None).await.is_ok());
        assert!(
            e.consent_decision(active, "newsletter")
                .await
                .unwrap()
                .allowed
        );
        let ledger = e
            .raw_rows_for_test("consent_ledger", "customer_id", &quiet.to_string())
            .await
            .unwrap();
        assert_eq!(ledger.len(), 1, "{}: {ledger:?}", h.name);
        assert_eq!(ledger[0]["granted"], 0);

        // A second dry run finds only the erased customer's last record: no longer in
        // force once she was erased (after the consent rule had run), and two years old.
        let again = e.run_retention(&dpo, true).await.unwrap();
        for i in &again.items {
            let expected = u64::from(i.class == RetentionClass::ConsentHistory);
            assert_eq!(i.rows, expected, "{again:?}");
        }

        // The record in force is never deleted, whatever the horizon.
        let in_force = e
            .raw_rows_for_test("consent_ledger", "customer_id", &active.to_string())
            .await
            .unwrap();
        let seq = in_force[0]["seq"].as_i64().unwrap();
        e.execute_unchecked(
            "UPDATE settings SET value = '9000000000000000000' \
             WHERE key = 'retention.consent_horizon_us'",
        )
        .await
        .unwrap();
        assert!(
            e.execute_unchecked(&format!("DELETE FROM consent_ledger WHERE seq = {seq}"))
                .await
                .is_err(),
            "{}: the record in force was deleted",
            h.name
        );

        // Audited; the daily run waits a day after the last one.
        let log = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        assert!(log.iter().any(|a| a.action == "settings.retention_updated"));
        assert!(log.iter().any(|a| a.action == "privacy.retention_run"));
        assert!(e.run_scheduled_retention().await.unwrap().is_none());
        h.clock.advance(chrono::Duration::hours(25));
        let daily = e.run_scheduled_retention().await.unwrap().unwrap();
        assert_eq!(daily.by, "system");
        assert_eq!(daily.items, again.items);
        assert!(
            e.raw_rows_for_test("consent_ledger", "customer_id", &quiet.to_string())
                .await
                .unwrap()
                .is_empty()
        );
        e.verify_audit(&h.admin).await.unwrap();
    }
}
