//! The engine's one error type. Every variant has a stable machine code ([`Error::code`])
//! that adapters (console IPC, HTTP) serialise as `{code, message}`; messages are written for
//! the person who will read them and never contain secrets or storage internals.

use std::time::Duration;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed validation; nothing was changed.
    #[error("{field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    /// A new password was refused by the password policy; the message says how to choose a better one.
    #[error("{0}")]
    WeakPassword(String),
    /// Email/password (or staff credentials) did not match. Deliberately says nothing about which part.
    #[error("the email address or password is not correct")]
    InvalidCredentials,
    /// The credentials were right but the account may not sign in (locked, disabled, erased).
    #[error("this account cannot sign in right now ({0}); contact support")]
    AccountUnavailable(&'static str),
    /// A verification or reset token is unknown, used or expired.
    #[error("this link is invalid or has expired; request a new one")]
    InvalidToken,
    /// A session token is unknown, revoked or expired.
    #[error("the session has ended; sign in again")]
    InvalidSession,
    /// The thing asked for does not exist (or the caller may not know that it does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The email address is already used by another account of the same kind.
    #[error("that email address is already in use")]
    EmailInUse,
    /// Optimistic concurrency: the row changed since the caller read it; nothing was written.
    #[error("{0} was changed by someone else since you loaded it; reload and try again")]
    Conflict(&'static str),
    /// The signed-in staff member's role does not grant this operation.
    #[error("your role does not allow {0}")]
    Forbidden(&'static str),
    /// Too many attempts; try again after the given time.
    #[error("too many attempts; try again in {} seconds", .0.as_secs().max(1))]
    RateLimited(Duration),
    /// More password work is queued than the machine can do soon; retry after the given time.
    #[error("the service is busy; try again in {} seconds", .0.as_secs().max(1))]
    Overloaded(Duration),
    /// The vault is encrypted and the given password or recovery key does not unlock it.
    #[error("the vault could not be unlocked with these credentials")]
    VaultLocked,
    /// The vault file or its key file is missing, damaged or of an unknown version.
    #[error("vault: {0}")]
    Vault(String),
    /// The audit log's hash chain is broken at the given sequence number.
    #[error("audit log tampered with at entry {0}")]
    AuditTampered(i64),
    /// The database failed; details are logged, not shown.
    #[error("storage error: {0}")]
    Storage(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Sending an email failed (the outbox retries).
    #[error("email delivery failed: {0}")]
    Delivery(String),
    /// An OAuth 2.0 / OpenID Connect protocol error; `error` is the RFC 6749 error code
    /// (`invalid_request`, `invalid_client`, `invalid_grant`, `login_required`, …).
    #[error("{error}: {description}")]
    OAuth {
        error: &'static str,
        description: String,
    },
    /// The password was right and the account has a second factor: the sign-in continues
    /// with [`crate::Engine::complete_sign_in`] (callers of the one-step sign-in see this).
    #[error("a second factor is needed to finish signing in")]
    SecondFactorRequired,
    /// Admin and security staff must set up an authenticator app before doing anything else.
    #[error("your role needs an authenticator app: set one up to finish signing in")]
    AuthenticatorRequired,
    /// A sensitive change (email, password, factors, recovery codes) needs a sign-in within
    /// the last few minutes or a second factor now: re-authenticate, then try again.
    #[error("confirm it is you: sign in again or use your second factor, then try again")]
    StepUpRequired,
    /// The operator has not configured what this needs (named).
    #[error("not available on this server: {0} is not configured")]
    NotConfigured(&'static str),
    /// An upstream identity provider could not be reached or answered wrongly (the detail is
    /// for the operator's log; customers are told to try again or another way).
    #[error("the sign-in provider did not answer as expected: {0}")]
    Upstream(String),
    /// An invariant the engine relies on was broken; this is a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Stable machine code for adapters and clients. Never change an existing code.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The code as a type (the console's TypeScript union is generated from [`ErrorCode`]).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::InvalidInput { .. } => ErrorCode::InvalidInput,
            Error::WeakPassword(_) => ErrorCode::WeakPassword,
            Error::InvalidCredentials => ErrorCode::InvalidCredentials,
            Error::AccountUnavailable(_) => ErrorCode::AccountUnavailable,
            Error::InvalidToken => ErrorCode::InvalidToken,
            Error::InvalidSession => ErrorCode::InvalidSession,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::EmailInUse => ErrorCode::EmailInUse,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::RateLimited(_) => ErrorCode::RateLimited,
            Error::Overloaded(_) => ErrorCode::Overloaded,
            Error::VaultLocked => ErrorCode::VaultLocked,
            Error::Vault(_) => ErrorCode::VaultError,
            Error::AuditTampered(_) => ErrorCode::AuditTampered,
            Error::Storage(_) | Error::Migration(_) => ErrorCode::Storage,
            Error::Delivery(_) => ErrorCode::Delivery,
            Error::OAuth { .. } => ErrorCode::OAuth,
            Error::SecondFactorRequired => ErrorCode::SecondFactorRequired,
            Error::AuthenticatorRequired => ErrorCode::AuthenticatorRequired,
            Error::StepUpRequired => ErrorCode::StepUpRequired,
            Error::NotConfigured(_) => ErrorCode::NotConfigured,
            Error::Upstream(_) => ErrorCode::Upstream,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The field an `invalid_input` error is about, for forms that mark the field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::InvalidInput { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Refused until a throttling window of `window` has passed.
    pub(crate) fn throttled(window: chrono::Duration) -> Self {
        let secs = window.num_seconds().max(1);
        Error::RateLimited(Duration::from_secs(u64::try_from(secs).unwrap_or(60)))
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

/// Every error code the engine produces (see [`Error::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    WeakPassword,
    InvalidCredentials,
    AccountUnavailable,
    InvalidToken,
    InvalidSession,
    NotFound,
    EmailInUse,
    Conflict,
    Forbidden,
    RateLimited,
    Overloaded,
    VaultLocked,
    VaultError,
    AuditTampered,
    Storage,
    Delivery,
    #[serde(rename = "oauth")]
    OAuth,
    SecondFactorRequired,
    AuthenticatorRequired,
    StepUpRequired,
    NotConfigured,
    Upstream,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::AccountUnavailable => "account_unavailable",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InvalidSession => "invalid_session",
            ErrorCode::NotFound => "not_found",
            ErrorCode::EmailInUse => "email_in_use",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::VaultLocked => "vault_locked",
            ErrorCode::VaultError => "vault_error",
            ErrorCode::AuditTampered => "audit_tampered",
            ErrorCode::Storage => "storage",
            ErrorCode::Delivery => "delivery",
            ErrorCode::OAuth => "oauth",
            ErrorCode::SecondFactorRequired => "second_factor_required",
            ErrorCode::AuthenticatorRequired => "authenticator_required",
            ErrorCode::StepUpRequired => "step_up_required",
            ErrorCode::NotConfigured => "not_configured",
            ErrorCode::Upstream => "upstream",
            ErrorCode::Internal => "internal",
        }
    }
}
