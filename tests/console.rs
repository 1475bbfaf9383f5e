//! The console in a real window: the built app (`tauri build --no-bundle -- --profile e2e`,
//! so the UI is embedded) runs under Xvfb and is driven through WebDriver — tauri-driver in
//! front of WebKitWebDriver — with fantoccini. Every test gets its own temporary vault and
//! data directory, and saves a PNG of each screen under `target/e2e-screenshots/`.
//!
//! These tests need a display, the built binary and tauri-driver, so they are `#[ignore]`d
//! and run explicitly by `scripts/test.sh` (`--run-ignored only`, one at a time, inside
//! `xvfb-run`).

#[path = "support/window.rs"]
mod window;

use fantoccini::Locator;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use vestibule_engine::seed::SeedOptions;
use vestibule_engine::{Deps, Engine, Role};
use window::App;

const ADMIN: &str = "owner@shop.example";
const ADMIN_PW: &str = "harbour lantern meadow";
const SUPPORT: &str = "agent@shop.example";
const SUPPORT_PW: &str = "teapot saddle orbit";

/// A vault with an admin (with an authenticator app: its secret is returned), a support
/// agent and `customers` seeded customers.
async fn prepared_vault(customers: u64) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, secret) = vault_with_admin(&dir).await;
    engine
        .add_staff(&admin, SUPPORT, "Sam Support", Role::Support, SUPPORT_PW)
        .await
        .unwrap();
    engine
        .seed_demo(
            &admin,
            SeedOptions {
                customers,
                ..SeedOptions::default()
            },
            &mut |_| {},
        )
        .await
        .unwrap();
    engine.close().await;
    (dir, secret)
}

/// A new vault in `dir` whose admin has an authenticator app: the engine, the admin and the
/// app's secret.
async fn vault_with_admin(dir: &tempfile::TempDir) -> (Engine, vestibule_engine::Staff, String) {
    let path = dir.path().join("console.vault");
    let (engine, admin, _recovery) = Engine::create_vault(&path, ADMIN, ADMIN_PW, Deps::system())
        .await
        .unwrap();
    let en = engine.begin_staff_authenticator(&admin).await.unwrap();
    let now = engine.now().timestamp() as u64;
    let admin = engine
        .confirm_staff_authenticator(&admin, &window::totp_at(&en.secret, now))
        .await
        .unwrap();
    (engine, admin, en.secret)
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

#[tokio::test]
#[ignore = "real window: run by scripts/test.sh under xvfb-run"]
async fn admin_creates_a_vault_finds_a_customer_by_phone_and_locks_them() {
    let mut app = App::launch("admin", tempfile::tempdir().unwrap(), &[]).await;
    app.find("#open-demo").await;
    app.shot("first-launch").await;

    app.type_into("#create-email", ADMIN).await;
    app.type_into("#create-password", ADMIN_PW).await;
    app.type_into("#create-confirm", ADMIN_PW).await;
    app.click("#create-vault").await;
    let key = app.find("#recovery-key").await.text().await.unwrap();
    assert_eq!(key.split('-').count(), 8, "recovery key shown: {key}");
    assert!(app.dir.path().join("console.vault").exists());
    app.shot("recovery-key").await;
    app.click("#recovery-stored").await;
    app.click("#recovery-done").await;

    // An admin sets up an authenticator app before anything else.
    let secret = app
        .find("#authenticator-secret")
        .await
        .text()
        .await
        .unwrap();
    app.shot("authenticator-setup").await;
    let r = app
        .invoke(
            "search_customers",
            json!({"query": "a", "cursor": null, "limit": 5}),
        )
        .await;
    assert_eq!(r["err"]["code"], "authenticator_required", "{r}");
    app.give_code(&secret, 0).await;

    // An admin reads analytics: the overview is home; the customers are a click away.
    app.find("#dashboard").await;
    app.click("#nav-customers").await;
    app.find("#customer-search").await;
    assert_eq!(
        app.find("#who-role").await.text().await.unwrap(),
        "Administrator"
    );
    app.click("#seed-sample").await;
    app.wait_text("#seed-message", "Added 1,000 sample customers", 120)
        .await;
    app.shot("customers-empty").await;

    // Pick a seeded customer who has a phone number, from a broad name search.
    app.type_into("#customer-search", "an").await;
    app.find("#customer-results[data-query='an']").await;
    let hit = app.find("[data-customer-id]:not([data-phone=''])").await;
    let id = hit.attr("data-customer-id").await.unwrap().unwrap();
    let phone = hit.attr("data-phone").await.unwrap().unwrap();
    app.shot("name-search").await;
    let fragment = digits(&phone);
    let fragment = &fragment[fragment.len() - 7..];

    // Search by a fragment of the phone number, as typed from a call: "NNN NNNN".
    let typed = format!("{} {}", &fragment[..3], &fragment[3..]);
    app.type_into("#customer-search", &typed).await;
    app.find(&format!("#customer-results[data-query='{typed}']"))
        .await;
    let hit = app.find(&format!("[data-customer-id='{id}']")).await;
    let hits = app
        .client
        .find_all(Locator::Css("[data-phone]"))
        .await
        .unwrap();
    for h in &hits {
        let p = digits(&h.attr("data-phone").await.unwrap().unwrap_or_default());
        assert!(p.contains(fragment), "phone hit {p} lacks {fragment}");
    }
    app.shot("phone-search").await;
    hit.click().await.unwrap();

    app.find("#customer-name").await;
    assert_eq!(
        app.find("#badge-status")
            .await
            .attr("data-status")
            .await
            .unwrap()
            .as_deref(),
        Some("active")
    );
    assert_eq!(
        digits(&app.find("#customer-phone").await.text().await.unwrap()),
        digits(&phone)
    );
    app.wait_text("#audit-trail", "Viewed", 10).await;
    app.shot("customer").await;

    app.click("#action-lock").await;
    app.type_into("#dialog-reason", "ticket T-1001").await;
    app.shot("lock-dialog").await;
    app.click("#dialog-confirm").await;
    app.find("#badge-status[data-status='locked']").await;
    assert_eq!(
        app.find("#badge-status").await.text().await.unwrap(),
        "Locked"
    );
    let entry = app
        .wait_text(
            "#audit-trail li[data-action='customer.locked']",
            "ticket T-1001",
            10,
        )
        .await;
    assert!(
        entry.contains(ADMIN),
        "the audit entry names who locked: {entry}"
    );
    // The result list reflects the new status too.
    app.wait_text(&format!("[data-customer-id='{id}']"), "locked", 5)
        .await;
    app.find("#action-unlock").await;
    app.shot("locked").await;

    // Settings: the sign-in pages' branding and providers, and a customer attribute added
    // through the form (a number asked from the second sign-in) that the engine then holds.
    app.click("#nav-settings").await;
    app.find("#branding-form").await;
    app.click("#attribute-add").await;
    app.type_into("#attribute-label", "Shoe size (EU)").await;
    app.type_into("#attribute-name", "shoe_size").await;
    app.click("#attribute-kind option[value='number']").await;
    app.type_into("#attribute-min", "30").await;
    app.type_into("#attribute-max", "50").await;
    app.click("#attribute-ask option[value='sign_in']").await;
    app.type_into("#attribute-after", "2").await;
    app.shot("attribute-form").await;
    app.click("#attribute-save").await;
    app.wait_text("#attributes-note", "saved", 10).await;
    let row = app
        .wait_text("#attributes-table", "From sign-in 2", 10)
        .await;
    assert!(row.contains("shoe_size") && row.contains("Number"), "{row}");
    let r = app.invoke("get_attribute_definitions", Value::Null).await;
    assert_eq!(r["ok"]["definitions"][0]["min"], 30.0, "{r}");
    assert_eq!(r["ok"]["definitions"][0]["ask"], "sign_in", "{r}");
    app.shot("settings").await;
    app.close().await;
}

#[tokio::test]
#[ignore = "real window: run by scripts/test.sh under xvfb-run"]
async fn support_agent_sees_and_does_only_what_the_role_allows() {
    let (dir, _) = prepared_vault(300).await;
    let mut app = App::launch("support", dir, &[]).await;
    app.sign_in(SUPPORT, SUPPORT_PW).await;
    app.find("#customer-search").await;
    assert_eq!(
        app.find("#who-role").await.text().await.unwrap(),
        "Support agent"
    );
    assert!(
        app.find("#nav-customers")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    assert!(
        app.absent("#nav-staff").await,
        "no staff management for support"
    );
    assert!(app.absent("#nav-settings").await, "no settings for support");
    assert!(app.absent("#seed-sample").await);

    app.type_into("#customer-search", "a").await;
    let first = app.find("[data-customer-id]").await;
    let id = first.attr("data-customer-id").await.unwrap().unwrap();
    first.click().await.unwrap();
    app.find("#customer-name").await;
    app.find("#action-reset").await;
    assert!(
        app.absent("#action-disable").await,
        "no disable button for support"
    );
    assert!(
        app.absent("#action-lock").await,
        "no lock button for support"
    );
    assert!(
        app.absent("#action-edit").await,
        "no profile editing for support"
    );
    app.shot("support-customer").await;

    // Bypassing the UI does not help: the engine refuses.
    let version = app
        .invoke("get_customer", json!({"id": id, "reason": null}))
        .await["ok"]["version"]
        .clone();
    let r = app
        .invoke(
            "set_customer_status",
            json!({"id": id, "expected_version": version, "status": "disabled", "reason": null}),
        )
        .await;
    assert_eq!(r["err"]["code"], "forbidden", "{r}");
    let r = app.invoke("list_staff", Value::Null).await;
    assert_eq!(r["err"]["code"], "forbidden", "{r}");

    // Two customers whose addresses look the same (Latin "pace", Cyrillic "расе"): opening
    // either warns which other record it could be confused with.
    app.type_into("#customer-search", "grace pace").await;
    app.find("#customer-results[data-query='grace pace']").await;
    let hits = app
        .client
        .find_all(Locator::Css("[data-customer-id]"))
        .await
        .unwrap();
    assert!(hits.len() >= 2, "both look-alike customers are listed");
    hits[0].click().await.unwrap();
    let warning = app
        .wait_text("#lookalike-warning", "looks like another customer", 15)
        .await;
    assert!(warning.contains("@mail.example"), "{warning}");
    app.shot("lookalike-warning").await;
    app.close().await;
}

#[tokio::test]
#[ignore = "real window: run by scripts/test.sh under xvfb-run"]
async fn wrong_password_at_sign_in_gives_a_clear_message() {
    let (dir, secret) = prepared_vault(10).await;
    let mut app = App::launch("wrong-password", dir, &[]).await;
    app.find("#signin-email").await;
    app.shot("sign-in").await;
    app.sign_in(ADMIN, "not the right password").await;
    let msg = app
        .wait_text("#signin-error", "do not open this vault", 15)
        .await;
    assert!(!msg.contains("storage") && !msg.contains("sqlite"), "{msg}");
    assert_eq!(
        app.find("#signin-password")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("")
    );
    app.shot("wrong-password").await;
    // The right password still works afterwards, and asks for the authenticator's code;
    // a wrong code is refused with the step kept.
    app.sign_in(ADMIN, ADMIN_PW).await;
    app.find("#factor-code").await;
    let r = app
        .invoke(
            "search_customers",
            json!({"query": "a", "cursor": null, "limit": 5}),
        )
        .await;
    assert_eq!(r["err"]["code"], "second_factor_required", "{r}");
    app.type_into("#factor-code", "000000").await;
    app.click("#factor-submit").await;
    app.wait_text("#factor-error", "not right", 15).await;
    app.shot("authenticator-code").await;
    app.give_code(&secret, 30).await;
    app.find("#dashboard").await;
    app.close().await;
}

#[tokio::test]
#[ignore = "real window: run by scripts/test.sh under xvfb-run"]
async fn idle_console_locks_and_returns_to_sign_in() {
    let (dir, _) = prepared_vault(10).await;
    let mut app = App::launch("idle-lock", dir, &[("VESTIBULE_IDLE_LOCK_SECONDS", "3")]).await;
    // Support staff (no authenticator needed): the lock is the same for every role.
    app.sign_in(SUPPORT, SUPPORT_PW).await;
    app.find("#customer-search").await;
    let started = Instant::now();
    app.wait_text("#lock-notice", "locked after 3 seconds", 20)
        .await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    app.shot("idle-locked").await;
    // The vault is really locked: commands are refused until someone signs in again.
    let r = app
        .invoke(
            "search_customers",
            json!({"query": "a", "cursor": null, "limit": 5}),
        )
        .await;
    assert_eq!(r["err"]["code"], "not_signed_in", "{r}");
    app.sign_in(SUPPORT, SUPPORT_PW).await;
    app.find("#customer-search").await;
    app.close().await;
}

const ANALYST: &str = "ana@shop.example";
const ANALYST_PW: &str = "quartz willow ember";

#[tokio::test]
#[ignore = "real window: run by scripts/test.sh under xvfb-run"]
async fn analyst_marks_the_demo_stuffing_wave_fraud_and_a_challenged_customer_legitimate() {
    use vestibule_engine::seed::{DEMO_CUSTOMER_PASSWORD, challenged_phone};
    use vestibule_engine::{CustomerStatus, ReviewFilter, ReviewStatus, SignInStep};
    // A demo vault with a security analyst (with an authenticator app), and one customer the
    // wave tried signed in somewhere, so that revoking has a session to end.
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, admin_secret) = vault_with_admin(&dir).await;
    let now = engine.now().timestamp() as u64;
    engine
        .add_staff(&admin, ANALYST, "Ana Analyst", Role::Security, ANALYST_PW)
        .await
        .unwrap();
    let ana = engine
        .staff_sign_in(ANALYST, ANALYST_PW, None)
        .await
        .unwrap();
    let en = engine.begin_staff_authenticator(&ana).await.unwrap();
    engine
        .confirm_staff_authenticator(&ana, &window::totp_at(&en.secret, now))
        .await
        .unwrap();
    let analyst_secret = en.secret;
    let report = engine
        .seed_demo(
            &admin,
            SeedOptions {
                customers: 2_000,
                ..SeedOptions::default()
            },
            &mut |_| {},
        )
        .await
        .unwrap();
    let wave = engine
        .review_queue(
            &admin,
            &ReviewFilter {
                network: Some("198.51.100.0/24".into()),
                limit: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A customer the wave tried who also signs in from home (so has a session to revoke).
    let mut victim = None;
    for id in wave.iter().filter_map(|i| i.attempt.customer_id) {
        let home = engine
            .customer_attempts(&admin, id, 50)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.outcome == "success");
        if let Some(home) = home {
            let email = engine.get_customer(&admin, id, None).await.unwrap().email;
            let ctx = vestibule_engine::RequestContext {
                ip: home.ip,
                user_agent: home.user_agent,
                ..Default::default()
            };
            if engine
                .sign_in(&email, DEMO_CUSTOMER_PASSWORD, &ctx)
                .await
                .is_ok()
            {
                victim = Some(id);
                break;
            }
        }
    }
    let victim = victim.expect("a customer the wave tried signs in from home");
    engine.close().await;

    let mut app = App::launch("security", dir, &[]).await;
    app.sign_in(ANALYST, ANALYST_PW).await;
    app.give_code(&analyst_secret, 30).await;
    assert_eq!(
        app.find("#who-role").await.text().await.unwrap(),
        "Security analyst"
    );
    assert!(app.absent("#nav-settings").await && app.absent("#nav-staff").await);
    app.click("#nav-security").await;
    app.find("#waves [data-wave='198.51.100.0/24']").await;
    app.click("#review-items li[data-network='198.51.100.0/24'] .item")
        .await;
    let reasons = app
        .wait_text("#item-reasons", "accounts from 198.51.100.", 15)
        .await;
    assert!(reasons.contains("in 10 min"), "{reasons}");
    app.shot("security-queue").await;

    // The wave: fraud, accounts locked, sessions revoked, the range blocked.
    app.click("#waves [data-wave='198.51.100.0/24'] button")
        .await;
    app.click("#decide-lock").await;
    assert!(
        app.find("#decide-block")
            .await
            .prop("checked")
            .await
            .unwrap()
            == Some("true".into())
    );
    app.type_into("#decide-note", "stuffing wave, ticket 4411")
        .await;
    app.shot("security-wave-dialog").await;
    app.click("#decide-confirm").await;
    let flash = app.wait_text("#queue-flash", "accounts locked", 120).await;
    assert!(flash.contains("198.51.100.0/24 blocked"), "{flash}");
    app.shot("security-wave-decided").await;

    // The customer challenged on a new phone: legitimate.
    app.type_into("#filter-network", "172.58.14.9").await;
    app.click("#filter-apply").await;
    app.click("#review-items li[data-network='172.58.14.0/24'] .item")
        .await;
    app.wait_text("#item-reasons", "new device", 15).await;
    app.find("#item-timeline").await;
    app.shot("security-challenged-customer").await;
    app.click("#item-legitimate").await;
    app.click("#decide-confirm").await;
    app.wait_text("#queue-flash", "1 device trusted", 30).await;

    // The overview over the week shows where it came from, and that it is blocked now.
    app.click("#tab-overview").await;
    app.click("#overview-window option[value='10080']").await;
    let ranges = app.wait_text("#top-ranges", "198.51.100.0/24", 30).await;
    assert!(ranges.contains("blocked"), "{ranges}");
    app.wait_text("#targeted-accounts", "@", 15).await;
    app.shot("security-overview").await;
    let dir = app.close_keeping_dir().await;

    // What the engine recorded.
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = window::totp_at(&admin_secret, unix + 30);
    let (engine, admin) = Engine::unlock_vault(
        &dir.path().join("console.vault"),
        ADMIN,
        ADMIN_PW,
        Some(&code),
        Deps::system(),
    )
    .await
    .unwrap();
    let fraud = engine
        .review_queue(
            &admin,
            &ReviewFilter {
                status: Some(ReviewStatus::Fraud),
                limit: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(fraud.len() >= 300, "{}", fraud.len());
    assert!(fraud.iter().all(|i| i.note == "stuffing wave, ticket 4411"));
    assert_eq!(
        engine
            .get_customer(&admin, victim, None)
            .await
            .unwrap()
            .status,
        CustomerStatus::Locked
    );
    assert!(
        engine
            .customer_sessions(&admin, victim)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        engine
            .ip_blocks(&admin)
            .await
            .unwrap()
            .iter()
            .any(|b| b.network == "198.51.100.0/24")
    );
    let mut actions = std::collections::BTreeSet::new();
    let mut after = 0;
    loop {
        let page = engine.audit_log(&admin, after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        actions.extend(page.into_iter().map(|e| e.action));
    }
    for action in [
        "risk.review_fraud",
        "risk.network_blocked",
        "risk.review_legitimate",
    ] {
        assert!(actions.contains(action), "{action} audited");
    }
    assert!(
        matches!(
            engine
                .begin_sign_in(
                    &report.challenged_email,
                    DEMO_CUSTOMER_PASSWORD,
                    &challenged_phone()
                )
                .await
                .unwrap(),
            SignInStep::SignedIn(_)
        ),
        "the trusted phone signs in without a challenge"
    );
    engine.close().await;
}

const PRIVACY: &str = "dpo@shop.example";
const PRIVACY_PW: &str = "quiet ledger harbour";

#[tokio::test]
#[ignore = "real window: run by scripts/test.sh under xvfb-run"]
async fn privacy_officer_publishes_a_material_version_exports_and_erases_a_customer() {
    // A vault with customers, the demo's consent purposes and answers, and a privacy officer.
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, _) = vault_with_admin(&dir).await;
    engine
        .add_staff(&admin, PRIVACY, "Pia Privacy", Role::Privacy, PRIVACY_PW)
        .await
        .unwrap();
    engine
        .seed_demo(
            &admin,
            SeedOptions {
                customers: 300,
                ..SeedOptions::default()
            },
            &mut |_| {},
        )
        .await
        .unwrap();
    assert!(engine.seed_demo_consent(&admin).await.unwrap() > 100);
    let will_ask = engine
        .reconsent_preview(&admin, "marketing_email")
        .await
        .unwrap();
    assert!(will_ask > 50);
    // A customer who consented to marketing: the one to export and erase.
    let rates = engine.consent_rates(&admin).await.unwrap();
    assert!(rates.iter().any(|r| r.purpose_id == "marketing_email"));
    let page = engine
        .search_customers(&admin, "a", None, 50)
        .await
        .unwrap();
    let mut subject = None;
    for c in &page.items {
        let state = engine.consent_state(c.id).await.unwrap();
        if state
            .iter()
            .any(|s| s.purpose_id == "marketing_email" && s.granted == Some(true))
        {
            subject = Some(c.clone());
            break;
        }
    }
    let subject = subject.expect("a customer who consented to marketing");
    engine.close().await;
    let exports = dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let exports_env = exports.display().to_string();
    let mut app = App::launch(
        "privacy",
        dir,
        &[("VESTIBULE_E2E_EXPORT_DIR", exports_env.as_str())],
    )
    .await;
    app.sign_in(PRIVACY, PRIVACY_PW).await;
    app.find("#dashboard").await;
    assert!(app.absent("#nav-security").await);

    // Consent: the purposes with their opt-in rates; a material version of the marketing
    // text says how many customers will be asked again.
    app.click("#nav-consent").await;
    app.find("#purposes [data-purpose='marketing_email']").await;
    app.shot("01-purposes").await;
    app.click("#purposes [data-purpose='marketing_email'] button")
        .await;
    let body = app.find("#text-body").await;
    body.send_keys(" We will also send you a birthday voucher.")
        .await
        .unwrap();
    app.wait_text("#text-diff", "birthday voucher", 10).await;
    app.shot("02-editor-diff").await;
    app.click("#publish-material").await;
    let count = app.wait_text("#publish-reconsent", "asked again", 10).await;
    assert_eq!(
        digits(count.split(" customers").next().unwrap()),
        will_ask.to_string(),
        "{count}"
    );
    app.shot("03-publish").await;
    app.click("#publish-confirm").await;
    let done = app
        .wait_text("#purpose-message", "will be asked again", 15)
        .await;
    assert!(done.contains("Version 2 published"), "{done}");

    // The customer: consent must be asked again; export to the chosen place; erase.
    app.click("#nav-customers").await;
    app.type_into("#customer-search", &subject.email).await;
    app.find(&format!("[data-customer-id='{}']", subject.id))
        .await
        .click()
        .await
        .unwrap();
    app.wait_text("#consent-state", "Must be asked again", 15)
        .await;
    app.shot("04-customer-consent").await;
    app.click("#action-export").await;
    let flash = app.wait_text("#action-flash", "Exported", 30).await;
    let path = std::fs::read_dir(&exports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("customer-{}-export-", subject.id))
        })
        .expect("the bundle was saved in the chosen folder");
    assert_eq!(path.extension().unwrap(), "zip");
    assert!(flash.contains(&path.display().to_string()), "{flash}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the export is readable by its owner only");
    }
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut read = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let export: Value = serde_json::from_str(&read("export.json")).unwrap();
    assert_eq!(export["customer_id"], subject.id.to_string());
    assert_eq!(export["tables"]["customers"][0]["email"], subject.email);
    assert!(
        !export["tables"]["consent_ledger"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let html = read("summary.html");
    assert!(html.contains(&subject.email) && html.contains("Consent given and withdrawn"));
    app.shot("05-exported").await;

    app.click("#action-erase").await;
    app.click("#erase-next").await;
    app.type_into("#erase-email", &subject.email).await;
    app.type_into("#erase-reason", "DSR-2026-118").await;
    app.shot("06-erase-confirm").await;
    app.click("#erase-confirm").await;
    app.wait_text("#erased-notice", "Customer erased", 30).await;
    app.shot("07-erased").await;
    app.type_into("#customer-search", &subject.email).await;
    app.find(&format!(
        "#customer-results[data-query='{}']",
        subject.email
    ))
    .await;
    assert!(
        app.absent(&format!("[data-customer-id='{}']", subject.id))
            .await,
        "search no longer finds the erased customer"
    );

    // Retention: a dry run's report.
    app.click("#nav-privacy").await;
    app.type_into("#retention-ended_sessions_days", "30").await;
    app.click("#retention-save").await;
    app.wait_text("#retention-message", "saved", 10).await;
    app.click("#retention-dry-run").await;
    app.wait_text("#retention-report", "Ended sessions", 10)
        .await;
    app.shot("08-retention").await;
    let dir = app.close_keeping_dir().await;

    // What the engine recorded.
    let (engine, dpo) = Engine::unlock_vault(
        &dir.path().join("console.vault"),
        PRIVACY,
        PRIVACY_PW,
        None,
        Deps::system(),
    )
    .await
    .unwrap();
    assert!(
        engine
            .search_customers(&dpo, &subject.email, None, 5)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let tomb = engine.erasure_of(&dpo, subject.id).await.unwrap().unwrap();
    assert_eq!(tomb.reason.as_deref(), Some("DSR-2026-118"));
    assert_eq!(tomb.requested_by, format!("staff:{}", dpo.id()));
    let trail = engine.customer_audit(&dpo, subject.id, 50).await.unwrap();
    assert!(trail.iter().any(|a| a.action == "privacy.erased"));
    assert!(trail.iter().any(|a| a.action == "privacy.exported"));
    let purpose = engine.consent_purpose("marketing_email").await.unwrap();
    assert_eq!(purpose.material_version, 2);
    engine.close().await;
}

/// Set a `<select>` as a person would (the change event the view listens to).
async fn choose(app: &App, css: &str, value: &str) {
    app.find(css).await;
    app.client
        .execute(
            "const [css, v] = arguments; const s = document.querySelector(css); \
             s.value = v; s.dispatchEvent(new Event('change', { bubbles: true }));",
            vec![json!(css), json!(value)],
        )
        .await
        .unwrap();
}

/// How many charts are drawn, and the theme they were drawn for (from the root's colour).
async fn charts_drawn(app: &App) -> (u64, String) {
    let v = app
        .client
        .execute(
            "const figs = document.querySelectorAll('#analytics-charts figure svg'); \
             const bg = figs[0]?.querySelector('rect')?.getAttribute('fill') ?? ''; \
             return [figs.length, bg];",
            vec![],
        )
        .await
        .unwrap();
    (
        v[0].as_u64().unwrap_or(0),
        v[1].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
#[ignore = "real window: run by scripts/test.sh under xvfb-run"]
async fn admin_reads_the_overview_and_every_chart_in_light_and_dark_and_exports_one() {
    let (dir, secret) = prepared_vault(2_000).await;
    let exports = dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let exports_env = exports.display().to_string();
    let mut app = App::launch(
        "analytics",
        dir,
        &[("VESTIBULE_E2E_EXPORT_DIR", exports_env.as_str())],
    )
    .await;
    app.sign_in(ADMIN, ADMIN_PW).await;
    app.give_code(&secret, 30).await;

    // The overview: five KPI tiles with their change, sparklines, the sign-in charts.
    app.find("#dashboard #kpi-mfa_adoption .spark svg").await;
    let sign_ins = app.find("#kpi-sign_ins .value").await.text().await.unwrap();
    assert!(digits(&sign_ins).parse::<u64>().unwrap() > 0, "{sign_ins}");
    app.find("#dash-sign-ins svg[data-chart='sign-ins']").await;
    choose(&app, "#theme-choice", "light").await;
    app.find("#dash-attempts svg").await;
    app.shot("overview-light").await;
    choose(&app, "#theme-choice", "dark").await;
    app.shot("overview-dark").await;

    // The Analytics area: every chart, drawn again for the theme.
    app.click("#open-analytics").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while charts_drawn(&app).await != (10, "#1B1E29".to_owned()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(charts_drawn(&app).await, (10, "#1B1E29".to_owned()));
    app.wait_text("#analytics-meta", "events counted", 10).await;
    app.shot("analytics-dark").await;
    choose(&app, "#theme-choice", "light").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while charts_drawn(&app).await != (10, "#FFFFFF".to_owned()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(charts_drawn(&app).await, (10, "#FFFFFF".to_owned()));
    app.shot("analytics-light").await;
    let points: u64 = app
        .client
        .execute(
            "return document.querySelectorAll('#chart-sign-ins [data-value]').length;",
            vec![],
        )
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert!(points > 10, "hover points on the sign-in chart: {points}");

    // Hourly for the last 24 hours.
    choose(&app, "#analytics-range", "24h").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let g = app
            .client
            .execute(
                "return [document.querySelector('#analytics-granularity').value, \
                 document.querySelector('#analytics-busy') === null];",
                vec![],
            )
            .await
            .unwrap();
        if g == json!(["hour", true]) {
            break;
        }
        assert!(Instant::now() < deadline, "never hourly: {g}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.find("#chart-heatmap svg").await;
    app.shot("analytics-24h").await;

    // Export the sign-in chart as PNG (print resolution) and its data as CSV.
    app.click("#export-sign-ins-png").await;
    app.wait_text("#analytics-flash", "Saved", 20).await;
    app.click("#export-sign-ins-csv").await;
    app.wait_text("#analytics-flash", ".csv", 20).await;
    let mut png = None;
    let mut csv = None;
    for e in std::fs::read_dir(&exports).unwrap() {
        let p = e.unwrap().path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("png") => png = Some(std::fs::read(&p).unwrap()),
            Some("csv") => csv = Some(std::fs::read_to_string(&p).unwrap()),
            _ => {}
        }
    }
    let png = png.expect("the PNG was saved");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        &png[16..24],
        &[0, 0, 7, 128, 0, 0, 3, 192],
        "1920 x 960 pixels"
    );
    let csv = csv.expect("the CSV was saved");
    assert!(csv.starts_with("bucket,"), "{}", &csv[..csv.len().min(200)]);
    assert!(csv.lines().count() >= 24, "{csv}");
    app.close().await;
}
