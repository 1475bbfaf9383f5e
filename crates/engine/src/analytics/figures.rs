//! The figures staff read: one [`AnalyticsQuery`] (a range, a granularity, at most one filter
//! dimension besides the method) answered from the rollups alone — counters per hour or day,
//! the day sketches for distinct customers, the funnel's counters — never from the events.
//! Buckets are UTC; the range is widened to whole buckets of its granularity.

use crate::Engine;
use crate::analytics::aggregate::{day_of, hour_of, week_of};
use crate::analytics::kind;
use crate::analytics::sketch::{STANDARD_ERROR, Sketch};
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::time::{from_us, to_us};
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;

/// How wide each bucket of a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Granularity {
    Hour,
    Day,
    Week,
    Month,
}

impl Granularity {
    /// The longest range this granularity may cover, in days.
    pub fn max_days(self) -> i64 {
        match self {
            Granularity::Hour => 31,
            Granularity::Day => 366,
            Granularity::Week | Granularity::Month => 3 * 366,
        }
    }
}

/// What to count: everything, or one client app, country or tier (and optionally one method).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsFilter {
    #[serde(default)]
    pub client: Option<String>,
    /// A sign-in method: password, passkey, email, social, totp, recovery, …
    #[serde(default)]
    pub method: Option<String>,
    /// An ISO 3166 alpha-2 code (known when GeoIP is configured).
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
}

/// The methods an attempt or a sign-in can have.
pub const METHODS: &[&str] = &[
    "password",
    "passkey",
    "email",
    "social",
    "totp",
    "recovery_code",
    "email_check",
    "step_up",
    "reauth",
];

/// A request for figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    #[serde(default)]
    pub filter: AnalyticsFilter,
}

/// Values per bucket (aligned with [`AnalyticsReport::buckets`]) under one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Series {
    pub key: String,
    pub values: Vec<i64>,
}

/// A total under one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Breakdown {
    pub key: String,
    pub total: i64,
}

/// Distinct customers who signed in during one bucket, and how many of them had a second
/// factor or a passkey then (estimates; see [`AnalyticsReport::sketch_error`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivePoint {
    pub at: DateTime<Utc>,
    pub active: i64,
    pub with_mfa: i64,
    pub with_passkey: i64,
}

/// One registration week's funnel: how many reached each step (each step includes the ones
/// before it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunnelCohort {
    pub week: DateTime<Utc>,
    pub registered: i64,
    pub verified: i64,
    pub signed_in: i64,
    pub second_factor: i64,
}

/// Consent answers for one purpose in the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OptInRate {
    pub purpose: String,
    pub granted: i64,
    pub withdrawn: i64,
    /// granted / (granted + withdrawn); none without answers.
    pub opt_in_rate: Option<f64>,
}

/// The headline figures of a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Kpis {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub registrations: i64,
    /// Completed sign-ins (sessions made).
    pub sign_ins: i64,
    pub attempts: i64,
    pub failed_attempts: i64,
    /// Successful attempts over successful and failed ones; none without attempts.
    pub success_rate: Option<f64>,
    /// Distinct customers who signed in (estimate).
    pub active: i64,
    /// Share of those with a second factor; none without active customers.
    pub mfa_adoption: Option<f64>,
    pub passkey_adoption: Option<f64>,
}

/// Everything an Analytics screen shows for one query.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsReport {
    pub query: AnalyticsQuery,
    /// The start of each bucket (UTC).
    pub buckets: Vec<DateTime<Utc>>,
    pub registrations: Vec<i64>,
    pub verified: Vec<i64>,
    /// Completed sign-ins per bucket by method.
    pub sign_ins_by_method: Vec<Series>,
    /// Attempts per bucket by outcome (success, failure, challenged).
    pub attempts_by_outcome: Vec<Series>,
    pub attempts_by_method: Vec<Series>,
    /// Failed attempts by reason over the range, most first.
    pub failure_reasons: Vec<Breakdown>,
    /// Risk decisions per bucket (allow, challenge, deny, review).
    pub risk_decisions: Vec<Series>,
    /// Second factors and passkeys added per bucket, by kind.
    pub factors_added: Vec<Series>,
    /// Distinct active customers per bucket (per day for hourly queries), with adoption.
    pub active: Vec<ActivePoint>,
    /// Distinct customers active on the range's last day, its last 7 and last 30 days.
    pub dau: i64,
    pub wau: i64,
    pub mau: i64,
    pub funnel: Vec<FunnelCohort>,
    pub consent: Vec<OptInRate>,
    /// Completed sign-ins by weekday (Monday first) and hour of day, UTC.
    pub heatmap: Vec<Vec<i64>>,
    pub kpis: Kpis,
    /// The same figures for the period of the same length just before.
    pub previous: Kpis,
    /// The relative standard error of every distinct-customer figure.
    pub sketch_error: f64,
    /// Events counted so far, and when the rollups were last brought up to date.
    pub counted_events: i64,
    pub as_of: Option<DateTime<Utc>>,
}

/// The dimension and value a filter selects (`("", "")` for everything).
fn selection(f: &AnalyticsFilter) -> Result<(&'static str, String)> {
    let mut picked = Vec::new();
    if let Some(c) = &f.client {
        picked.push(("client", c.clone()));
    }
    if let Some(c) = &f.country {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Error::invalid(
                "country",
                "a country is its two capital letters (ISO 3166 alpha-2)",
            ));
        }
        picked.push(("country", c.clone()));
    }
    if let Some(t) = &f.tier {
        if t.is_empty()
            || t.len() > 32
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::invalid(
                "tier",
                "a tier is up to 32 letters, digits, - or _",
            ));
        }
        picked.push(("tier", t.clone()));
    }
    if let Some(m) = &f.method
        && !METHODS.contains(&m.as_str())
    {
        return Err(Error::invalid(
            "method",
            format!("unknown method; one of {}", METHODS.join(", ")),
        ));
    }
    match picked.len() {
        0 => Ok(("", String::new())),
        1 => Ok(picked.remove(0)),
        _ => Err(Error::invalid(
            "filter",
            "filter by one of client, country or tier at a time (a method may be added)",
        )),
    }
}

/// The bucket starts covering `[from, to)`, widened to whole buckets.
fn buckets(from: DateTime<Utc>, to: DateTime<Utc>, g: Granularity) -> Vec<i64> {
    let (from, to) = (to_us(from), to_us(to));
    let mut out = Vec::new();
    let mut at = match g {
        Granularity::Hour => hour_of(from),
        Granularity::Day => day_of(from),
        Granularity::Week => week_of(from),
        Granularity::Month => month_of(from),
    };
    while at < to {
        out.push(at);
        at = match g {
            Granularity::Hour => at + Duration::hours(1).num_microseconds().unwrap_or(0),
            Granularity::Day => at + Duration::days(1).num_microseconds().unwrap_or(0),
            Granularity::Week => at + Duration::days(7).num_microseconds().unwrap_or(0),
            Granularity::Month => next_month(at),
        };
    }
    out
}

fn month_of(us: i64) -> i64 {
    let d = from_us(us);
    Utc.with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0)
        .single()
        .map_or(day_of(us), to_us)
}

fn next_month(us: i64) -> i64 {
    let d = from_us(us);
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .map_or(us + 31 * 86_400_000_000, to_us)
}

/// Which bucket `us` falls in (the last start at or before it).
fn slot(starts: &[i64], us: i64) -> Option<usize> {
    match starts.binary_search(&us) {
        Ok(i) => Some(i),
        Err(0) => None,
        Err(i) => Some(i - 1),
    }
}

/// One counter row as read.
struct Count {
    bucket: i64,
    method: String,
    outcome: String,
    reason: String,
    n: i64,
}

/// Series keyed by `key(count)`, aligned with `starts` (which end at `end`).
fn series(
    counts: &[Count],
    starts: &[i64],
    end: i64,
    key: impl Fn(&Count) -> String,
) -> Vec<Series> {
    let mut by: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for c in counts {
        if c.bucket >= end {
            continue;
        }
        let Some(i) = slot(starts, c.bucket) else {
            continue;
        };
        let v = by.entry(key(c)).or_insert_with(|| vec![0; starts.len()]);
        if let Some(x) = v.get_mut(i) {
            *x += c.n;
        }
    }
    by.into_iter()
        .map(|(key, values)| Series { key, values })
        .collect()
}

fn total(s: &[Series], len: usize) -> Vec<i64> {
    let mut out = vec![0; len];
    for x in s {
        for (o, v) in out.iter_mut().zip(&x.values) {
            *o += v;
        }
    }
    out
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl Engine {
    /// Figures for `q` (see the module documentation). Staff with `ReadAnalytics`.
    pub async fn analytics(&self, staff: &Staff, q: &AnalyticsQuery) -> Result<AnalyticsReport> {
        staff.require(Permission::ReadAnalytics)?;
        let (dim, value) = selection(&q.filter)?;
        if q.from >= q.to {
            return Err(Error::invalid("to", "the range must end after it starts"));
        }
        let span = q.to - q.from;
        if span > Duration::days(q.granularity.max_days()) {
            return Err(Error::invalid(
                "to",
                format!(
                    "a {:?} range covers at most {} days",
                    q.granularity,
                    q.granularity.max_days()
                )
                .to_lowercase(),
            ));
        }
        let earliest = Utc
            .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or(q.from);
        if q.from < earliest || q.to > self.now() + Duration::days(1) {
            return Err(Error::invalid(
                "from",
                "the range must lie between 2000-01-01 and tomorrow",
            ));
        }
        let starts = buckets(q.from, q.to, q.granularity);
        let end = match (q.granularity, starts.last()) {
            (Granularity::Month, Some(&l)) => next_month(l),
            (_, Some(&l)) => {
                l + match q.granularity {
                    Granularity::Hour => 3_600_000_000,
                    Granularity::Day => 86_400_000_000,
                    _ => 7 * 86_400_000_000,
                }
            }
            (_, None) => to_us(q.to),
        };
        let begin = starts.first().copied().unwrap_or(to_us(q.from));
        let grain = if q.granularity == Granularity::Hour {
            "hour"
        } else {
            "day"
        };
        let method = q.filter.method.as_deref();
        let read =
            |metric: &'static str, grain: &'static str, from: i64, to: i64, by_method: bool| {
                let value = value.clone();
                async move {
                    self.read_counts(
                        grain,
                        metric,
                        dim,
                        &value,
                        from,
                        to,
                        if by_method { method } else { None },
                    )
                    .await
                }
            };

        let registered = read(kind::REGISTERED, grain, begin, end, true).await?;
        let verified = read(kind::VERIFIED, grain, begin, end, false).await?;
        let attempts = read(kind::ATTEMPT, grain, begin, end, true).await?;
        let sessions = read(kind::SESSION, grain, begin, end, true).await?;
        let risk = read("risk", grain, begin, end, true).await?;
        let factors = read(kind::FACTOR_ADDED, grain, begin, end, true).await?;
        let consent = read(kind::CONSENT, grain, begin, end, false).await?;
        let hourly_sessions = if grain == "hour" {
            None
        } else {
            Some(read(kind::SESSION, "hour", begin, end, true).await?)
        };

        let attempts_by_outcome = series(&attempts, &starts, end, |c| c.outcome.clone());
        let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
        for c in attempts.iter().filter(|c| c.outcome == "failure") {
            *reasons.entry(c.reason.clone()).or_default() += c.n;
        }
        let mut failure_reasons: Vec<Breakdown> = reasons
            .into_iter()
            .map(|(key, total)| Breakdown { key, total })
            .collect();
        failure_reasons.sort_by(|a, b| b.total.cmp(&a.total).then(a.key.cmp(&b.key)));

        let mut consent_by: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for c in &consent {
            let e = consent_by.entry(c.method.clone()).or_default();
            if c.outcome == "granted" {
                e.0 += c.n;
            } else {
                e.1 += c.n;
            }
        }

        let mut heatmap = vec![vec![0i64; 24]; 7];
        for c in hourly_sessions.as_ref().unwrap_or(&sessions) {
            let t = from_us(c.bucket);
            let (d, h) = (t.weekday().num_days_from_monday(), t.hour());
            if let Some(cell) = heatmap
                .get_mut(usize::try_from(d).unwrap_or(0))
                .and_then(|row| row.get_mut(usize::try_from(h).unwrap_or(0)))
            {
                *cell += c.n;
            }
        }

        // Distinct customers: the day sketches from 30 days before the range (for MAU at
        // its end) and of the previous period, to its end.
        let len = end - begin;
        let day_us = 86_400_000_000;
        let end_day = day_of(end.min(to_us(self.now()) + day_us).max(begin + 1) - 1) + day_us;
        let sketch_from = (begin - len).min(end_day - 30 * day_us);
        let days = self
            .read_sketches(dim, &value, method, day_of(sketch_from), end)
            .await?;
        let union = |from: i64, to: i64, segment: usize| {
            let mut s = Sketch::default();
            for (_, d) in days.range(from..to) {
                if let Some(x) = d.get(segment) {
                    s.merge(x);
                }
            }
            s
        };
        let point_starts: Vec<i64> = if q.granularity == Granularity::Hour {
            buckets(q.from, q.to, Granularity::Day)
        } else {
            starts.clone()
        };
        let active: Vec<ActivePoint> = point_starts
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let e = point_starts.get(i + 1).copied().unwrap_or(
                    if q.granularity == Granularity::Hour {
                        s + day_us
                    } else {
                        end
                    },
                );
                ActivePoint {
                    at: from_us(s),
                    active: union(s, e, 0).count(),
                    with_mfa: union(s, e, 1).count(),
                    with_passkey: union(s, e, 2).count(),
                }
            })
            .collect();
        let dau = union(end_day - day_us, end_day, 0).count();
        let wau = union(end_day - 7 * day_us, end_day, 0).count();
        let mau = union(end_day - 30 * day_us, end_day, 0).count();

        let kpis_of =
            |from: i64, to: i64, registered: &[Count], attempts: &[Count], sessions: &[Count]| {
                let sum = |c: &[Count], pred: &dyn Fn(&Count) -> bool| -> i64 {
                    c.iter()
                        .filter(|c| c.bucket >= from && c.bucket < to && pred(c))
                        .map(|c| c.n)
                        .sum()
                };
                let ok = sum(attempts, &|c| c.outcome == "success");
                let failed = sum(attempts, &|c| c.outcome == "failure");
                let all = union(from, to, 0).count();
                Kpis {
                    from: from_us(from),
                    to: from_us(to),
                    registrations: sum(registered, &|_| true),
                    sign_ins: sum(sessions, &|_| true),
                    attempts: sum(attempts, &|_| true),
                    failed_attempts: failed,
                    success_rate: ratio(ok, ok + failed),
                    active: all,
                    mfa_adoption: ratio(union(from, to, 1).count().min(all), all),
                    passkey_adoption: ratio(union(from, to, 2).count().min(all), all),
                }
            };
        let kpis = kpis_of(begin, end, &registered, &attempts, &sessions);
        let prev_registered = read(kind::REGISTERED, grain, begin - len, begin, true).await?;
        let prev_attempts = read(kind::ATTEMPT, grain, begin - len, begin, true).await?;
        let prev_sessions = read(kind::SESSION, grain, begin - len, begin, true).await?;
        let previous = kpis_of(
            begin - len,
            begin,
            &prev_registered,
            &prev_attempts,
            &prev_sessions,
        );

        let funnel = self.read_funnel(dim, &value, week_of(begin), end).await?;
        let (as_of, counted_events) = self.analytics_watermark().await?;
        Ok(AnalyticsReport {
            query: q.clone(),
            buckets: starts.iter().map(|&s| from_us(s)).collect(),
            registrations: total(
                &series(&registered, &starts, end, |_| String::new()),
                starts.len(),
            ),
            verified: total(
                &series(&verified, &starts, end, |_| String::new()),
                starts.len(),
            ),
            sign_ins_by_method: series(&sessions, &starts, end, |c| c.method.clone()),
            attempts_by_method: series(&attempts, &starts, end, |c| c.method.clone()),
            attempts_by_outcome,
            failure_reasons,
            risk_decisions: series(&risk, &starts, end, |c| c.outcome.clone()),
            factors_added: series(&factors, &starts, end, |c| c.method.clone()),
            active,
            dau,
            wau,
            mau,
            funnel,
            consent: consent_by
                .into_iter()
                .map(|(purpose, (granted, withdrawn))| OptInRate {
                    purpose,
                    granted,
                    withdrawn,
                    opt_in_rate: ratio(granted, granted + withdrawn),
                })
                .collect(),
            heatmap,
            kpis,
            previous,
            sketch_error: STANDARD_ERROR,
            counted_events,
            as_of,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn read_counts(
        &self,
        grain: &str,
        metric: &str,
        dim: &str,
        value: &str,
        from: i64,
        to: i64,
        method: Option<&str>,
    ) -> Result<Vec<Count>> {
        let rows = sqlx::query(
            "SELECT bucket_us, method, outcome, reason, n FROM analytics_counts \
             WHERE grain = $1 AND metric = $2 AND dim = $3 AND value = $4 AND bucket_us >= $5 AND bucket_us < $6 \
             AND ($7 = '' OR method = $7)",
        )
        .bind(grain)
        .bind(metric)
        .bind(dim)
        .bind(value)
        .bind(from)
        .bind(to)
        .bind(method.unwrap_or(""))
        .fetch_all(self.store.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Count {
                    bucket: r.try_get("bucket_us")?,
                    method: r.try_get("method")?,
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    n: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// Day → [all, mfa, passkey] sketches over `[from, to)`.
    async fn read_sketches(
        &self,
        dim: &str,
        value: &str,
        method: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<i64, [Sketch; 3]>> {
        // A method filter selects the method's own sketches (one dimension at a time).
        let (dim, value) = match method {
            Some(m) if dim.is_empty() => ("method", m.to_owned()),
            _ => (dim, value.to_owned()),
        };
        let rows = sqlx::query(
            "SELECT segment, day_us, sketch FROM analytics_active \
             WHERE segment IN ('all', 'mfa', 'passkey') AND dim = $1 AND value = $2 AND day_us >= $3 AND day_us < $4",
        )
        .bind(dim)
        .bind(&value)
        .bind(from)
        .bind(to)
        .fetch_all(self.store.reader())
        .await?;
        let mut out: BTreeMap<i64, [Sketch; 3]> = BTreeMap::new();
        for r in rows {
            let segment: String = r.try_get("segment")?;
            let i = match segment.as_str() {
                "all" => 0,
                "mfa" => 1,
                _ => 2,
            };
            let bytes: Vec<u8> = r.try_get("sketch")?;
            if let Some(s) = out.entry(r.try_get("day_us")?).or_default().get_mut(i) {
                *s = Sketch::from_bytes(&bytes)?;
            }
        }
        Ok(out)
    }

    async fn read_funnel(
        &self,
        dim: &str,
        value: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<FunnelCohort>> {
        let rows = sqlx::query(
            "SELECT cohort_us, step, n FROM analytics_funnel WHERE dim = $1 AND value = $2 \
             AND cohort_us >= $3 AND cohort_us < $4 ORDER BY cohort_us",
        )
        .bind(dim)
        .bind(value)
        .bind(from)
        .bind(to)
        .fetch_all(self.store.reader())
        .await?;
        let mut by: BTreeMap<i64, [i64; 4]> = BTreeMap::new();
        for r in rows {
            let step: i64 = r.try_get("step")?;
            let n: i64 = r.try_get("n")?;
            let e = by.entry(r.try_get("cohort_us")?).or_default();
            if let Some(x) = usize::try_from(step - 1).ok().and_then(|i| e.get_mut(i)) {
                *x = n;
            }
        }
        Ok(by
            .into_iter()
            .map(
                |(week, [registered, verified, signed_in, second_factor])| FunnelCohort {
                    week: from_us(week),
                    registered,
                    verified,
                    signed_in,
                    second_factor,
                },
            )
            .collect())
    }
}
