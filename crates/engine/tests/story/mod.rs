//! Test support: a fresh store per test on each backend, a manual clock, seeded randomness.

mod accounts;
mod analytics;
mod audit;
mod clients;
mod consent;
mod email_sign_in;
mod erasure;
mod factors;
mod hardening;
mod oidc;
mod passkeys;
mod privacy;
mod profiling;
mod retention;
mod risk;
mod search;
mod settings;
mod simulation;
mod social;
mod staff;
mod vault;

use chrono::{TimeZone, Utc};
use std::path::PathBuf;
use std::sync::Arc;
use vestibule_engine::{
    Clock, Config, Deps, Engine, HashParams, ManualClock, OutboxMessage, RecoveryKey,
    RequestContext, SeededEntropy, Staff,
};

pub const ADMIN_EMAIL: &str = "owner@shop.example";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub struct Harness {
    pub name: &'static str,
    pub engine: Engine,
    pub admin: Staff,
    /// The admin's authenticator secret (base32), set up when the harness was made.
    pub admin_secret: String,
    pub clock: Arc<ManualClock>,
    pub vault: Option<PathBuf>,
    pub recovery: Option<RecoveryKey>,
    /// The database's URL (PostgreSQL).
    pub url: Option<String>,
    pub _dir: Option<tempfile::TempDir>,
}

/// SQLite connections that are merely dropped close on sqlx's worker threads after the test
/// has returned, and a process exiting meanwhile crashes in SQLCipher's exit handler (seen:
/// about one run in twenty of the short tests). The server and console close the engine
/// before they exit; a test's engine is left open instead, so nothing is closing when the
/// process ends.
impl Drop for Harness {
    fn drop(&mut self) {
        std::mem::forget(self.engine.clone());
    }
}

/// Cheap argon2id parameters for behavioural tests (the timing and benchmark code uses the
/// real defaults).
pub fn fast_config() -> Config {
    Config {
        hash: HashParams {
            m_kib: 64,
            t: 1,
            p: 1,
        },
        // PostgreSQL needs the operator's factor key for TOTP secrets (a vault derives its own).
        factor_key: Some(vestibule_engine::FactorKey::from_bytes([42; 32])),
        ..Config::default()
    }
}

pub fn deps(clock: &Arc<ManualClock>, seed: u64, config: Config) -> Deps {
    Deps {
        clock: clock.clone(),
        entropy: Arc::new(SeededEntropy::new(seed)),
        config,
    }
}

pub fn start_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
    ))
}

pub async fn sqlite(config: Config) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.vault");
    let clock = start_clock();
    let (engine, admin, recovery) =
        Engine::create_vault(&path, ADMIN_EMAIL, ADMIN_PASSWORD, deps(&clock, 1, config))
            .await
            .unwrap();
    let (admin, admin_secret) = with_authenticator(&engine, &admin, &clock).await;
    Harness {
        name: "sqlite",
        engine,
        admin,
        admin_secret,
        clock,
        vault: Some(path),
        recovery: Some(recovery),
        url: None,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database on the server named by `VESTIBULE_TEST_POSTGRES`.
pub async fn postgres(config: Config) -> Option<Harness> {
    let Ok(base) = std::env::var("VESTIBULE_TEST_POSTGRES") else {
        if std::env::var("VESTIBULE_REQUIRE_POSTGRES").is_ok() {
            panic!("VESTIBULE_REQUIRE_POSTGRES is set but VESTIBULE_TEST_POSTGRES is not");
        }
        return None;
    };
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("connect to the test PostgreSQL server");
    let name = format!("vt_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let clock = start_clock();
    let keyless = config.factor_key.is_none();
    let (engine, admin_staff) = Engine::init_postgres(
        &format!("{base}/{name}"),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        deps(&clock, 1, config),
    )
    .await
    .unwrap();
    let (admin, admin_secret) = if keyless {
        // Without the operator's factor key no authenticator can be set up (that refusal is
        // what the keyless tests check): they act as an admin who signed in with one.
        let admin = admin_staff.verified_for_test();
        (admin, String::new())
    } else {
        with_authenticator(&engine, &admin_staff, &clock).await
    };
    Some(Harness {
        name: "postgres",
        engine,
        admin,
        admin_secret,
        clock,
        vault: None,
        recovery: None,
        url: Some(format!("{base}/{name}")),
        _dir: None,
    })
}

/// Set up an authenticator app for a staff member who was just signed in with a password,
/// as they would in the console: the returned staff may act; the secret makes later codes.
pub async fn with_authenticator(
    engine: &Engine,
    staff: &Staff,
    clock: &Arc<ManualClock>,
) -> (Staff, String) {
    let en = engine.begin_staff_authenticator(staff).await.unwrap();
    let code = factors::totp_code(&en.secret, clock.now().timestamp());
    let staff = engine
        .confirm_staff_authenticator(staff, &code)
        .await
        .unwrap();
    (staff, en.secret)
}

/// Sign a staff member in with their password, setting up their authenticator app first
/// when their role needs one.
pub async fn staff_signed_in(h: &Harness, email: &str, password: &str) -> Staff {
    let who = h.engine.staff_sign_in(email, password, None).await.unwrap();
    if who.factor() == vestibule_engine::StaffFactor::EnrolmentNeeded {
        with_authenticator(&h.engine, &who, &h.clock).await.0
    } else {
        who
    }
}

/// A fresh code from the admin's authenticator: half a minute later than the last one (each
/// 30-second step is accepted once).
pub fn admin_code(h: &Harness) -> String {
    h.clock.advance(chrono::Duration::seconds(30));
    factors::totp_code(&h.admin_secret, h.clock.now().timestamp())
}

/// Every backend this run has, each fresh.
pub async fn backends_with(config: Config) -> Vec<Harness> {
    let mut v = vec![sqlite(config.clone()).await];
    if let Some(pg) = postgres(config).await {
        v.push(pg);
    }
    v
}

pub async fn backends() -> Vec<Harness> {
    backends_with(fast_config()).await
}

pub fn ctx() -> RequestContext {
    RequestContext {
        ip: "192.0.2.10".into(),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0".into(),
        ..Default::default()
    }
}

/// The token in the newest outbox email of `kind` to `to`.
pub async fn token_from_outbox(h: &Harness, kind: &str, to: &str) -> String {
    // Registration, reset requests and email changes finish in the background.
    h.engine.settle().await.unwrap();
    let msgs: Vec<OutboxMessage> = h.engine.outbox(&h.admin, 100).await.unwrap();
    let m = msgs
        .iter()
        .find(|m| m.kind == kind && m.to.eq_ignore_ascii_case(to))
        .unwrap_or_else(|| panic!("no {kind} email to {to} in {msgs:#?}"));
    let start = m.body.find("token=").expect("token in body") + 6;
    m.body[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The newest email of `kind` to `to` and the 6-digit code it shows (as "123 456", also in
/// its subject).
pub async fn emailed_code(h: &Harness, kind: &str, to: &str) -> (OutboxMessage, String) {
    let msgs = h.engine.outbox(&h.admin, 100).await.unwrap();
    let m = msgs
        .into_iter()
        .find(|m| m.kind == kind && m.to == to)
        .unwrap_or_else(|| panic!("no {kind} email to {to}"));
    let code: String = m
        .body
        .lines()
        .find(|l| l.len() == 7 && l.chars().filter(char::is_ascii_digit).count() == 6)
        .unwrap()
        .replace(' ', "");
    assert!(m.subject.contains(&code), "the code is in the subject too");
    (m, code)
}

/// The password of staff members added by [`staff_member`].
pub const STAFF_PASSWORD: &str = "staff member passphrase";

/// Add a staff member with `role` (by the admin) and sign them in.
pub async fn staff_member(h: &Harness, email: &str, role: vestibule_engine::Role) -> Staff {
    h.engine
        .add_staff(&h.admin, email, "Staff", role, STAFF_PASSWORD)
        .await
        .unwrap();
    staff_signed_in(h, email, STAFF_PASSWORD).await
}

/// Register and verify a customer; returns their id.
pub async fn verified_customer(h: &Harness, email: &str, password: &str) -> uuid::Uuid {
    h.engine
        .register(
            vestibule_engine::RegisterInput {
                email: email.into(),
                password: password.into(),
                display_name: "Test Customer".into(),
                phone: Some("+1 650 253 0000".into()),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    let t = token_from_outbox(h, "verify_email", email).await;
    h.engine.verify_email(&t).await.unwrap();
    let page = h
        .engine
        .search_customers(&h.admin, email, None, 5)
        .await
        .unwrap();
    page.items[0].id
}

/// Define customer-editable attributes (name, kind), as an admin would before customers may
/// set them.
pub async fn define_attributes(h: &Harness, attrs: &[(&str, vestibule_engine::AttributeKind)]) {
    let mut defs = h.engine.attribute_definitions().await.unwrap();
    for (name, kind) in attrs {
        defs.definitions
            .push(vestibule_engine::AttributeDefinition::new(
                name,
                &name.replace('_', " "),
                *kind,
            ));
    }
    h.engine
        .update_attribute_definitions(&h.admin, &defs)
        .await
        .unwrap();
}
