//! Server load benchmark: the real `vestibule serve` process (release build) on an encrypted
//! vault, driven over loopback by concurrent reqwest clients in this process.
//!
//! Reports, at 2, 64 and 256 concurrent clients: sign-ins/s through `POST /v1/sign-in`
//! against the bare argon2id hash rate on all cores measured in the same run, server peak
//! RSS, how excess load was answered (429/503 with Retry-After), server CPU per sign-in
//! against one bare hash; then session validation (`GET /v1/me`) requests/s and p99.
//!
//! Load generator: reqwest on a one-thread tokio runtime in this process, on the same machine
//! as the server (the setting); clients that get 429/503 wait as long as Retry-After
//! says.
//!
//! Run: `cargo build --release -p vestibule-cli && cargo bench -p vestibule-server --bench load`
//! (`VESTIBULE_BIN` overrides the binary; `LOAD_SECONDS` the length of each phase;
//! `LOAD_CLIENTS=2,64` the phases to run).

mod support;
use support::with_authenticator;

use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use vestibule_engine::seed::{DEMO_CUSTOMER_PASSWORD, SeedOptions};
use vestibule_engine::{Deps, Engine, Hasher};

const ADMIN: &str = "load@vestibule.example";
const ADMIN_PW: &str = "load test admin passphrase";

fn proc_field(pid: u32, file: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default()
}

fn rss_kib(pid: u32) -> u64 {
    proc_field(pid, "status")
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = proc_field(pid, "stat");
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

/// Hashes/s on every core for `seconds`, and CPU seconds per hash: argon2id with the engine's
/// default parameters, either as a naive handler does it (`argon2`'s own `hash_password_into`,
/// a fresh buffer per hash) or through the engine's [`Hasher`] (reused working memory).
fn hash_rate(seconds: f64, engine_hasher: bool) -> (f64, f64) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let p = vestibule_engine::HashParams::default();
    let hasher = Arc::new(Hasher::new(p, &vestibule_engine::OsEntropy).unwrap());
    let phc = Arc::new(
        hasher
            .hash("demo customer password", &vestibule_engine::OsEntropy)
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let (stop, count, hasher, phc) =
                (stop.clone(), count.clone(), hasher.clone(), phc.clone());
            std::thread::spawn(move || {
                let a = argon2::Argon2::new(
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    argon2::Params::new(p.m_kib, p.t, p.p, None).unwrap(),
                );
                let mut out = [0u8; 32];
                while !stop.load(Ordering::Relaxed) {
                    if engine_hasher {
                        assert!(hasher.verify("demo customer password", &phc).unwrap());
                    } else {
                        a.hash_password_into(
                            b"demo customer password",
                            b"load benchmark!!",
                            &mut out,
                        )
                        .unwrap();
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let n = count.load(Ordering::Relaxed) as f64;
    let elapsed = started.elapsed().as_secs_f64();
    (n / elapsed, elapsed * cores as f64 / n)
}

fn mean(v: &[(f64, f64)]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    (
        v.iter().map(|x| x.0).sum::<f64>() / n,
        v.iter().map(|x| x.1).sum::<f64>() / n,
    )
}

/// `clients` concurrent sign-in loops for `seconds`; returns the latencies of the successes.
async fn sign_in_slice(
    clients: usize,
    seconds: f64,
    client: &reqwest::Client,
    base: &str,
    emails: &Arc<Vec<String>>,
    tally: &Arc<Tally>,
) -> Vec<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (tally, stop, client, base, emails) = (
                tally.clone(),
                stop.clone(),
                client.clone(),
                base.to_owned(),
                emails.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = vec![];
                let mut k = i;
                while !stop.load(Ordering::Relaxed) {
                    let email = &emails[k % emails.len()];
                    k += clients;
                    let t = Instant::now();
                    let r = client
                        .post(format!("{base}/v1/sign-in"))
                        .json(&json!({"email": email, "password": DEMO_CUSTOMER_PASSWORD, "return_token": true}))
                        .send()
                        .await;
                    let Ok(r) = r else {
                        tally.other.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let status = r.status().as_u16();
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                    if retry_after.is_some() {
                        tally.with_retry_after.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = r.bytes().await;
                    match status {
                        200 => {
                            latencies.push(t.elapsed().as_secs_f64());
                            tally.ok.fetch_add(1, Ordering::Relaxed)
                        }
                        429 | 503 => {
                            // A well-behaved client waits as long as Retry-After says.
                            let wait = Duration::from_secs(retry_after.unwrap_or(1));
                            tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
                            if status == 429 {
                                tally.limited.fetch_add(1, Ordering::Relaxed)
                            } else {
                                tally.unavailable.fetch_add(1, Ordering::Relaxed)
                            }
                        }
                        _ => tally.other.fetch_add(1, Ordering::Relaxed),
                    };
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = vec![];
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    lat
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    limited: AtomicU64,
    unavailable: AtomicU64,
    with_retry_after: AtomicU64,
    other: AtomicU64,
}

// One runtime thread for the load generator: on a 2-core box every cycle it takes is a cycle
// the server's hashing threads do not get (measured: 64 clients 0.94× → 1.02× the bare rate,
// session validation 7.7k → 10.9k requests/s, against two generator threads).
#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    // reqwest's TLS is rustls without a built-in provider here (the server links ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seconds: f64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10.0);
    let bin = std::env::var("VESTIBULE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| "../../target/release/vestibule".into());
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p vestibule-cli ({})",
        bin.display()
    );
    let dir = PathBuf::from("../../target/bench-server");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let vault = dir.join("load.vault");
    let (engine, admin, _) = Engine::create_vault(&vault, ADMIN, ADMIN_PW, Deps::system())
        .await
        .unwrap();
    let admin = with_authenticator(&engine, &admin).await;
    engine
        .seed_demo(
            &admin,
            SeedOptions {
                customers: 5_000,
                days: 30,
                seed: 3,
                attempts_per_customer: 1,
            },
            &mut |_| {},
        )
        .await
        .unwrap();
    let emails: Vec<String> = engine
        .sample_customers(512)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.0)
        .collect();
    engine.close().await;

    // This machine's speed drifts by 10–30 % within a minute, so each load phase is compared
    // with bare hashing measured between its slices (see the phase loop).
    let mut report = String::new();
    writeln!(report, "# Vestibule server load benchmark\n").unwrap();
    writeln!(report, "2-core machine, load generator (reqwest, one runtime thread) on the same box, encrypted vault with 5,000 customers; argon2id m=19456 KiB, t=2, p=1.\n").unwrap();

    let mut child = tokio::process::Command::new(&bin)
        .args(["serve", "--db"])
        .arg(&vault)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--ip-burst",
            "1000000000",
            "--ip-replenish-ms",
            "1",
        ])
        .env("VESTIBULE_STAFF", ADMIN)
        .env("VESTIBULE_PASSWORD", ADMIN_PW)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let addr = serde_json::from_str::<Value>(&first).unwrap()["listening"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
        .unwrap();

    let mut rows = vec![];
    let emails = Arc::new(emails);
    let phases: Vec<usize> = std::env::var("LOAD_CLIENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![2, 64, 256]);
    for clients in phases {
        let tally = Arc::new(Tally::default());
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let sampler = {
            let (stop, peak) = (stop.clone(), peak.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        // Load in slices of about 5 s, with 2 s of bare hashing before, between and after
        // them: the reference sees the same drift of the machine's speed as the load does.
        let slices = ((seconds / 5.0).round() as usize).max(1);
        // Warm-up, not counted: connections opened, caches and hashing memory filled.
        let _ = sign_in_slice(clients, 1.0, &client, &base, &emails, &Arc::default()).await;
        let mut bare = vec![hash_rate(2.0, false)];
        let mut ours = vec![];
        let mut lat = vec![];
        let mut elapsed = 0.0;
        let mut cpu = 0.0;
        for slice in 0..slices {
            let cpu0 = cpu_secs(pid);
            let started = Instant::now();
            lat.extend(
                sign_in_slice(
                    clients,
                    seconds / slices as f64,
                    &client,
                    &base,
                    &emails,
                    &tally,
                )
                .await,
            );
            elapsed += started.elapsed().as_secs_f64();
            cpu += cpu_secs(pid) - cpu0;
            if slice == 0 {
                ours.push(hash_rate(2.0, true));
            }
            bare.push(hash_rate(2.0, false));
        }
        stop.store(true, Ordering::Relaxed);
        sampler.await.unwrap();
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 - 1.0) * p) as usize)
                .copied()
                .unwrap_or(0.0)
                * 1e3
        };
        let ok = tally.ok.load(Ordering::Relaxed) as f64;
        let rate = ok / elapsed;
        let (bare, ours) = (mean(&bare), mean(&ours));
        println!(
            "{clients} clients: {rate:.1} sign-ins/s, bare {:.1}/s ({:.2}×), engine hasher {:.1}/s",
            bare.0,
            rate / bare.0,
            ours.0
        );
        rows.push((
            bare,
            ours.0,
            clients,
            rate,
            pct(0.5),
            pct(0.99),
            tally,
            peak.load(Ordering::Relaxed) as f64 / 1024.0,
            if ok > 0.0 { cpu / ok } else { 0.0 },
        ));
    }

    // Session validation.
    let v: Value = client
        .post(format!("{base}/v1/sign-in"))
        .json(
            &json!({"email": emails[0], "password": DEMO_CUSTOMER_PASSWORD, "return_token": true}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = Arc::new(v["token"].as_str().unwrap().to_owned());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (stop, client, base, token) =
                (stop.clone(), client.clone(), base.clone(), token.clone());
            tokio::spawn(async move {
                let mut lat = vec![];
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = client
                        .get(format!("{base}/v1/me"))
                        .bearer_auth(token.as_str())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let _ = r.bytes().await;
                    lat.push(t.elapsed().as_secs_f64());
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds.min(5.0))).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = vec![];
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p99 = lat
        .get(((lat.len() as f64 - 1.0) * 0.99) as usize)
        .copied()
        .unwrap_or(0.0)
        * 1e3;
    let validations = lat.len() as f64 / elapsed;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait().await;

    writeln!(
        report,
        "Bare hashing: argon2id with the same parameters on every core, a fresh buffer per hash \
         as a naive handler would, measured for 2 s before, between and after the ~5 s slices \
         of each phase's load; the reference is the mean of those. Engine hasher: the engine's \
         own `Hasher::verify` (reused working memory on huge pages) on every core, 2 s after \
         the first slice.\n"
    )
    .unwrap();
    writeln!(report, "| clients | bare hashes/s | engine hasher, hashes/s | sign-ins/s | ÷ bare hash rate | p50 | p99 | 429 | 503 | with Retry-After | other | server peak RSS | server CPU per sign-in ÷ bare hash |").unwrap();
    writeln!(
        report,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    .unwrap();
    for ((hash_rate, hash_cpu), ours, clients, rate, p50, p99, tally, peak_mb, cpu_per) in rows {
        writeln!(
            report,
            "| {clients} | {hash_rate:.1} | {ours:.1} | {rate:.1} | {:.2}× | {p50:.0} ms | {p99:.0} ms | {} | {} | {} | {} | {peak_mb:.0} MB | {:.2}× |",
            rate / hash_rate,
            tally.limited.load(Ordering::Relaxed),
            tally.unavailable.load(Ordering::Relaxed),
            tally.with_retry_after.load(Ordering::Relaxed),
            tally.other.load(Ordering::Relaxed),
            cpu_per / hash_cpu,
        )
        .unwrap();
    }
    writeln!(
        report,
        "\nClients that get 429/503 wait as long as Retry-After says, as a well-behaved client does.\n\nSession validation (`GET /v1/me`, 64 clients): **{validations:.0} requests/s**, p99 {p99:.1} ms."
    )
    .unwrap();
    std::fs::create_dir_all("../../target/bench").unwrap();
    std::fs::write("../../target/bench/server-report.md", &report).unwrap();
    println!("{report}");
}
