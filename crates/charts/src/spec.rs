//! What each chart shows, taken from an [`AnalyticsReport`]: titles, units, series and the
//! data table behind it (the CSV export). Nothing here draws.

use chrono::{DateTime, Utc};
use vestibule_engine::analytics::{AnalyticsReport, Granularity, Series};

/// The charts of the Analytics area and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    /// Completed sign-ins per bucket, stacked by method.
    SignIns,
    /// Sign-in attempts per bucket, stacked by outcome.
    Attempts,
    /// Registrations and verified addresses per bucket.
    Registrations,
    /// Distinct active customers per bucket, with those who had MFA or a passkey.
    Active,
    /// The share of active customers with MFA and with a passkey.
    Adoption,
    /// Registered → verified → first sign-in → second factor, over the range's cohorts.
    Funnel,
    /// Completed sign-ins by weekday and hour (UTC).
    Heatmap,
    /// Failed attempts by reason.
    Failures,
    /// Risk decisions per bucket, stacked.
    Risk,
    /// Consent opt-in rate per purpose.
    Consent,
}

impl Chart {
    pub const ALL: [Chart; 10] = [
        Chart::SignIns,
        Chart::Attempts,
        Chart::Registrations,
        Chart::Active,
        Chart::Adoption,
        Chart::Funnel,
        Chart::Heatmap,
        Chart::Failures,
        Chart::Risk,
        Chart::Consent,
    ];

    /// The chart's name in URLs and file names.
    pub fn name(self) -> &'static str {
        match self {
            Chart::SignIns => "sign-ins",
            Chart::Attempts => "attempts",
            Chart::Registrations => "registrations",
            Chart::Active => "active",
            Chart::Adoption => "adoption",
            Chart::Funnel => "funnel",
            Chart::Heatmap => "heatmap",
            Chart::Failures => "failures",
            Chart::Risk => "risk",
            Chart::Consent => "consent",
        }
    }

    pub fn parse(name: &str) -> Option<Chart> {
        Chart::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn title(self) -> &'static str {
        match self {
            Chart::SignIns => "Sign-ins by method",
            Chart::Attempts => "Sign-in attempts by outcome",
            Chart::Registrations => "Registrations",
            Chart::Active => "Active customers",
            Chart::Adoption => "MFA and passkey adoption",
            Chart::Funnel => "Sign-up funnel",
            Chart::Heatmap => "Sign-ins by weekday and hour (UTC)",
            Chart::Failures => "Failed attempts by reason",
            Chart::Risk => "Risk decisions",
            Chart::Consent => "Consent opt-in rate",
        }
    }
}

/// What is drawn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plot {
    /// Vertical bars per bucket, stacked in series order.
    Bars {
        series: Vec<(String, Vec<f64>)>,
        unit: &'static str,
    },
    /// Lines per bucket; the first filled below when `area`.
    Lines {
        series: Vec<(String, Vec<f64>)>,
        unit: &'static str,
        percent: bool,
        area: bool,
    },
    /// Horizontal bars, one per row, with a note beside each.
    Rows {
        rows: Vec<(String, f64, String)>,
        unit: &'static str,
    },
    /// Weekday × hour cells.
    Heat { cells: Vec<Vec<f64>> },
}

/// A chart ready to draw: title, bucket labels, the plot, and the honest empty message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    pub title: String,
    pub buckets: Vec<String>,
    pub plot: Plot,
    pub empty: Option<&'static str>,
}

pub(crate) const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A bucket's label at a granularity.
pub(crate) fn label(at: DateTime<Utc>, g: Granularity) -> String {
    match g {
        Granularity::Hour => at.format("%b %d %H:00").to_string(),
        Granularity::Day => at.format("%b %d").to_string(),
        Granularity::Week => format!("week of {}", at.format("%b %d")),
        Granularity::Month => at.format("%b %Y").to_string(),
    }
}

fn floats(v: &[i64]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn keyed(series: &[Series], order: &[&str]) -> Vec<(String, Vec<f64>)> {
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    for key in order {
        if let Some(s) = series.iter().find(|s| s.key == *key) {
            out.push((s.key.clone(), floats(&s.values)));
        }
    }
    for s in series {
        if !order.contains(&s.key.as_str()) {
            out.push((s.key.clone(), floats(&s.values)));
        }
    }
    out
}

fn all_zero(series: &[(String, Vec<f64>)]) -> bool {
    series.iter().all(|(_, v)| v.iter().all(|&x| x == 0.0))
}

fn share(part: i64, all: i64) -> f64 {
    if all > 0 {
        100.0 * part as f64 / all as f64
    } else {
        0.0
    }
}

/// The chart `c` of report `r`.
pub(crate) fn spec(r: &AnalyticsReport, c: Chart) -> Spec {
    let g = r.query.granularity;
    let buckets: Vec<String> = r.buckets.iter().map(|&b| label(b, g)).collect();
    let active_buckets: Vec<String> = r
        .active
        .iter()
        .map(|p| {
            label(
                p.at,
                if g == Granularity::Hour {
                    Granularity::Day
                } else {
                    g
                },
            )
        })
        .collect();
    let (buckets, plot, empty) = match c {
        Chart::SignIns => {
            let series = keyed(
                &r.sign_ins_by_method,
                &["password", "passkey", "totp", "email", "social"],
            );
            let empty = all_zero(&series).then_some("No completed sign-ins in this range");
            (
                buckets,
                Plot::Bars {
                    series,
                    unit: "sign-ins",
                },
                empty,
            )
        }
        Chart::Attempts => {
            let series = keyed(
                &r.attempts_by_outcome,
                &["success", "challenged", "failure"],
            );
            let empty = all_zero(&series).then_some("No sign-in attempts in this range");
            (
                buckets,
                Plot::Bars {
                    series,
                    unit: "attempts",
                },
                empty,
            )
        }
        Chart::Risk => {
            let series = keyed(&r.risk_decisions, &["allow", "challenge", "review", "deny"]);
            let empty = all_zero(&series).then_some("No risk decisions in this range");
            (
                buckets,
                Plot::Bars {
                    series,
                    unit: "decisions",
                },
                empty,
            )
        }
        Chart::Registrations => {
            let series = vec![
                ("registered".to_owned(), floats(&r.registrations)),
                ("verified".to_owned(), floats(&r.verified)),
            ];
            let empty = all_zero(&series).then_some("No registrations in this range");
            (
                buckets,
                Plot::Lines {
                    series,
                    unit: "customers",
                    percent: false,
                    area: true,
                },
                empty,
            )
        }
        Chart::Active => {
            let series = vec![
                (
                    "active".to_owned(),
                    r.active.iter().map(|p| p.active as f64).collect(),
                ),
                (
                    "with MFA".to_owned(),
                    r.active.iter().map(|p| p.with_mfa as f64).collect(),
                ),
                (
                    "with a passkey".to_owned(),
                    r.active.iter().map(|p| p.with_passkey as f64).collect(),
                ),
            ];
            let empty = all_zero(&series).then_some("No customer signed in during this range");
            (
                active_buckets,
                Plot::Lines {
                    series,
                    unit: "customers (estimate)",
                    percent: false,
                    area: true,
                },
                empty,
            )
        }
        Chart::Adoption => {
            let series = vec![
                (
                    "MFA".to_owned(),
                    r.active
                        .iter()
                        .map(|p| share(p.with_mfa.min(p.active), p.active))
                        .collect(),
                ),
                (
                    "passkey".to_owned(),
                    r.active
                        .iter()
                        .map(|p| share(p.with_passkey.min(p.active), p.active))
                        .collect(),
                ),
            ];
            let empty = r
                .active
                .iter()
                .all(|p| p.active == 0)
                .then_some("No customer signed in during this range");
            (
                active_buckets,
                Plot::Lines {
                    series,
                    unit: "% of active customers",
                    percent: true,
                    area: false,
                },
                empty,
            )
        }
        Chart::Funnel => {
            let sum = |f: fn(&vestibule_engine::analytics::FunnelCohort) -> i64| -> i64 {
                r.funnel.iter().map(f).sum()
            };
            let steps = [
                ("registered", sum(|f| f.registered)),
                ("verified", sum(|f| f.verified)),
                ("first sign-in", sum(|f| f.signed_in)),
                ("second factor or passkey", sum(|f| f.second_factor)),
            ];
            let first = steps.first().map_or(0, |s| s.1);
            let mut rows = Vec::new();
            let mut previous = None;
            for (name, n) in steps {
                let note = match previous {
                    None => format!("{n}"),
                    Some(p) => format!(
                        "{n} · {:.0}% of the step before, {:.0}% of all",
                        share(n, p),
                        share(n, first)
                    ),
                };
                rows.push((name.to_owned(), n as f64, note));
                previous = Some(n);
            }
            let empty = (first == 0).then_some("No registrations in this range");
            (
                Vec::new(),
                Plot::Rows {
                    rows,
                    unit: "customers",
                },
                empty,
            )
        }
        Chart::Failures => {
            let total: i64 = r.failure_reasons.iter().map(|b| b.total).sum();
            let rows = r
                .failure_reasons
                .iter()
                .map(|b| {
                    (
                        b.key.replace('_', " "),
                        b.total as f64,
                        format!("{} · {:.0}%", b.total, share(b.total, total)),
                    )
                })
                .collect();
            let empty = (total == 0).then_some("No failed attempts in this range");
            (
                Vec::new(),
                Plot::Rows {
                    rows,
                    unit: "failed attempts",
                },
                empty,
            )
        }
        Chart::Consent => {
            let rows: Vec<(String, f64, String)> = r
                .consent
                .iter()
                .map(|p| {
                    let rate = p.opt_in_rate.unwrap_or(0.0) * 100.0;
                    (
                        p.purpose.clone(),
                        rate,
                        format!(
                            "{rate:.0}% · {} granted, {} withdrawn",
                            p.granted, p.withdrawn
                        ),
                    )
                })
                .collect();
            let empty = rows
                .is_empty()
                .then_some("No consent answers in this range");
            (
                Vec::new(),
                Plot::Rows {
                    rows,
                    unit: "% opted in",
                },
                empty,
            )
        }
        Chart::Heatmap => {
            let cells: Vec<Vec<f64>> = r.heatmap.iter().map(|row| floats(row)).collect();
            let empty = cells
                .iter()
                .flatten()
                .all(|&x| x == 0.0)
                .then_some("No completed sign-ins in this range");
            (Vec::new(), Plot::Heat { cells }, empty)
        }
    };
    Spec {
        title: c.title().to_owned(),
        buckets,
        plot,
        empty,
    }
}

/// The chart's data as CSV (RFC 4180: quoted where needed, CRLF line ends).
pub fn csv(r: &AnalyticsReport, c: Chart) -> String {
    let s = spec(r, c);
    let mut rows: Vec<Vec<String>> = Vec::new();
    match &s.plot {
        Plot::Bars { series, .. } | Plot::Lines { series, .. } => {
            let mut head = vec!["bucket".to_owned()];
            head.extend(series.iter().map(|(k, _)| k.clone()));
            rows.push(head);
            let starts: Vec<String> = if matches!(c, Chart::Active | Chart::Adoption) {
                r.active.iter().map(|p| p.at.to_rfc3339()).collect()
            } else {
                r.buckets.iter().map(|b| b.to_rfc3339()).collect()
            };
            for (i, start) in starts.iter().enumerate() {
                let mut row = vec![start.clone()];
                for (_, v) in series {
                    row.push(number(v.get(i).copied().unwrap_or(0.0)));
                }
                rows.push(row);
            }
        }
        Plot::Rows { rows: items, unit } => {
            let first = match c {
                Chart::Consent => "purpose",
                Chart::Failures => "reason",
                _ => "step",
            };
            rows.push(vec![first.to_owned(), (*unit).to_owned()]);
            for (k, v, _) in items {
                rows.push(vec![k.clone(), number(*v)]);
            }
            if c == Chart::Funnel {
                rows.push(Vec::new());
                rows.push(
                    [
                        "cohort week",
                        "registered",
                        "verified",
                        "first sign-in",
                        "second factor",
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                );
                for f in &r.funnel {
                    rows.push(vec![
                        f.week.to_rfc3339(),
                        f.registered.to_string(),
                        f.verified.to_string(),
                        f.signed_in.to_string(),
                        f.second_factor.to_string(),
                    ]);
                }
            }
        }
        Plot::Heat { cells } => {
            let mut head = vec!["weekday".to_owned()];
            head.extend((0..24).map(|h| format!("{h:02}:00")));
            rows.push(head);
            for (d, row) in cells.iter().enumerate() {
                let mut line = vec![WEEKDAYS.get(d).copied().unwrap_or("").to_owned()];
                line.extend(row.iter().map(|&x| number(x)));
                rows.push(line);
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| quote(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn quote(s: &str) -> String {
    // A leading = + - @ would be read as a formula by spreadsheets (CSV injection).
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}
