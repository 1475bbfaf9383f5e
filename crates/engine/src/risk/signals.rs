//! The risk signals: each a small pure function from what this attempt is ([`Facts`]) and
//! what was recorded before it ([`History`]) to a [`Signal`] with its evidence in words a
//! person reads, or nothing. The policy decides which run and what each weighs; the caller
//! gathers the history (see the module above) — nothing here reads a clock or a database.

use super::policy::{RiskLimits, RiskPolicy, SignalKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One triggered signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Signal {
    pub signal: SignalKind,
    /// The weight the policy gave it.
    pub points: u32,
    /// Why, in words: "new country FR; seen before: DE, NL in 180 days".
    pub evidence: String,
}

/// What this attempt is.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub at: DateTime<Utc>,
    pub ip: String,
    /// [`super::geo::network_of`] the address.
    pub network: String,
    /// Who the device says it is, for people ("Firefox on Linux").
    pub device_label: String,
    /// The country GeoIP gives, when a database is configured and knows the address.
    pub country: Option<String>,
    pub coordinates: Option<(f64, f64)>,
    /// Milliseconds between the form being shown and sent, when the form says.
    pub form_ms: Option<u64>,
    /// The password given is common or breached (password attempts only).
    pub common_password: bool,
    /// The block this address falls in: its range and why.
    pub blocked: Option<(String, String)>,
    /// The network operator GeoIP gives, when an ASN database is configured.
    pub asn: Option<u32>,
}

/// What was recorded before this attempt, as the signals need it.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The attempt names an existing account (device, network, country and travel signals
    /// only make sense for one).
    pub account: bool,
    /// A GeoIP database is configured.
    pub geoip: bool,
    /// This device has signed in to the account before (or an analyst trusted it).
    pub device_known: bool,
    /// Devices the account signed in from within the history window.
    pub devices_seen: u32,
    /// This network has signed in to the account before (or an analyst trusted it).
    pub network_known: bool,
    /// Networks the account signed in from within the history window.
    pub networks_seen: u32,
    /// Countries the account signed in from within the history window, sorted.
    pub countries_seen: Vec<String>,
    /// The account's last successful sign-in.
    pub last_success: Option<LastSuccess>,
    /// Distinct accounts with failed sign-ins from this address / network within the velocity
    /// window (successes are left out: many customers behind one office or carrier NAT sign
    /// in fine; a stuffing list mostly fails).
    pub accounts_from_ip: u32,
    pub accounts_from_network: u32,
    /// Distinct accounts failed on from this network operator (ASN) within the window.
    pub accounts_from_asn: u32,
    /// Distinct accounts this exact user agent failed on within the velocity window.
    pub accounts_failed_by_user_agent: u32,
    /// Failed attempts on this account in the last hour.
    pub account_failures: u32,
}

/// When and where (when known) an account last signed in.
#[derive(Debug, Clone, Default)]
pub struct LastSuccess {
    pub at: DateTime<Utc>,
    pub coordinates: Option<(f64, f64)>,
    pub country: Option<String>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration_words(minutes: i64) -> String {
    if minutes < 120 {
        format!("{} min", minutes.max(0))
    } else if minutes < 48 * 60 {
        format!("{} h", minutes / 60)
    } else {
        format!("{} days", minutes / (24 * 60))
    }
}

/// A device the account has not signed in from. An account with no sign-in in the history
/// window has nothing to compare with, so nothing is new to it.
pub fn new_device(f: &Facts, h: &History, l: &RiskLimits) -> Option<String> {
    (h.account && !h.device_known && h.devices_seen > 0).then(|| {
        let what = if f.device_label.is_empty() {
            "an unrecognised device".to_owned()
        } else {
            f.device_label.clone()
        };
        let n = h.devices_seen;
        format!(
            "new device: {what}; {n} other device{} seen in {} days",
            if n == 1 { "" } else { "s" },
            l.history_days
        )
    })
}

/// A network the account has not signed in from (none to compare with: nothing is new).
/// Without GeoIP this also stands in for the country signal, and says so.
pub fn new_network(f: &Facts, h: &History, l: &RiskLimits) -> Option<String> {
    (h.account && !h.network_known && h.networks_seen > 0 && !f.network.is_empty()).then(|| {
        let fallback = if h.geoip {
            ""
        } else {
            " (no GeoIP database: network novelty only)"
        };
        format!(
            "new network {}; {} seen in {} days{fallback}",
            f.network, h.networks_seen, l.history_days
        )
    })
}

/// A country the account has not signed in from (GeoIP only).
pub fn new_country(f: &Facts, h: &History, l: &RiskLimits) -> Option<String> {
    let country = f.country.as_ref()?;
    if !h.account || h.countries_seen.is_empty() || h.countries_seen.contains(country) {
        return None;
    }
    Some(format!(
        "new country {country}; seen before: {} in {} days",
        h.countries_seen.join(", "),
        l.history_days
    ))
}

/// Faster than `travel_kmh` since the last successful sign-in.
pub fn impossible_travel(f: &Facts, h: &History, l: &RiskLimits) -> Option<String> {
    let here = f.coordinates?;
    let last = h.last_success.as_ref()?;
    let (when, there, from) = (&last.at, last.coordinates?, &last.country);
    let km = super::geo::distance_km(there, here);
    if km < 500.0 {
        // Within a country's breadth GeoIP's city guesses are too coarse to time.
        return None;
    }
    let minutes = (f.at - *when).num_minutes();
    let hours = (minutes.max(1) as f64) / 60.0;
    let speed = km / hours;
    (speed > f64::from(l.travel_kmh)).then(|| {
        let from = from.as_deref().unwrap_or("the last place");
        let to = f.country.as_deref().unwrap_or("here");
        format!(
            "{} km in {} ({from} → {to}, {} km/h)",
            thousands(km.round() as u64),
            duration_words(minutes),
            thousands(speed.round() as u64)
        )
    })
}

/// Failures on many accounts from one address, network or network operator: credential
/// stuffing.
pub fn ip_velocity(f: &Facts, h: &History, l: &RiskLimits) -> Option<String> {
    if h.accounts_from_ip >= l.accounts_per_ip {
        Some(format!(
            "failed sign-ins on {} accounts from {} in {} min",
            thousands(h.accounts_from_ip.into()),
            f.ip,
            l.velocity_minutes
        ))
    } else if h.accounts_from_network >= l.accounts_per_network {
        Some(format!(
            "failed sign-ins on {} accounts from {} in {} min",
            thousands(h.accounts_from_network.into()),
            f.network,
            l.velocity_minutes
        ))
    } else {
        f.asn
            .filter(|_| h.accounts_from_asn >= l.accounts_per_asn)
            .map(|asn| {
                format!(
                    "failed sign-ins on {} accounts from network operator AS{asn} in {} min",
                    thousands(h.accounts_from_asn.into()),
                    l.velocity_minutes
                )
            })
    }
}

/// Many failures on this account: brute force.
pub fn account_velocity(_f: &Facts, h: &History, l: &RiskLimits) -> Option<String> {
    (h.account && h.account_failures >= l.account_failures).then(|| {
        format!(
            "{} failed attempts on this account in the last hour",
            h.account_failures
        )
    })
}

/// A password everyone tries.
pub fn common_password(f: &Facts, _h: &History, _l: &RiskLimits) -> Option<String> {
    f.common_password
        .then(|| "the password given is on the common or breached password list".to_owned())
}

/// A sign-in to an account nobody has used for a long time.
pub fn inactivity(f: &Facts, h: &History, l: &RiskLimits) -> Option<String> {
    let days = (f.at - h.last_success.as_ref()?.at).num_days();
    (h.account && days >= i64::from(l.inactive_days)).then(|| format!("no sign-in for {days} days"))
}

/// A form sent faster than a person types.
pub fn bot_timing(f: &Facts, _h: &History, l: &RiskLimits) -> Option<String> {
    let ms = f.form_ms?;
    (ms < u64::from(l.bot_ms)).then(|| format!("the form was sent {ms} ms after it was shown"))
}

/// One user agent failing on many accounts.
pub fn shared_user_agent(_f: &Facts, h: &History, l: &RiskLimits) -> Option<String> {
    (h.accounts_failed_by_user_agent >= l.accounts_per_user_agent).then(|| {
        format!(
            "this exact user agent failed on {} accounts in {} min",
            thousands(h.accounts_failed_by_user_agent.into()),
            l.velocity_minutes
        )
    })
}

/// An address in a blocked range.
pub fn blocked_ip(f: &Facts, _h: &History, _l: &RiskLimits) -> Option<String> {
    f.blocked
        .as_ref()
        .map(|(range, why)| format!("{} is in blocked range {range} ({why})", f.ip))
}

type SignalFn = fn(&Facts, &History, &RiskLimits) -> Option<String>;

fn function(kind: SignalKind) -> SignalFn {
    match kind {
        SignalKind::NewDevice => new_device,
        SignalKind::NewNetwork => new_network,
        SignalKind::NewCountry => new_country,
        SignalKind::ImpossibleTravel => impossible_travel,
        SignalKind::IpVelocity => ip_velocity,
        SignalKind::AccountVelocity => account_velocity,
        SignalKind::CommonPassword => common_password,
        SignalKind::Inactivity => inactivity,
        SignalKind::BotTiming => bot_timing,
        SignalKind::SharedUserAgent => shared_user_agent,
        SignalKind::BlockedIp => blocked_ip,
    }
}

/// Every enabled signal that triggers, with the policy's weight.
pub fn evaluate(policy: &RiskPolicy, f: &Facts, h: &History) -> Vec<Signal> {
    SignalKind::ALL
        .into_iter()
        .filter(|k| policy.enabled(*k))
        .filter_map(|k| {
            function(k)(f, h, &policy.limits).map(|evidence| Signal {
                signal: k,
                points: policy.weight(k),
                evidence,
            })
        })
        .collect()
}

/// The score of a set of signals: their points, at most 100.
pub fn score(signals: &[Signal]) -> u32 {
    signals.iter().map(|s| s.points).sum::<u32>().min(100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::policy::Decision;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
    }

    fn known_customer() -> History {
        History {
            account: true,
            geoip: true,
            device_known: true,
            devices_seen: 2,
            network_known: true,
            networks_seen: 3,
            countries_seen: vec!["DE".into(), "NL".into()],
            last_success: Some(LastSuccess {
                at: at(10, 0),
                coordinates: Some((52.52, 13.405)),
                country: Some("DE".into()),
            }),
            ..History::default()
        }
    }

    fn from_berlin() -> Facts {
        Facts {
            at: at(12, 0),
            ip: "198.51.100.7".into(),
            network: "198.51.100.0/24".into(),
            device_label: "Firefox on Linux".into(),
            country: Some("DE".into()),
            coordinates: Some((52.5, 13.4)),
            ..Facts::default()
        }
    }

    #[test]
    fn a_known_device_at_home_triggers_nothing() {
        let p = RiskPolicy::default();
        let s = evaluate(&p, &from_berlin(), &known_customer());
        assert!(s.is_empty(), "{s:?}");
        assert_eq!(p.decide(score(&s)), Decision::Allow);
    }

    #[test]
    fn a_new_country_and_network_say_what_was_seen_before() {
        let p = RiskPolicy::default();
        let mut f = from_berlin();
        f.country = Some("FR".into());
        f.coordinates = Some((48.86, 2.35));
        f.network = "203.0.113.0/24".into();
        let mut h = known_customer();
        h.network_known = false;
        let s = evaluate(&p, &f, &h);
        let words: Vec<&str> = s.iter().map(|s| s.evidence.as_str()).collect();
        assert!(
            words.contains(&"new country FR; seen before: DE, NL in 180 days"),
            "{words:?}"
        );
        assert!(words.contains(&"new network 203.0.113.0/24; 3 seen in 180 days"));
        // Berlin → Paris in two hours is a train, not impossible.
        assert!(!s.iter().any(|s| s.signal == SignalKind::ImpossibleTravel));
        // A known phone abroad is allowed; the same trip on a new phone is challenged.
        assert_eq!(p.decide(score(&s)), Decision::Allow);
        h.device_known = false;
        let s = evaluate(&p, &f, &h);
        assert_eq!(p.decide(score(&s)), Decision::Challenge);
    }

    #[test]
    fn impossible_travel_gives_distance_time_and_speed() {
        let p = RiskPolicy::default();
        let mut f = from_berlin();
        f.at = at(10, 35);
        f.country = Some("JP".into());
        f.coordinates = Some((35.68, 139.65));
        let s = evaluate(&p, &f, &known_customer());
        let travel = s
            .iter()
            .find(|s| s.signal == SignalKind::ImpossibleTravel)
            .expect("travel");
        assert!(
            travel.evidence.starts_with("8,9")
                && travel.evidence.contains(" km in 35 min (DE → JP"),
            "{}",
            travel.evidence
        );
        assert_eq!(travel.points, 60);
    }

    #[test]
    fn without_geoip_network_novelty_says_so_and_no_country_is_guessed() {
        let p = RiskPolicy::default();
        let mut f = from_berlin();
        f.country = None;
        f.coordinates = None;
        let mut h = known_customer();
        h.geoip = false;
        h.network_known = false;
        let s = evaluate(&p, &f, &h);
        assert_eq!(s.len(), 1, "{s:?}");
        assert!(
            s[0].evidence
                .ends_with("(no GeoIP database: network novelty only)")
        );
    }

    #[test]
    fn stuffing_from_a_range_is_denied_and_counts_are_readable() {
        let p = RiskPolicy::default();
        let f = Facts {
            at: at(12, 0),
            ip: "203.0.113.9".into(),
            network: "203.0.113.0/24".into(),
            form_ms: Some(80),
            ..Facts::default()
        };
        let h = History {
            account: true,
            geoip: true,
            accounts_from_ip: 3,
            accounts_from_network: 312,
            accounts_failed_by_user_agent: 1200,
            ..History::default()
        };
        let s = evaluate(&p, &f, &h);
        let words: Vec<&str> = s.iter().map(|s| s.evidence.as_str()).collect();
        assert!(words.contains(&"failed sign-ins on 312 accounts from 203.0.113.0/24 in 10 min"));
        assert!(words.contains(&"this exact user agent failed on 1,200 accounts in 10 min"));
        assert!(words.contains(&"the form was sent 80 ms after it was shown"));
        assert_eq!(score(&s), 100);
        assert_eq!(p.decide(score(&s)), Decision::Deny);
    }

    #[test]
    fn switched_off_signals_do_not_run_and_weights_come_from_the_policy() {
        let mut p = RiskPolicy::default();
        let f = Facts {
            common_password: true,
            blocked: Some(("203.0.113.0/24".into(), "fraud wave".into())),
            ip: "203.0.113.9".into(),
            ..Facts::default()
        };
        let h = History::default();
        let s = evaluate(&p, &f, &h);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[1].evidence,
            "203.0.113.9 is in blocked range 203.0.113.0/24 (fraud wave)"
        );
        p.signals.get_mut("blocked_ip").unwrap().enabled = false;
        p.signals.get_mut("common_password").unwrap().weight = 7;
        let s = evaluate(&p, &f, &h);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].signal, s[0].points), (SignalKind::CommonPassword, 7));
    }

    #[test]
    fn an_account_with_no_sign_in_to_compare_with_has_nothing_new() {
        let p = RiskPolicy::default();
        let h = History {
            account: true,
            geoip: true,
            ..History::default()
        };
        let s = evaluate(&p, &from_berlin(), &h);
        assert!(s.is_empty(), "{s:?}");
        let h = History {
            devices_seen: 1,
            networks_seen: 1,
            ..h
        };
        let kinds: Vec<SignalKind> = evaluate(&p, &from_berlin(), &h)
            .iter()
            .map(|s| s.signal)
            .collect();
        assert_eq!(kinds, [SignalKind::NewDevice, SignalKind::NewNetwork]);
    }

    #[test]
    fn unknown_accounts_get_no_account_signals() {
        let p = RiskPolicy::default();
        let s = evaluate(&p, &from_berlin(), &History::default());
        assert!(s.is_empty(), "{s:?}");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(8400), "8,400");
        assert_eq!(thousands(312), "312");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration_words(35), "35 min");
        assert_eq!(duration_words(300), "5 h");
        assert_eq!(duration_words(60 * 24 * 3), "3 days");
    }
}
