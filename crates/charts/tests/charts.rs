//! The renderer against golden images: every chart of a fixed report, light and dark, as
//! PNG compared with `tests/golden/` (a small tolerance for anti-aliasing). Regenerate with
//! `VESTIBULE_UPDATE_GOLDEN=1 cargo test -p vestibule-charts`. The SVGs carry their hover
//! values; empty data draws its message; the CSV is the chart's data.

use chrono::{Duration, TimeZone, Utc};
use std::path::PathBuf;
use vestibule_charts::{Chart, Theme, csv, png, sparkline, svg};
use vestibule_engine::analytics::{
    ActivePoint, AnalyticsFilter, AnalyticsQuery, AnalyticsReport, Breakdown, FunnelCohort,
    Granularity, Kpis, OptInRate, Series,
};

fn kpis() -> Kpis {
    let at = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    Kpis {
        from: at,
        to: at,
        registrations: 0,
        sign_ins: 0,
        attempts: 0,
        failed_attempts: 0,
        success_rate: None,
        active: 0,
        mfa_adoption: None,
        passkey_adoption: None,
    }
}

/// Fourteen days of a shop's figures, made up but shaped like real ones (a weekly rhythm, an
/// attack on day 9).
pub fn fixture(empty: bool) -> AnalyticsReport {
    let from = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    let days = 14;
    let wave = |i: usize, base: f64, amp: f64| -> i64 {
        if empty {
            0
        } else {
            (base + amp * ((i as f64) * 0.9).sin() + (i % 7) as f64 * base * 0.04).round() as i64
        }
    };
    let series = |key: &str, base: f64, amp: f64| Series {
        key: key.into(),
        values: (0..days).map(|i| wave(i, base, amp)).collect(),
    };
    let mut failure = series("failure", 40.0, 8.0);
    if !empty {
        failure.values[9] = 900;
    }
    AnalyticsReport {
        query: AnalyticsQuery {
            from,
            to: from + Duration::days(days as i64),
            granularity: Granularity::Day,
            filter: AnalyticsFilter::default(),
        },
        buckets: (0..days).map(|i| from + Duration::days(i as i64)).collect(),
        registrations: (0..days).map(|i| wave(i, 60.0, 15.0)).collect(),
        verified: (0..days).map(|i| wave(i, 45.0, 10.0)).collect(),
        sign_ins_by_method: if empty {
            Vec::new()
        } else {
            vec![
                series("password", 420.0, 60.0),
                series("passkey", 150.0, 30.0),
                series("totp", 80.0, 10.0),
                series("social", 60.0, 12.0),
            ]
        },
        attempts_by_outcome: if empty {
            Vec::new()
        } else {
            vec![
                series("success", 700.0, 90.0),
                failure,
                series("challenged", 12.0, 4.0),
            ]
        },
        attempts_by_method: Vec::new(),
        failure_reasons: if empty {
            Vec::new()
        } else {
            vec![
                Breakdown {
                    key: "wrong_password".into(),
                    total: 1210,
                },
                Breakdown {
                    key: "unknown_account".into(),
                    total: 640,
                },
                Breakdown {
                    key: "throttled".into(),
                    total: 95,
                },
                Breakdown {
                    key: "risk_denied".into(),
                    total: 31,
                },
            ]
        },
        risk_decisions: if empty {
            Vec::new()
        } else {
            vec![
                series("allow", 690.0, 80.0),
                series("challenge", 14.0, 5.0),
                series("deny", 6.0, 3.0),
            ]
        },
        factors_added: Vec::new(),
        active: (0..days)
            .map(|i| ActivePoint {
                at: from + Duration::days(i as i64),
                active: wave(i, 610.0, 70.0),
                with_mfa: wave(i, 200.0 + 4.0 * i as f64, 20.0),
                with_passkey: wave(i, 120.0 + 6.0 * i as f64, 15.0),
            })
            .collect(),
        dau: 0,
        wau: 0,
        mau: 0,
        funnel: if empty {
            Vec::new()
        } else {
            vec![
                FunnelCohort {
                    week: from,
                    registered: 420,
                    verified: 351,
                    signed_in: 298,
                    second_factor: 97,
                },
                FunnelCohort {
                    week: from + Duration::days(7),
                    registered: 388,
                    verified: 310,
                    signed_in: 240,
                    second_factor: 61,
                },
            ]
        },
        consent: if empty {
            Vec::new()
        } else {
            vec![
                OptInRate {
                    purpose: "newsletter".into(),
                    granted: 540,
                    withdrawn: 210,
                    opt_in_rate: Some(0.72),
                },
                OptInRate {
                    purpose: "personalisation".into(),
                    granted: 300,
                    withdrawn: 300,
                    opt_in_rate: Some(0.5),
                },
            ]
        },
        heatmap: (0..7)
            .map(|d| {
                (0..24)
                    .map(|h| {
                        if empty {
                            0
                        } else {
                            let day = if d >= 5 { 0.6 } else { 1.0 };
                            let hour = (-((h as f64 - 13.0).powi(2)) / 18.0).exp();
                            (day * (5.0 + 120.0 * hour)).round() as i64
                        }
                    })
                    .collect()
            })
            .collect(),
        kpis: kpis(),
        previous: kpis(),
        sketch_error: 0.0163,
        counted_events: 0,
        as_of: None,
    }
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Share of pixels whose channels differ by more than 24 out of 255.
fn difference(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    if a.dimensions() != b.dimensions() {
        return 1.0;
    }
    let differ = a
        .pixels()
        .zip(b.pixels())
        .filter(|(p, q)| p.0.iter().zip(q.0.iter()).any(|(x, y)| x.abs_diff(*y) > 24))
        .count();
    differ as f64 / f64::from(a.width() * a.height())
}

#[test]
fn every_chart_matches_its_golden_image_in_both_themes() {
    let report = fixture(false);
    let update = std::env::var("VESTIBULE_UPDATE_GOLDEN").is_ok();
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/chart-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut failed = Vec::new();
    for chart in Chart::ALL {
        for (theme, t) in [(Theme::Light, "light"), (Theme::Dark, "dark")] {
            let name = format!("{}-{t}.png", chart.name());
            let bytes = png(&report, chart, theme, (720, 360), 1).unwrap();
            std::fs::write(shots.join(&name), &bytes).unwrap();
            let path = golden(&name);
            if update {
                std::fs::write(&path, &bytes).unwrap();
                continue;
            }
            let want = image::open(&path)
                .unwrap_or_else(|e| {
                    panic!(
                        "{name}: no golden image ({e}); regenerate with VESTIBULE_UPDATE_GOLDEN=1"
                    )
                })
                .to_rgb8();
            let got = image::load_from_memory(&bytes).unwrap().to_rgb8();
            let d = difference(&want, &got);
            if d > 0.005 {
                failed.push(format!("{name}: {:.2}% of pixels differ", d * 100.0));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{failed:#?} (see target/chart-screenshots/)"
    );
}

#[test]
fn svg_points_carry_hover_values_and_exports_embed_the_font() {
    let report = fixture(false);
    let s = svg(&report, Chart::SignIns, Theme::Light, (720, 360), false).unwrap();
    assert!(s.starts_with("<svg role=\"img\""), "{}", &s[..80]);
    assert!(s.contains("data-chart=\"sign-ins\""));
    assert!(s.contains("<title>Sign-ins by method</title>"));
    assert!(
        s.contains("data-label=\"Nov 02 · password\""),
        "no hover label"
    );
    assert_eq!(s.matches("data-value=").count(), 14 * 4);
    assert!(s.contains("font-family=\"Atkinson Hyperlegible\""));
    assert!(!s.contains("@font-face"));
    let exported = svg(&report, Chart::Heatmap, Theme::Dark, (720, 360), true).unwrap();
    assert!(exported.contains("@font-face{font-family:'Atkinson Hyperlegible'"));
    assert_eq!(exported.matches("data-value=").count(), 7 * 24);
    // PNG at print resolution: twice the pixels each way.
    let big = png(&report, Chart::Funnel, Theme::Light, (960, 480), 2).unwrap();
    let img = image::load_from_memory(&big).unwrap();
    assert_eq!((img.width(), img.height()), (1920, 960));
    assert!(svg(&report, Chart::Funnel, Theme::Light, (20, 20), false).is_err());
}

#[test]
fn empty_data_draws_an_honest_message_not_a_broken_chart() {
    let report = fixture(true);
    for chart in Chart::ALL {
        let s = svg(&report, chart, Theme::Light, (720, 360), false).unwrap();
        assert!(
            s.contains(" in this range") || s.contains("during this range"),
            "{}",
            chart.name()
        );
        assert!(!s.contains("data-value="), "{}", chart.name());
        assert!(!s.contains("NaN"), "{}", chart.name());
    }
    let bytes = png(&report, Chart::Active, Theme::Dark, (720, 360), 1).unwrap();
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/chart-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join("empty-active-dark.png"), bytes).unwrap();
}

#[test]
fn the_csv_is_the_charts_data() {
    let report = fixture(false);
    let c = csv(&report, Chart::SignIns);
    let mut lines = c.split("\r\n");
    assert_eq!(lines.next(), Some("bucket,password,passkey,totp,social"));
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("2026-11-02T00:00:00+00:00,")
    );
    let funnel = csv(&report, Chart::Funnel);
    assert!(
        funnel.starts_with("step,customers\r\nregistered,808\r\n"),
        "{funnel}"
    );
    assert!(funnel.contains("cohort week,registered,verified,first sign-in,second factor"));
    let heat = csv(&report, Chart::Heatmap);
    assert_eq!(heat.split("\r\n").filter(|l| !l.is_empty()).count(), 8);
    let failures = csv(&report, Chart::Failures);
    assert!(
        failures.starts_with("reason,failed attempts\r\nwrong password,1210"),
        "{failures}"
    );
}

#[test]
fn sparklines_are_small_labelled_svgs() {
    let s = sparkline(&[3.0, 5.0, 4.0, 9.0], Theme::Dark, (120, 32)).unwrap();
    assert!(
        s.starts_with("<svg role=\"img\" aria-label=\"trend: 3, 5, 4, 9\""),
        "{s}"
    );
    assert!(s.contains("<polyline") || s.contains("<path"), "{s}");
    assert!(sparkline(&[], Theme::Light, (120, 32)).is_ok());
    assert!(sparkline(&[1.0], Theme::Light, (2, 2)).is_err());
}
