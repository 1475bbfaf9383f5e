//! Adaptive security: the risk policy (validated, admin-only, versioned, audited; a refused
//! policy leaves the one in force) and the operator's GeoIP databases (a corrupt file is
//! refused and the databases in use stay).

use super::*;
use vestibule_engine::{
    ChallengeKind, Decision, Error, FactorProof, RiskMode, RiskPolicy, Role, SignInStep,
};

const PW: &str = "lantern orchard violet";

/// A phone the customer has not used before, on another network.
fn phone() -> RequestContext {
    RequestContext {
        ip: "198.51.100.77".into(),
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                     (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
            .into(),
        device: Some("device-cookie-of-the-phone".into()),
        form_ms: Some(4200),
        client: None,
    }
}

#[tokio::test]
async fn a_risky_sign_in_is_challenged_by_email_explained_and_its_device_learned() {
    for h in backends().await {
        let e = &h.engine;
        let who = "ria@shop.example";
        let id = verified_customer(&h, who, PW).await;
        // The first sign-in has nothing to compare with: allowed, scored, recorded.
        e.sign_in(who, PW, &ctx()).await.unwrap();
        let first = &e.customer_attempts(&h.admin, id, 1).await.unwrap()[0];
        assert_eq!(
            (first.reason.as_str(), first.score, first.decision),
            ("ok", Some(0), Some(Decision::Allow)),
            "{}",
            h.name
        );
        assert_eq!(first.network, "192.0.2.0/24");

        // A new phone on a new network: the password is right, but it is checked by email.
        let SignInStep::SecondFactor(ch) = e.begin_sign_in(who, PW, &phone()).await.unwrap() else {
            panic!("{}: a risky sign-in is challenged", h.name)
        };
        assert_eq!(ch.kind, ChallengeKind::EmailCode);
        let a = &e.customer_attempts(&h.admin, id, 1).await.unwrap()[0];
        assert_eq!(
            (a.outcome.as_str(), a.reason.as_str()),
            ("challenged", "risk_challenged")
        );
        assert_eq!(
            (a.score, a.decision, a.enforced),
            (Some(40), Some(Decision::Challenge), true)
        );
        let words: Vec<&str> = a.signals.iter().map(|s| s.evidence.as_str()).collect();
        assert!(
            words.iter().any(|w| w.starts_with("new device: ")
                && w.ends_with("; 1 other device seen in 180 days")),
            "{words:?}"
        );
        assert!(words.contains(
            &"new network 198.51.100.0/24; 1 seen in 180 days (no GeoIP database: network novelty only)"
        ));
        let (_, code) = emailed_code(&h, "sign_in_check", who).await;
        // Only the emailed code answers it: not another code, not an authenticator code.
        let wrong = if code == "123456" { "654321" } else { "123456" };
        for bad in [
            FactorProof::EmailCode(wrong.into()),
            FactorProof::Totp(code.clone()),
        ] {
            assert!(matches!(
                e.complete_sign_in(&ch.token, &bad, &phone()).await,
                Err(Error::InvalidInput { field: "code", .. })
            ));
        }
        let signed = e
            .complete_sign_in(&ch.token, &FactorProof::EmailCode(code), &phone())
            .await
            .unwrap();
        // An emailed code is a check, not a second factor.
        assert_eq!(signed.session.amr, ["pwd"]);
        let told = e.outbox(&h.admin, 100).await.unwrap();
        let told = told
            .iter()
            .find(|m| m.kind == "new_sign_in" && m.to == who)
            .expect("the customer is told of the new device");
        assert!(told.body.contains("/account"), "{}", told.body);

        // The phone is known now: its next sign-in goes straight through.
        assert!(matches!(
            e.begin_sign_in(who, PW, &phone()).await.unwrap(),
            SignInStep::SignedIn(_)
        ));

        // A blocked range is denied even with the right password, answered as a wrong one.
        e.block_network(&h.admin, "198.51.100.0/24", "fraud wave", 24)
            .await
            .unwrap();
        assert!(matches!(
            e.sign_in(who, PW, &phone()).await,
            Err(Error::InvalidCredentials)
        ));
        let a = &e.customer_attempts(&h.admin, id, 1).await.unwrap()[0];
        assert_eq!(
            (a.reason.as_str(), a.decision),
            ("risk_denied", Some(Decision::Deny))
        );
        assert!(a.signals.iter().any(
            |s| s.evidence == "198.51.100.77 is in blocked range 198.51.100.0/24 (fraud wave)"
        ));

        // Audit-only: the same decision is recorded but not enforced.
        let mut p = e.risk_policy(&h.admin).await.unwrap();
        p.mode = RiskMode::AuditOnly;
        e.update_risk_policy(&h.admin, &p).await.unwrap();
        e.sign_in(who, PW, &phone()).await.unwrap();
        let a = &e.customer_attempts(&h.admin, id, 1).await.unwrap()[0];
        assert_eq!(
            (a.reason.as_str(), a.decision, a.enforced),
            ("ok", Some(Decision::Deny), false)
        );
    }
}

#[tokio::test]
async fn a_right_password_from_a_stuffing_address_is_denied() {
    let h = sqlite(fast_config()).await;
    let e = &h.engine;
    let who = "sol@shop.example";
    verified_customer(&h, who, PW).await;
    e.sign_in(who, PW, &ctx()).await.unwrap();
    let bot = RequestContext {
        ip: "203.0.113.50".into(),
        user_agent: "python-requests/2.32".into(),
        ..Default::default()
    };
    for n in 0..6 {
        let r = e
            .sign_in(&format!("leaked{n}@mail.example"), "Summer2024!", &bot)
            .await;
        assert!(matches!(r, Err(Error::InvalidCredentials)));
    }
    // The leaked pair that is right: new device, new network, six accounts from one address.
    assert!(matches!(
        e.sign_in(who, PW, &bot).await,
        Err(Error::InvalidCredentials)
    ));
    let page = e.search_customers(&h.admin, who, None, 1).await.unwrap();
    let a = &e
        .customer_attempts(&h.admin, page.items[0].id, 1)
        .await
        .unwrap()[0];
    assert_eq!((a.reason.as_str(), a.score), ("risk_denied", Some(90)));
    assert!(
        a.signals
            .iter()
            .any(|s| s.evidence == "failed sign-ins on 6 accounts from 203.0.113.50 in 10 min"),
        "{:?}",
        a.signals
    );
    // The customer, on their own device, still signs in.
    e.sign_in(who, PW, &ctx()).await.unwrap();
}

#[tokio::test]
async fn blocks_are_checked_admin_and_security_only_and_audited() {
    let h = sqlite(fast_config()).await;
    let e = &h.engine;
    for (bad, field) in [
        ("not an address", "network"),
        ("10.0.0.0/8", "network"),
        ("2001:db8::/16", "network"),
    ] {
        match e.block_network(&h.admin, bad, "wave", 24).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert!(matches!(
        e.block_network(&h.admin, "203.0.113.0/24", "wave", 0).await,
        Err(Error::InvalidInput { field: "hours", .. })
    ));
    assert!(matches!(
        e.block_network(&h.admin, "203.0.113.0/24", " ", 1).await,
        Err(Error::InvalidInput {
            field: "reason",
            ..
        })
    ));
    // A range is stored in its canonical form, an address as itself.
    let b = e
        .block_network(&h.admin, "203.0.113.77/24", "wave", 2)
        .await
        .unwrap();
    assert_eq!(b.network, "203.0.113.0/24");
    let one = e
        .block_network(&h.admin, "::ffff:198.51.100.9", "one bot", 1)
        .await
        .unwrap();
    assert_eq!(one.network, "198.51.100.9");
    assert_eq!(e.ip_blocks(&h.admin).await.unwrap().len(), 2);
    e.add_staff(
        &h.admin,
        "sup@staff.example",
        "Sam",
        Role::Support,
        "staff member passphrase",
    )
    .await
    .unwrap();
    let sup = staff_signed_in(&h, "sup@staff.example", "staff member passphrase").await;
    assert!(matches!(
        e.block_network(&sup, "192.0.2.0/24", "wave", 1).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(e.ip_blocks(&sup).await, Err(Error::Forbidden(_))));
    e.unblock_network(&h.admin, b.id).await.unwrap();
    assert!(matches!(
        e.unblock_network(&h.admin, b.id).await,
        Err(Error::NotFound(_))
    ));
    // Blocks end by themselves.
    h.clock.advance(chrono::Duration::hours(1));
    assert!(e.ip_blocks(&h.admin).await.unwrap().is_empty());
    let log = e.audit_log(&h.admin, 0, 1000).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"risk.network_blocked"));
    assert!(actions.contains(&"risk.network_unblocked"));
}

#[tokio::test]
async fn risk_policies_are_validated_admin_only_versioned_and_audited() {
    for h in backends().await {
        let e = &h.engine;
        let current = e.risk_policy(&h.admin).await.unwrap();
        assert_eq!(current, RiskPolicy::default(), "{}", h.name);
        assert_eq!(current.signals.len(), 11);

        // Each bad policy names what is wrong and changes nothing.
        let refused = |mut p: RiskPolicy, change: fn(&mut RiskPolicy)| {
            change(&mut p);
            p
        };
        let cases: Vec<(RiskPolicy, &str, &str)> = vec![
            (
                refused(current.clone(), |p| {
                    p.signals.get_mut("new_device").unwrap().weight = 101
                }),
                "signals",
                "weight of new_device",
            ),
            (
                refused(current.clone(), |p| {
                    let r = p.signals["new_device"];
                    p.signals.insert("moon_phase".into(), r);
                }),
                "signals",
                "no signal called “moon_phase”",
            ),
            (
                refused(current.clone(), |p| {
                    p.signals.remove("bot_timing");
                }),
                "signals",
                "bot_timing",
            ),
            (
                refused(current.clone(), |p| p.challenge_at = 0),
                "challenge_at",
                "between 1 and 100",
            ),
            (
                refused(current.clone(), |p| p.deny_at = 101),
                "deny_at",
                "between 1 and 100",
            ),
            (
                refused(current.clone(), |p| {
                    p.challenge_at = 90;
                    p.deny_at = 50
                }),
                "challenge_at",
                "above the deny threshold",
            ),
            (
                refused(current.clone(), |p| p.limits.travel_kmh = 5),
                "limits.travel_kmh",
                "between 100 and 20000",
            ),
            (
                refused(current.clone(), |p| p.limits.velocity_minutes = 0),
                "limits.velocity_minutes",
                "between 1 and 1440",
            ),
        ];
        for (bad, want_field, want_words) in cases {
            match e.update_risk_policy(&h.admin, &bad).await {
                Err(Error::InvalidInput { field, message }) => {
                    assert_eq!(field, want_field, "{message}");
                    assert!(message.contains(want_words), "{message}");
                }
                other => panic!("{want_field}: {other:?}"),
            }
        }
        assert_eq!(e.risk_policy(&h.admin).await.unwrap().version, 0);

        // Security staff read it; only admins change it.
        e.add_staff(
            &h.admin,
            "analyst@staff.example",
            "Ana",
            Role::Security,
            "staff member passphrase",
        )
        .await
        .unwrap();
        let mut new = current.clone();
        new.mode = RiskMode::AuditOnly;
        new.challenge_at = 35;
        new.signals.get_mut("new_device").unwrap().weight = 30;
        new.signals.get_mut("inactivity").unwrap().enabled = false;
        let saved = e.update_risk_policy(&h.admin, &new).await.unwrap();
        assert_eq!(saved.version, 1);
        assert_eq!(saved.mode, RiskMode::AuditOnly);
        assert_eq!(saved.weight(vestibule_engine::SignalKind::NewDevice), 30);
        assert_eq!(saved.weight(vestibule_engine::SignalKind::Inactivity), 0);
        assert_eq!(e.risk_policy(&h.admin).await.unwrap(), saved);
        // A stale version is a conflict.
        assert!(matches!(
            e.update_risk_policy(&h.admin, &new).await,
            Err(Error::Conflict(_))
        ));
        let log = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        let entry = log
            .iter()
            .find(|a| a.action == "settings.risk_policy_updated")
            .expect("audited");
        let diff = entry.diff.to_string();
        for key in [
            "mode",
            "challenge_at",
            "signals.new_device",
            "signals.inactivity",
        ] {
            assert!(diff.contains(key), "{diff}");
        }
        assert!(!diff.contains("signals.bot_timing"), "{diff}");
    }
}

#[tokio::test]
async fn support_cannot_change_the_risk_policy() {
    let h = sqlite(fast_config()).await;
    let e = &h.engine;
    e.add_staff(
        &h.admin,
        "sup@staff.example",
        "Sam",
        Role::Support,
        "staff member passphrase",
    )
    .await
    .unwrap();
    let sup = staff_signed_in(&h, "sup@staff.example", "staff member passphrase").await;
    let policy = e.risk_policy(&h.admin).await.unwrap();
    assert!(matches!(
        e.update_risk_policy(&sup, &policy).await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(e.risk_policy(&h.admin).await.unwrap().version, 0);
}

#[derive(serde::Serialize)]
struct Asn {
    autonomous_system_number: u32,
}

/// A small City-style and ASN-style database, as MaxMind lays them out.
fn geo_files(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let mut city = mmdb_writer::Writer::new("Vestibule-Test-City");
    let place = |iso: &str, lat: f64, lon: f64| {
        serde_json::json!({
            "country": {"iso_code": iso},
            "location": {"latitude": lat, "longitude": lon},
        })
    };
    city.insert(
        "198.51.100.0/24".parse::<ipnet::IpNet>().unwrap(),
        &place("DE", 52.52, 13.405),
    )
    .unwrap();
    city.insert(
        "203.0.113.0/24".parse::<ipnet::IpNet>().unwrap(),
        &place("JP", 35.68, 139.65),
    )
    .unwrap();
    let mut asn = mmdb_writer::Writer::new("Vestibule-Test-ASN");
    asn.insert(
        "203.0.113.0/24".parse::<ipnet::IpNet>().unwrap(),
        &Asn {
            autonomous_system_number: 64500,
        },
    )
    .unwrap();
    // The same operator also runs a range in another part of the address space.
    asn.insert(
        "198.18.0.0/24".parse::<ipnet::IpNet>().unwrap(),
        &Asn {
            autonomous_system_number: 64500,
        },
    )
    .unwrap();
    let (c, a) = (dir.join("city.mmdb"), dir.join("asn.mmdb"));
    std::fs::write(&c, city.to_bytes().unwrap()).unwrap();
    std::fs::write(&a, asn.to_bytes().unwrap()).unwrap();
    (c, a)
}

#[tokio::test]
async fn stuffing_spread_over_ranges_of_one_network_operator_is_counted_by_its_asn() {
    let h = sqlite(fast_config()).await;
    let e = &h.engine;
    let dir = tempfile::tempdir().unwrap();
    let (city, asn) = geo_files(dir.path());
    e.load_geoip(&[&city, &asn]).unwrap();
    let who = "ivo@shop.example";
    verified_customer(&h, who, PW).await;
    e.sign_in(who, PW, &ctx()).await.unwrap();
    // Addresses and ranges stay under their limits; the operator does not.
    let mut p = e.risk_policy(&h.admin).await.unwrap();
    p.limits.accounts_per_ip = 1000;
    p.limits.accounts_per_network = 1000;
    p.limits.accounts_per_asn = 6;
    e.update_risk_policy(&h.admin, &p).await.unwrap();
    let from = |ip: &str| RequestContext {
        ip: ip.into(),
        user_agent: "Mozilla/5.0".into(),
        ..Default::default()
    };
    for (n, ip) in [
        "203.0.113.1",
        "203.0.113.2",
        "203.0.113.3",
        "198.18.0.1",
        "198.18.0.2",
    ]
    .iter()
    .enumerate()
    {
        let r = e
            .sign_in(&format!("leaked{n}@mail.example"), "Summer2024!", &from(ip))
            .await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
    }
    let velocity = |a: &vestibule_engine::SignInAttempt| {
        a.signals
            .iter()
            .find(|s| s.signal == vestibule_engine::SignalKind::IpVelocity)
            .map(|s| s.evidence.clone())
    };
    let id = e
        .search_customers(&h.admin, who, None, 1)
        .await
        .unwrap()
        .items[0]
        .id;
    // Five accounts so far: under the limit.
    let _ = e
        .sign_in(who, "not the password", &from("198.18.0.3"))
        .await;
    let a = &e.customer_attempts(&h.admin, id, 1).await.unwrap()[0];
    assert_eq!(velocity(a), None, "{:?}", a.signals);
    // The sixth account (this one): the operator is named.
    let _ = e.sign_in(who, PW, &from("198.18.0.4")).await;
    let a = &e.customer_attempts(&h.admin, id, 1).await.unwrap()[0];
    assert_eq!(
        velocity(a).as_deref(),
        Some("failed sign-ins on 6 accounts from network operator AS64500 in 10 min"),
        "{:?}",
        a.signals
    );
    // Without an ASN database nothing is counted by operator.
    e.load_geoip(&[&city]).unwrap();
    let _ = e.sign_in(who, PW, &from("198.18.0.5")).await;
    let a = &e.customer_attempts(&h.admin, id, 1).await.unwrap()[0];
    assert_eq!(velocity(a), None, "{:?}", a.signals);
}

#[tokio::test]
async fn geoip_databases_load_answer_and_a_corrupt_one_changes_nothing() {
    let h = sqlite(fast_config()).await;
    let e = &h.engine;
    let dir = tempfile::tempdir().unwrap();
    let (city, asn) = geo_files(dir.path());
    assert!(e.geoip().is_none());
    e.load_geoip(&[&city, &asn]).unwrap();
    let geo = e.geoip().unwrap();
    let tokyo = geo.locate("203.0.113.9");
    assert_eq!(tokyo.country.as_deref(), Some("JP"));
    assert_eq!(tokyo.coordinates, Some((35.68, 139.65)));
    assert_eq!(tokyo.asn, Some(64500));
    let berlin = geo.locate("::ffff:198.51.100.20");
    assert_eq!(berlin.country.as_deref(), Some("DE"));
    assert_eq!(berlin.asn, None);
    assert_eq!(geo.locate("192.0.2.1"), Default::default());
    assert_eq!(geo.locate("not an address"), Default::default());

    // A corrupt file, a missing file: refused by name, and the databases in use stay.
    let corrupt = dir.path().join("corrupt.mmdb");
    let mut bytes = std::fs::read(&city).unwrap();
    bytes.truncate(bytes.len() / 3);
    std::fs::write(&corrupt, &bytes).unwrap();
    for bad in [corrupt.clone(), dir.path().join("missing.mmdb")] {
        match e.load_geoip(&[&bad]) {
            Err(Error::InvalidInput {
                field: "geoip",
                message,
            }) => {
                assert!(message.contains(&bad.display().to_string()), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        e.geoip().unwrap().locate("203.0.113.9").country.as_deref(),
        Some("JP")
    );
}

#[tokio::test]
async fn an_address_failing_on_many_accounts_is_throttled_and_blocked_for_an_hour() {
    let h = sqlite(fast_config()).await;
    let e = &h.engine;
    let who = "noa@shop.example";
    verified_customer(&h, who, PW).await;
    let bot = RequestContext {
        ip: "203.0.113.66".into(),
        user_agent: "Mozilla/5.0".into(),
        ..Default::default()
    };
    for n in 0..50 {
        let r = e
            .sign_in(&format!("list{n}@mail.example"), "hunter2!", &bot)
            .await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{n}: {r:?}");
    }
    // The 51st, whatever account it names, is refused before any password check...
    assert!(matches!(
        e.sign_in(who, PW, &bot).await,
        Err(Error::RateLimited(_))
    ));
    // ...and the address is blocked for an hour, by the system, where analysts see it.
    let blocks = e.ip_blocks(&h.admin).await.unwrap();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(
        (blocks[0].network.as_str(), blocks[0].created_by.as_str()),
        ("203.0.113.66", "system")
    );
    assert!(
        blocks[0]
            .reason
            .starts_with("automatic: 50 or more failed sign-ins in 10 min")
    );
    // Once the ten minutes have passed the block still denies it, right password or not.
    h.clock.advance(chrono::Duration::minutes(11));
    assert!(matches!(
        e.sign_in(who, PW, &bot).await,
        Err(Error::InvalidCredentials)
    ));
    // A neighbour on another address of the /24 is not blocked.
    let neighbour = RequestContext {
        ip: "203.0.113.67".into(),
        ..bot.clone()
    };
    e.sign_in(who, PW, &neighbour).await.unwrap();
    // After the hour, the address is let through again.
    h.clock.advance(chrono::Duration::minutes(50));
    assert!(e.ip_blocks(&h.admin).await.unwrap().is_empty());
    let log = e.audit_log(&h.admin, 0, 1000).await.unwrap();
    assert!(
        log.iter()
            .any(|a| a.action == "risk.network_blocked" && a.actor == "system")
    );
}

#[tokio::test]
async fn analysts_decide_a_wave_as_fraud_and_a_traveller_as_legitimate() {
    use vestibule_engine::{
        BlockRequest, CustomerStatus, ReviewDecision, ReviewFilter, ReviewStatus, SignalKind,
        Verdict,
    };
    for h in backends().await {
        let e = &h.engine;
        let mut victims = vec![];
        for n in 0..3 {
            let who = format!("victim{n}@shop.example");
            let id = verified_customer(&h, &who, PW).await;
            e.sign_in(&who, PW, &ctx()).await.unwrap();
            victims.push((who, id));
        }
        let traveller = "tia@shop.example";
        let tia = verified_customer(&h, traveller, PW).await;
        e.sign_in(traveller, PW, &ctx()).await.unwrap();

        // A wave from one /24: a list of leaked pairs, three of them right.
        for n in 0..25 {
            let bot = RequestContext {
                ip: format!("203.0.113.{}", 10 + n % 4),
                user_agent: "python-requests/2.32".into(),
                ..Default::default()
            };
            let _ = e
                .sign_in(&format!("leaked{n}@mail.example"), "Summer2024!", &bot)
                .await;
        }
        for (who, _) in &victims {
            let bot = RequestContext {
                ip: "203.0.113.10".into(),
                user_agent: "python-requests/2.32".into(),
                ..Default::default()
            };
            assert!(e.sign_in(who, PW, &bot).await.is_err(), "{}", h.name);
        }
        // The traveller on a new phone: challenged, so reviewed.
        assert!(matches!(
            e.begin_sign_in(traveller, PW, &phone()).await.unwrap(),
            SignInStep::SecondFactor(_)
        ));

        let queue = e
            .review_queue(&h.admin, &ReviewFilter::default())
            .await
            .unwrap();
        assert!(queue.len() >= 4, "{}: {queue:#?}", h.name);
        let scores: Vec<u32> = queue.iter().map(|i| i.attempt.score.unwrap()).collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "riskiest first: {scores:?}"
        );
        assert!(queue.iter().all(|i| i.status == ReviewStatus::Open));

        // The wave, by its range; the same by its signal.
        let wave = e
            .review_queue(
                &h.admin,
                &ReviewFilter {
                    network: Some("203.0.113.0/24".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(wave.iter().all(|i| i.attempt.network == "203.0.113.0/24"));
        assert!(wave.len() >= 3);
        let by_signal = e
            .review_queue(
                &h.admin,
                &ReviewFilter {
                    signal: Some(SignalKind::IpVelocity),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(by_signal.len(), wave.len());
        let bad_filter = ReviewFilter {
            network: Some("203.0.0.0/16".into()),
            ..Default::default()
        };
        assert!(matches!(
            e.review_queue(&h.admin, &bad_filter).await,
            Err(Error::InvalidInput {
                field: "network",
                ..
            })
        ));

        // Support sees reasons on a customer but cannot work the queue.
        e.add_staff(
            &h.admin,
            "sup@staff.example",
            "Sam",
            Role::Support,
            "staff member passphrase",
        )
        .await
        .unwrap();
        let sup = staff_signed_in(&h, "sup@staff.example", "staff member passphrase").await;
        assert!(matches!(
            e.review_queue(&sup, &ReviewFilter::default()).await,
            Err(Error::Forbidden(_))
        ));

        // One click for the wave: fraud, accounts locked, sessions revoked, the range blocked.
        let seqs: Vec<i64> = wave.iter().map(|i| i.attempt.seq).collect();
        let out = e
            .decide_reviews(
                &h.admin,
                &ReviewDecision {
                    attempts: seqs.clone(),
                    verdict: Verdict::Fraud,
                    lock: true,
                    revoke_sessions: true,
                    force_reset: false,
                    block: Some(BlockRequest {
                        network: "203.0.113.0/24".into(),
                        hours: 24,
                    }),
                    note: "stuffing wave 3 Dec".into(),
                    wave: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(out.decided as usize, seqs.len());
        assert_eq!(out.accounts_locked, 3, "{}: {out:?}", h.name);
        assert!(out.sessions_revoked >= 3);
        assert_eq!(out.blocked.as_deref(), Some("203.0.113.0/24"));
        for (_, id) in &victims {
            let c = e.get_customer(&h.admin, *id, None).await.unwrap();
            assert_eq!(c.status, CustomerStatus::Locked);
        }
        assert!(
            e.ip_blocks(&h.admin)
                .await
                .unwrap()
                .iter()
                .any(|b| b.network == "203.0.113.0/24" && b.reason == "stuffing wave 3 Dec")
        );
        let fraud = e
            .review_queue(
                &h.admin,
                &ReviewFilter {
                    status: Some(ReviewStatus::Fraud),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(fraud.len(), seqs.len());
        assert!(
            fraud
                .iter()
                .all(|i| i.note == "stuffing wave 3 Dec" && i.decided_by.is_some())
        );

        // The traveller: legitimate. Her phone is trusted; her next sign-in from it goes through.
        let item = e
            .review_queue(&h.admin, &ReviewFilter::default())
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.attempt.customer_id == Some(tia))
            .expect("the traveller's item");
        e.assign_reviews(
            &h.admin,
            &[item.attempt.seq],
            Some(h.admin.id()),
            "calling her",
        )
        .await
        .unwrap();
        let out = e
            .decide_reviews(&h.admin, &legitimate(item.attempt.seq))
            .await
            .unwrap();
        assert_eq!(out.trusted, 1);
        assert!(matches!(
            e.begin_sign_in(traveller, PW, &phone()).await.unwrap(),
            SignInStep::SignedIn(_)
        ));
        // Legitimate decisions take no fraud actions.
        let wrong = ReviewDecision {
            attempts: vec![item.attempt.seq],
            verdict: Verdict::Legitimate,
            lock: true,
            revoke_sessions: false,
            force_reset: false,
            block: None,
            note: String::new(),
            wave: None,
        };
        assert!(matches!(
            e.decide_reviews(&h.admin, &wrong).await,
            Err(Error::InvalidInput {
                field: "verdict",
                ..
            })
        ));
        let log = e.audit_log(&h.admin, 0, 2000).await.unwrap();
        let n = |a: &str| log.iter().filter(|e| e.action == a).count();
        assert_eq!(n("risk.review_fraud"), seqs.len());
        assert_eq!(n("risk.review_legitimate"), 1);
        assert_eq!(n("risk.review_assigned"), 1);
    }
}

#[tokio::test]
async fn a_candidate_policy_is_replayed_over_the_recorded_month_before_publishing() {
    use vestibule_engine::ReviewFilter;
    for h in backends().await {
        let e = &h.engine;
        let who = "rey@shop.example";
        verified_customer(&h, who, PW).await;
        e.sign_in(who, PW, &ctx()).await.unwrap();
        assert!(matches!(
            e.begin_sign_in(who, PW, &phone()).await.unwrap(),
            SignInStep::SecondFactor(_)
        ));
        let item = e
            .review_queue(&h.admin, &ReviewFilter::default())
            .await
            .unwrap()[0]
            .clone();
        e.decide_reviews(&h.admin, &legitimate(item.attempt.seq))
            .await
            .unwrap();
        let current = e.risk_policy(&h.admin).await.unwrap();

        // A higher challenge threshold would have let the phone through.
        let mut lenient = current.clone();
        lenient.challenge_at = 45;
        lenient.review_at = 45;
        let r = e.replay_risk_policy(&h.admin, &lenient).await.unwrap();
        assert_eq!(r.attempts, 2, "{}: {r:?}", h.name);
        assert_eq!((r.recorded.allow, r.recorded.challenge), (1, 1));
        assert_eq!((r.candidate.allow, r.candidate.challenge), (2, 0));
        assert_eq!(r.changed, 1);
        let ex = &r.examples[0];
        assert_eq!(
            (ex.was, ex.would, ex.score_was, ex.score_would),
            (Decision::Challenge, Decision::Allow, 40, 40)
        );
        assert!(
            ex.reasons
                .iter()
                .any(|w| w.starts_with("new network 198.51.100.0/24"))
        );
        assert_eq!(ex.reviewed.as_deref(), Some("legitimate"));
        assert!(r.caveats.is_empty());

        // A heavier new-device weight would still stop what the analyst called legitimate.
        let mut strict = current.clone();
        strict.signals.get_mut("new_device").unwrap().weight = 70;
        strict.limits.travel_kmh = 500;
        let r = e.replay_risk_policy(&h.admin, &strict).await.unwrap();
        assert_eq!(r.legitimate_stopped, 1);
        assert_eq!(r.candidate.deny, 1, "70 + 15 = 85: denied");
        assert!(
            r.caveats
                .iter()
                .any(|c| c.starts_with("changed limits are not replayed"))
        );

        // A candidate that would not publish is refused the same way; nothing changes.
        let mut bad = current.clone();
        bad.deny_at = 101;
        assert!(matches!(
            e.replay_risk_policy(&h.admin, &bad).await,
            Err(Error::InvalidInput { .. })
        ));
        assert_eq!(e.risk_policy(&h.admin).await.unwrap(), current);
    }
}

/// A plain "legitimate" decision on one item.
fn legitimate(seq: i64) -> vestibule_engine::ReviewDecision {
    vestibule_engine::ReviewDecision {
        attempts: vec![seq],
        verdict: vestibule_engine::Verdict::Legitimate,
        lock: false,
        revoke_sessions: false,
        force_reset: false,
        block: None,
        note: String::new(),
        wave: None,
    }
}

#[tokio::test]
async fn the_demo_vaults_attacks_are_scored_into_the_queue_and_a_wave_is_decided_by_its_range() {
    use vestibule_engine::seed::{DEMO_CUSTOMER_PASSWORD, SeedOptions, challenged_phone};
    use vestibule_engine::{
        BlockRequest, CustomerStatus, ReviewDecision, ReviewFilter, SignalKind, Verdict,
    };
    for h in backends().await {
        let e = &h.engine;
        let report = e
            .seed_demo(
                &h.admin,
                SeedOptions {
                    customers: 300,
                    ..SeedOptions::default()
                },
                &mut |_| {},
            )
            .await
            .unwrap();
        let queue = e
            .review_queue(
                &h.admin,
                &ReviewFilter {
                    limit: Some(500),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let has = |i: &vestibule_engine::ReviewItem, k: SignalKind| {
            i.attempt.signals.iter().any(|s| s.signal == k)
        };
        // The stuffing wave: scored by the signals over what the generator wrote before it.
        let wave: Vec<_> = queue
            .iter()
            .filter(|i| i.attempt.network == "198.51.100.0/24")
            .collect();
        assert!(wave.len() > 300, "{}: {}", h.name, wave.len());
        assert!(wave.iter().all(|i| has(i, SignalKind::IpVelocity)));
        let evidence = &wave[0]
            .attempt
            .signals
            .iter()
            .find(|s| s.signal == SignalKind::IpVelocity)
            .unwrap()
            .evidence;
        assert!(
            evidence.contains("accounts from 198.51.100.") && evidence.contains("in 10 min"),
            "{evidence}"
        );
        // The brute force on one account.
        let brute = e
            .review_queue(
                &h.admin,
                &ReviewFilter {
                    network: Some("203.0.113.66".into()),
                    signal: Some(SignalKind::AccountVelocity),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(brute.len() > 50, "{}: {}", h.name, brute.len());
        // The customer challenged on a new phone: the seeded customers are known by their
        // devices and networks.
        let key = report.challenged_email.to_lowercase();
        let item = e
            .review_queue(
                &h.admin,
                &ReviewFilter {
                    network: Some("172.58.14.9".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.attempt.email == key)
            .unwrap_or_else(|| panic!("{}: the challenged customer is queued", h.name));
        assert_eq!(item.attempt.decision, Some(Decision::Challenge));
        assert!(has(&item, SignalKind::NewDevice) && has(&item, SignalKind::NewNetwork));
        assert!(matches!(
            e.begin_sign_in(
                &report.challenged_email,
                DEMO_CUSTOMER_PASSWORD,
                &challenged_phone()
            )
            .await
            .unwrap(),
            SignInStep::SecondFactor(_)
        ));
        e.decide_reviews(&h.admin, &legitimate(item.attempt.seq))
            .await
            .unwrap();
        assert!(
            matches!(
                e.begin_sign_in(
                    &report.challenged_email,
                    DEMO_CUSTOMER_PASSWORD,
                    &challenged_phone()
                )
                .await
                .unwrap(),
                SignInStep::SignedIn(_)
            ),
            "{}: trusted after the legitimate decision",
            h.name
        );

        // The attack overview over the week: where it came from, who it hit.
        let view = e.attack_overview(&h.admin, 10_080).await.unwrap();
        assert_eq!(view.failures.len(), 84);
        assert_eq!(
            view.failures.iter().map(|n| u64::from(*n)).sum::<u64>(),
            view.failed_total
        );
        assert!(
            view.failed_total >= 2_300,
            "{}: {}",
            h.name,
            view.failed_total
        );
        assert_eq!(view.top_networks[0].source, "198.51.100.0/24");
        assert!(view.top_networks[0].accounts > 1_500);
        assert!(!view.top_networks[0].blocked);
        assert!(view.top_ips.iter().any(|s| s.source == "203.0.113.66"));
        let brute = report.brute_forced_email.to_lowercase();
        assert_eq!(view.targeted_accounts[0].email.to_lowercase(), brute);
        assert!(view.targeted_accounts[0].failures >= 300);
        assert!(matches!(
            e.attack_overview(&h.admin, 61).await,
            Err(Error::InvalidInput {
                field: "window_minutes",
                ..
            })
        ));

        // The whole wave in one decision, named by its range.
        let fraud = |wave: &str| ReviewDecision {
            attempts: vec![],
            wave: Some(wave.into()),
            verdict: Verdict::Fraud,
            lock: true,
            revoke_sessions: true,
            force_reset: false,
            block: Some(BlockRequest {
                network: "198.51.100.0/24".into(),
                hours: 24,
            }),
            note: "stuffing wave".into(),
        };
        assert!(matches!(
            e.decide_reviews(&h.admin, &fraud("198.51.0.0/16")).await,
            Err(Error::InvalidInput { field: "wave", .. })
        ));
        let out = e
            .decide_reviews(&h.admin, &fraud("198.51.100.0/24"))
            .await
            .unwrap();
        assert!(out.decided as usize >= wave.len(), "{}: {out:?}", h.name);
        assert!(out.accounts_locked > 0, "{out:?}");
        assert_eq!(out.blocked.as_deref(), Some("198.51.100.0/24"));
        let left = e
            .review_queue(
                &h.admin,
                &ReviewFilter {
                    network: Some("198.51.100.0/24".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(left.is_empty(), "{}: {} left", h.name, left.len());
        let victim = wave
            .iter()
            .find_map(|i| i.attempt.customer_id)
            .expect("the wave tried real accounts");
        assert_eq!(
            e.get_customer(&h.admin, victim, None).await.unwrap().status,
            CustomerStatus::Locked
        );
        let (mut after, mut audited) = (0, 0);
        loop {
            let page = e.audit_log(&h.admin, after, 1000).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            audited += page
                .iter()
                .filter(|a| a.action == "risk.review_fraud")
                .count();
        }
        assert_eq!(
            audited, out.decided as usize,
            "{}: one entry per item",
            h.name
        );
        assert!(matches!(
            e.decide_reviews(&h.admin, &fraud("198.51.100.0/24")).await,
            Err(Error::InvalidInput { field: "wave", .. })
        ));
        let view = e.attack_overview(&h.admin, 10_080).await.unwrap();
        assert!(view.top_networks[0].blocked && view.active_blocks == 1);
    }
}

#[tokio::test]
async fn customers_are_emailed_about_security_changes_to_their_account() {
    use super::factors::totp_code;
    for h in backends().await {
        let e = &h.engine;
        let who = "sec@shop.example";
        let id = verified_customer(&h, who, PW).await;
        let notices = || async {
            e.outbox(&h.admin, 200)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.kind == "security_change" && m.to == who)
                .map(|m| m.body)
                .collect::<Vec<_>>()
        };
        assert!(notices().await.is_empty(), "{}", h.name);
        let token = e.sign_in(who, PW, &ctx()).await.unwrap().token;
        e.change_password(&token, PW, "a brand new passphrase", &ctx())
            .await
            .unwrap();
        let sent = notices().await;
        assert_eq!(sent.len(), 1, "{}: {sent:?}", h.name);
        assert!(
            sent[0].starts_with("Your password was changed."),
            "{}",
            sent[0]
        );
        assert!(sent[0].contains("/account"), "{}", sent[0]);

        // A second factor added by the customer, then removed by support: both told.
        let en = e.begin_totp(&token, "Shop").await.unwrap();
        let now = h.clock.now().timestamp();
        e.confirm_totp(&token, en.factor_id, &totp_code(&en.secret, now), "Phone")
            .await
            .unwrap();
        e.remove_customer_factor(&h.admin, id, en.factor_id, "ticket 12: lost phone")
            .await
            .unwrap();
        let sent = notices().await;
        assert_eq!(sent.len(), 3, "{}: {sent:?}", h.name);
        assert!(sent.iter().any(|b| {
            b.starts_with("A second sign-in step (an authenticator app or a passkey) was added")
        }));
        assert!(
            sent.iter()
                .any(|b| b.starts_with("A second sign-in step was removed"))
        );
        // Reading the record is not a security change.
        e.get_customer(&h.admin, id, None).await.unwrap();
        assert_eq!(notices().await.len(), 3);
    }
}

#[tokio::test]
async fn a_breached_password_corpus_refuses_new_passwords_and_flags_sign_ins() {
    use sha1_smol::Sha1;
    for h in backends().await {
        let e = &h.engine;
        let who = "old@shop.example";
        // A customer whose password leaked elsewhere before the operator loaded the corpus.
        let leaked = "orchard lantern seventeen";
        verified_customer(&h, who, leaked).await;
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("pwned.txt");
        let line = |pw: &str| {
            format!(
                "{}:42\n",
                Sha1::from(pw).digest().to_string().to_uppercase()
            )
        };
        std::fs::write(
            &list,
            format!("{}{}", line(leaked), line("violet harbour maple")),
        )
        .unwrap();
        assert_eq!(e.load_breached_passwords(&list).unwrap(), 2);

        // Setting one is refused, as a weak password is.
        let r = e
            .register(
                vestibule_engine::RegisterInput {
                    email: "new@shop.example".into(),
                    password: "violet harbour maple".into(),
                    display_name: "New".into(),
                    ..Default::default()
                },
                &ctx(),
            )
            .await;
        let err = r.unwrap_err();
        assert!(matches!(err, Error::WeakPassword(_)), "{}: {err}", h.name);
        assert!(err.to_string().contains("data breach"), "{err}");
        // Signing in with one is scored as a common password, with its evidence.
        e.sign_in(who, leaked, &ctx()).await.unwrap();
        let q = e
            .search_customers(&h.admin, who, None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        let last = &e.customer_attempts(&h.admin, q, 1).await.unwrap()[0];
        assert!(
            last.signals
                .iter()
                .any(|s| s.signal == vestibule_engine::SignalKind::CommonPassword),
            "{}: {:?}",
            h.name,
            last.signals
        );
        // A corrupt file is refused by its line; the corpus in use stays.
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, format!("{}not a digest\n", line("x"))).unwrap();
        let err = e.load_breached_passwords(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.txt, line 2"), "{err}");
        assert!(
            e.load_breached_passwords(&dir.path().join("missing.txt"))
                .is_err()
        );
        let again = e
            .register(
                vestibule_engine::RegisterInput {
                    email: "new@shop.example".into(),
                    password: "violet harbour maple".into(),
                    display_name: "New".into(),
                    ..Default::default()
                },
                &ctx(),
            )
            .await;
        assert!(again.is_err(), "the earlier corpus is still in force");
    }
}
