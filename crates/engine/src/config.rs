//! Engine configuration: password hashing and policy, session and token lifetimes,
//! throttling, and what outgoing email looks like. Defaults follow OWASP ASVS 5 / NIST 800-63B.

use crate::credentials::password::{HashParams, PasswordPolicy};
use crate::credentials::sealed::FactorKey;
use chrono::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub hash: HashParams,
    pub policy: PasswordPolicy,
    /// A session ends after this long without use.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute: Duration,
    /// Staff API sessions: short, because staff tokens open every customer record.
    pub staff_session_idle: Duration,
    pub staff_session_absolute: Duration,
    pub verify_email_ttl: Duration,
    pub reset_password_ttl: Duration,
    /// Failed sign-ins for one account within `throttle_window` before further attempts are
    /// refused until the window has passed (progressive throttling, not a lockout).
    pub throttle_failures: i64,
    pub throttle_window: Duration,
    /// Failed re-authentications (current password for a password or email change) within one
    /// session after which that session is ended.
    pub reauth_failures_per_session: i64,
    /// Failed sign-ins for one staff account within `throttle_window` before further attempts
    /// are refused until the window has passed.
    pub staff_throttle_failures: i64,
    /// Failed sign-ins for one staff account within `throttle_window` that email the other
    /// admins (once per burst).
    pub staff_alert_failures: i64,
    /// Emails one address may receive per hour from flows anyone can trigger (reset requests,
    /// "you already have an account", email-change links); beyond it they are silently dropped.
    pub emails_per_recipient_per_hour: i64,
    /// How long the deferred-work worker waits after being woken before doing the due jobs
    /// in one batch (see the `deferred` module).
    pub deferred_delay: std::time::Duration,
    /// Whether the background worker keeps the analytics rollups current (each time it
    /// wakes). Off, they move only through [`crate::Engine::analytics_catch_up`].
    pub analytics_worker: bool,
    /// Password hashing jobs allowed to wait for a core; beyond this new sign-ins are refused
    /// with [`crate::Error::Overloaded`] at once instead of queueing without bound.
    pub hash_queue: usize,
    /// Niceness (0–19) of the hashing threads on Linux. Above 0, the short steps of every
    /// request (parsing, database statements, session checks) run before password hashing
    /// whenever both want a core: a request is never stuck behind a 20 ms hash, and a flood of
    /// sign-ins cannot slow session validation. 0 keeps them level with everything else.
    pub hash_nice: i32,
    /// Region used to read phone numbers typed without a country code.
    pub default_region: phonenumber::country::Id,
    /// Largest serialized custom-attributes document per customer.
    pub max_attributes_bytes: usize,
    /// Base URL put in emailed links (verification, reset).
    pub public_url: String,
    /// `From:` of outgoing email.
    pub mail_from: String,
    /// Seals TOTP secrets and keys recovery-code digests on PostgreSQL (the operator's key
    /// file). A vault derives its own from its data key and ignores this.
    pub factor_key: Option<FactorKey>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hash: HashParams::default(),
            policy: PasswordPolicy::default(),
            session_idle: Duration::hours(24),
            session_absolute: Duration::days(30),
            staff_session_idle: Duration::minutes(15),
            staff_session_absolute: Duration::hours(8),
            verify_email_ttl: Duration::hours(24),
            reset_password_ttl: Duration::minutes(30),
            throttle_failures: 10,
            throttle_window: Duration::minutes(15),
            reauth_failures_per_session: 5,
            staff_throttle_failures: 10,
            staff_alert_failures: 5,
            emails_per_recipient_per_hour: 5,
            deferred_delay: std::time::Duration::from_millis(50),
            analytics_worker: true,
            hash_queue: 64,
            hash_nice: 10,
            default_region: phonenumber::country::Id::US,
            max_attributes_bytes: 16 * 1024,
            public_url: "http://localhost:8080".into(),
            mail_from: "Vestibule <no-reply@localhost>".into(),
            factor_key: None,
        }
    }
}
