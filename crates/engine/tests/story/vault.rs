//! The encrypted vault: nothing readable at rest, staff passwords and the recovery key unlock
//! it, password changes re-wrap the key, removed staff lose access.

use super::*;
use vestibule_engine::seed::SeedOptions;
use vestibule_engine::{Error, Role};

#[tokio::test]
async fn no_seeded_email_appears_in_the_raw_files() {
    let h = sqlite(fast_config()).await;
    let path = h.vault.clone().unwrap();
    h.engine
        .seed_demo(
            &h.admin,
            SeedOptions {
                customers: 2_000,
                days: 5,
                seed: 5,
                attempts_per_customer: 2,
            },
            &mut |_| {},
        )
        .await
        .unwrap();
    let mut emails = vec![];
    let mut cursor = None;
    loop {
        let p = h
            .engine
            .search_customers(&h.admin, "example", cursor.as_deref(), 200)
            .await
            .unwrap();
        emails.extend(p.items.into_iter().map(|c| c.email));
        match p.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(emails.len(), 2_000);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let main = std::fs::read(&path).unwrap();
    let wal = std::fs::read(PathBuf::from(wal)).unwrap_or_default();
    assert!(main.len() + wal.len() > 100_000, "the vault holds the data");
    for bytes in [&main, &wal] {
        for needle in emails
            .iter()
            .take(500)
            .map(String::as_bytes)
            .chain([b"SQLite format 3".as_slice(), b"example.com".as_slice()])
        {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{:?} readable at rest",
                String::from_utf8_lossy(needle)
            );
        }
    }
    // After a checkpoint the main file alone holds everything, still unreadable.
    h.engine.close().await;
    let main = std::fs::read(&path).unwrap();
    assert!(!String::from_utf8_lossy(&main).contains("example.com"));
}

#[tokio::test]
async fn staff_password_unlocks_wrong_one_does_not_and_recovery_key_does() {
    let h = sqlite(fast_config()).await;
    let path = h.vault.clone().unwrap();
    h.engine
        .add_staff(
            &h.admin,
            "agent@staff.example",
            "Agent",
            Role::Support,
            "agent secret words",
        )
        .await
        .unwrap();
    h.engine.close().await;
    let clock = start_clock();
    let e = Engine::unlock_vault(
        &path,
        ADMIN_EMAIL,
        "not the password",
        None,
        deps(&clock, 11, fast_config()),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::InvalidCredentials));
    let e = Engine::unlock_vault(
        &path,
        "nobody@staff.example",
        ADMIN_PASSWORD,
        None,
        deps(&clock, 12, fast_config()),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::InvalidCredentials));
    let (engine, agent) = Engine::unlock_vault(
        &path,
        "Agent@Staff.example",
        "agent secret words",
        None,
        deps(&clock, 13, fast_config()),
    )
    .await
    .unwrap();
    assert_eq!(agent.role(), Role::Support);
    engine.close().await;
    let recovery = h.recovery.clone().unwrap();
    let engine =
        Engine::unlock_vault_with_recovery(&path, &recovery, deps(&clock, 14, fast_config()))
            .await
            .unwrap();
    engine
        .staff_sign_in(ADMIN_EMAIL, ADMIN_PASSWORD, None)
        .await
        .unwrap();
    engine.close().await;
    let wrong = RecoveryKey::parse(&"ab".repeat(32)).unwrap();
    assert!(matches!(
        Engine::unlock_vault_with_recovery(&path, &wrong, deps(&clock, 15, fast_config())).await,
        Err(Error::VaultLocked)
    ));
    // The printed form parses back.
    RecoveryKey::parse(&recovery.to_string()).unwrap();
}

#[tokio::test]
async fn password_change_rewraps_and_removal_revokes_access() {
    let h = sqlite(fast_config()).await;
    let path = h.vault.clone().unwrap();
    let m = h
        .engine
        .add_staff(
            &h.admin,
            "sec@staff.example",
            "Sec",
            Role::Security,
            "security team words",
        )
        .await
        .unwrap();
    h.engine
        .change_staff_password(&h.admin, ADMIN_PASSWORD, "brand new admin words")
        .await
        .unwrap();
    assert_eq!(h.engine.vault_key_holders(&h.admin).await.unwrap().len(), 2);
    h.engine.remove_staff(&h.admin, m.id).await.unwrap();
    assert_eq!(
        h.engine.vault_key_holders(&h.admin).await.unwrap(),
        vec![ADMIN_EMAIL.to_string()]
    );
    h.engine.close().await;
    let clock = start_clock();
    assert!(
        Engine::unlock_vault(
            &path,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
            None,
            deps(&clock, 16, fast_config())
        )
        .await
        .is_err()
    );
    assert!(
        Engine::unlock_vault(
            &path,
            "sec@staff.example",
            "security team words",
            None,
            deps(&clock, 17, fast_config())
        )
        .await
        .is_err()
    );
    let (engine, _) = Engine::unlock_vault(
        &path,
        ADMIN_EMAIL,
        "brand new admin words",
        None,
        deps(&clock, 18, fast_config()),
    )
    .await
    .unwrap();
    engine.close().await;
}

#[tokio::test]
async fn creating_over_an_existing_vault_is_refused() {
    let h = sqlite(fast_config()).await;
    let path = h.vault.clone().unwrap();
    let clock = start_clock();
    let e = Engine::create_vault(
        &path,
        "x@shop.example",
        ADMIN_PASSWORD,
        deps(&clock, 19, fast_config()),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "vault_error");
    h.engine.close().await;
}

/// sqlx logs statement text at debug level; a vault's first statement on every connection is
/// `PRAGMA key` with the data key in it. Nothing the engine logs, at any level, may carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_key_never_reaches_the_logs() {
    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // Global: SQLite connections run statements on their own threads. nextest runs each test
    // in its own process; under plain `cargo test` another global subscriber may exist.
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("skipped: a global subscriber is already installed in this process");
        return;
    }
    let h = sqlite(fast_config()).await;
    tracing::info!("vault opened");
    h.engine
        .search_customers(&h.admin, "anyone", None, 10)
        .await
        .unwrap();
    let path = h.vault.clone().unwrap();
    h.engine.close().await;
    let (engine, _) = Engine::unlock_vault(
        &path,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        None,
        deps(&h.clock, 2, fast_config()),
    )
    .await
    .unwrap();
    engine.close().await;
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("vault opened"),
        "the subscriber captured nothing"
    );
    assert!(!logs.to_lowercase().contains("pragma key"), "{logs}");
    assert!(!logs.contains("x'"), "{logs}");
}
