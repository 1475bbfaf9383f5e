//! How fast customer search answers in the console, through the real window: the built app
//! (release code, UI embedded) on the engine benchmark's 1,000,000-customer encrypted vault, signed in, with
//! fragments typed into the search box through WebDriver. For each query it reads the time the
//! UI measured from sending the IPC request to having the first page (IPC + engine + JSON),
//! which the console shows next to the result count, and reports p50/p99 per kind of fragment.
//!
//! Needs: `cargo bench -p vestibule-engine --bench engine` once (it builds
//! target/bench/bench-1000000.vault), `ui/node_modules/.bin/tauri build --no-bundle --
//! --profile dist` (target/dist/vestibule-console: `cargo bench` itself rebuilds
//! target/release/vestibule-console without the embedded UI), tauri-driver, and a display:
//!
//!     xvfb-run -a -s "-screen 0 1280x800x24" cargo bench -p vestibule-console --bench console_search
//!
//! `BENCH_VAULT` picks another vault made by the engine benchmark. The report goes to stdout
//! and target/bench/console-search.md.

#[path = "../tests/support/window.rs"]
mod window;

use std::fmt::Write as _;
use std::path::PathBuf;
use vestibule_engine::{Deps, Engine};
use window::{App, root};

/// The engine benchmark's support agent (no authenticator app needed to search).
const AGENT: &str = "search@vestibule.example";
const AGENT_PW: &str = "benchmark search passphrase";
const QUERIES_PER_KIND: usize = 60;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let vault = std::env::var_os("BENCH_VAULT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/bench/bench-1000000.vault"));
    if !vault.exists() {
        eprintln!(
            "{} is missing: run `cargo bench -p vestibule-engine --bench engine` first",
            vault.display()
        );
        std::process::exit(2);
    }
    let bin = std::env::var_os("VESTIBULE_CONSOLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release/vestibule-console"));
    if !bin.exists() {
        eprintln!(
            "{} is missing: run `ui/node_modules/.bin/tauri build --no-bundle`",
            bin.display()
        );
        std::process::exit(2);
    }
    run(&vault, &bin).await;
}

async fn run(vault: &std::path::Path, bin: &std::path::Path) {
    // Query fragments from real rows: a 6-character piece of an email's local part, a
    // 4-character name prefix, and the last 7 digits of a phone number typed "NNN NNNN".
    let (engine, _staff) = Engine::unlock_vault(vault, AGENT, AGENT_PW, None, Deps::system())
        .await
        .expect("unlock the benchmark vault");
    let sample = engine
        .sample_customers(QUERIES_PER_KIND as i64 * 3)
        .await
        .expect("sample customers");
    engine.close().await;
    let mut kinds: Vec<(&str, Vec<String>)> =
        vec![("email", vec![]), ("name", vec![]), ("phone", vec![])];
    for (email, name, phone) in &sample {
        let local: String = email.split('@').next().unwrap_or("").chars().collect();
        if local.chars().count() >= 8 && kinds[0].1.len() < QUERIES_PER_KIND {
            kinds[0].1.push(local.chars().skip(1).take(6).collect());
        }
        if let Some(last) = name.split_whitespace().last()
            && last.chars().count() >= 4
            && kinds[1].1.len() < QUERIES_PER_KIND
        {
            kinds[1]
                .1
                .push(last.chars().take(4).collect::<String>().to_lowercase());
        }
        if let Some(p) = phone {
            let d: String = p.chars().filter(char::is_ascii_digit).collect();
            if d.len() >= 7 && kinds[2].1.len() < QUERIES_PER_KIND {
                let t = &d[d.len() - 7..];
                kinds[2].1.push(format!("{} {}", &t[..3], &t[3..]));
            }
        }
    }

    let vault_s = vault.display().to_string();
    let app = App::launch_binary(
        bin,
        "bench",
        tempfile::tempdir().unwrap(),
        &[("VESTIBULE_VAULT", vault_s.as_str())],
    )
    .await;
    app.sign_in(AGENT, AGENT_PW).await;
    app.find("#customer-search").await;
    // Warm-up: the first queries fault in index pages.
    for q in ["war", "smith", "555"] {
        search(&app, q).await;
    }

    let mut report = String::from(
        "# Console search (1M-customer vault, through the window)\n\n\
         Time from sending the IPC request to having the first page (50 rows), as measured in \
         the UI.\n\n| fragment | queries | p50 | p99 | max | median results |\n|---|---|---|---|---|---|\n",
    );
    for (kind, queries) in &kinds {
        let mut times = vec![];
        let mut counts = vec![];
        for q in queries {
            let (ms, n) = search(&app, q).await;
            if ms.is_finite() {
                times.push(ms);
                counts.push(n);
            }
        }
        times.sort_by(f64::total_cmp);
        counts.sort_unstable();
        let _ = writeln!(
            report,
            "| {kind} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {} |",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or(f64::NAN),
            counts.get(counts.len() / 2).copied().unwrap_or(0)
        );
    }
    app.close().await;
    println!("{report}");
    let out = root().join("target/bench/console-search.md");
    std::fs::write(&out, &report).expect("write the report");
    println!("written to {}", out.display());
}

/// Type `q`, wait for its results, and return (ms the UI measured, results on the page).
async fn search(app: &App, q: &str) -> (f64, usize) {
    app.type_into("#customer-search", q).await;
    app.find(&format!("#customer-results[data-query='{q}']"))
        .await;
    let meta = app.find("#search-meta").await.text().await.unwrap();
    // "50+ results · 7 ms" or "No customers match …"
    let ms = meta
        .rsplit('·')
        .next()
        .and_then(|t| t.trim().strip_suffix("ms"))
        .and_then(|t| t.trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let n = meta
        .split_whitespace()
        .next()
        .and_then(|t| t.trim_end_matches('+').replace(',', "").parse().ok())
        .unwrap_or(0);
    (ms, n)
}
