//! Erasure: everything about a customer deleted or anonymised in one go, a tombstone and an
//! event left, the audit chain still verifying, bad requests changing nothing — and, on the
//! vault, none of their bytes left in any decrypted page of the file or frame of its WAL.

use super::*;
use vestibule_engine::consent::{
    ConsentAnswer, ConsentChannel, ConsentText, LegalBasis, PublishVersion, PurposeInput,
};
use vestibule_engine::{AttributeKind, Error, ProfilePatch, StepUpProof};

const PW: &str = "lantern orchard violet";
const EMAIL: &str = "Zelda.Quince@erase.example";
const OLD_EMAIL: &str = "zq.before@erase.example";
const NAME: &str = "Zelda Quincewater";
const OLD_NAME: &str = "Zelda Formerlyknown";
const PHONE: &str = "+442079460371";
const STREET: &str = "Quincewater Lane 42";
const AGENT: &str = "ZeldaBrowser/9.9 (erasure test)";

fn her_ctx() -> RequestContext {
    RequestContext {
        ip: "198.18.7.77".into(),
        user_agent: AGENT.into(),
        ..Default::default()
    }
}

/// A customer with a history: an earlier address and name, a phone number, an attribute,
/// sessions, a failed sign-in, consent given, staff edits, an export. Returns their id.
async fn customer_with_history(h: &Harness) -> uuid::Uuid {
    let e = &h.engine;
    define_attributes(h, &[("street", AttributeKind::Text)]).await;
    let id = verified_customer(h, OLD_EMAIL, PW).await;
    let c = e.get_customer(&h.admin, id, None).await.unwrap();
    e.update_customer_profile(
        &h.admin,
        id,
        c.version,
        ProfilePatch {
            display_name: Some(OLD_NAME.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // She changes her address herself.
    let s = e.sign_in(OLD_EMAIL, PW, &her_ctx()).await.unwrap();
    e.change_email(&s.token, PW, EMAIL, &her_ctx())
        .await
        .unwrap();
    let t = token_from_outbox(h, "change_email", EMAIL).await;
    e.confirm_email_change(&t).await.unwrap();
    let c = e.get_customer(&h.admin, id, None).await.unwrap();
    e.update_customer_profile(
        &h.admin,
        id,
        c.version,
        ProfilePatch {
            display_name: Some(NAME.into()),
            phone: Some(PHONE.into()),
            attributes: Some(serde_json::json!({"street": STREET})),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let _ = e.sign_in(EMAIL, "not her password", &her_ctx()).await;
    let s = e.sign_in(EMAIL, PW, &her_ctx()).await.unwrap();
    e.save_consent_purpose(
        &h.admin,
        &PurposeInput {
            id: "newsletter".into(),
            name: "Newsletter".into(),
            legal_basis: LegalBasis::Consent,
            data_categories: vec!["email address".into()],
            retention_days: 365,
            consent_required: true,
            version: 0,
        },
    )
    .await
    .unwrap();
    e.publish_consent_version(
        &h.admin,
        &PublishVersion {
            purpose_id: "newsletter".into(),
            version: 1,
            material: true,
            texts: vec![ConsentText {
                locale: "en".into(),
                title: "Newsletter".into(),
                body: "A monthly email with news.".into(),
            }],
        },
    )
    .await
    .unwrap();
    e.record_my_consent(
        &s.token,
        &[ConsentAnswer {
            purpose_id: "newsletter".into(),
            version: 1,
            locale: "en".into(),
            granted: true,
        }],
        ConsentChannel::AccountCenter,
        None,
        &her_ctx(),
    )
    .await
    .unwrap();
    e.export_customer(&h.admin, id).await.unwrap();
    id
}

#[tokio::test]
async fn erasure_removes_the_customer_everywhere_and_keeps_a_tombstone() {
    for h in backends().await {
        let e = &h.engine;
        let id = customer_with_history(&h).await;
        let other = verified_customer(&h, "bystander@shop.example", PW).await;
        let audit_before = e.verify_audit(&h.admin).await.unwrap();
        let record_before = e.get_customer(&h.admin, id, None).await.unwrap();

        // Bad requests change nothing.
        let wrong = e
            .erase_customer(&h.admin, id, "someone@else.example", "ticket 77")
            .await;
        assert!(
            matches!(
                wrong,
                Err(Error::InvalidInput {
                    field: "confirm_email",
                    ..
                })
            ),
            "{}: {wrong:?}",
            h.name
        );
        let no_reason = e.erase_customer(&h.admin, id, EMAIL, "  ").await;
        assert!(
            matches!(
                no_reason,
                Err(Error::InvalidInput {
                    field: "reason",
                    ..
                })
            ),
            "{}: {no_reason:?}",
            h.name
        );
        let support = staff_member(&h, "sam@shop.example", vestibule_engine::Role::Support).await;
        assert!(matches!(
            e.erase_customer(&support, id, EMAIL, "ticket 77").await,
            Err(Error::Forbidden(_))
        ));
        let status = e
            .set_customer_status(
                &h.admin,
                id,
                e.get_customer(&h.admin, id, None).await.unwrap().version,
                vestibule_engine::CustomerStatus::Erased,
                Some("ticket 77"),
            )
            .await;
        assert!(
            matches!(
                status,
                Err(Error::InvalidInput {
                    field: "status",
                    ..
                })
            ),
            "{status:?}"
        );
        assert_eq!(
            e.get_customer(&h.admin, id, None).await.unwrap(),
            record_before
        );
        assert_eq!(e.erasure_of(&h.admin, id).await.unwrap(), None);

        // Erased (the typed confirmation is compared as an address: case does not matter).
        let done = e
            .erase_customer(&h.admin, id, "zelda.quince@ERASE.example", "ticket 77")
            .await
            .unwrap();
        assert!(done.wal_truncated, "{}", h.name);
        assert_eq!(done.deleted["customers"], 1);
        assert!(done.deleted["sessions"] >= 2, "{:?}", done.deleted);
        assert!(done.deleted["outbox"] >= 3, "{:?}", done.deleted);
        assert!(
            done.anonymised["sign_in_attempts"] >= 4,
            "{:?}",
            done.anonymised
        );
        assert_eq!(done.tombstone.kept["consent_ledger"].rows, 1);
        assert!(
            done.tombstone.kept["audit_log"].rows >= 4,
            "{:?}",
            done.tombstone
        );
        assert!(
            done.tombstone.kept["consent_ledger"]
                .basis
                .contains("Art. 7")
        );
        assert_eq!(
            done.tombstone.requested_by,
            format!("staff:{}", h.admin.id())
        );

        // Gone from reads and search; the address is free and signs nobody in.
        assert!(matches!(
            e.get_customer(&h.admin, id, None).await,
            Err(Error::NotFound(_))
        ));
        for q in [
            "zelda",
            "quincewater",
            "erase.example",
            "2079460371",
            "zq.before",
        ] {
            let page = e.search_customers(&h.admin, q, None, 10).await.unwrap();
            assert!(
                page.items.is_empty(),
                "{}: {q} still finds {:?}",
                h.name,
                page.items
            );
        }
        assert!(e.get_customer(&h.admin, other, None).await.is_ok());

        // What stays: the tombstone, the event, the consent proof without address or
        // agent, audit entries with markers only — and the chain verifies.
        let tomb = e.erasure_of(&h.admin, id).await.unwrap().unwrap();
        assert_eq!(tomb, done.tombstone);
        assert_eq!(tomb.reason.as_deref(), Some("ticket 77"));
        let events = e
            .raw_rows_for_test("erasure_events", "customer_id", &id.to_string())
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "{}", h.name);
        let ledger = e
            .raw_rows_for_test("consent_ledger", "customer_id", &id.to_string())
            .await
            .unwrap();
        assert_eq!(ledger.len(), 1);
        assert_eq!(ledger[0]["ip"], "");
        assert_eq!(ledger[0]["user_agent"], "");
        assert_eq!(ledger[0]["granted"], 1);
        let report = e.verify_audit(&h.admin).await.unwrap();
        assert!(report.entries > audit_before.entries);
        let entries = e.customer_audit(&h.admin, id, 100).await.unwrap();
        let erased = entries
            .iter()
            .find(|a| a.action == "privacy.erased")
            .expect("privacy.erased is audited");
        assert_eq!(erased.reason.as_deref(), Some("ticket 77"));
        assert_eq!(erased.diff["deleted"]["customers"], 1);
        for a in entries.iter().filter(|a| a.action != "privacy.erased") {
            let text = a.diff.to_string();
            assert!(
                !text.contains("Zelda")
                    && !text.contains("erase.example")
                    && !text.contains("79460371"),
                "{}: {} still says {text}",
                h.name,
                a.action
            );
        }
        let edit = entries
            .iter()
            .find(|a| a.action == "customer.email_changed")
            .unwrap();
        assert_eq!(
            edit.diff["email"],
            serde_json::json!(["[erased]", "[erased]"])
        );
        for (table, column) in [
            ("sign_in_attempts", "email_key"),
            ("outbox", "to_key"),
            ("sign_in_attempts", "user_agent"),
            ("sessions", "user_agent"),
        ] {
            for v in [EMAIL.to_lowercase(), OLD_EMAIL.to_owned(), AGENT.to_owned()] {
                assert!(
                    e.raw_rows_for_test(table, column, &v)
                        .await
                        .unwrap()
                        .is_empty(),
                    "{}: {table}.{column} still holds {v}",
                    h.name
                );
            }
        }

        // Forging a redaction is tampering: markers on a customer who was not erased.
        e.execute_unchecked(&format!(
            "UPDATE audit_log SET diff = '{{}}', redacted_us = 1 WHERE target = 'customer:{other}'"
        ))
        .await
        .unwrap();
        assert!(matches!(
            e.verify_audit(&h.admin).await,
            Err(Error::AuditTampered(_))
        ));

        // Erasing again is a clear error.
        let again = e.erase_customer(&h.admin, id, EMAIL, "ticket 78").await;
        match again {
            Err(Error::InvalidInput {
                field: "customer",
                message,
            }) => {
                assert!(message.contains("already erased"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        // The address signs nobody in.
        assert!(matches!(
            e.sign_in(EMAIL, PW, &ctx()).await,
            Err(Error::InvalidCredentials)
        ));
    }
}

#[tokio::test]
async fn a_customer_deletes_their_own_account_after_signing_in_again() {
    for h in backends().await {
        let e = &h.engine;
        let id = verified_customer(&h, "leaving@shop.example", PW).await;
        let s = e.sign_in("leaving@shop.example", PW, &ctx()).await.unwrap();
        h.clock.advance(chrono::Duration::hours(2));
        assert!(matches!(
            e.erase_my_account(&s.token, "leaving@shop.example").await,
            Err(Error::StepUpRequired)
        ));
        e.step_up(&s.token, &StepUpProof::Password(PW.into()), &ctx())
            .await
            .unwrap();
        assert!(matches!(
            e.erase_my_account(&s.token, "leavin@shop.example").await,
            Err(Error::InvalidInput {
                field: "confirm_email",
                ..
            })
        ));
        let done = e
            .erase_my_account(&s.token, "leaving@shop.example")
            .await
            .unwrap();
        assert_eq!(done.tombstone.requested_by, format!("customer:{id}"));
        assert!(matches!(
            e.validate_session(&s.token).await,
            Err(Error::InvalidSession)
        ));
        e.verify_audit(&h.admin).await.unwrap();
    }
}

/// Every page of a SQLCipher 4 vault file (or frame of its WAL), decrypted with the data
/// key: AES-256-CBC with the IV kept in each page's reserved tail (80 bytes: IV, HMAC);
/// page 1 starts with the 16-byte salt.
fn decrypted_pages(bytes: &[u8], key: &[u8; 32], wal: bool) -> Vec<Vec<u8>> {
    use aes::cipher::{BlockCipherDecrypt, KeyInit};
    const PAGE: usize = 4096;
    const RESERVE: usize = 80;
    let cipher = aes::Aes256::new(key.into());
    let (start, stride, skip) = if wal {
        (32, PAGE + 24, 24)
    } else {
        (0, PAGE, 0)
    };
    let mut pages = vec![];
    let mut at = start;
    while at + stride <= bytes.len() {
        let page = &bytes[at + skip..at + stride];
        let first = if wal {
            u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) == 1
        } else {
            at == 0
        };
        let offset = if first { 16 } else { 0 };
        let mut prev: [u8; 16] = page[PAGE - RESERVE..PAGE - RESERVE + 16]
            .try_into()
            .unwrap();
        let mut out = vec![0u8; PAGE - RESERVE - offset];
        for (i, chunk) in page[offset..PAGE - RESERVE].chunks(16).enumerate() {
            let c: [u8; 16] = chunk.try_into().unwrap();
            let mut b = aes::Block::from(c);
            cipher.decrypt_block(&mut b);
            for (j, byte) in b.iter().enumerate() {
                out[i * 16 + j] = byte ^ prev[j];
            }
            prev = c;
        }
        pages.push(out);
        at += stride;
    }
    pages
}

/// The strings among `needles` found in any decrypted page of the vault or its WAL.
fn found_in_vault(path: &std::path::Path, key: &[u8; 32], needles: &[String]) -> Vec<String> {
    let mut wal_path = path.as_os_str().to_owned();
    wal_path.push("-wal");
    let mut pages = decrypted_pages(&std::fs::read(path).unwrap(), key, false);
    // Page 1 decrypted: the header says 4096-byte pages with 80 reserved bytes.
    assert_eq!(
        &pages[0][0..2],
        &[0x10, 0x00],
        "page size in the decrypted header"
    );
    assert_eq!(pages[0][4], 80, "reserved bytes in the decrypted header");
    if let Ok(wal) = std::fs::read(&wal_path) {
        pages.extend(decrypted_pages(&wal, key, true));
    }
    needles
        .iter()
        .filter(|n| {
            pages
                .iter()
                .any(|p| p.windows(n.len()).any(|w| w == n.as_bytes()))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn no_byte_of_an_erased_customer_survives_in_the_decrypted_vault() {
    let h = sqlite(fast_config()).await;
    let e = &h.engine;
    let path = h.vault.clone().unwrap();
    let key =
        vestibule_engine::Engine::vault_data_key_for_test(&path, h.recovery.as_ref().unwrap())
            .unwrap();
    let id = customer_with_history(&h).await;
    let needles: Vec<String> = [
        EMAIL.to_owned(),
        EMAIL.to_lowercase(),
        OLD_EMAIL.to_owned(),
        NAME.to_owned(),
        NAME.to_lowercase(),
        OLD_NAME.to_owned(),
        OLD_NAME.to_lowercase(),
        PHONE.to_owned(),
        PHONE.trim_start_matches('+').to_owned(),
        STREET.to_owned(),
        AGENT.to_owned(),
        "198.18.7.77".to_owned(),
    ]
    .into();
    // The control: before the erasure the decrypted pages hold her data (so the decryption
    // works and the search would see it).
    e.checkpoint_for_test().await.unwrap();
    let before = found_in_vault(&path, &key, &needles);
    for n in [EMAIL, NAME, STREET, AGENT] {
        assert!(
            before.iter().any(|b| b == n),
            "control: {n} not found in {before:?}"
        );
    }
    e.erase_customer(&h.admin, id, EMAIL, "ticket 90")
        .await
        .unwrap();
    let after = found_in_vault(&path, &key, &needles);
    assert!(after.is_empty(), "survived the erasure: {after:?}");
}
