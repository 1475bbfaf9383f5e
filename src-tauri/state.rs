//! What the console holds between commands: which vault it uses, and — while a staff member
//! is signed in — the unlocked engine. Signing out, or the idle timeout passing, closes the
//! engine and drops the vault key, so a console left alone holds nothing readable.

use crate::error::{ConsoleError, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use vestibule_engine::{ConsoleSettings, Engine, Staff};

/// Where things live. Environment variables override the defaults (tests give each run its
/// own temporary vault; the README's run command points the demo vault at `demo/`).
#[derive(Debug, Clone)]
pub struct Paths {
    /// `VESTIBULE_VAULT`: use exactly this vault (created on first launch if missing).
    pub fixed_vault: Option<PathBuf>,
    /// Where "create a new vault" puts the vault when none is fixed.
    pub default_vault: PathBuf,
    /// `VESTIBULE_DEMO_VAULT`: the demo vault ("open demo vault" creates it if missing).
    pub demo_vault: PathBuf,
    /// Remembers which vault this console opened last.
    pub choice_file: PathBuf,
    /// `VESTIBULE_DEMO_CUSTOMERS`: how many customers a new demo vault gets.
    pub demo_customers: u64,
    /// `VESTIBULE_IDLE_LOCK_SECONDS`: overrides the organisation's idle lock (tests).
    pub idle_override: Option<Duration>,
}

impl Paths {
    /// How long this console may sit idle: the test override, or the organisation's setting.
    pub fn idle_for(&self, settings: &ConsoleSettings) -> Duration {
        self.idle_override.unwrap_or(Duration::from_secs(
            u64::from(settings.idle_lock_minutes) * 60,
        ))
    }

    pub fn from_env(data_dir: &Path) -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Paths {
            fixed_vault: var("VESTIBULE_VAULT").map(PathBuf::from),
            default_vault: data_dir.join("vestibule.vault"),
            demo_vault: var("VESTIBULE_DEMO_VAULT")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("demo.vault")),
            choice_file: data_dir.join("console.json"),
            demo_customers: std::env::var("VESTIBULE_DEMO_CUSTOMERS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20_000),
            idle_override: std::env::var("VESTIBULE_IDLE_LOCK_SECONDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Duration::from_secs),
        }
    }
}

struct Open {
    engine: Engine,
    staff: Staff,
    last_activity: Instant,
    idle: Duration,
}

struct Inner {
    vault: Option<PathBuf>,
    open: Option<Open>,
}

pub struct Console {
    pub paths: Paths,
    inner: Mutex<Inner>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Choice {
    vault: PathBuf,
}

impl Console {
    pub fn new(paths: Paths) -> Self {
        let vault = paths.fixed_vault.clone().or_else(|| {
            std::fs::read(&paths.choice_file)
                .ok()
                .and_then(|b| serde_json::from_slice::<Choice>(&b).ok())
                .map(|c| c.vault)
                .or_else(|| {
                    paths
                        .default_vault
                        .exists()
                        .then(|| paths.default_vault.clone())
                })
        });
        Console {
            paths,
            inner: Mutex::new(Inner { vault, open: None }),
        }
    }

    /// The vault this console uses, if one has been chosen.
    pub async fn vault(&self) -> Option<PathBuf> {
        self.inner.lock().await.vault.clone()
    }

    /// Remember `vault` as this console's vault (also across restarts).
    pub async fn choose(&self, vault: PathBuf) -> Result<()> {
        if self.paths.fixed_vault.is_none() {
            if let Some(dir) = self.paths.choice_file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| ConsoleError::Io(e.to_string()))?;
            }
            let json = serde_json::to_vec(&Choice {
                vault: vault.clone(),
            })
            .map_err(|e| ConsoleError::Io(e.to_string()))?;
            std::fs::write(&self.paths.choice_file, json)
                .map_err(|e| ConsoleError::Io(e.to_string()))?;
        }
        self.inner.lock().await.vault = Some(vault);
        Ok(())
    }

    /// Hold `engine` for `staff` until sign-out or the idle timeout.
    pub async fn open(&self, engine: Engine, staff: Staff, settings: &ConsoleSettings) -> Duration {
        let idle = self.paths.idle_for(settings);
        let previous = self.inner.lock().await.open.replace(Open {
            engine,
            staff,
            last_activity: Instant::now(),
            idle,
        });
        if let Some(p) = previous {
            p.engine.close().await;
        }
        idle
    }

    /// The signed-in engine and staff member; counts as activity. Past the idle timeout it
    /// locks instead.
    pub async fn session(&self) -> Result<(Engine, Staff)> {
        let mut inner = self.inner.lock().await;
        let open = inner.open.as_mut().ok_or(ConsoleError::NotSignedIn)?;
        if open.last_activity.elapsed() > open.idle {
            let idle = open.idle;
            if let Some(o) = inner.open.take() {
                o.engine.close().await;
            }
            return Err(ConsoleError::IdleLocked(describe(idle)));
        }
        open.last_activity = Instant::now();
        Ok((open.engine.clone(), open.staff.clone()))
    }

    /// The signed-in staff member after a second-factor step.
    pub async fn set_staff(&self, staff: Staff) {
        if let Some(o) = self.inner.lock().await.open.as_mut() {
            o.staff = staff;
        }
    }

    /// Update the idle timeout after the settings changed.
    pub async fn set_idle(&self, settings: &ConsoleSettings) {
        if let Some(o) = self.inner.lock().await.open.as_mut() {
            o.idle = self.paths.idle_for(settings);
        }
    }

    /// Close the engine (forgetting the vault key).
    pub async fn lock(&self) {
        let open = self.inner.lock().await.open.take();
        if let Some(o) = open {
            o.engine.close().await;
        }
    }

    /// Lock if the idle timeout has passed; true when it locked now.
    pub async fn lock_if_idle(&self) -> bool {
        let mut inner = self.inner.lock().await;
        let expired = inner
            .open
            .as_ref()
            .is_some_and(|o| o.last_activity.elapsed() > o.idle);
        if expired && let Some(o) = inner.open.take() {
            o.engine.close().await;
        }
        expired
    }
}

fn describe(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        let m = s / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        format!("{s} second{}", if s == 1 { "" } else { "s" })
    }
}
