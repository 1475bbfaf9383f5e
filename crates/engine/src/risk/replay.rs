//! Replay: what a candidate policy would have done over the last 30 days, answered from the
//! recorded attempts before an admin publishes it. Each scored attempt keeps the signals that
//! triggered with their evidence; the replay weighs them with the candidate's weights and
//! switches and decides with its thresholds, and sets the result beside what the policy of the
//! time decided and what analysts said about it. What it cannot replay, it says: a signal
//! switched off when an attempt was recorded left no trace on it, and changed limits (how
//! many accounts make a wave) would need the history recomputed.

use super::policy::{Decision, RiskPolicy, SignalKind};
use super::signals::Signal;
use crate::Engine;
use crate::error::Result;
use crate::staff::{Permission, Staff};
use crate::time::{from_us, to_us};
use chrono::{DateTime, Duration, Utc};
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Row;

/// How far back a replay looks.
pub const REPLAY_DAYS: i64 = 30;
/// Examples of changed decisions in a report, at most.
const EXAMPLES: usize = 20;

/// Attempts per decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionCounts {
    pub allow: u64,
    pub challenge: u64,
    pub deny: u64,
}

impl DecisionCounts {
    fn add(&mut self, d: Decision) {
        match d {
            Decision::Allow => self.allow += 1,
            Decision::Challenge => self.challenge += 1,
            Decision::Deny => self.deny += 1,
        }
    }
}

/// One attempt the candidate would decide differently.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayExample {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub email: String,
    pub was: Decision,
    pub would: Decision,
    pub score_was: u32,
    pub score_would: u32,
    /// The evidence of its signals, in words.
    pub reasons: Vec<String>,
    /// What an analyst decided about it, if anyone did: `legitimate` or `fraud`.
    pub reviewed: Option<String>,
}

/// What a candidate policy would have done.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayReport {
    pub since: DateTime<Utc>,
    /// Scored attempts replayed.
    pub attempts: u64,
    /// What the policies of the time decided.
    pub recorded: DecisionCounts,
    /// What the candidate would decide.
    pub candidate: DecisionCounts,
    pub changed: u64,
    /// Attempts analysts called fraud that the candidate would allow.
    pub fraud_allowed: u64,
    /// Attempts analysts called legitimate that the candidate would challenge or deny.
    pub legitimate_stopped: u64,
    pub examples: Vec<ReplayExample>,
    /// What the replay could not take into account.
    pub caveats: Vec<String>,
}

impl Engine {
    /// Replay `candidate` over the last 30 days of scored attempts (security and admin
    /// staff). The candidate is checked as publishing would check it; nothing is changed.
    pub async fn replay_risk_policy(
        &self,
        staff: &Staff,
        candidate: &RiskPolicy,
    ) -> Result<ReplayReport> {
        staff.require(Permission::ReviewRisk)?;
        candidate.validate()?;
        let current = super::policy::load(self.store.reader()).await?;
        let since = self.now() - Duration::days(REPLAY_DAYS);
        let mut report = ReplayReport {
            since,
            attempts: 0,
            recorded: DecisionCounts::default(),
            candidate: DecisionCounts::default(),
            changed: 0,
            fraud_allowed: 0,
            legitimate_stopped: 0,
            examples: vec![],
            caveats: vec![],
        };
        for k in SignalKind::ALL {
            if candidate.enabled(k) && !current.enabled(k) {
                report.caveats.push(format!(
                    "{} is switched off in the policy in force, so attempts recorded under it \
                     carry no trace of it",
                    k.name()
                ));
            }
        }
        if candidate.limits != current.limits {
            report.caveats.push(
                "changed limits are not replayed: each attempt keeps the signals the limits of \
                 its time triggered"
                    .into(),
            );
        }
        let mut rows = sqlx::query(
            "SELECT a.seq, a.at_us, a.email_key, a.score, a.decision, a.signals, r.status \
             FROM sign_in_attempts a LEFT JOIN risk_reviews r ON r.attempt_seq = a.seq \
             WHERE a.at_us > $1 AND a.score IS NOT NULL ORDER BY a.at_us DESC",
        )
        .bind(to_us(since))
        .fetch(self.store.reader());
        while let Some(r) = rows.try_next().await? {
            let was = r
                .try_get::<Option<String>, _>("decision")?
                .and_then(|d| Decision::from_name(&d))
                .unwrap_or(Decision::Allow);
            let signals: Vec<Signal> =
                serde_json::from_str(&r.try_get::<String, _>("signals")?).unwrap_or_default();
            let score_would = signals
                .iter()
                .filter(|s| candidate.enabled(s.signal))
                .map(|s| candidate.weight(s.signal))
                .sum::<u32>()
                .min(100);
            let would = candidate.decide(score_would);
            report.attempts += 1;
            report.recorded.add(was);
            report.candidate.add(would);
            let reviewed: Option<String> = r.try_get("status")?;
            match reviewed.as_deref() {
                Some("fraud") if would == Decision::Allow => report.fraud_allowed += 1,
                Some("legitimate") if would != Decision::Allow => report.legitimate_stopped += 1,
                _ => {}
            }
            if would != was {
                report.changed += 1;
                if report.examples.len() < EXAMPLES {
                    report.examples.push(ReplayExample {
                        seq: r.try_get("seq")?,
                        at: from_us(r.try_get("at_us")?),
                        email: r.try_get("email_key")?,
                        was,
                        would,
                        score_was: u32::try_from(
                            r.try_get::<Option<i64>, _>("score")?.unwrap_or(0),
                        )
                        .unwrap_or(0),
                        score_would,
                        reasons: signals.into_iter().map(|s| s.evidence).collect(),
                        reviewed: reviewed.filter(|s| s != "open"),
                    });
                }
            }
        }
        Ok(report)
    }
}
