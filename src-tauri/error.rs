//! The console's one error type and its IPC shape `{code, message, field}`. Engine errors keep
//! their stable codes; storage and internal failures are logged in full and shown in words
//! that leak nothing about the vault's contents.

use serde::Serialize;
use vestibule_engine::{Error as EngineError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("sign in to continue")]
    NotSignedIn,
    #[error("the console locked after {0} without activity; sign in again")]
    IdleLocked(String),
    #[error("no vault is open yet; open the demo vault or create a new one")]
    NoVault,
    #[error("a vault already exists at {0}; sign in to it instead")]
    VaultExists(String),
    #[error("{0}")]
    Io(String),
}

/// Codes the console adds to the engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ConsoleCode {
    NotSignedIn,
    IdleLocked,
    NoVault,
    VaultExists,
    Io,
}

/// An error code: the engine's or the console's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(untagged)]
pub enum IpcErrorCode {
    Engine(ErrorCode),
    Console(ConsoleCode),
}

/// What every failed command returns to the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct IpcError {
    pub code: IpcErrorCode,
    pub message: String,
    /// The input field an `invalid_input` error is about.
    pub field: Option<String>,
}

impl From<&ConsoleError> for IpcError {
    fn from(e: &ConsoleError) -> Self {
        let (code, message, field) = match e {
            ConsoleError::Engine(inner) => {
                let code = inner.error_code();
                let message = match code {
                    ErrorCode::Storage | ErrorCode::Internal => {
                        tracing::error!(error = %inner, "engine failure");
                        "the vault could not be read or written; the details are in the console's log"
                            .to_owned()
                    }
                    _ => inner.to_string(),
                };
                (
                    IpcErrorCode::Engine(code),
                    message,
                    inner.field().map(str::to_owned),
                )
            }
            ConsoleError::NotSignedIn => (
                IpcErrorCode::Console(ConsoleCode::NotSignedIn),
                e.to_string(),
                None,
            ),
            ConsoleError::IdleLocked(_) => (
                IpcErrorCode::Console(ConsoleCode::IdleLocked),
                e.to_string(),
                None,
            ),
            ConsoleError::NoVault => (
                IpcErrorCode::Console(ConsoleCode::NoVault),
                e.to_string(),
                None,
            ),
            ConsoleError::VaultExists(_) => (
                IpcErrorCode::Console(ConsoleCode::VaultExists),
                e.to_string(),
                None,
            ),
            ConsoleError::Io(_) => (IpcErrorCode::Console(ConsoleCode::Io), e.to_string(), None),
        };
        IpcError {
            code,
            message,
            field,
        }
    }
}

impl Serialize for ConsoleError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        IpcError::from(self).serialize(s)
    }
}

pub type Result<T, E = ConsoleError> = std::result::Result<T, E>;
