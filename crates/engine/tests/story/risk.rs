//! Adaptive security: the risk policy (validated, admin-only, versioned, audited; a refused
//! policy leaves the one in force) and the operator's GeoIP databases (a corrupt file is
//! refused and the databases in use stay).

use super::*;
use vestibule_engine::{Error, RiskMode, RiskPolicy, Role};

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
    let (c, a) = (dir.join("city.mmdb"), dir.join("asn.mmdb"));
    std::fs::write(&c, city.to_bytes().unwrap()).unwrap();
    std::fs::write(&a, asn.to_bytes().unwrap()).unwrap();
    (c, a)
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
