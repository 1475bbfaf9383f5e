//! Analytics on the engine benchmark's large vault (1,000,000 customers, ~10 sign-in events
//! each, built by `cargo bench -p vestibule-engine` under `target/bench/`), each figure next
//! to a raw baseline measured in the same run:
//! - counting every event from scratch (the rebuild), in events per second;
//! - every standard range of the Analytics screen — its figures from the rollups and all ten
//!   charts drawn as SVG — against counting the same range's attempts straight from
//!   `sign_in_attempts` on its time index (the least a screen without rollups would do);
//! - the dashboard (7 days: figures, two charts, five sparklines);
//! - what recording a sign-in's two events costs inside its write transaction, against the
//!   same transaction with only the account lookup.
//!
//! Run: `cargo bench -p vestibule-charts --bench analytics` (after the engine benchmark has
//! built the vault). Results are printed and written to `target/bench/analytics.md`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;
use vestibule_charts::{Chart, Theme, sparkline, svg};
use vestibule_engine::analytics::{AnalyticsFilter, AnalyticsQuery, Granularity};
use vestibule_engine::{Deps, Engine, Role, Staff};

const SEARCH: &str = "search@vestibule.example";
const SEARCH_PW: &str = "benchmark search passphrase";

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: f64) -> String {
    format!("{:.1} ms", d * 1e3)
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (pct(&v, 0.5), pct(&v, 0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let customers: u64 = std::env::var("BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir =
        PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "../../target/bench".into()));
    let path = dir.join(format!("bench-{customers}.vault"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo bench -p vestibule-engine --bench engine` first",
        path.display()
    );
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut report = String::from("# Analytics benchmarks\n\n");
    let t = Instant::now();
    let (engine, _support) = Engine::unlock_vault(&path, SEARCH, SEARCH_PW, None, Deps::system())
        .await
        .expect("the benchmark vault opens");
    let opened = t.elapsed().as_secs_f64();
    let staff = Staff::for_bench(Role::Security);
    let events = engine.events_count_for_bench().await.unwrap();
    writeln!(
        report,
        "Vault: {customers} customers, {events} events (opened in {opened:.1} s: a first open \
         also runs the migration that fills the event table).\n"
    )
    .unwrap();
    println!("{report}");

    // --- counting: a rebuild from the raw events ---------------------------------------------
    let t = Instant::now();
    let rebuild = std::env::var("BENCH_REBUILD").is_ok()
        || !engine.analytics_counted_for_bench().await.unwrap();
    if rebuild {
        let n = engine
            .analytics_rebuild(&Staff::for_bench(Role::Admin))
            .await
            .unwrap();
        let s = t.elapsed().as_secs_f64();
        writeln!(
            report,
            "## Counting\n\nRebuild from the raw events: {n} events in {s:.1} s ({:.0} events/s, one \
             transaction per 2,000).\n",
            n as f64 / s
        )
        .unwrap();
        println!("{report}");
    } else {
        engine.analytics_catch_up().await.unwrap();
    }

    // --- the Analytics screen: every standard range -------------------------------------------
    let now = engine.now();
    let ranges: Vec<(&str, i64, Granularity)> = vec![
        ("24 hours by hour", 1, Granularity::Hour),
        ("7 days by day", 7, Granularity::Day),
        ("30 days by day", 30, Granularity::Day),
        ("90 days by day", 90, Granularity::Day),
        ("90 days by week", 90, Granularity::Week),
    ];
    writeln!(
        report,
        "## Analytics screen (bar: p99 under 200 ms; {runs} runs each)\n\n\
         | range | figures p50 | figures + 10 charts p50 | p99 | raw: count the range's attempts (median of 5) |\n|---|---|---|---|---|"
    )
    .unwrap();
    for (name, days, g) in &ranges {
        let q = AnalyticsQuery {
            from: now - chrono::Duration::days(*days),
            to: now,
            granularity: *g,
            filter: AnalyticsFilter::default(),
        };
        let (mut figures, mut whole, mut raw) = (vec![], vec![], vec![]);
        for _ in 0..runs {
            let t = Instant::now();
            let r = engine.analytics(&staff, &q).await.unwrap();
            figures.push(t.elapsed().as_secs_f64());
            for c in Chart::ALL {
                std::hint::black_box(svg(&r, c, Theme::Light, (720, 340), false).unwrap());
            }
            whole.push(t.elapsed().as_secs_f64());
        }
        // The raw baseline scans the range's attempts (up to ~10M rows): five runs are plenty.
        for _ in 0..5 {
            let t = Instant::now();
            std::hint::black_box(engine.count_attempts_for_bench(q.from, q.to).await.unwrap());
            raw.push(t.elapsed().as_secs_f64());
        }
        let (f50, _) = stats(figures);
        let (w50, w99) = stats(whole);
        let (r50, _) = stats(raw);
        writeln!(
            report,
            "| {name} | {} | {} | {} | {} |",
            ms(f50),
            ms(w50),
            ms(w99),
            ms(r50)
        )
        .unwrap();
    }
    println!("{report}");

    // --- the dashboard ------------------------------------------------------------------------
    let q = AnalyticsQuery {
        from: now - chrono::Duration::days(7),
        to: now,
        granularity: Granularity::Day,
        filter: AnalyticsFilter::default(),
    };
    let mut dash = vec![];
    for _ in 0..runs {
        let t = Instant::now();
        let r = engine.analytics(&staff, &q).await.unwrap();
        for c in [Chart::SignIns, Chart::Attempts] {
            std::hint::black_box(svg(&r, c, Theme::Dark, (720, 300), false).unwrap());
        }
        for _ in 0..5 {
            let v: Vec<f64> = r.registrations.iter().map(|&x| x as f64).collect();
            std::hint::black_box(sparkline(&v, Theme::Dark, (160, 36)).unwrap());
        }
        dash.push(t.elapsed().as_secs_f64());
    }
    let (d50, d99) = stats(dash);
    writeln!(
        report,
        "\n## Dashboard (bar: under 100 ms)\n\nFigures for 7 days, two charts, five sparklines: p50 {}, p99 {}.\n",
        ms(d50),
        ms(d99)
    )
    .unwrap();

    // --- a sign-in's events ---------------------------------------------------------------------
    let k = 400;
    let emails = engine.sample_origins(2 * k as i64).await.unwrap();
    let (mut with, mut without) = (vec![], vec![]);
    for (i, (email, _, _)) in emails.iter().enumerate() {
        let t = Instant::now();
        if i % 2 == 0 {
            engine.sign_in_events_for_bench(email).await.unwrap();
            with.push(t.elapsed().as_secs_f64());
        } else {
            engine.lookup_for_bench(email).await.unwrap();
            without.push(t.elapsed().as_secs_f64());
        }
    }
    let (w50, w99) = stats(with);
    let (b50, b99) = stats(without);
    writeln!(
        report,
        "## A sign-in's events (bar: under 0.2 ms)\n\n| what | p50 | p99 |\n|---|---|---|\n\
         | lookup + the attempt and session events, in the write transaction | {:.3} ms | {:.3} ms |\n\
         | raw: the same transaction with the lookup alone | {:.3} ms | {:.3} ms |\n\
         | the events' cost (difference) | {:.3} ms | |\n",
        w50 * 1e3,
        w99 * 1e3,
        b50 * 1e3,
        b99 * 1e3,
        (w50 - b50) * 1e3
    )
    .unwrap();
    println!("{report}");
    std::fs::write(dir.join("analytics.md"), &report).unwrap();
    engine.close().await;
}
