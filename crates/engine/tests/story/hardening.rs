//! Regression tests for the holes found by attacking the server from outside (issue 10):
//! password guessing behind a session, staff sign-in without throttling, email flooding and
//! stale tokens, world-readable vault files, look-alike addresses and hidden text.

use super::*;
use chrono::Duration;
use vestibule_engine::{Error, RegisterInput, Role, key_file_path};

const PW: &str = "quiet meadow lanterns";

/// Every token of `kind` emailed to `to`, oldest first.
async fn all_tokens(h: &Harness, kind: &str, to: &str) -> Vec<String> {
    h.engine.settle().await.unwrap();
    let mut msgs = h.engine.outbox(&h.admin, 500).await.unwrap();
    msgs.reverse();
    msgs.iter()
        .filter(|m| m.kind == kind && m.to.eq_ignore_ascii_case(to))
        .map(|m| {
            let start = m.body.find("token=").unwrap() + 6;
            m.body[start..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn emails_to(h: &Harness, kind: &str, to: &str) -> usize {
    h.engine.settle().await.unwrap();
    let msgs = h.engine.outbox(&h.admin, 1000).await.unwrap();
    msgs.iter()
        .filter(|m| m.kind == kind && m.to.eq_ignore_ascii_case(to))
        .count()
}

fn registration(email: &str) -> RegisterInput {
    RegisterInput {
        email: email.into(),
        password: PW.into(),
        display_name: "Someone".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn wrong_current_passwords_behind_a_session_are_attempts_and_end_the_session() {
    for h in backends().await {
        let id = verified_customer(&h, "guess@example.com", PW).await;
        let s = h
            .engine
            .sign_in("guess@example.com", PW, &ctx())
            .await
            .unwrap();
        let limit = h.engine.config().reauth_failures_per_session;
        for i in 1..limit {
            let r = if i % 2 == 0 {
                h.engine
                    .change_password(&s.token, "not it at all", "another good phrase", &ctx())
                    .await
            } else {
                h.engine
                    .change_email(&s.token, "not it at all", "elsewhere@example.com", &ctx())
                    .await
            };
            assert!(matches!(r, Err(Error::InvalidCredentials)), "{i}: {r:?}");
        }
        // The last allowed failure ends the session itself.
        assert!(matches!(
            h.engine
                .change_password(&s.token, "not it at all", "another good phrase", &ctx())
                .await,
            Err(Error::InvalidSession)
        ));
        assert!(h.engine.validate_session(&s.token).await.is_err());
        // Even the right password cannot be used through that session any more.
        assert!(matches!(
            h.engine
                .change_password(&s.token, PW, "another good phrase", &ctx())
                .await,
            Err(Error::InvalidSession)
        ));
        // Recorded as sign-in attempts on the account, where throttling and staff see them.
        let attempts = h.engine.customer_attempts(&h.admin, id, 50).await.unwrap();
        let reauth_failures = attempts
            .iter()
            .filter(|a| a.method == "reauth" && a.outcome == "failure")
            .count();
        assert_eq!(reauth_failures as i64, limit, "{attempts:#?}");
        // They count toward the account's throttle like any failed sign-in.
        let throttle = h.engine.config().throttle_failures;
        for _ in limit..throttle {
            let _ = h.engine.sign_in("guess@example.com", "wrong", &ctx()).await;
        }
        let fresh = h.engine.sign_in("guess@example.com", PW, &ctx()).await;
        assert!(matches!(fresh, Err(Error::RateLimited(_))), "{fresh:?}");
        h.engine.close().await;
    }
}

#[tokio::test]
async fn reauth_is_refused_while_the_account_is_throttled() {
    for h in backends().await {
        verified_customer(&h, "thr@example.com", PW).await;
        let s = h
            .engine
            .sign_in("thr@example.com", PW, &ctx())
            .await
            .unwrap();
        for _ in 0..h.engine.config().throttle_failures {
            let _ = h.engine.sign_in("thr@example.com", "wrong", &ctx()).await;
        }
        assert!(matches!(
            h.engine
                .change_password(&s.token, PW, "another good phrase", &ctx())
                .await,
            Err(Error::RateLimited(_))
        ));
        h.clock.advance(Duration::minutes(16));
        h.engine
            .change_password(&s.token, PW, "another good phrase", &ctx())
            .await
            .unwrap();
        h.engine.close().await;
    }
}

#[tokio::test]
async fn staff_sign_in_is_throttled_recorded_audited_and_alerts_the_admins() {
    for h in backends().await {
        h.engine
            .add_staff(
                &h.admin,
                "second@shop.example",
                "Second",
                Role::Admin,
                "second admin phrase",
            )
            .await
            .unwrap();
        let alert = h.engine.config().staff_alert_failures;
        let throttle = h.engine.config().staff_throttle_failures;
        for i in 0..throttle {
            let r = h
                .engine
                .staff_session_create(ADMIN_EMAIL, "wrong words", None, &format!("203.0.113.{i}"))
                .await;
            assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
        }
        // From any address, the right password is now refused until the window passes.
        assert!(matches!(
            h.engine
                .staff_session_create(ADMIN_EMAIL, ADMIN_PASSWORD, None, "198.51.100.7")
                .await,
            Err(Error::RateLimited(_))
        ));
        // The other admin (and the account's owner) got one alert for the burst.
        assert_eq!(
            emails_to(&h, "staff_sign_in_alert", "second@shop.example").await,
            1
        );
        assert_eq!(emails_to(&h, "staff_sign_in_alert", ADMIN_EMAIL).await, 1);
        let log = h.engine.audit_log(&h.admin, 0, 1000).await.unwrap();
        let failed = log
            .iter()
            .filter(|e| {
                e.action == "staff.sign_in_failed" && e.target == format!("staff:{}", h.admin.id())
            })
            .count();
        assert_eq!(failed as i64, throttle);
        assert!(log.iter().any(|e| e.action == "staff.sign_in_alert_sent"));
        assert!(alert < throttle);
        // Unknown staff addresses are recorded too, without naming them in the audit log.
        let _ = h
            .engine
            .staff_session_create("nobody@shop.example", "x", None, "203.0.113.99")
            .await;
        let log = h.engine.audit_log(&h.admin, 0, 1000).await.unwrap();
        let unknown = log
            .iter()
            .find(|e| e.action == "staff.sign_in_failed" && e.target == "staff:unknown")
            .unwrap();
        assert!(!unknown.diff.to_string().contains("nobody"));
        h.clock.advance(Duration::minutes(16));
        h.engine
            .staff_session_create(
                ADMIN_EMAIL,
                ADMIN_PASSWORD,
                Some(&admin_code(&h)),
                "198.51.100.7",
            )
            .await
            .unwrap();
        h.engine.close().await;
    }
}

#[tokio::test]
async fn console_vault_sign_in_is_throttled_and_its_failures_recorded_at_the_next_unlock() {
    let h = sqlite(fast_config()).await;
    let path = h.vault.clone().unwrap();
    h.engine.close().await;
    let clock = start_clock();
    let throttle = fast_config().staff_throttle_failures;
    for i in 0..throttle {
        let r = Engine::unlock_vault(
            &path,
            ADMIN_EMAIL,
            "wrong words",
            None,
            deps(&clock, 20 + i as u64, fast_config()),
        )
        .await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
    }
    // The failures live beside the locked vault, naming no one.
    let pending = std::fs::read_to_string(path.with_extension("vault.signins")).unwrap();
    assert!(!pending.contains("owner"), "{pending}");
    // The right password is refused before any hashing until the window has passed.
    assert!(matches!(
        Engine::unlock_vault(
            &path,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
            None,
            deps(&clock, 40, fast_config())
        )
        .await,
        Err(Error::RateLimited(_))
    ));
    clock.advance(Duration::minutes(16));
    let code = super::factors::totp_code(&h.admin_secret, clock.now().timestamp());
    let (engine, admin) = Engine::unlock_vault(
        &path,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        Some(&code),
        deps(&clock, 41, fast_config()),
    )
    .await
    .unwrap();
    // Now recorded in the vault: audited, and the burst alerted.
    let log = engine.audit_log(&admin, 0, 1000).await.unwrap();
    let failed: Vec<_> = log
        .iter()
        .filter(|e| e.action == "staff.sign_in_failed")
        .collect();
    assert_eq!(failed.len() as i64, throttle);
    assert!(failed.iter().all(|e| e.diff["channel"] == "vault"));
    assert!(log.iter().any(|e| e.action == "staff.sign_in_alert_sent"));
    assert!(!path.with_extension("vault.signins").exists());
    engine.close().await;
}

#[tokio::test]
async fn completing_a_reset_or_changing_the_password_ends_every_other_reset_link() {
    for h in backends().await {
        verified_customer(&h, "tok@example.com", PW).await;
        for _ in 0..3 {
            h.engine
                .request_password_reset("tok@example.com", &ctx())
                .await
                .unwrap();
        }
        let tokens = all_tokens(&h, "reset_password", "tok@example.com").await;
        assert_eq!(tokens.len(), 3);
        // The oldest resets the password...
        h.engine
            .confirm_password_reset(&tokens[0], "first brand new phrase")
            .await
            .unwrap();
        // ...and the newest no longer works.
        assert!(matches!(
            h.engine
                .confirm_password_reset(&tokens[2], "second brand new phrase")
                .await,
            Err(Error::InvalidToken)
        ));
        // A password change ends outstanding links too.
        h.clock.advance(Duration::hours(2));
        h.engine
            .request_password_reset("tok@example.com", &ctx())
            .await
            .unwrap();
        let link = all_tokens(&h, "reset_password", "tok@example.com")
            .await
            .pop()
            .unwrap();
        let s = h
            .engine
            .sign_in("tok@example.com", "first brand new phrase", &ctx())
            .await
            .unwrap();
        h.engine
            .change_password(
                &s.token,
                "first brand new phrase",
                "third brand new phrase",
                &ctx(),
            )
            .await
            .unwrap();
        assert!(matches!(
            h.engine
                .confirm_password_reset(&link, "fourth brand new phrase")
                .await,
            Err(Error::InvalidToken)
        ));
        h.engine.close().await;
    }
}

#[tokio::test]
async fn a_new_email_change_ends_the_older_links() {
    for h in backends().await {
        let id = verified_customer(&h, "mover@example.com", PW).await;
        let s = h
            .engine
            .sign_in("mover@example.com", PW, &ctx())
            .await
            .unwrap();
        h.engine
            .change_email(&s.token, PW, "first.new@example.com", &ctx())
            .await
            .unwrap();
        let first = all_tokens(&h, "change_email", "first.new@example.com")
            .await
            .pop()
            .unwrap();
        h.engine
            .change_email(&s.token, PW, "second.new@example.com", &ctx())
            .await
            .unwrap();
        let second = all_tokens(&h, "change_email", "second.new@example.com")
            .await
            .pop()
            .unwrap();
        assert!(matches!(
            h.engine.confirm_email_change(&first).await,
            Err(Error::InvalidToken)
        ));
        h.engine.confirm_email_change(&second).await.unwrap();
        let c = h.engine.get_customer(&h.admin, id, None).await.unwrap();
        assert_eq!(c.email, "second.new@example.com");
        h.engine.close().await;
    }
}

#[tokio::test]
async fn one_address_gets_a_bounded_number_of_emails_per_hour_silently() {
    for h in backends().await {
        verified_customer(&h, "flood@example.com", PW).await;
        let cap = h.engine.config().emails_per_recipient_per_hour as usize;
        for _ in 0..30 {
            // Every answer is the same success.
            h.engine
                .request_password_reset("flood@example.com", &ctx())
                .await
                .unwrap();
            h.engine
                .register(registration("flood@example.com"), &ctx())
                .await
                .unwrap();
        }
        h.engine.settle().await.unwrap();
        let total = emails_to(&h, "reset_password", "flood@example.com").await
            + emails_to(&h, "account_exists", "flood@example.com").await
            + emails_to(&h, "verify_email", "flood@example.com").await;
        assert_eq!(total, cap, "at most {cap} emails an hour");
        // An hour later, the owner can ask again.
        let before = emails_to(&h, "reset_password", "flood@example.com").await;
        h.clock.advance(Duration::minutes(61));
        h.engine
            .request_password_reset("flood@example.com", &ctx())
            .await
            .unwrap();
        assert_eq!(
            emails_to(&h, "reset_password", "flood@example.com").await,
            before + 1
        );
        h.engine.close().await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn vault_files_are_owner_only_and_the_key_file_names_no_one() {
    use std::os::unix::fs::PermissionsExt as _;
    let h = sqlite(fast_config()).await;
    let path = h.vault.clone().unwrap();
    h.engine
        .add_staff(
            &h.admin,
            "agent@shop.example",
            "Agent",
            Role::Support,
            "agent pass phrase",
        )
        .await
        .unwrap();
    verified_customer(&h, "c@example.com", PW).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for suffix in ["", "-wal", "-shm", ".keys"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    let keys = std::fs::read_to_string(key_file_path(&path)).unwrap();
    assert!(!keys.contains("owner") && !keys.contains("agent"), "{keys}");
    h.engine.close().await;
    // A vault made readable by others is tightened when it is next opened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(key_file_path(&path), std::fs::Permissions::from_mode(0o644)).unwrap();
    let clock = start_clock();
    let (engine, _) = Engine::unlock_vault(
        &path,
        "agent@shop.example",
        "agent pass phrase",
        None,
        deps(&clock, 9, fast_config()),
    )
    .await
    .unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&key_file_path(&path)), 0o600);
    engine.close().await;
}

#[tokio::test]
async fn mixed_script_addresses_are_refused_and_look_alikes_are_shown_to_staff() {
    for h in backends().await {
        let r = h
            .engine
            .register(registration("\u{0430}lice@shop.example"), &ctx())
            .await;
        assert!(
            matches!(r, Err(Error::InvalidInput { field: "email", .. })),
            "{r:?}"
        );
        // A whole-Cyrillic "асе@…" is a legitimate address, but looks exactly like "ace@…".
        let latin = verified_customer(&h, "ace@shop.example", PW).await;
        let cyrillic = verified_customer(&h, "\u{0430}\u{0441}\u{0435}@shop.example", PW).await;
        assert_ne!(latin, cyrillic);
        let warned = h.engine.customer_lookalikes(&h.admin, latin).await.unwrap();
        assert_eq!(
            warned.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![cyrillic]
        );
        let other = verified_customer(&h, "bob@shop.example", PW).await;
        assert!(
            h.engine
                .customer_lookalikes(&h.admin, other)
                .await
                .unwrap()
                .is_empty()
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn bidi_controls_are_refused_in_attribute_names_and_values() {
    for h in backends().await {
        for attributes in [
            serde_json::json!({"note": "paid\u{202E}gnp.exe"}),
            serde_json::json!({"no\u{202E}te": "x"}),
            serde_json::json!({"tags": ["a", "b\u{2066}c"]}),
        ] {
            let r = h
                .engine
                .register(
                    RegisterInput {
                        attributes: Some(attributes.clone()),
                        ..registration("attrs@example.com")
                    },
                    &ctx(),
                )
                .await;
            assert!(
                matches!(
                    r,
                    Err(Error::InvalidInput {
                        field: "attributes",
                        ..
                    })
                ),
                "{attributes}: {r:?}"
            );
        }
        // Line breaks in values are text, not tricks.
        define_attributes(&h, &[("address", vestibule_engine::AttributeKind::Text)]).await;
        h.engine
            .register(
                RegisterInput {
                    attributes: Some(serde_json::json!({"address": "1 Main St\nSpringfield"})),
                    ..registration("attrs@example.com")
                },
                &ctx(),
            )
            .await
            .unwrap();
        h.engine.close().await;
    }
}

#[tokio::test]
async fn a_seed_stopped_part_way_has_already_left_its_audit_entry() {
    let h = sqlite(fast_config()).await;
    let (engine, admin) = (h.engine.clone(), h.admin.clone());
    let seeding = tokio::spawn(async move {
        engine
            .seed_demo(
                &admin,
                vestibule_engine::seed::SeedOptions {
                    customers: 200_000,
                    ..Default::default()
                },
                &mut |_| {},
            )
            .await
    });
    // Stopped as a killed process would be, as soon as it has begun: the entry is there.
    let started = loop {
        let log = h.engine.audit_log(&h.admin, 0, 1000).await.unwrap();
        if let Some(e) = log.into_iter().find(|e| e.action == "demo.seed_started") {
            break e;
        }
        tokio::task::yield_now().await;
    };
    seeding.abort();
    let _ = seeding.await;
    assert_eq!(started.diff["customers"], 200_000);
    let log = h.engine.audit_log(&h.admin, 0, 1000).await.unwrap();
    assert!(!log.iter().any(|e| e.action == "demo.seeded"));
    h.engine.close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn emails_written_to_a_folder_are_owner_only_in_an_owner_only_folder() {
    use std::os::unix::fs::PermissionsExt as _;
    let h = sqlite(fast_config()).await;
    verified_customer(&h, "eml@example.com", PW).await;
    h.engine
        .request_password_reset("eml@example.com", &ctx())
        .await
        .unwrap();
    h.engine.settle().await.unwrap();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("outbox");
    let files = vestibule_engine::Mailer::files(&dir).unwrap();
    let (sent, _) = h.engine.deliver_outbox(&files).await.unwrap();
    assert!(sent >= 2);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for f in std::fs::read_dir(&dir).unwrap() {
        let path = f.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    h.engine.close().await;
}
