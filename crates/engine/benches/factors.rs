//! The front door's checks, each next to its raw library call in the same run:
//! - a TOTP check as the engine does it (open the sealed secret, ±1 step) against totp-rs
//!   checking a code with the secret already in hand;
//! - a passkey sign-in through the engine (ceremony taken from the store, assertion verified,
//!   counter and session written, committed to the encrypted vault) against webauthn-rs
//!   parsing and verifying the same kind of assertion in memory.
//!
//! Run: `cargo bench -p vestibule-engine --bench factors` (about half a minute). Prints and
//! writes `target/bench/factors-report.md`.

#[path = "../../../tests/support/softkey.rs"]
mod softkey;

use softkey::SoftKey;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;
use vestibule_engine::{Config, Deps, Engine, RegisterInput, RequestContext, SignInStep};

const ORIGIN: &str = "http://localhost:8080";
const PW: &str = "benchmark customer passphrase";

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[(((v.len() - 1) as f64) * p).round() as usize];
    (at(0.5), at(0.99))
}

fn ms(x: f64) -> String {
    format!("{:.4} ms", x * 1e3)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir =
        PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "../../target/bench".into()));
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut deps = Deps::system();
    deps.config = Config {
        public_url: ORIGIN.into(),
        ..deps.config
    };
    let (e, admin, _) = Engine::create_vault(
        &tmp.path().join("factors.vault"),
        "bench@vestibule.example",
        "benchmark admin passphrase",
        deps,
    )
    .await
    .unwrap();
    let ctx = RequestContext::default();
    e.register(
        RegisterInput {
            email: "pk@example.com".into(),
            password: PW.into(),
            display_name: "Bench".into(),
            ..Default::default()
        },
        &ctx,
    )
    .await
    .unwrap();
    e.settle().await.unwrap();
    let token = e.sign_in("pk@example.com", PW, &ctx).await.unwrap().token;

    // ---- TOTP ---------------------------------------------------------------------
    let en = e.begin_totp(&token, "Bench").await.unwrap();
    let totp = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(totp_rs::Secret::try_from_base32(&en.secret).unwrap())
        .build()
        .unwrap();
    let now = vestibule_engine::Clock::now(&vestibule_engine::SystemClock).timestamp() as u64;
    let code = totp.generate(now).to_string();
    e.confirm_totp(&token, en.factor_id, &code, "Phone")
        .await
        .unwrap();
    let sealed = e.raw_factor_secret_for_test(en.factor_id).await.unwrap();
    let n = 5_000;
    let (mut engine_t, mut raw_t) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        let ok = e
            .totp_check_for_bench(en.factor_id, &sealed, &code)
            .unwrap();
        engine_t.push(t.elapsed().as_secs_f64());
        assert!(ok.is_some());
        let t = Instant::now();
        let ok = totp.check(&code, now);
        raw_t.push(t.elapsed().as_secs_f64());
        assert!(ok.is_some());
    }
    let (te50, te99) = stats(engine_t);
    let (tr50, tr99) = stats(raw_t);

    // ---- passkeys -----------------------------------------------------------------
    // Sign in again: the TOTP enrolment above made the account two-factor.
    let step = e.begin_sign_in("pk@example.com", PW, &ctx).await.unwrap();
    let SignInStep::SecondFactor(ch) = step else {
        panic!("two-factor now")
    };
    let later = totp.generate(now + 30).to_string();
    let token = e
        .complete_sign_in(&ch.token, &vestibule_engine::FactorProof::Totp(later), &ctx)
        .await
        .unwrap()
        .token;
    let reg = e.begin_passkey_registration(&token).await.unwrap();
    let mut key = SoftKey::new(ORIGIN, 5);
    e.finish_passkey_registration(&token, &reg.ceremony, &key.register(&reg.options), "Bench")
        .await
        .unwrap();
    // The raw baseline: webauthn-rs alone, with its own passkey from another soft key.
    let origin = webauthn_rs::prelude::Url::parse(ORIGIN).unwrap();
    let rp = webauthn_rs::WebauthnBuilder::new("localhost", &origin)
        .unwrap()
        .build()
        .unwrap();
    let (ccr, state) = rp
        .start_passkey_registration(uuid::Uuid::from_u128(7), "raw", "Raw", None)
        .unwrap();
    let mut raw_key = SoftKey::new(ORIGIN, 6);
    let options = serde_json::to_value(&ccr).unwrap();
    let raw_reg: webauthn_rs::prelude::RegisterPublicKeyCredential =
        serde_json::from_str(&raw_key.register(&options)).unwrap();
    let mut raw_passkey = rp.finish_passkey_registration(&raw_reg, &state).unwrap();

    let n = 400;
    let (mut engine_p, mut raw_p) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let auth = e.begin_passkey_sign_in().await.unwrap();
        let answer = key.assert(&auth.options);
        let t = Instant::now();
        e.finish_passkey_sign_in(&auth.ceremony, &answer, &ctx)
            .await
            .unwrap();
        engine_p.push(t.elapsed().as_secs_f64());

        let (rcr, state) = rp.start_discoverable_authentication().unwrap();
        let answer = raw_key.assert(&serde_json::to_value(&rcr).unwrap());
        let t = Instant::now();
        let cred: webauthn_rs::prelude::PublicKeyCredential =
            serde_json::from_str(&answer).unwrap();
        let r = rp
            .finish_discoverable_authentication_v2(&cred, state, &raw_passkey)
            .unwrap();
        raw_p.push(t.elapsed().as_secs_f64());
        raw_passkey.update_credential(&r);
    }
    let (pe50, pe99) = stats(engine_p);
    let (pr50, pr99) = stats(raw_p);
    e.close().await;
    let _ = admin;

    let mut report = String::new();
    writeln!(report, "# Front-door check benchmarks\n").unwrap();
    writeln!(
        report,
        "Machine: {} cores. Encrypted (SQLCipher) vault, WAL, synchronous commits.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
    .unwrap();
    writeln!(
        report,
        "| what | p50 | p99 | p50 ÷ raw |\n|---|---|---|---|"
    )
    .unwrap();
    writeln!(
        report,
        "| TOTP check, totp-rs with the secret in hand (raw) | {} | {} | |",
        ms(tr50),
        ms(tr99)
    )
    .unwrap();
    writeln!(
        report,
        "| TOTP check, engine (unseal AES-GCM + ±1 step) | {} | {} | {:.1}× |",
        ms(te50),
        ms(te99),
        te50 / tr50
    )
    .unwrap();
    writeln!(
        report,
        "| passkey assertion, webauthn-rs parse + verify in memory (raw) | {} | {} | |",
        ms(pr50),
        ms(pr99)
    )
    .unwrap();
    writeln!(
        report,
        "| passkey sign-in, engine (ceremony, verify, counter, session, commit) | {} | {} | {:.1}× |",
        ms(pe50),
        ms(pe99),
        pe50 / pr50
    )
    .unwrap();
    std::fs::write(dir.join("factors-report.md"), &report).unwrap();
    println!("{report}");
}
