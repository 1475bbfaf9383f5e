//! The risk policy: which signals count, how much each weighs, the thresholds that turn a
//! score into allow / challenge / deny, the limits the signals measure against, and whether
//! the decision is enforced or only recorded (audit-only). Stored as the `risk_policy`
//! settings document (versioned: a stale save is a conflict), changed by admins only,
//! audited with a diff. A refused policy changes nothing: the one in force stays.

use crate::Engine;
use crate::error::{Error, Result};
use crate::staff::settings::{read_raw, write_raw};
use crate::staff::{Permission, Staff};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub(crate) const KEY: &str = "risk_policy";

/// Every signal the engine knows, by its stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A device (cookie, app device id, or user agent + network) the customer has not signed
    /// in from.
    NewDevice,
    /// A network (IPv4 /24, IPv6 /48) the customer has not signed in from.
    NewNetwork,
    /// A country (GeoIP) the customer has not signed in from.
    NewCountry,
    /// Faster than a plane since the customer's last successful sign-in.
    ImpossibleTravel,
    /// Failures on many different accounts from one address or range: credential stuffing.
    IpVelocity,
    /// Many failures on this account: brute force.
    AccountVelocity,
    /// The password given is on the common-password list or the breached corpus.
    CommonPassword,
    /// The account has not been signed in to for a long time.
    Inactivity,
    /// The form came back faster than a person types.
    BotTiming,
    /// One user agent failing on many accounts.
    SharedUserAgent,
    /// The address is in a blocked range.
    BlockedIp,
}

impl SignalKind {
    pub const ALL: [SignalKind; 11] = [
        SignalKind::NewDevice,
        SignalKind::NewNetwork,
        SignalKind::NewCountry,
        SignalKind::ImpossibleTravel,
        SignalKind::IpVelocity,
        SignalKind::AccountVelocity,
        SignalKind::CommonPassword,
        SignalKind::Inactivity,
        SignalKind::BotTiming,
        SignalKind::SharedUserAgent,
        SignalKind::BlockedIp,
    ];

    /// The stable name (as stored and in the API).
    pub fn name(self) -> &'static str {
        match self {
            SignalKind::NewDevice => "new_device",
            SignalKind::NewNetwork => "new_network",
            SignalKind::NewCountry => "new_country",
            SignalKind::ImpossibleTravel => "impossible_travel",
            SignalKind::IpVelocity => "ip_velocity",
            SignalKind::AccountVelocity => "account_velocity",
            SignalKind::CommonPassword => "common_password",
            SignalKind::Inactivity => "inactivity",
            SignalKind::BotTiming => "bot_timing",
            SignalKind::SharedUserAgent => "shared_user_agent",
            SignalKind::BlockedIp => "blocked_ip",
        }
    }

    pub fn from_name(name: &str) -> Option<SignalKind> {
        SignalKind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn default_weight(self) -> u32 {
        match self {
            SignalKind::NewDevice => 25,
            SignalKind::NewNetwork => 15,
            SignalKind::NewCountry => 20,
            SignalKind::ImpossibleTravel => 60,
            SignalKind::IpVelocity => 50,
            SignalKind::AccountVelocity => 30,
            SignalKind::CommonPassword => 20,
            SignalKind::Inactivity => 10,
            SignalKind::BotTiming => 30,
            SignalKind::SharedUserAgent => 25,
            SignalKind::BlockedIp => 100,
        }
    }
}

/// Whether decisions are enforced or only recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RiskMode {
    #[default]
    Enforce,
    /// Record what the policy would have done; allow every sign-in it would not.
    AuditOnly,
}

/// One signal's switch and weight (0–100 points).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignalRule {
    pub enabled: bool,
    pub weight: u32,
}

/// What the signals measure against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// Faster than this between two successful sign-ins is impossible travel.
    pub travel_kmh: u32,
    /// Distinct accounts failed on from one address within `velocity_minutes`.
    pub accounts_per_ip: u32,
    /// Distinct accounts failed on from one /24 (or /48) within `velocity_minutes`.
    pub accounts_per_network: u32,
    /// Distinct accounts failed on from one network operator (ASN, with a GeoIP ASN
    /// database) within `velocity_minutes`.
    #[serde(default = "default_accounts_per_asn")]
    pub accounts_per_asn: u32,
    /// Distinct accounts one user agent failed on within `velocity_minutes`.
    pub accounts_per_user_agent: u32,
    pub velocity_minutes: u32,
    /// Failures on one account within an hour.
    pub account_failures: u32,
    /// No sign-in for this many days is long inactivity.
    pub inactive_days: u32,
    /// A form submitted sooner than this after it was shown is bot-like.
    pub bot_ms: u32,
    /// How far back devices, networks and countries count as "seen before".
    pub history_days: u32,
}

/// A large operator's customers fail now and then on their own; this many distinct
/// accounts within the window is an attack. (Policies stored before the limit existed get
/// it.)
fn default_accounts_per_asn() -> u32 {
    200
}

impl Default for RiskLimits {
    fn default() -> Self {
        Self {
            travel_kmh: 900,
            accounts_per_ip: 5,
            accounts_per_network: 20,
            accounts_per_asn: default_accounts_per_asn(),
            accounts_per_user_agent: 50,
            velocity_minutes: 10,
            account_failures: 5,
            inactive_days: 180,
            bot_ms: 1500,
            history_days: 180,
        }
    }
}

/// The organisation's risk policy. `version` increases with every change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskPolicy {
    pub mode: RiskMode,
    /// A score at or above this is challenged (second factor, or an emailed code).
    pub challenge_at: u32,
    /// A score at or above this is denied.
    pub deny_at: u32,
    /// A score at or above this goes to the analysts' review queue (challenged and denied
    /// sign-ins always do).
    pub review_at: u32,
    /// Every signal by name (all of them; unknown names are refused).
    #[cfg_attr(feature = "ts", ts(type = "Record<string, SignalRule>"))]
    pub signals: BTreeMap<String, SignalRule>,
    pub limits: RiskLimits,
    #[serde(default)]
    pub version: i64,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self {
            mode: RiskMode::Enforce,
            challenge_at: 40,
            deny_at: 80,
            review_at: 40,
            signals: SignalKind::ALL
                .into_iter()
                .map(|k| {
                    (
                        k.name().to_owned(),
                        SignalRule {
                            enabled: true,
                            weight: k.default_weight(),
                        },
                    )
                })
                .collect(),
            limits: RiskLimits::default(),
            version: 0,
        }
    }
}

/// What a score comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Challenge,
    Deny,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Challenge => "challenge",
            Decision::Deny => "deny",
        }
    }

    pub fn from_name(s: &str) -> Option<Decision> {
        [Decision::Allow, Decision::Challenge, Decision::Deny]
            .into_iter()
            .find(|d| d.name() == s)
    }
}

impl RiskPolicy {
    /// The weight a signal carries (0 when switched off).
    pub fn weight(&self, kind: SignalKind) -> u32 {
        self.signals
            .get(kind.name())
            .filter(|r| r.enabled)
            .map_or(0, |r| r.weight)
    }

    /// Whether a signal is computed at all.
    pub fn enabled(&self, kind: SignalKind) -> bool {
        self.signals.get(kind.name()).is_some_and(|r| r.enabled)
    }

    /// A score's decision.
    pub fn decide(&self, score: u32) -> Decision {
        if score >= self.deny_at {
            Decision::Deny
        } else if score >= self.challenge_at {
            Decision::Challenge
        } else {
            Decision::Allow
        }
    }

    /// Refuse a policy that cannot work, naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        for (name, rule) in &self.signals {
            if SignalKind::from_name(name).is_none() {
                return Err(Error::invalid(
                    "signals",
                    format!("there is no signal called “{name}”"),
                ));
            }
            if rule.weight > 100 {
                return Err(Error::invalid(
                    "signals",
                    format!("the weight of {name} must be between 0 and 100"),
                ));
            }
        }
        if let Some(missing) = SignalKind::ALL
            .into_iter()
            .find(|k| !self.signals.contains_key(k.name()))
        {
            return Err(Error::invalid(
                "signals",
                format!("the policy must say how {} counts", missing.name()),
            ));
        }
        for (field, v) in [
            ("challenge_at", self.challenge_at),
            ("deny_at", self.deny_at),
            ("review_at", self.review_at),
        ] {
            if !(1..=100).contains(&v) {
                return Err(Error::invalid(
                    field,
                    "thresholds are scores between 1 and 100",
                ));
            }
        }
        if self.challenge_at > self.deny_at {
            return Err(Error::invalid(
                "challenge_at",
                "the challenge threshold cannot be above the deny threshold",
            ));
        }
        let l = &self.limits;
        for (field, v, lo, hi) in [
            ("limits.travel_kmh", l.travel_kmh, 100, 20_000),
            ("limits.accounts_per_ip", l.accounts_per_ip, 2, 10_000),
            (
                "limits.accounts_per_network",
                l.accounts_per_network,
                2,
                100_000,
            ),
            ("limits.accounts_per_asn", l.accounts_per_asn, 2, 1_000_000),
            (
                "limits.accounts_per_user_agent",
                l.accounts_per_user_agent,
                2,
                1_000_000,
            ),
            ("limits.velocity_minutes", l.velocity_minutes, 1, 1440),
            ("limits.account_failures", l.account_failures, 1, 100),
            ("limits.inactive_days", l.inactive_days, 1, 3650),
            ("limits.bot_ms", l.bot_ms, 0, 60_000),
            ("limits.history_days", l.history_days, 1, 3650),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(Error::invalid(
                    limit_field(field),
                    format!("{field} must be between {lo} and {hi}"),
                ));
            }
        }
        Ok(())
    }
}

fn limit_field(f: &str) -> &'static str {
    // `Error::invalid` takes a static field name.
    match f {
        "limits.travel_kmh" => "limits.travel_kmh",
        "limits.accounts_per_ip" => "limits.accounts_per_ip",
        "limits.accounts_per_network" => "limits.accounts_per_network",
        "limits.accounts_per_asn" => "limits.accounts_per_asn",
        "limits.accounts_per_user_agent" => "limits.accounts_per_user_agent",
        "limits.velocity_minutes" => "limits.velocity_minutes",
        "limits.account_failures" => "limits.account_failures",
        "limits.inactive_days" => "limits.inactive_days",
        "limits.bot_ms" => "limits.bot_ms",
        _ => "limits.history_days",
    }
}

/// The policy in force (the default when never saved).
pub(crate) async fn load<'e>(
    ex: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<RiskPolicy> {
    Ok(match read_raw(ex, KEY).await? {
        None => RiskPolicy::default(),
        Some((value, version)) => {
            let mut p: RiskPolicy = serde_json::from_str(&value)
                .map_err(|e| Error::Internal(format!("stored risk policy: {e}")))?;
            p.version = version;
            p
        }
    })
}

impl Engine {
    /// The risk policy in force (security and admin staff, and support, who see reasons).
    pub async fn risk_policy(&self, staff: &Staff) -> Result<RiskPolicy> {
        staff.require(Permission::ReviewRisk)?;
        load(self.store.reader()).await
    }

    /// Publish a new risk policy (admins). `new.version` must be the version read; a policy
    /// that does not validate is refused and the one in force stays.
    pub async fn update_risk_policy(&self, staff: &Staff, new: &RiskPolicy) -> Result<RiskPolicy> {
        staff.require(Permission::ManageSettings)?;
        new.validate()?;
        let mut tx = self.store.begin().await?;
        let before = load(&mut *tx).await?;
        let mut stored = new.clone();
        stored.version = 0;
        let value = serde_json::to_string(&stored).map_err(|e| Error::Internal(e.to_string()))?;
        write_raw(&mut tx, KEY, &value, new.version, "the risk policy").await?;
        let after = load(&mut *tx).await?;
        let mut changes = serde_json::Map::new();
        let (b, a) = (
            serde_json::to_value(&before).map_err(|e| Error::Internal(e.to_string()))?,
            serde_json::to_value(&after).map_err(|e| Error::Internal(e.to_string()))?,
        );
        for key in ["mode", "challenge_at", "deny_at", "review_at", "limits"] {
            if b.get(key) != a.get(key) {
                changes.insert(key.into(), json!([b.get(key), a.get(key)]));
            }
        }
        for (name, rule) in &after.signals {
            if before.signals.get(name) != Some(rule) {
                changes.insert(
                    format!("signals.{name}"),
                    json!([before.signals.get(name), rule]),
                );
            }
        }
        self.audit(
            &mut tx,
            &staff.actor(),
            "settings.risk_policy_updated",
            "settings:risk_policy",
            None,
            serde_json::Value::Object(changes),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}
