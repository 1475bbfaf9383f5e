//! Console settings: access reasons, idle lock, risk badge, audit labels, demo vaults.

use super::*;
use vestibule_engine::{ConsoleSettings, Error, RiskLevel, Role};

const PW: &str = "lantern orchard violet";

#[tokio::test]
async fn access_reason_setting_is_enforced_and_stored_with_the_read() {
    for h in backends().await {
        let id = verified_customer(&h, "reason@example.com", PW).await;
        let e = &h.engine;
        let s = e.console_settings(&h.admin).await.unwrap();
        assert_eq!(s, ConsoleSettings::default(), "{}", h.name);
        assert!(!s.require_access_reason);
        assert_eq!(s.idle_lock_minutes, 15);
        // Opening without a reason works while the setting is off.
        e.get_customer(&h.admin, id, None).await.unwrap();

        // Only admins change settings; bad values change nothing.
        e.add_staff(
            &h.admin,
            "sup@staff.example",
            "Sam Support",
            Role::Support,
            "staff member passphrase",
        )
        .await
        .unwrap();
        let sup = e
            .staff_sign_in("sup@staff.example", "staff member passphrase", None)
            .await
            .unwrap();
        let on = ConsoleSettings {
            require_access_reason: true,
            idle_lock_minutes: 5,
            version: s.version,
        };
        assert!(matches!(
            e.update_console_settings(&sup, &on).await,
            Err(Error::Forbidden(_))
        ));
        let bad = ConsoleSettings {
            idle_lock_minutes: 0,
            ..on.clone()
        };
        let err = e.update_console_settings(&h.admin, &bad).await.unwrap_err();
        assert_eq!(err.field(), Some("idle_lock_minutes"));
        assert_eq!(e.console_settings(&sup).await.unwrap(), s);

        let saved = e.update_console_settings(&h.admin, &on).await.unwrap();
        assert!(saved.require_access_reason);
        assert_eq!(saved.idle_lock_minutes, 5);
        assert_eq!(saved.version, 1);
        // A second update from the same stale read is a conflict.
        assert!(matches!(
            e.update_console_settings(&h.admin, &on).await,
            Err(Error::Conflict(_))
        ));

        let err = e.get_customer(&sup, id, None).await.unwrap_err();
        assert_eq!((err.code(), err.field()), ("invalid_input", Some("reason")));
        let err = e.get_customer(&sup, id, Some("   ")).await.unwrap_err();
        assert_eq!(err.field(), Some("reason"));
        e.get_customer(&sup, id, Some("ticket #1234"))
            .await
            .unwrap();
        let trail = e.customer_audit(&sup, id, 10).await.unwrap();
        let viewed = &trail[0];
        assert_eq!(viewed.action, "customer.viewed");
        assert_eq!(viewed.reason.as_deref(), Some("ticket #1234"));
        assert_eq!(
            viewed.actor_label.as_deref(),
            Some("Sam Support <sup@staff.example>")
        );
        // The settings change is itself audited with a diff.
        let log = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        let change = log
            .iter()
            .find(|a| a.action == "settings.console_updated")
            .unwrap();
        assert_eq!(change.diff["idle_lock_minutes"], serde_json::json!([15, 5]));
        e.verify_audit(&h.admin).await.unwrap();
        h.engine.close().await;
    }
}

#[tokio::test]
async fn risk_badge_follows_recent_failed_sign_ins() {
    for h in backends().await {
        let id = verified_customer(&h, "risk@example.com", PW).await;
        let e = &h.engine;
        assert_eq!(
            e.customer_risk(&h.admin, id).await.unwrap().level,
            RiskLevel::Low
        );
        for _ in 0..3 {
            let _ = e
                .sign_in("risk@example.com", "not the password", &ctx())
                .await;
        }
        let r = e.customer_risk(&h.admin, id).await.unwrap();
        assert_eq!(
            (r.level, r.failed_last_24h, r.failed_ips_last_24h),
            (RiskLevel::Elevated, 3, 1)
        );
        h.clock.advance(chrono::Duration::hours(25));
        assert_eq!(
            e.customer_risk(&h.admin, id).await.unwrap().level,
            RiskLevel::Low
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn demo_vault_has_every_role_and_customers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.vault");
    let clock = start_clock();
    let mut seen = 0;
    Engine::create_demo_vault(&path, 300, deps(&clock, 3, fast_config()), &mut |p| {
        seen = p.customers_done
    })
    .await
    .unwrap();
    assert_eq!(seen, 300);
    // Each engine gets its own entropy seed: the same seed and clock would mint the same ids.
    for (i, a) in vestibule_engine::demo::demo_accounts()
        .into_iter()
        .enumerate()
    {
        let (engine, staff) = Engine::unlock_vault(
            &path,
            &a.email,
            &a.password,
            None,
            deps(&clock, 10 + i as u64, fast_config()),
        )
        .await
        .unwrap();
        assert_eq!(staff.role(), a.role);
        // Demo admins and security staff set up an authenticator first, like any.
        let staff = if a.role.needs_authenticator() {
            assert_eq!(
                staff.factor(),
                vestibule_engine::StaffFactor::EnrolmentNeeded
            );
            assert!(matches!(
                engine.search_customers(&staff, "a", None, 5).await,
                Err(vestibule_engine::Error::AuthenticatorRequired)
            ));
            super::with_authenticator(&engine, &staff, &clock).await.0
        } else {
            staff
        };
        let page = engine.search_customers(&staff, "a", None, 5).await;
        assert_eq!(
            page.is_ok(),
            vestibule_engine::allows(a.role, vestibule_engine::Permission::ReadCustomers)
        );
        if a.role == vestibule_engine::Role::Privacy {
            // Consent purposes with published texts, and customers' answers to them.
            let purposes = engine.consent_purposes().await.unwrap();
            assert_eq!(purposes.len(), 4);
            assert!(
                purposes
                    .iter()
                    .all(|p| p.latest.as_ref().unwrap().texts.len() == 2)
            );
            let rates = engine.consent_rates(&staff).await.unwrap();
            let marketing: Vec<_> = rates
                .iter()
                .filter(|r| r.purpose_id == "marketing_email")
                .collect();
            assert_eq!(marketing.len(), 1);
            assert!(
                marketing[0].opted_in > 100 && marketing[0].opted_out > 20,
                "{rates:?}"
            );
            assert_eq!(
                engine
                    .reconsent_preview(&staff, "marketing_email")
                    .await
                    .unwrap(),
                marketing[0].opted_in as u64
            );
        }
        engine.close().await;
    }
}

/// The hosted pages' branding: public to read, admins change it, every change audited, and
/// an accent without AA contrast, a non-https support link or a logo that is not the image it
/// claims is refused with nothing changed.
#[tokio::test]
async fn branding_is_validated_audited_and_versioned() {
    use base64::Engine as _;
    use vestibule_engine::{Branding, Logo};
    for h in backends().await {
        let e = &h.engine;
        let initial = e.branding().await.unwrap();
        assert_eq!(initial, Branding::default());
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\nIHDR");
        let wanted = Branding {
            name: "  Shop Example ".into(),
            accent: "#0B6E4F".into(),
            support_url: Some("https://help.shop.example/".into()),
            logo: Some(Logo {
                content_type: "image/png".into(),
                base64: png.clone(),
            }),
            version: 0,
        };
        for (bad, field) in [
            (
                Branding {
                    accent: "#f0c040".into(),
                    ..wanted.clone()
                },
                "accent",
            ),
            (
                Branding {
                    accent: "green".into(),
                    ..wanted.clone()
                },
                "accent",
            ),
            (
                Branding {
                    name: " ".into(),
                    ..wanted.clone()
                },
                "name",
            ),
            (
                Branding {
                    support_url: Some("javascript:alert(1)".into()),
                    ..wanted.clone()
                },
                "support_url",
            ),
            (
                Branding {
                    logo: Some(Logo {
                        content_type: "image/svg+xml".into(),
                        base64: png.clone(),
                    }),
                    ..wanted.clone()
                },
                "logo",
            ),
        ] {
            let err = e.update_branding(&h.admin, &bad).await.unwrap_err();
            assert_eq!(err.field(), Some(field), "{bad:?}");
        }
        assert_eq!(e.branding().await.unwrap(), initial, "nothing changed");
        let saved = e.update_branding(&h.admin, &wanted).await.unwrap();
        assert_eq!(saved.name, "Shop Example");
        assert_eq!(saved.accent, "#0b6e4f");
        assert_eq!(saved.version, 1);
        assert!(matches!(
            e.update_branding(&h.admin, &wanted).await,
            Err(Error::Conflict(_))
        ));
        let log = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        let change = log
            .iter()
            .find(|a| a.action == "settings.branding_updated")
            .unwrap();
        assert_eq!(
            change.diff["accent"],
            serde_json::json!(["#3346c8", "#0b6e4f"])
        );
        assert_eq!(change.diff["logo"], serde_json::json!([null, "image/png"]));
        h.engine.close().await;
    }
}
