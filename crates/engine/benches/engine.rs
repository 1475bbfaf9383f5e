//! Engine benchmarks on an encrypted vault, each figure next to a raw baseline measured in
//! the same run:
//! - customer search through the engine API (email, name and phone fragments, p50/p99)
//!   against the bare FTS5 trigram query on the same vault;
//! - CPU time of a password sign-in against one bare argon2id hash with the same parameters
//!   (and against the engine's own verification alone);
//! - bulk seeding throughput (customers/s, with and without sign-in history);
//! - risk scoring of one attempt (p50/p99) against the same write transaction with only the
//!   account lookup, and as a share of a whole password sign-in.
//!
//! Run: `cargo bench -p vestibule-engine --bench engine`. The large vault
//! (`BENCH_CUSTOMERS`, default 1,000,000 customers with ~10 sign-in events each) is built on
//! the first run under `target/bench/` and reused afterwards. Results are printed and written
//! to `target/bench/report.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vestibule_engine::seed::{DEMO_CUSTOMER_PASSWORD, SeedOptions};
use vestibule_engine::{Config, Deps, Engine, Hasher, OsEntropy, RequestContext, Staff};

const ADMIN: &str = "bench@vestibule.example";
const ADMIN_PW: &str = "benchmark admin passphrase";
/// A support agent: searches (the console benchmark signs in as them; support staff need no
/// authenticator app, and the admin's was set up once and is not kept).
const SEARCH: &str = "search@vestibule.example";
const SEARCH_PW: &str = "benchmark search passphrase";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts);
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: f64) -> String {
    format!("{:.3} ms", d * 1e3)
}

async fn fresh_vault(path: &Path) -> (Engine, Staff) {
    for suffix in ["", "-wal", "-shm", ".keys"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    let (e, s, _) = Engine::create_vault(path, ADMIN, ADMIN_PW, Deps::system())
        .await
        .unwrap();
    // The admin sets up an authenticator app (RFC 6238 code from totp-rs) before acting.
    let en = e.begin_staff_authenticator(&s).await.unwrap();
    let code = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(&en.secret).unwrap())
        .build()
        .unwrap()
        .generate(e.now().timestamp() as u64)
        .to_string();
    let s = e.confirm_staff_authenticator(&s, &code).await.unwrap();
    e.add_staff(
        &s,
        SEARCH,
        "Search",
        vestibule_engine::Role::Support,
        SEARCH_PW,
    )
    .await
    .unwrap();
    (e, s)
}

async fn seed_rate(dir: &Path, customers: u64, attempts: u32) -> f64 {
    let path = dir.join(format!("seed-rate-{attempts}.vault"));
    let (e, admin) = fresh_vault(&path).await;
    let t = Instant::now();
    e.seed_demo(
        &admin,
        SeedOptions {
            customers,
            days: 90,
            seed: 7,
            attempts_per_customer: attempts,
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    let rate = customers as f64 / t.elapsed().as_secs_f64();
    e.close().await;
    rate
}

#[tokio::main]
async fn main() {
    let customers = env_u64("BENCH_CUSTOMERS", 1_000_000);
    let attempts = env_u64("BENCH_ATTEMPTS_PER_CUSTOMER", 10) as u32;
    let dir =
        PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "../../target/bench".into()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut report = String::new();
    writeln!(report, "# Vestibule engine benchmarks\n").unwrap();
    writeln!(
        report,
        "Machine: {} cores. Encrypted (SQLCipher) vault.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
    .unwrap();

    // `BENCH_ONLY=privacy` runs the export and erasure sections alone (while working on them).
    let all = std::env::var("BENCH_ONLY").map_or(true, |v| v != "privacy");
    if all {
        // --- bulk seeding ---------------------------------------------------------------
        let seed_n = env_u64("BENCH_SEED_CUSTOMERS", 100_000);
        let bare = seed_rate(&dir, seed_n, 0).await;
        let hist = seed_rate(&dir, seed_n.min(50_000), 10).await;
        writeln!(report, "## Bulk seeding\n\n| what | customers/s |\n|---|---|\n| {seed_n} customers, no history | {bare:.0} |\n| customers with ~10 sign-in events each | {hist:.0} ({:.0} rows/s) |\n", hist * 11.0).unwrap();
        println!("{report}");
    }
    // --- the large vault --------------------------------------------------------------
    let path = dir.join(format!("bench-{customers}.vault"));
    // A vault built before the search agent existed is built again.
    let cached = match path.exists() {
        true => Engine::unlock_vault(&path, SEARCH, SEARCH_PW, None, Deps::system())
            .await
            .ok(),
        false => None,
    };
    let (engine, admin) = if let Some(opened) = cached {
        opened
    } else {
        println!(
            "building {} ({customers} customers, ~{attempts} events each; once)…",
            path.display()
        );
        let (e, admin) = fresh_vault(&path).await;
        let t = Instant::now();
        e.seed_demo(
            &admin,
            SeedOptions {
                customers,
                days: 90,
                seed: 1,
                attempts_per_customer: attempts,
            },
            &mut |p| {
                if p.customers_done % 100_000 == 0 {
                    eprintln!(
                        "  {}/{} customers, {} events, {:.0} s",
                        p.customers_done,
                        p.customers_total,
                        p.attempts_done,
                        t.elapsed().as_secs_f64()
                    );
                }
            },
        )
        .await
        .unwrap();
        (e, admin)
    };

    if all {
        // --- search -------------------------------------------------------------------------
        let samples = engine
            .sample_customers(env_u64("BENCH_SEARCHES", 300) as i64)
            .await
            .unwrap();
        let mut kinds: Vec<(&str, Vec<(String, String)>)> =
            vec![("email", vec![]), ("name", vec![]), ("phone", vec![])];
        for (i, (email, name, phone)) in samples.iter().enumerate() {
            let local: Vec<char> = email.split('@').next().unwrap().chars().collect();
            let start = i % local.len().saturating_sub(6).max(1);
            let frag: String = local[start..(start + 6).min(local.len())].iter().collect();
            kinds[0]
                .1
                .push((frag.clone(), format!("\"{}\"", frag.to_lowercase())));
            let surname: Vec<char> = name
                .split(' ')
                .next_back()
                .unwrap()
                .to_lowercase()
                .chars()
                .collect();
            let frag: String = surname[..4.min(surname.len())].iter().collect();
            kinds[1].1.push((frag.clone(), format!("\"{frag}\"")));
            if let Some(p) = phone {
                let digits = &p[p.len() - 7..];
                kinds[2].1.push((
                    format!("{} {}", &digits[..3], &digits[3..]),
                    format!("\"{digits}\""),
                ));
            }
        }
        writeln!(
            report,
            "## Customer search ({customers} customers, first page of 20)\n"
        )
        .unwrap();
        writeln!(report, "| fragment | queries | engine p50 | engine p99 | raw FTS5 p50 | raw FTS5 p99 | p99 ratio |\n|---|---|---|---|---|---|---|").unwrap();
        for (kind, queries) in &kinds {
            // Warm the page cache the way a console session would.
            for (q, raw) in queries {
                engine.search_customers(&admin, q, None, 20).await.unwrap();
                engine
                    .raw_fts_rowids(*kind == "phone", raw, 21)
                    .await
                    .unwrap();
            }
            let mut api = vec![];
            let mut raw = vec![];
            let mut slowest = (0.0, String::new());
            for (q, r) in queries {
                let t = Instant::now();
                let page = engine.search_customers(&admin, q, None, 20).await.unwrap();
                let took = t.elapsed().as_secs_f64();
                if took > slowest.0 {
                    slowest = (took, q.clone());
                }
                api.push(took);
                std::hint::black_box(page);
                let t = Instant::now();
                std::hint::black_box(
                    engine
                        .raw_fts_rowids(*kind == "phone", r, 21)
                        .await
                        .unwrap(),
                );
                raw.push(t.elapsed().as_secs_f64());
            }
            eprintln!(
                "slowest {kind} search: {:?} in {}",
                slowest.1,
                ms(slowest.0)
            );
            api.sort_by(|a, b| a.partial_cmp(b).unwrap());
            raw.sort_by(|a, b| a.partial_cmp(b).unwrap());
            writeln!(
                report,
                "| {kind} | {} | {} | {} | {} | {} | {:.2}× |",
                api.len(),
                ms(pct(&api, 0.5)),
                ms(pct(&api, 0.99)),
                ms(pct(&raw, 0.5)),
                ms(pct(&raw, 0.99)),
                pct(&api, 0.99) / pct(&raw, 0.99)
            )
            .unwrap();
        }

        // --- sign-in cost -------------------------------------------------------------------
        let config = Config::default();
        let hasher = Hasher::new(config.hash, &OsEntropy).unwrap();
        let phc = hasher.hash(DEMO_CUSTOMER_PASSWORD, &OsEntropy).unwrap();
        let n = env_u64("BENCH_SIGNINS", 100) as u32;
        // Each customer signs in from where they signed in before (scored, and allowed: a new
        // device would be challenged).
        let origins = engine.sample_origins(n as i64).await.unwrap();
        let who: Vec<(String, RequestContext)> = origins
            .iter()
            .map(|(email, ip, ua)| {
                (
                    email.clone(),
                    RequestContext {
                        ip: ip.clone(),
                        user_agent: ua.clone(),
                        ..Default::default()
                    },
                )
            })
            .collect();
        engine
            .sign_in(&who[0].0, DEMO_CUSTOMER_PASSWORD, &who[0].1)
            .await
            .unwrap(); // warm-up
        hasher.verify(DEMO_CUSTOMER_PASSWORD, &phc).unwrap();
        // Baseline 1: one bare argon2id hash, as the argon2 crate does it (fresh working memory).
        let p = config.hash;
        let argon2 = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(p.m_kib, p.t, p.p, None).unwrap(),
        );
        let mut out = [0u8; 32];
        // Baseline 2 is the engine's own verification (reused working memory) without any I/O.
        // The three are interleaved so drift in CPU speed affects all alike.
        let (mut raw_cpu, mut raw_wall) = (Duration::ZERO, Duration::ZERO);
        let (mut bare_cpu, mut bare_wall) = (Duration::ZERO, Duration::ZERO);
        let (mut sign_cpu, mut sign_wall) = (Duration::ZERO, Duration::ZERO);
        for (email, ctx) in who.iter().cycle().take(n as usize) {
            let (c0, w0) = (cpu_time(), Instant::now());
            argon2
                .hash_password_into(
                    DEMO_CUSTOMER_PASSWORD.as_bytes(),
                    b"benchmark salt!!",
                    &mut out,
                )
                .unwrap();
            raw_cpu += cpu_time() - c0;
            raw_wall += w0.elapsed();
            let (c0, w0) = (cpu_time(), Instant::now());
            assert!(hasher.verify(DEMO_CUSTOMER_PASSWORD, &phc).unwrap());
            bare_cpu += cpu_time() - c0;
            bare_wall += w0.elapsed();
            let (c0, w0) = (cpu_time(), Instant::now());
            engine
                .sign_in(email, DEMO_CUSTOMER_PASSWORD, ctx)
                .await
                .unwrap();
            sign_cpu += cpu_time() - c0;
            sign_wall += w0.elapsed();
        }
        let (raw_cpu, raw_wall) = (raw_cpu / n, raw_wall / n);
        let (bare_cpu, bare_wall) = (bare_cpu / n, bare_wall / n);
        let (sign_cpu, sign_wall) = (sign_cpu / n, sign_wall / n);
        writeln!(
            report,
            "\n## Password sign-in cost (argon2id m={} KiB, t={}, p={}; {n} each)\n",
            p.m_kib, p.t, p.p
        )
        .unwrap();
        writeln!(report, "| what | CPU per op | wall per op |\n|---|---|---|").unwrap();
        let row = |what: &str, cpu: Duration, wall: Duration| {
            format!(
                "| {what} | {} | {} |\n",
                ms(cpu.as_secs_f64()),
                ms(wall.as_secs_f64())
            )
        };
        report.push_str(&row(
            "bare argon2id hash (argon2 crate, fresh working memory)",
            raw_cpu,
            raw_wall,
        ));
        report.push_str(&row(
            "engine's argon2id verification alone (reused memory, no I/O)",
            bare_cpu,
            bare_wall,
        ));
        report.push_str(&row(
        "engine sign-in (throttle check, lookup, verify, risk scoring, attempt + session write, fsync)",
        sign_cpu,
        sign_wall,
    ));
        writeln!(
            report,
            "| sign-in ÷ bare hash (CPU) | {:.3}× | |",
            sign_cpu.as_secs_f64() / raw_cpu.as_secs_f64()
        )
        .unwrap();
        writeln!(
            report,
            "| sign-in ÷ verification alone (CPU) | {:.3}× | |",
            sign_cpu.as_secs_f64() / bare_cpu.as_secs_f64()
        )
        .unwrap();

        // --- risk scoring -------------------------------------------------------------------
        // Scoring one attempt in the write transaction (history, velocity, blocks, signals)
        // against the same transaction with only the account lookup, interleaved. Every
        // measured call names a customer no other call touched, so neither side warms the
        // other's pages in SQLite's cache; the vault file is read once first so that what is
        // measured is the store's work (decrypting pages included), not the disk: a server
        // keeps its vault in the OS page cache.
        {
            use std::io::Read as _;
            let mut f = std::fs::File::open(&path).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            while f.read(&mut buf).unwrap() > 0 {}
        }
        let k = env_u64("BENCH_SCORINGS", 300) as usize;
        // The warm-up stands for a server's steady state: the inner pages of the indexes are in
        // SQLite's cache; the measured customers' own pages are not.
        let warm = env_u64("BENCH_SCORING_WARMUP", 3000) as usize;
        let homes = engine.sample_origins((4 * k + warm) as i64).await.unwrap();
        assert!(homes.len() >= 4 * k + warm, "too few sampled customers");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
        let ctx = |ip: &str, ua: &str| RequestContext {
            ip: ip.into(),
            user_agent: ua.into(),
            ..Default::default()
        };
        let set = |n: usize| &homes[n * k..(n + 1) * k];
        let emails = |n: usize| set(n).iter().map(|(e, _, _)| e.clone()).collect::<Vec<_>>();
        /// What is measured, the scored attempts, and the baseline's lookups.
        type Case<'a> = (&'a str, Vec<(String, RequestContext)>, Vec<String>);
        let cases: Vec<Case> = vec![
            (
                "a customer where they signed in before",
                set(0)
                    .iter()
                    .map(|(e, ip, ua)| (e.clone(), ctx(ip, ua)))
                    .collect(),
                emails(1),
            ),
            (
                "a customer on a new phone and network",
                set(2)
                    .iter()
                    .map(|(e, _, _)| (e.clone(), ctx("203.0.113.77", iphone)))
                    .collect(),
                emails(3),
            ),
            (
                "an unknown address from a stuffing address",
                (0..k)
                    .map(|i| {
                        (
                            format!("user{i}@leaked.example"),
                            ctx("198.51.100.10", chrome),
                        )
                    })
                    .collect(),
                (0..k).map(|i| format!("other{i}@leaked.example")).collect(),
            ),
        ];
        // Warm-up on customers no measured call names.
        for (email, ip, ua) in &homes[4 * k..] {
            engine.score_for_bench(email, &ctx(ip, ua)).await.unwrap();
            engine.lookup_for_bench(email).await.unwrap();
        }
        writeln!(
        report,
        "\n## Risk scoring ({customers} customers, ~{} recorded attempts; bar: p99 under 1 ms)\n",
        customers * u64::from(attempts)
    )
    .unwrap();
        writeln!(report, "Each measured call names a customer no other call touched: their pages are not in SQLite's cache, the vault file is in the OS's, and {warm} scorings of other customers came first (a running server's inner index pages).\n").unwrap();
        writeln!(report, "| attempt | samples | scoring p50 | scoring p99 | lookup-only p50 | lookup-only p99 | p99 ratio | p99 ÷ sign-in wall |\n|---|---|---|---|---|---|---|---|").unwrap();
        for (what, samples, baseline) in &cases {
            let (mut scored, mut raw) = (vec![], vec![]);
            for ((email, c), other) in samples.iter().zip(baseline) {
                let t = Instant::now();
                std::hint::black_box(engine.score_for_bench(email, c).await.unwrap());
                scored.push(t.elapsed().as_secs_f64());
                let t = Instant::now();
                std::hint::black_box(engine.lookup_for_bench(other).await.unwrap());
                raw.push(t.elapsed().as_secs_f64());
            }
            scored.sort_by(|a, b| a.partial_cmp(b).unwrap());
            raw.sort_by(|a, b| a.partial_cmp(b).unwrap());
            writeln!(
                report,
                "| {what} | {} | {} | {} | {} | {} | {:.2}× | {:.2} % |",
                scored.len(),
                ms(pct(&scored, 0.5)),
                ms(pct(&scored, 0.99)),
                ms(pct(&raw, 0.5)),
                ms(pct(&raw, 0.99)),
                pct(&scored, 0.99) / pct(&raw, 0.99),
                100.0 * pct(&scored, 0.99) / sign_wall.as_secs_f64()
            )
            .unwrap();
        }
        // --- Consent decision ----------------------------------------------------------------
        // "May we use X's data for P now?" on the vault with five ledger records per customer
        // (5,000,000 on the 1M vault), each call a customer no call touched before, against the
        // bare read of the answer in force. Bar: p99 under 1 ms.
        let t = Instant::now();
        let ledger = engine.seed_consent_for_bench(5).await.unwrap();
        eprintln!("consent ledger: {ledger} records ({:.0?})", t.elapsed());
        let n = env_u64("BENCH_DECISIONS", 2_000) as i64;
        let subjects = engine.random_customers_for_bench(2 * n).await.unwrap();
        let (mut decided, mut raw) = (vec![], vec![]);
        for pair in subjects.chunks(2) {
            let t = Instant::now();
            let d = engine
                .consent_decision(pair[0], "bench_marketing")
                .await
                .unwrap();
            decided.push(t.elapsed().as_secs_f64());
            assert!(d.allowed && d.record.is_some());
            let t = Instant::now();
            assert!(std::hint::black_box(
                engine
                    .consent_state_for_bench(pair[1], "bench_marketing")
                    .await
                    .unwrap()
            ));
            raw.push(t.elapsed().as_secs_f64());
        }
        decided.sort_by(|a, b| a.partial_cmp(b).unwrap());
        raw.sort_by(|a, b| a.partial_cmp(b).unwrap());
        writeln!(
        report,
        "\n## Consent decision ({ledger} ledger records; bar: p99 under 1 ms)\n\n| what | calls | p50 | p99 |\n|---|---|---|---|\n| decision with its justifying record | {} | {} | {} |\n| raw: the answer in force alone | {} | {} | {} |\n| p99 ratio | | | {:.2}× |",
        decided.len(),
        ms(pct(&decided, 0.5)),
        ms(pct(&decided, 0.99)),
        raw.len(),
        ms(pct(&raw, 0.5)),
        ms(pct(&raw, 0.99)),
        pct(&decided, 0.99) / pct(&raw, 0.99)
    )
    .unwrap();
    }
    // --- DSAR export ---------------------------------------------------------------------
    // One customer with 10,000 sign-in events: the whole export (every table, serialised to
    // JSON, summarised as HTML, both zipped into the bundle) against reading the same
    // customer's attempts alone. Bar: under 1 s.
    let events = env_u64("BENCH_EXPORT_EVENTS", 10_000) as i64;
    let subject = engine
        .customer_with_history_for_bench(events)
        .await
        .unwrap();
    let (mut export, mut raw) = (vec![], vec![]);
    for _ in 0..5 {
        let t = Instant::now();
        let rows = engine.export_for_bench(subject).await.unwrap();
        export.push(t.elapsed().as_secs_f64());
        assert!(rows as i64 >= events);
        let t = Instant::now();
        std::hint::black_box(engine.lookup_attempts_for_bench(subject).await.unwrap());
        raw.push(t.elapsed().as_secs_f64());
    }
    export.sort_by(|a, b| a.partial_cmp(b).unwrap());
    raw.sort_by(|a, b| a.partial_cmp(b).unwrap());
    writeln!(
        report,
        "\n## DSAR export (one customer with {events} sign-in events; bar: under 1 s)\n\n| what | best of 5 | worst of 5 |\n|---|---|---|\n| whole export, bundled (JSON + HTML, zipped) | {} | {} |\n| the customer's attempts alone, raw | {} | {} |",
        ms(export[0]),
        ms(export[4]),
        ms(raw[0]),
        ms(raw[4])
    )
    .unwrap();
    // --- Erasure -------------------------------------------------------------------------
    // The whole erasure (every customer table, the audit redaction, tombstone, event, WAL
    // checkpoint) of five customers with 10,000 events each (the exported one first) and of
    // 20 ordinary customers, against deleting a customer's row alone with the same
    // checkpoint. Bar: under 100 ms. The subjects are gone afterwards (the next run gives
    // other customers the history). Each history just written is checkpointed first, as
    // the server's checkpointer would have done by then: the erasure's own commit does not
    // pay for copying it.
    let mut heavy = vec![];
    for round in 0..5 {
        let who = match round {
            0 => subject,
            _ => engine
                .customer_with_history_for_bench(events)
                .await
                .unwrap(),
        };
        engine.checkpoint_for_test().await.unwrap();
        let t = Instant::now();
        engine.erase_for_bench(who).await.unwrap();
        heavy.push(t.elapsed().as_secs_f64());
    }
    heavy.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let ids = engine.newest_customers_for_bench(40).await.unwrap();
    let (mut erased, mut bare) = (vec![], vec![]);
    for pair in ids.chunks(2) {
        let t = Instant::now();
        engine.erase_for_bench(pair[0]).await.unwrap();
        erased.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        engine.delete_row_for_bench(pair[1]).await.unwrap();
        bare.push(t.elapsed().as_secs_f64());
    }
    erased.sort_by(|a, b| a.partial_cmp(b).unwrap());
    bare.sort_by(|a, b| a.partial_cmp(b).unwrap());
    writeln!(
        report,
        "\n## Erasure (bar: under 100 ms)\n\n| what | median | worst |\n|---|---|---|\n| a customer with {events} events (5) | {} | {} |\n| an ordinary customer (20) | {} | {} |\n| raw: deleting the row alone (20) | {} | {} |",
        ms(pct(&heavy, 0.5)),
        ms(heavy[heavy.len() - 1]),
        ms(pct(&erased, 0.5)),
        ms(erased[erased.len() - 1]),
        ms(pct(&bare, 0.5)),
        ms(bare[bare.len() - 1])
    )
    .unwrap();
    engine.close().await;
    std::fs::write(dir.join("report.md"), &report).unwrap();
    println!("{report}");
}
