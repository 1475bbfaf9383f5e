//! The demo's risk history. What each seeded customer is known by — the devices and networks
//! of their seeded successful sign-ins, as `learn_sign_in` would have recorded them — and what
//! the risk policy made of the seeded attacks: each attack attempt is scored by the real
//! signals (`risk::signals::evaluate` under the policy in force) over the history the
//! generator wrote before it, so a demo vault's review queue holds the credential-stuffing
//! wave, the brute force and a customer challenged on a new phone, with their evidence.

use crate::accounts::sessions::{RequestContext, device_label};
use crate::error::{Error, Result};
use crate::risk::assess::{device_key, network_key};
use crate::risk::policy::{Decision, RiskPolicy};
use crate::risk::signals::{self, Facts, History};
use crate::time::from_us;
use chrono::Duration;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The device key and network of a seeded attempt (no device cookie: the user agent on its
/// network).
pub(super) fn origin(ip: &str, ua: &str) -> (String, String) {
    let network = network_key(ip);
    let ctx = RequestContext {
        ip: ip.to_owned(),
        user_agent: ua.to_owned(),
        device: None,
        form_ms: None,
        client: None,
    };
    (device_key(&ctx, &network), network)
}

/// What the policy made of one seeded attempt.
#[derive(Debug, Clone)]
pub(super) struct Scored {
    pub score: u32,
    pub decision: Decision,
    pub signals: String,
    pub review: bool,
    pub policy_version: i64,
}

/// First and last successful sign-in of a customer from one device or network.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub first_us: i64,
    pub last_us: i64,
}

/// A device a customer signed in from.
#[derive(Debug, Clone)]
pub(super) struct SeenDevice {
    pub label: String,
    pub span: Span,
}

/// The devices and networks each customer of a batch signed in from.
#[derive(Debug, Default)]
pub(super) struct Known {
    pub devices: HashMap<String, BTreeMap<String, SeenDevice>>,
    pub networks: HashMap<String, BTreeMap<String, Span>>,
}

impl Known {
    /// A successful sign-in: its device and network are known for the customer.
    pub fn learn(&mut self, customer: &str, ip: &str, ua: &str, at_us: i64) {
        let (device, network) = origin(ip, ua);
        let widen = |s: &mut Span| {
            s.first_us = s.first_us.min(at_us);
            s.last_us = s.last_us.max(at_us);
        };
        let fresh = Span {
            first_us: at_us,
            last_us: at_us,
        };
        self.devices
            .entry(customer.to_owned())
            .or_default()
            .entry(device)
            .and_modify(|d| widen(&mut d.span))
            .or_insert_with(|| SeenDevice {
                label: device_label(ua),
                span: fresh,
            });
        if !network.is_empty() {
            self.networks
                .entry(customer.to_owned())
                .or_default()
                .entry(network)
                .and_modify(widen)
                .or_insert(fresh);
        }
    }

    /// The account part of an attempt's history: what the customer had signed in from
    /// before `at_us` (within the policy's history window).
    fn account(
        &self,
        customer: &str,
        device: &str,
        network: &str,
        at_us: i64,
        days: u32,
    ) -> History {
        let from = at_us - Duration::days(days.into()).num_microseconds().unwrap_or(0);
        let live = |s: &Span| s.first_us < at_us && s.last_us > from;
        let devices = self.devices.get(customer);
        let networks = self.networks.get(customer);
        History {
            account: true,
            devices_seen: devices.map_or(0, |d| d.values().filter(|d| live(&d.span)).count())
                as u32,
            device_known: devices
                .and_then(|d| d.get(device))
                .is_some_and(|d| live(&d.span)),
            networks_seen: networks.map_or(0, |n| n.values().filter(|s| live(s)).count()) as u32,
            network_known: network.is_empty()
                || networks.and_then(|n| n.get(network)).is_some_and(live),
            ..History::default()
        }
    }
}

/// Scores seeded attempts in time order, keeping the velocity counts an attack builds up.
pub(super) struct Scorer<'a> {
    policy: &'a RiskPolicy,
    /// Per address, network and user agent: the accounts failed on and when.
    failed: HashMap<String, Vec<(i64, String)>>,
    /// Per account: when its failures were.
    account_failures: HashMap<String, Vec<i64>>,
}

impl<'a> Scorer<'a> {
    pub fn new(policy: &'a RiskPolicy) -> Self {
        Scorer {
            policy,
            failed: HashMap::new(),
            account_failures: HashMap::new(),
        }
    }

    fn distinct_since(&self, key: &str, from: i64) -> u32 {
        self.failed.get(key).map_or(0, |v| {
            v.iter()
                .filter(|(at, _)| *at > from)
                .map(|(_, k)| k.as_str())
                .collect::<BTreeSet<_>>()
                .len() as u32
        })
    }

    /// Score one attempt, then count it (a failure adds to the velocity counts).
    #[allow(clippy::too_many_arguments)]
    pub fn score(
        &mut self,
        known: &Known,
        at_us: i64,
        email_key: &str,
        customer: Option<&str>,
        failed: bool,
        ip: &str,
        ua: &str,
    ) -> Result<Scored> {
        let limits = &self.policy.limits;
        let (device, network) = origin(ip, ua);
        let mut h = match customer {
            Some(c) => known.account(c, &device, &network, at_us, limits.history_days),
            None => History::default(),
        };
        let window = Duration::minutes(limits.velocity_minutes.into())
            .num_microseconds()
            .unwrap_or(0);
        let from = at_us - window;
        if !network.is_empty() {
            h.accounts_from_ip = self.distinct_since(&format!("ip {ip}"), from);
            h.accounts_from_network = self.distinct_since(&format!("net {network}"), from);
        }
        h.accounts_failed_by_user_agent = self.distinct_since(&format!("ua {ua}"), from);
        let hour = at_us - Duration::hours(1).num_microseconds().unwrap_or(0);
        h.account_failures = self
            .account_failures
            .get(email_key)
            .map_or(0, |v| v.iter().filter(|t| **t > hour).count() as u32);
        let facts = Facts {
            at: from_us(at_us),
            ip: ip.to_owned(),
            network: network.clone(),
            device_label: device_label(ua),
            ..Facts::default()
        };
        let found = signals::evaluate(self.policy, &facts, &h);
        let score = signals::score(&found);
        let decision = self.policy.decide(score);
        if failed {
            for key in [
                format!("ip {ip}"),
                format!("net {network}"),
                format!("ua {ua}"),
            ] {
                self.failed
                    .entry(key)
                    .or_default()
                    .push((at_us, email_key.to_owned()));
            }
            self.account_failures
                .entry(email_key.to_owned())
                .or_default()
                .push(at_us);
        }
        Ok(Scored {
            score,
            decision,
            review: decision != Decision::Allow || score >= self.policy.review_at,
            signals: serde_json::to_string(&found).map_err(|e| Error::Internal(e.to_string()))?,
            policy_version: self.policy.version,
        })
    }
}
