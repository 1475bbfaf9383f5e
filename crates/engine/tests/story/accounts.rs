//! Customer self-service flows on every backend.

use super::*;
use chrono::Duration;
use vestibule_engine::{Error, RegisterInput};

const PW: &str = "lantern orchard violet";

#[tokio::test]
async fn register_verify_sign_in_validate_sign_out() {
    for h in backends().await {
        let id = verified_customer(&h, "Ada@Example.com", PW).await;
        let c = h.engine.get_customer(&h.admin, id, None).await.unwrap();
        assert!(c.email_verified, "{}", h.name);
        assert_eq!(c.email, "Ada@Example.com");
        assert_eq!(c.phone.as_deref(), Some("+16502530000"));

        let s = h
            .engine
            .sign_in("ada@EXAMPLE.com", PW, &ctx())
            .await
            .unwrap();
        assert_eq!(s.token.len(), 43);
        assert_eq!(s.session.device, "Firefox on Linux");
        let v = h.engine.validate_session(&s.token).await.unwrap();
        assert_eq!(v.customer_id, id);
        // What was stored is what the customer was told, and the account shows the sign-in.
        assert_eq!(
            h.engine.my_sessions(&s.token).await.unwrap(),
            vec![s.session.clone()]
        );
        let after = h.engine.get_customer(&h.admin, id, None).await.unwrap();
        assert_eq!(c.last_sign_in_at, None);
        assert_eq!(after.last_sign_in_at, Some(s.session.created_at));
        // A second sign-in gets a new token.
        let s2 = h
            .engine
            .sign_in("ada@example.com", PW, &ctx())
            .await
            .unwrap();
        assert_ne!(s.token, s2.token);
        assert_eq!(h.engine.my_sessions(&s.token).await.unwrap().len(), 2);

        h.engine.sign_out(&s.token).await.unwrap();
        assert!(matches!(
            h.engine.validate_session(&s.token).await,
            Err(Error::InvalidSession)
        ));
        h.engine.validate_session(&s2.token).await.unwrap();

        let attempts = h.engine.customer_attempts(&h.admin, id, 10).await.unwrap();
        assert_eq!(attempts.len(), 2);
        assert!(
            attempts
                .iter()
                .all(|a| a.outcome == "success" && a.ip == "192.0.2.10")
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn verification_token_is_single_use_and_expires() {
    for h in backends().await {
        h.engine
            .register(
                RegisterInput {
                    email: "bo@example.com".into(),
                    password: PW.into(),
                    display_name: "Bo".into(),
                    ..Default::default()
                },
                &ctx(),
            )
            .await
            .unwrap();
        let t = token_from_outbox(&h, "verify_email", "bo@example.com").await;
        h.clock.advance(Duration::hours(25));
        assert!(matches!(
            h.engine.verify_email(&t).await,
            Err(Error::InvalidToken)
        ));
        // Garbage and oversized tokens are simply invalid.
        assert!(matches!(
            h.engine.verify_email("nope").await,
            Err(Error::InvalidToken)
        ));
        assert!(matches!(
            h.engine.verify_email(&"x".repeat(10_000)).await,
            Err(Error::InvalidToken)
        ));
        h.engine.close().await;
    }
}

#[tokio::test]
async fn registration_and_reset_do_not_reveal_existing_accounts() {
    for h in backends().await {
        verified_customer(&h, "cy@example.com", PW).await;
        // Registering again answers exactly like a new registration...
        h.engine
            .register(
                RegisterInput {
                    email: "CY@example.com".into(),
                    password: "another fine passphrase".into(),
                    display_name: "Imposter".into(),
                    ..Default::default()
                },
                &ctx(),
            )
            .await
            .unwrap();
        // ...and the owner hears about it instead (once the deferred half has run).
        h.engine.settle().await.unwrap();
        let msgs = h.engine.outbox(&h.admin, 50).await.unwrap();
        assert!(
            msgs.iter()
                .any(|m| m.kind == "account_exists" && m.to == "cy@example.com")
        );
        // Reset requests succeed for unknown addresses too, without sending anything.
        let before = msgs.len();
        h.engine
            .request_password_reset("nobody@example.com", &ctx())
            .await
            .unwrap();
        h.engine
            .request_password_reset("not an email", &ctx())
            .await
            .unwrap();
        h.engine.settle().await.unwrap();
        assert_eq!(h.engine.outbox(&h.admin, 50).await.unwrap().len(), before);
        // Unknown account and wrong password give the same error.
        let a = h
            .engine
            .sign_in("nobody@example.com", PW, &ctx())
            .await
            .unwrap_err();
        let b = h
            .engine
            .sign_in("cy@example.com", "wrong password here", &ctx())
            .await
            .unwrap_err();
        assert_eq!(a.code(), b.code());
        assert_eq!(a.to_string(), b.to_string());
        h.engine.close().await;
    }
}

#[tokio::test]
async fn weak_passwords_are_refused_with_advice_and_nothing_is_written() {
    for h in backends().await {
        for (pw, hint) in [
            ("short", "at least 8"),
            ("password123", "most common"),
            ("dee@example.com", "email"),
        ] {
            let e = h
                .engine
                .register(
                    RegisterInput {
                        email: "dee@example.com".into(),
                        password: pw.into(),
                        display_name: "Dee".into(),
                        ..Default::default()
                    },
                    &ctx(),
                )
                .await
                .unwrap_err();
            assert_eq!(e.code(), "weak_password");
            assert!(e.to_string().contains(hint), "{e}");
        }
        let page = h
            .engine
            .search_customers(&h.admin, "dee@example.com", None, 5)
            .await
            .unwrap();
        assert!(page.items.is_empty());
        h.engine.close().await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_cleanly() {
    for h in backends().await {
        let huge = serde_json::json!({"blob": "x".repeat(20_000)});
        let cases = vec![
            RegisterInput {
                email: "e@example.com".into(),
                password: PW.into(),
                attributes: Some(huge),
                ..Default::default()
            },
            RegisterInput {
                email: "e@example.com".into(),
                password: PW.into(),
                attributes: Some(serde_json::json!([1, 2])),
                ..Default::default()
            },
            RegisterInput {
                email: "robert'); DROP TABLE customers;--@example.com".into(),
                password: PW.into(),
                ..Default::default()
            },
            RegisterInput {
                email: "e\u{202E}@example.com".into(),
                password: PW.into(),
                ..Default::default()
            },
            RegisterInput {
                email: "e@example.com".into(),
                password: PW.into(),
                phone: Some("not a phone".into()),
                ..Default::default()
            },
            RegisterInput {
                email: "e@example.com".into(),
                password: PW.into(),
                locale: Some("en; DROP".into()),
                ..Default::default()
            },
            RegisterInput {
                email: "e@example.com".into(),
                password: PW.into(),
                display_name: "n".repeat(5000),
                ..Default::default()
            },
            RegisterInput {
                email: format!("{}@example.com", "a".repeat(300)),
                password: PW.into(),
                ..Default::default()
            },
        ];
        for input in cases {
            let e = h.engine.register(input, &ctx()).await.unwrap_err();
            assert_eq!(e.code(), "invalid_input", "{e}");
        }
        assert!(
            h.engine
                .search_customers(&h.admin, "e@example.com", None, 5)
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(h.engine.outbox(&h.admin, 10).await.unwrap().is_empty());
        // Control characters in request metadata are dropped, not stored or choked on.
        let nul = vestibule_engine::RequestContext {
            ip: "192.0.2.1\0".into(),
            user_agent: "bad\0agent".into(),
            ..Default::default()
        };
        let e = h
            .engine
            .sign_in("e@example.com", PW, &nul)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_credentials");
        // Oversized password at sign-in is refused before hashing.
        let e = h
            .engine
            .sign_in("e@example.com", &"p".repeat(5000), &ctx())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_input");
        h.engine.close().await;
    }
}

#[tokio::test]
async fn failures_make_strangers_wait_longer_and_never_lock_out_the_customers_own_device() {
    for h in backends().await {
        let e = &h.engine;
        let who = "eve@example.com";
        let id = verified_customer(&h, who, PW).await;
        // Eve's own laptop (ctx) has signed in before; the attacker's script has not.
        e.sign_in(who, PW, &ctx()).await.unwrap();
        let attacker = vestibule_engine::RequestContext {
            ip: "203.0.113.9".into(),
            user_agent: "curl/8.11".into(),
            ..Default::default()
        };
        let code = |r: Result<vestibule_engine::SignedIn, Error>| {
            r.map(|_| "ok").unwrap_or_else(|e| e.code())
        };
        for _ in 0..5 {
            assert_eq!(
                code(e.sign_in(who, "guess", &attacker).await),
                "invalid_credentials"
            );
        }
        // From the fifth failure on, each next attempt from a stranger waits: 1 s, then 2 s...
        assert_eq!(code(e.sign_in(who, PW, &attacker).await), "rate_limited");
        h.clock.advance(Duration::seconds(1));
        assert_eq!(
            code(e.sign_in(who, "guess", &attacker).await),
            "invalid_credentials"
        );
        h.clock.advance(Duration::seconds(1));
        assert_eq!(
            code(e.sign_in(who, "guess", &attacker).await),
            "rate_limited"
        );
        h.clock.advance(Duration::seconds(1));
        assert_eq!(
            code(e.sign_in(who, "guess", &attacker).await),
            "invalid_credentials"
        );
        // ...while Eve, on her own laptop, signs in at once during the attack.
        e.sign_in(who, PW, &ctx()).await.unwrap();
        // At most 100 failed attempts an hour from strangers are checked at all, waits or not.
        let mut failed = 7;
        while failed < 100 {
            h.clock.advance(Duration::seconds(30));
            assert_eq!(
                code(e.sign_in(who, "guess", &attacker).await),
                "invalid_credentials",
                "{failed}"
            );
            failed += 1;
        }
        h.clock.advance(Duration::seconds(30));
        match e.sign_in(who, PW, &attacker).await {
            Err(Error::RateLimited(after)) => assert!(after.as_secs() >= 3000, "{after:?}"),
            other => panic!("{other:?}"),
        }
        // Her own device's limit counts her own failures only: she still gets in...
        e.sign_in(who, PW, &ctx()).await.unwrap();
        // ...and ten wrong passwords of her own hold that device up for the window.
        for _ in 0..10 {
            assert_eq!(
                code(e.sign_in(who, "typo", &ctx()).await),
                "invalid_credentials"
            );
        }
        assert_eq!(code(e.sign_in(who, PW, &ctx()).await), "rate_limited");
        h.clock.advance(Duration::minutes(16));
        e.sign_in(who, PW, &ctx()).await.unwrap();
        let a = e.customer_attempts(&h.admin, id, 500).await.unwrap();
        assert_eq!(
            a.iter().filter(|a| a.reason == "wrong_password").count(),
            110
        );
        assert_eq!(a.iter().filter(|a| a.reason == "throttled").count(), 4);
        // Never locked: waiting is all it takes.
        let c = e.get_customer(&h.admin, id, None).await.unwrap();
        assert_eq!(c.status, vestibule_engine::CustomerStatus::Active);
        h.engine.close().await;
    }
}

#[tokio::test]
async fn sessions_expire_when_idle_and_absolutely() {
    for h in backends().await {
        verified_customer(&h, "fay@example.com", PW).await;
        let s = h
            .engine
            .sign_in("fay@example.com", PW, &ctx())
            .await
            .unwrap();
        h.clock.advance(Duration::hours(23));
        h.engine.validate_session(&s.token).await.unwrap(); // use extends the idle timeout
        h.clock.advance(Duration::hours(23));
        h.engine.validate_session(&s.token).await.unwrap();
        h.clock.advance(Duration::hours(25));
        assert!(matches!(
            h.engine.validate_session(&s.token).await,
            Err(Error::InvalidSession)
        ));

        let s = h
            .engine
            .sign_in("fay@example.com", PW, &ctx())
            .await
            .unwrap();
        for _ in 0..33 {
            h.clock.advance(Duration::hours(23));
            let _ = h.engine.validate_session(&s.token).await;
        }
        assert!(matches!(
            h.engine.validate_session(&s.token).await,
            Err(Error::InvalidSession)
        ));
        h.engine.close().await;
    }
}

#[tokio::test]
async fn password_reset_is_single_use_expires_and_revokes_sessions() {
    for h in backends().await {
        verified_customer(&h, "gil@example.com", PW).await;
        let s = h
            .engine
            .sign_in("gil@example.com", PW, &ctx())
            .await
            .unwrap();
        h.engine
            .request_password_reset("gil@example.com", &ctx())
            .await
            .unwrap();
        let t = token_from_outbox(&h, "reset_password", "gil@example.com").await;
        assert_eq!(
            h.engine
                .confirm_password_reset(&t, "short")
                .await
                .unwrap_err()
                .code(),
            "weak_password"
        );
        h.engine
            .confirm_password_reset(&t, "new meadow passphrase")
            .await
            .unwrap();
        assert!(matches!(
            h.engine
                .confirm_password_reset(&t, "another meadow phrase")
                .await,
            Err(Error::InvalidToken)
        ));
        assert!(matches!(
            h.engine.validate_session(&s.token).await,
            Err(Error::InvalidSession)
        ));
        assert!(
            h.engine
                .sign_in("gil@example.com", PW, &ctx())
                .await
                .is_err()
        );
        h.engine
            .sign_in("gil@example.com", "new meadow passphrase", &ctx())
            .await
            .unwrap();

        h.clock.advance(Duration::minutes(1));
        h.engine
            .request_password_reset("gil@example.com", &ctx())
            .await
            .unwrap();
        let t2 = token_from_outbox(&h, "reset_password", "gil@example.com").await;
        assert_ne!(t, t2);
        h.clock.advance(Duration::minutes(30));
        assert!(matches!(
            h.engine
                .confirm_password_reset(&t2, "late meadow passphrase")
                .await,
            Err(Error::InvalidToken)
        ));
        h.engine.close().await;
    }
}

#[tokio::test]
async fn change_password_needs_current_and_revokes_other_sessions() {
    for h in backends().await {
        verified_customer(&h, "hal@example.com", PW).await;
        let a = h
            .engine
            .sign_in("hal@example.com", PW, &ctx())
            .await
            .unwrap();
        let b = h
            .engine
            .sign_in("hal@example.com", PW, &ctx())
            .await
            .unwrap();
        assert!(matches!(
            h.engine
                .change_password(&a.token, "wrong current", "fresh river stones", &ctx())
                .await,
            Err(Error::InvalidCredentials)
        ));
        h.engine
            .change_password(&a.token, PW, "fresh river stones", &ctx())
            .await
            .unwrap();
        h.engine.validate_session(&a.token).await.unwrap();
        assert!(h.engine.validate_session(&b.token).await.is_err());
        h.engine
            .sign_in("hal@example.com", "fresh river stones", &ctx())
            .await
            .unwrap();
        h.engine.close().await;
    }
}

#[tokio::test]
async fn change_email_requires_confirmation_from_the_new_address() {
    for h in backends().await {
        let id = verified_customer(&h, "ivy@example.com", PW).await;
        verified_customer(&h, "taken@example.com", PW).await;
        let s = h
            .engine
            .sign_in("ivy@example.com", PW, &ctx())
            .await
            .unwrap();
        h.engine
            .change_email(&s.token, PW, "ivy.new@example.com", &ctx())
            .await
            .unwrap();
        // Not changed until confirmed.
        assert_eq!(
            h.engine
                .get_customer(&h.admin, id, None)
                .await
                .unwrap()
                .email,
            "ivy@example.com"
        );
        let t = token_from_outbox(&h, "change_email", "ivy.new@example.com").await;
        h.engine.confirm_email_change(&t).await.unwrap();
        let c = h.engine.get_customer(&h.admin, id, None).await.unwrap();
        assert_eq!(c.email, "ivy.new@example.com");
        assert!(c.email_verified);
        h.engine
            .sign_in("ivy.new@example.com", PW, &ctx())
            .await
            .unwrap();
        // Moving to a taken address changes nothing and reveals nothing.
        h.engine
            .change_email(&s.token, PW, "taken@example.com", &ctx())
            .await
            .unwrap();
        assert_eq!(
            h.engine
                .get_customer(&h.admin, id, None)
                .await
                .unwrap()
                .email,
            "ivy.new@example.com"
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn rehash_on_sign_in_when_parameters_change() {
    let clock = start_clock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.vault");
    let (engine, admin, _) = Engine::create_vault(
        &path,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        deps(&clock, 3, fast_config()),
    )
    .await
    .unwrap();
    let (admin, admin_secret) = super::with_authenticator(&engine, &admin, &clock).await;
    let h = Harness {
        name: "sqlite",
        engine,
        admin,
        admin_secret,
        clock: clock.clone(),
        vault: Some(path.clone()),
        recovery: None,
        url: None,
        _dir: None,
    };
    verified_customer(&h, "jo@example.com", PW).await;
    h.engine.close().await;
    let stronger = Config {
        hash: HashParams {
            m_kib: 128,
            t: 1,
            p: 1,
        },
        ..fast_config()
    };
    let (engine, _) = Engine::unlock_vault(
        &path,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        None,
        deps(&clock, 4, stronger),
    )
    .await
    .unwrap();
    engine.sign_in("jo@example.com", PW, &ctx()).await.unwrap();
    // The stored hash now carries the new parameters, and still verifies.
    let n = engine
        .execute_unchecked("UPDATE customers SET tier = tier WHERE email_key = 'jo@example.com' AND password_hash LIKE '$argon2id$v=19$m=128,t=1,p=1$%'")
        .await
        .unwrap();
    assert_eq!(n, 1);
    engine.sign_in("jo@example.com", PW, &ctx()).await.unwrap();
    engine.close().await;
}

/// Enumeration by timing: an unknown address must cost the same as a wrong password.
/// Compares the two latency distributions by rank (real argon2id parameters).
#[tokio::test]
async fn unknown_email_costs_the_same_as_wrong_password() {
    let h = sqlite(Config::default()).await;
    verified_customer(&h, "kim@example.com", PW).await;
    let mut unknown = vec![];
    let mut wrong = vec![];
    for i in 0..20 {
        let t = std::time::Instant::now();
        let _ = h
            .engine
            .sign_in(
                &format!("ghost{i}@example.com"),
                "some wrong password",
                &ctx(),
            )
            .await;
        unknown.push(t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        let _ = h
            .engine
            .sign_in("kim@example.com", "some wrong password", &ctx())
            .await;
        wrong.push(t.elapsed().as_secs_f64());
        h.clock.advance(Duration::minutes(20)); // stay clear of throttling
    }
    // The two distributions must not be told apart by their ranks. Skipping the hash for
    // unknown addresses separates them completely (p ≈ 1e-7 for 20 + 20 samples); a mean
    // ratio would also trip on one slow sample on a busy machine, ranks do not.
    let p = crate::rank::mann_whitney_p(&unknown, &wrong);
    unknown.sort_by(f64::total_cmp);
    wrong.sort_by(f64::total_cmp);
    assert!(
        p > 1e-4,
        "unknown addresses answer differently: p = {p:.2e} (medians {:.4}s vs {:.4}s)",
        unknown[10],
        wrong[10]
    );
    h.engine.close().await;
}

/// Session invariant, checked against a model over random histories: a token is valid
/// exactly while it is neither revoked, idle for longer than the idle timeout since its last
/// use, nor older than the absolute timeout.
#[test]
fn session_validity_matches_the_model() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(sqlite(fast_config()));
    rt.block_on(verified_customer(&h, "prop@example.com", PW));
    let idle = h.engine.config().session_idle;
    let absolute = h.engine.config().session_absolute;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &proptest::collection::vec(
                (0i64..(40 * 60), any::<bool>(), prop::bool::weighted(0.05)),
                1..25,
            ),
            |steps| {
                rt.block_on(async {
                    let s = h
                        .engine
                        .sign_in("prop@example.com", PW, &ctx())
                        .await
                        .unwrap();
                    let created = vestibule_engine::Clock::now(h.clock.as_ref());
                    let mut last_use = created;
                    let mut revoked = false;
                    for (minutes, use_it, revoke) in steps {
                        h.clock.advance(Duration::minutes(minutes));
                        let now = vestibule_engine::Clock::now(h.clock.as_ref());
                        if revoke {
                            h.engine.sign_out(&s.token).await.unwrap();
                            revoked = true;
                        }
                        if use_it {
                            let expected =
                                !revoked && now < last_use + idle && now < created + absolute;
                            let got = h.engine.validate_session(&s.token).await.is_ok();
                            prop_assert_eq!(
                                got,
                                expected,
                                "at +{} min",
                                (now - created).num_minutes()
                            );
                            if got && now - last_use > Duration::seconds(60) {
                                last_use = now;
                            }
                        }
                    }
                    Ok(())
                })
            },
        )
        .unwrap();
    rt.block_on(h.engine.close());
}

#[tokio::test]
async fn customers_edit_their_own_profile_with_version_checks() {
    for h in backends().await {
        let id = verified_customer(&h, "self@example.com", PW).await;
        use vestibule_engine::AttributeKind::{Boolean, Number};
        define_attributes(&h, &[("shoe_size", Number), ("newsletter", Boolean)]).await;
        let s = h
            .engine
            .sign_in("self@example.com", PW, &ctx())
            .await
            .unwrap();
        let me = h.engine.my_profile(&s.token).await.unwrap();
        assert_eq!(me.id, id);
        let patch = vestibule_engine::ProfilePatch {
            attributes: Some(serde_json::json!({"shoe_size": 42, "newsletter": true})),
            locale: Some("pt_BR".into()),
            ..Default::default()
        };
        let after = h
            .engine
            .update_my_profile(&s.token, me.version, patch.clone())
            .await
            .unwrap();
        assert_eq!(after.attributes["shoe_size"], 42);
        assert_eq!(after.locale, "pt-BR");
        assert_eq!(
            h.engine
                .update_my_profile(&s.token, me.version, patch)
                .await
                .unwrap_err()
                .code(),
            "conflict"
        );
        let tier = vestibule_engine::ProfilePatch {
            tier: Some("gold".into()),
            ..Default::default()
        };
        assert_eq!(
            h.engine
                .update_my_profile(&s.token, after.version, tier)
                .await
                .unwrap_err()
                .code(),
            "invalid_input"
        );
        let trail = h.engine.customer_audit(&h.admin, id, 5).await.unwrap();
        assert_eq!(trail[0].action, "customer.profile_updated");
        assert_eq!(trail[0].actor, format!("customer:{id}"));
        assert!(h.engine.my_profile("not a token").await.is_err());
        h.engine.close().await;
    }
}

/// More concurrent password work than cores plus the queue allowance is refused at once
/// with `overloaded` (and a retry time) instead of queueing without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excess_hashing_load_is_refused_not_queued() {
    let config = Config {
        hash: HashParams {
            m_kib: 4096,
            t: 2,
            p: 1,
        },
        hash_queue: 2,
        ..fast_config()
    };
    let h = sqlite(config).await;
    verified_customer(&h, "busy@example.com", PW).await;
    let mut tasks = vec![];
    for _ in 0..40 {
        let e = h.engine.clone();
        tasks.push(tokio::spawn(async move {
            e.sign_in("busy@example.com", PW, &ctx()).await
        }));
    }
    let mut ok = 0;
    let mut overloaded = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(vestibule_engine::Error::Overloaded(after)) => {
                assert!(after.as_secs() >= 1);
                overloaded += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(ok >= 2, "some sign-ins are served ({ok})");
    assert!(overloaded > 0, "the excess is refused");
    assert_eq!(ok + overloaded, 40);
    // Once the burst is over, sign-in works again.
    h.engine
        .sign_in("busy@example.com", PW, &ctx())
        .await
        .unwrap();
    h.engine.close().await;
}
