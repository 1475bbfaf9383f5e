//! Retention: how long each class of data is kept — sign-in attempts, the addresses and
//! user agents in attempts, sessions and consent records, ended sessions, accounts never
//! verified, inactive accounts, and consent records no longer in force — and the run that
//! removes what is older. A dry run counts with the same conditions the real run applies;
//! the classes are disjoint by construction (each condition leaves out what an earlier
//! class takes), so the dry run's report is what the real run then does. Accounts go through
//! the erasure (`system:retention`), one transaction each. The engine runs it daily by
//! itself when any rule is set (the server and the console both embed the engine).

use crate::Engine;
use crate::error::{Error, Result};
use crate::staff::settings::{read_raw, write_raw};
use crate::staff::{Permission, Staff, audit};
use crate::time::{from_us, to_us};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

const KEY: &str = "retention";
const LAST_RUN_KEY: &str = "retention.last_run";
const HORIZON_KEY: &str = "retention.consent_horizon_us";
/// Rows deleted per transaction (a long delete would hold the write lock).
const BATCH: i64 = 5_000;

/// Days each class of data is kept; `None` keeps it for as long as the account exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionRules {
    /// Sign-in attempts (the risk engine's and analysts' history): at least 30 days.
    #[serde(default)]
    pub sign_in_attempts_days: Option<u32>,
    /// Addresses and user agents in attempts, sessions and consent records.
    #[serde(default)]
    pub ip_addresses_days: Option<u32>,
    /// Sessions that ended (signed out, revoked or expired).
    #[serde(default)]
    pub ended_sessions_days: Option<u32>,
    /// Accounts whose address was never verified (erased).
    #[serde(default)]
    pub unverified_accounts_days: Option<u32>,
    /// Accounts nobody signed in to (erased): at least 30 days.
    #[serde(default)]
    pub inactive_accounts_days: Option<u32>,
    /// Consent records no longer in force (superseded, or of erased customers): at least
    /// 365 days, the proof of consent must outlive a complaint about it.
    #[serde(default)]
    pub consent_history_days: Option<u32>,
    /// Optimistic concurrency: the version read (0: never saved).
    #[serde(default)]
    pub version: i64,
}

/// A class of data with its own rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RetentionClass {
    SignInAttempts,
    IpAddresses,
    EndedSessions,
    ConsentHistory,
    UnverifiedAccounts,
    InactiveAccounts,
}

/// What one rule removes (or would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionItem {
    pub class: RetentionClass,
    pub days: u32,
    /// Rows deleted or stripped; accounts erased for the account classes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub rows: u64,
}

/// A run's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionReport {
    pub dry_run: bool,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub at: DateTime<Utc>,
    /// `staff:<id>` or `system` (the daily run).
    pub by: String,
    /// One item per rule that is set, in the order they run.
    pub items: Vec<RetentionItem>,
}

fn check(field: &'static str, days: Option<u32>, min: u32) -> Result<()> {
    match days {
        Some(d) if d < min || d > 36_500 => Err(Error::invalid(
            field,
            format!("keep this for between {min} and 36500 days, or leave it unset"),
        )),
        _ => Ok(()),
    }
}

impl RetentionRules {
    fn validate(&self) -> Result<()> {
        check("sign_in_attempts_days", self.sign_in_attempts_days, 30)?;
        check("ip_addresses_days", self.ip_addresses_days, 1)?;
        check("ended_sessions_days", self.ended_sessions_days, 1)?;
        check("unverified_accounts_days", self.unverified_accounts_days, 1)?;
        check("inactive_accounts_days", self.inactive_accounts_days, 30)?;
        check("consent_history_days", self.consent_history_days, 365)?;
        Ok(())
    }

    fn any(&self) -> bool {
        [
            self.sign_in_attempts_days,
            self.ip_addresses_days,
            self.ended_sessions_days,
            self.unverified_accounts_days,
            self.inactive_accounts_days,
            self.consent_history_days,
        ]
        .iter()
        .any(Option::is_some)
    }
}

/// One rule's condition, with the horizons it compares against bound as `$1…`.
struct Rule {
    class: RetentionClass,
    days: u32,
    /// `SELECT count(*) …` for the dry run.
    count: String,
    /// Statements for the real run, in order, each with the same binds. Row classes run in
    /// batches (`LIMIT` inside the last statement) until the last one does less than a batch.
    apply: Vec<String>,
    /// Whether every statement's rows count (or only the last one's).
    count_all: bool,
    binds: Vec<i64>,
}

/// The horizon of a rule: `now - days` in microseconds, or the earliest time when unset.
fn horizon(now: DateTime<Utc>, days: Option<u32>) -> i64 {
    days.map_or(i64::MIN + 1, |d| to_us(now - Duration::days(i64::from(d))))
}

fn rules_of(r: &RetentionRules, now: DateTime<Utc>) -> Vec<Rule> {
    let attempts = horizon(now, r.sign_in_attempts_days);
    let ips = horizon(now, r.ip_addresses_days);
    let sessions = horizon(now, r.ended_sessions_days);
    let consent = horizon(now, r.consent_history_days);
    let unverified = horizon(now, r.unverified_accounts_days);
    let inactive = horizon(now, r.inactive_accounts_days);
    let ended = "(idle_expires_us < $3 OR absolute_expires_us < $3 \
                 OR coalesce(revoked_us, idle_expires_us) < $3)";
    let superseded = "at_us < $4 AND NOT EXISTS (SELECT 1 FROM consent_state s \
                      WHERE s.ledger_seq = consent_ledger.seq)";
    let mut out = vec![];
    if let Some(days) = r.sign_in_attempts_days {
        let cond = "at_us < $1";
        out.push(Rule {
            class: RetentionClass::SignInAttempts,
            days,
            count: format!("SELECT count(*) FROM sign_in_attempts WHERE {cond}"),
            apply: vec![
                format!(
                    "DELETE FROM risk_reviews WHERE attempt_seq IN (SELECT seq FROM \
                     sign_in_attempts WHERE {cond} ORDER BY seq LIMIT {BATCH})"
                ),
                format!(
                    "DELETE FROM sign_in_attempts WHERE seq IN (SELECT seq FROM \
                     sign_in_attempts WHERE {cond} ORDER BY seq LIMIT {BATCH})"
                ),
            ],
            binds: vec![attempts],
            count_all: false,
        });
    }
    if let Some(days) = r.ip_addresses_days {
        // Attempts the attempts rule keeps, sessions the sessions rule keeps, consent
        // records the consent rule keeps.
        let a = "at_us < $2 AND at_us >= $1 AND (ip <> '' OR user_agent <> '')";
        let s = format!("last_seen_us < $2 AND (ip <> '' OR user_agent <> '') AND NOT {ended}");
        let c = format!("at_us < $2 AND (ip <> '' OR user_agent <> '') AND NOT ({superseded})");
        out.push(Rule {
            class: RetentionClass::IpAddresses,
            days,
            count: format!(
                "SELECT (SELECT count(*) FROM sign_in_attempts WHERE {a} AND $3 = $3 AND $4 = $4) \
                 + (SELECT count(*) FROM sessions WHERE {s}) \
                 + (SELECT count(*) FROM consent_ledger WHERE {c})"
            ),
            apply: vec![
                format!(
                    "UPDATE sessions SET ip = '', user_agent = '', device = '' WHERE {s} \
                     AND $1 = $1 AND $4 = $4"
                ),
                format!(
                    "UPDATE consent_ledger SET ip = '', user_agent = '' WHERE {c} \
                     AND $1 = $1 AND $3 = $3"
                ),
                format!(
                    "UPDATE sign_in_attempts SET ip = '', user_agent = '', device = '', \
                     network = '', asn = NULL WHERE seq IN (SELECT seq FROM sign_in_attempts \
                     WHERE {a} ORDER BY seq LIMIT {BATCH}) AND $3 = $3 AND $4 = $4"
                ),
            ],
            binds: vec![attempts, ips, sessions, consent],
            count_all: true,
        });
    }
    if let Some(days) = r.ended_sessions_days {
        out.push(Rule {
            class: RetentionClass::EndedSessions,
            days,
            count: format!("SELECT count(*) FROM sessions WHERE {ended} AND $1 = $1 AND $2 = $2"),
            apply: vec![format!(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE {ended} \
                 LIMIT {BATCH}) AND $1 = $1 AND $2 = $2"
            )],
            binds: vec![attempts, ips, sessions],
            count_all: true,
        });
    }
    if let Some(days) = r.consent_history_days {
        out.push(Rule {
            class: RetentionClass::ConsentHistory,
            days,
            count: format!(
                "SELECT count(*) FROM consent_ledger WHERE {superseded} AND $1 = $1 AND $2 = $2 \
                 AND $3 = $3"
            ),
            apply: vec![format!(
                "DELETE FROM consent_ledger WHERE seq IN (SELECT seq FROM consent_ledger \
                 WHERE {superseded} ORDER BY seq LIMIT {BATCH}) AND $1 = $1 AND $2 = $2 AND $3 = $3"
            )],
            binds: vec![attempts, ips, sessions, consent],
            count_all: true,
        });
    }
    let unverified_cond = "email_verified = 0 AND created_us < $1";
    if let Some(days) = r.unverified_accounts_days {
        out.push(Rule {
            class: RetentionClass::UnverifiedAccounts,
            days,
            count: format!("SELECT count(*) FROM customers WHERE {unverified_cond}"),
            apply: vec![format!("SELECT id FROM customers WHERE {unverified_cond}")],
            binds: vec![unverified],
            count_all: true,
        });
    }
    if let Some(days) = r.inactive_accounts_days {
        // Accounts the unverified rule erases are not counted twice.
        let cond = format!(
            "coalesce(last_sign_in_us, created_us) < $2 AND NOT ({})",
            unverified_cond
        );
        out.push(Rule {
            class: RetentionClass::InactiveAccounts,
            days,
            count: format!("SELECT count(*) FROM customers WHERE {cond}"),
            apply: vec![format!("SELECT id FROM customers WHERE {cond}")],
            binds: vec![unverified, inactive],
            count_all: true,
        });
    }
    out
}

impl Engine {
    /// The retention rules (`ManageRetention`).
    pub async fn retention_rules(&self, staff: &Staff) -> Result<RetentionRules> {
        staff.require(Permission::ManageRetention)?;
        self.load_retention_rules().await
    }

    async fn load_retention_rules(&self) -> Result<RetentionRules> {
        Ok(match read_raw(self.store.reader(), KEY).await? {
            None => RetentionRules::default(),
            Some((value, version)) => RetentionRules {
                version,
                ..serde_json::from_str(&value)
                    .map_err(|e| Error::Internal(format!("stored retention rules: {e}")))?
            },
        })
    }

    /// Change the retention rules (`ManageRetention`; audited with a diff). `rules.version`
    /// must be the version read.
    pub async fn update_retention_rules(
        &self,
        staff: &Staff,
        rules: &RetentionRules,
    ) -> Result<RetentionRules> {
        staff.require(Permission::ManageRetention)?;
        rules.validate()?;
        let before = self.load_retention_rules().await?;
        let stored = RetentionRules {
            version: 0,
            ..rules.clone()
        };
        let value = serde_json::to_string(&stored).map_err(|e| Error::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        write_raw(&mut tx, KEY, &value, rules.version, "the retention rules").await?;
        let pairs = [
            (
                "sign_in_attempts_days",
                before.sign_in_attempts_days,
                rules.sign_in_attempts_days,
            ),
            (
                "ip_addresses_days",
                before.ip_addresses_days,
                rules.ip_addresses_days,
            ),
            (
                "ended_sessions_days",
                before.ended_sessions_days,
                rules.ended_sessions_days,
            ),
            (
                "unverified_accounts_days",
                before.unverified_accounts_days,
                rules.unverified_accounts_days,
            ),
            (
                "inactive_accounts_days",
                before.inactive_accounts_days,
                rules.inactive_accounts_days,
            ),
            (
                "consent_history_days",
                before.consent_history_days,
                rules.consent_history_days,
            ),
        ]
        .map(|(k, b, a)| (k, json!(b), json!(a)));
        self.audit(
            &mut tx,
            &staff.actor(),
            "settings.retention_updated",
            "settings:retention",
            None,
            audit::diff(&pairs),
        )
        .await?;
        tx.commit().await?;
        self.load_retention_rules().await
    }

    /// Run the retention rules now (`ManageRetention`; audited): `dry_run` only counts.
    pub async fn run_retention(&self, staff: &Staff, dry_run: bool) -> Result<RetentionReport> {
        staff.require(Permission::ManageRetention)?;
        let rules = self.load_retention_rules().await?;
        self.retention(&rules, dry_run, &staff.actor()).await
    }

    /// The daily run: when a rule is set and the last run is a day old (or there was none),
    /// run the rules as `system`. Returns the report if it ran.
    pub async fn run_scheduled_retention(&self) -> Result<Option<RetentionReport>> {
        let rules = self.load_retention_rules().await?;
        if !rules.any() {
            return Ok(None);
        }
        let last: Option<i64> = read_raw(self.store.reader(), LAST_RUN_KEY)
            .await?
            .and_then(|(v, _)| serde_json::from_str::<RetentionReport>(&v).ok())
            .map(|r| to_us(r.at));
        if last.is_some_and(|us| from_us(us) > self.now() - Duration::days(1)) {
            return Ok(None);
        }
        self.retention(&rules, false, "system").await.map(Some)
    }

    /// The last real run's report (`ManageRetention`), if any.
    pub async fn last_retention_run(&self, staff: &Staff) -> Result<Option<RetentionReport>> {
        staff.require(Permission::ManageRetention)?;
        read_raw(self.store.reader(), LAST_RUN_KEY)
            .await?
            .map(|(v, _)| {
                serde_json::from_str(&v)
                    .map_err(|e| Error::Internal(format!("stored retention report: {e}")))
            })
            .transpose()
    }

    async fn retention(
        &self,
        rules: &RetentionRules,
        dry_run: bool,
        by: &str,
    ) -> Result<RetentionReport> {
        let now = self.now();
        let mut items = vec![];
        for rule in rules_of(rules, now) {
            let rows = if dry_run {
                let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(rule.count.clone()));
                for b in &rule.binds {
                    q = q.bind(*b);
                }
                u64::try_from(q.fetch_one(self.store.reader()).await?).unwrap_or(0)
            } else {
                self.apply_rule(&rule).await?
            };
            items.push(RetentionItem {
                class: rule.class,
                days: rule.days,
                rows,
            });
        }
        let report = RetentionReport {
            dry_run,
            at: now,
            by: by.to_owned(),
            items,
        };
        if !dry_run {
            let mut tx = self.store.begin().await?;
            let value =
                serde_json::to_string(&report).map_err(|e| Error::Internal(e.to_string()))?;
            let version = read_raw(&mut *tx, LAST_RUN_KEY)
                .await?
                .map_or(0, |(_, v)| v);
            write_raw(
                &mut tx,
                LAST_RUN_KEY,
                &value,
                version,
                "the retention report",
            )
            .await?;
            self.audit(
                &mut tx,
                by,
                "privacy.retention_run",
                "settings:retention",
                None,
                json!({"items": report.items.iter().map(|i| json!({"class": i.class, "days": i.days, "rows": i.rows})).collect::<Vec<_>>()}),
            )
            .await?;
            tx.commit().await?;
            self.store.checkpoint_truncate().await?;
        }
        Ok(report)
    }

    /// Apply one rule: row classes in batches (a transaction each) until nothing is left;
    /// account classes one erasure (and transaction) per account.
    async fn apply_rule(&self, rule: &Rule) -> Result<u64> {
        let mut total = 0u64;
        if matches!(
            rule.class,
            RetentionClass::UnverifiedAccounts | RetentionClass::InactiveAccounts
        ) {
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(rule.apply.concat()));
            for b in &rule.binds {
                q = q.bind(*b);
            }
            let ids = q.fetch_all(self.store.reader()).await?;
            let reason = format!(
                "retention: {} after {} days",
                if rule.class == RetentionClass::UnverifiedAccounts {
                    "address never verified"
                } else {
                    "no sign-in"
                },
                rule.days
            );
            for id in ids {
                let id = Uuid::parse_str(&id).map_err(|e| Error::Internal(e.to_string()))?;
                let mut tx = self.store.begin().await?;
                match self
                    .erase_in(&mut tx, id, "system:retention", Some(&reason), None)
                    .await
                {
                    Ok(_) => {
                        tx.commit().await?;
                        total += 1;
                    }
                    // Erased or gone since it was listed.
                    Err(Error::NotFound(_) | Error::InvalidInput { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(total);
        }
        loop {
            let mut tx = self.store.begin().await?;
            if rule.class == RetentionClass::ConsentHistory {
                // The ledger's trigger lets through deletions older than this horizon only.
                let value = rule
                    .binds
                    .get(3)
                    .copied()
                    .unwrap_or(i64::MIN + 1)
                    .to_string();
                let version = read_raw(&mut *tx, HORIZON_KEY).await?.map_or(0, |(_, v)| v);
                write_raw(&mut tx, HORIZON_KEY, &value, version, "the consent horizon").await?;
            }
            let (mut last, mut all) = (0, 0);
            for sql in &rule.apply {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for b in &rule.binds {
                    q = q.bind(*b);
                }
                last = q.execute(&mut *tx).await?.rows_affected();
                all += last;
            }
            tx.commit().await?;
            total += if rule.count_all { all } else { last };
            if last < BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}
