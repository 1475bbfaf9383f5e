//! Customer search and demo seeding on every backend.

use super::*;
use std::collections::HashSet;
use vestibule_engine::seed::SeedOptions;

#[tokio::test]
async fn search_by_fragments_id_and_pages_without_gaps() {
    for h in backends().await {
        let report = h
            .engine
            .seed_demo(
                &h.admin,
                SeedOptions {
                    customers: 3_000,
                    days: 30,
                    seed: 42,
                    attempts_per_customer: 2,
                },
                &mut |_| {},
            )
            .await
            .unwrap();
        assert_eq!(report.customers, 3_000);
        let first = h
            .engine
            .search_customers(&h.admin, &report.brute_forced_email, None, 5)
            .await
            .unwrap();
        assert_eq!(
            first.items[0].email, report.brute_forced_email,
            "{}: exact email ranks first",
            h.name
        );
        let target = h
            .engine
            .get_customer(&h.admin, first.items[0].id, None)
            .await
            .unwrap();

        // Name fragment (case-insensitive), email fragment, phone fragment, id.
        let name_frag = target.display_name.split(' ').nth(1).unwrap()[..3].to_lowercase();
        let by_name = h
            .engine
            .search_customers(&h.admin, &name_frag, None, 200)
            .await
            .unwrap();
        assert!(
            by_name
                .items
                .iter()
                .all(|c| c.display_name.to_lowercase().contains(&name_frag)
                    || c.email.to_lowercase().contains(&name_frag))
        );
        assert!(!by_name.items.is_empty());

        let local = target.email.split('@').next().unwrap();
        let frag = &local[local.len() - 4..];
        let hits = h
            .engine
            .search_customers(&h.admin, frag, None, 200)
            .await
            .unwrap();
        assert!(
            hits.items.iter().any(|c| c.id == target.id),
            "{}: email fragment {frag}",
            h.name
        );

        let with_phone = {
            let mut found = None;
            let mut cursor = None;
            while found.is_none() {
                let p = h
                    .engine
                    .search_customers(&h.admin, "example", cursor.as_deref(), 100)
                    .await
                    .unwrap();
                found = p.items.iter().find(|c| c.phone.is_some()).cloned();
                cursor = p.next;
            }
            found.unwrap()
        };
        let phone = with_phone.phone.clone().unwrap();
        let typed = format!("{} {}", &phone[5..8], &phone[8..]); // "253 0000" style
        let hits = h
            .engine
            .search_customers(&h.admin, &typed, None, 200)
            .await
            .unwrap();
        assert!(
            hits.items.iter().any(|c| c.id == with_phone.id),
            "{}: phone fragment {typed}",
            h.name
        );

        let by_id = h
            .engine
            .search_customers(&h.admin, &target.id.to_string(), None, 5)
            .await
            .unwrap();
        assert_eq!(by_id.items.len(), 1);
        assert_eq!(by_id.items[0].id, target.id);

        // Keyset paging visits every match exactly once.
        let all_example = {
            let mut seen = HashSet::new();
            let mut cursor = None;
            loop {
                let p = h
                    .engine
                    .search_customers(&h.admin, "example", cursor.as_deref(), 137)
                    .await
                    .unwrap();
                for c in &p.items {
                    assert!(seen.insert(c.id), "{}: duplicate {}", h.name, c.id);
                }
                match p.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            seen.len()
        };
        assert_eq!(all_example, 3_000, "{}", h.name);

        // Hostile queries are just text.
        for q in [
            "'; DROP TABLE customers; --",
            "\"",
            "%_%",
            "a\"b OR c",
            "NEAR(a b)",
            "*",
            "\u{0}",
            "ab",
        ] {
            h.engine
                .search_customers(&h.admin, q, None, 10)
                .await
                .unwrap();
        }
        assert!(
            h.engine
                .search_customers(&h.admin, "bogus", Some("not-a-cursor"), 10)
                .await
                .is_err()
        );
        assert!(
            h.engine
                .search_customers(&h.admin, &"x".repeat(1000), None, 10)
                .await
                .is_err()
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn seeding_is_deterministic_and_includes_attack_patterns() {
    let mut emails = vec![];
    for _ in 0..2 {
        let h = sqlite(fast_config()).await;
        let r = h
            .engine
            .seed_demo(
                &h.admin,
                SeedOptions {
                    customers: 500,
                    days: 10,
                    seed: 9,
                    attempts_per_customer: 3,
                },
                &mut |_| {},
            )
            .await
            .unwrap();
        let p = h
            .engine
            .search_customers(&h.admin, "example", None, 50)
            .await
            .unwrap();
        emails.push((
            r.brute_forced_email.clone(),
            p.items.iter().map(|c| c.email.clone()).collect::<Vec<_>>(),
        ));
        let id = h
            .engine
            .search_customers(&h.admin, &r.brute_forced_email, None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        let attempts = h.engine.customer_attempts(&h.admin, id, 500).await.unwrap();
        assert!(attempts.iter().filter(|a| a.ip == "203.0.113.66").count() >= 300);
        let t = h
            .engine
            .search_customers(&h.admin, &r.traveller_email, None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        let ips: HashSet<String> = h
            .engine
            .customer_attempts(&h.admin, t, 500)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.ip)
            .collect();
        assert!(ips.contains("81.2.69.142") && ips.contains("1.128.0.17"));
        h.engine.close().await;
    }
    assert_eq!(emails[0], emails[1]);
}

#[tokio::test]
async fn search_follows_profile_edits() {
    for h in backends().await {
        let id = verified_customer(&h, "moves@example.com", "lantern orchard violet").await;
        let c = h.engine.get_customer(&h.admin, id, None).await.unwrap();
        let patch = vestibule_engine::ProfilePatch {
            phone: Some("+44 20 7946 0958".into()),
            display_name: Some("Zebedee Quill".into()),
            ..Default::default()
        };
        h.engine
            .update_customer_profile(&h.admin, id, c.version, patch)
            .await
            .unwrap();
        let found = |q: &'static str| {
            let e = h.engine.clone();
            let admin = h.admin.clone();
            async move {
                e.search_customers(&admin, q, None, 10)
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .any(|c| c.id == id)
            }
        };
        assert!(found("7946 0958").await, "{}: new phone", h.name);
        assert!(!found("253 0000").await, "{}: old phone gone", h.name);
        assert!(found("ebedee").await, "{}: new name", h.name);
        assert!(found("zebedee").await, "{}: name prefix", h.name);
        assert!(!found("test customer").await, "{}: old name gone", h.name);
        h.engine.close().await;
    }
}
