//! Settings an organisation changes at run time, stored in the database (`settings` table,
//! key `console`) so every console and server on the same store agrees: whether staff must
//! give a reason before a customer record opens, and after how many idle minutes a console
//! locks. Reading needs only a signed-in staff member; changing needs `ManageSettings` and is
//! audited with a diff.

use crate::Engine;
use crate::error::{Error, Result};
use crate::staff::audit;
use crate::staff::{Permission, Staff};
use serde::{Deserialize, Serialize};
use serde_json::json;

const KEY: &str = "console";

/// The organisation's console settings. `version` increases with every change (a stale
/// update is a conflict).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConsoleSettings {
    /// Staff must give a reason or ticket reference before a customer record opens.
    pub require_access_reason: bool,
    /// A console locks (and forgets the vault key) after this many idle minutes.
    pub idle_lock_minutes: u32,
    #[serde(default)]
    pub version: i64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            require_access_reason: false,
            idle_lock_minutes: 15,
            version: 0,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    require_access_reason: bool,
    idle_lock_minutes: u32,
}

/// One settings document's stored JSON and version (`None` when never set).
pub(crate) async fn read_raw<'e>(
    ex: impl sqlx::Executor<'e, Database = sqlx::Any>,
    key: &str,
) -> Result<Option<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT value, version FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(ex)
            .await?,
    )
}

/// Store a settings document inside the caller's transaction, if its version is still
/// `expected` (0: never stored); otherwise `Conflict` (someone saved in between).
pub(crate) async fn write_raw(
    tx: &mut crate::storage::Tx,
    key: &str,
    value: &str,
    expected: i64,
    what: &'static str,
) -> Result<()> {
    let current = read_raw(&mut **tx, key).await?.map_or(0, |(_, v)| v);
    if current != expected {
        return Err(Error::Conflict(what));
    }
    if current == 0 {
        sqlx::query("INSERT INTO settings (key, value, version) VALUES ($1, $2, 1)")
            .bind(key)
            .bind(value)
            .execute(&mut **tx)
            .await?;
    } else {
        sqlx::query("UPDATE settings SET value = $1, version = version + 1 WHERE key = $2")
            .bind(value)
            .bind(key)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Read the settings inside a transaction (defaults when never set).
pub(crate) async fn load<'e>(
    ex: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<ConsoleSettings> {
    Ok(match read_raw(ex, KEY).await? {
        None => ConsoleSettings::default(),
        Some((value, version)) => {
            let s: Stored = serde_json::from_str(&value)
                .map_err(|e| Error::Internal(format!("stored console settings: {e}")))?;
            ConsoleSettings {
                require_access_reason: s.require_access_reason,
                idle_lock_minutes: s.idle_lock_minutes,
                version,
            }
        }
    })
}

impl Engine {
    /// The organisation's console settings.
    pub async fn console_settings(&self, _staff: &Staff) -> Result<ConsoleSettings> {
        load(self.store.reader()).await
    }

    /// Change the console settings (admins). `new.version` must be the version read.
    pub async fn update_console_settings(
        &self,
        staff: &Staff,
        new: &ConsoleSettings,
    ) -> Result<ConsoleSettings> {
        staff.require(Permission::ManageSettings)?;
        if !(1..=480).contains(&new.idle_lock_minutes) {
            return Err(Error::invalid(
                "idle_lock_minutes",
                "the idle lock must be between 1 and 480 minutes",
            ));
        }
        let mut tx = self.store.begin().await?;
        let before = load(&mut *tx).await?;
        let value = serde_json::to_string(&Stored {
            require_access_reason: new.require_access_reason,
            idle_lock_minutes: new.idle_lock_minutes,
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        write_raw(&mut tx, KEY, &value, new.version, "the settings").await?;
        let after = load(&mut *tx).await?;
        self.audit(
            &mut tx,
            &staff.actor(),
            "settings.console_updated",
            "settings:console",
            None,
            audit::diff(&[
                (
                    "require_access_reason",
                    json!(before.require_access_reason),
                    json!(after.require_access_reason),
                ),
                (
                    "idle_lock_minutes",
                    json!(before.idle_lock_minutes),
                    json!(after.idle_lock_minutes),
                ),
            ]),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}
