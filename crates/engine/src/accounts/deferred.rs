//! Deferred work: the part of a flow that takes an email address whose cost depends on whether
//! the address has an account (registration, password-reset requests, email sign-in codes,
//! email changes).
//!
//! The request path only validates its input (which does not depend on any account), inserts
//! one row into `deferred_work` — the same statement and the same commit for every address —
//! and answers. A background worker then does the rest: creates the account or tells the
//! existing owner, issues the reset token, and so on. So an answer's timing cannot tell an
//! attacker whether an address is registered, and the work survives a crash: the row is
//! deleted in the transaction that does its work, exactly once.
//!
//! The worker waits [`crate::Config::deferred_delay`] after being woken and then does every
//! due job in **one** transaction (one fsync for the lot): a request that arrives meanwhile
//! waits for the whole batch, whatever mix of known and unknown addresses it holds, rather
//! than for one job whose length would betray its kind. If the batch fails, each job is retried
//! alone and a failing one is rescheduled with backoff (its error kept on the row) without
//! holding up the others. [`Engine::settle`] does the due work at once (tests; shutdown).

use crate::Engine;
use crate::error::{Error, Result};
use crate::storage::{Backend, Tx};
use crate::time::to_us;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Mutex, Notify};
use uuid::Uuid;

/// One deferred job. Serialised as the row's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Work {
    /// A registration whose input has been validated and whose password is already hashed.
    Register {
        email: String,
        email_key: String,
        display_name: String,
        locale: String,
        phone: Option<String>,
        /// Serialised, already checked custom attributes.
        attributes: String,
        password_hash: String,
        ip: String,
        #[serde(default)]
        user_agent: String,
        /// What the sign-up form showed and the answers, recorded with the account.
        #[serde(default)]
        consents: Vec<crate::consent::ConsentAnswer>,
        /// The OpenID Connect client the sign-up was for, if any (for analytics).
        #[serde(default)]
        client: String,
    },
    /// "Forgot password" for an address.
    ResetRequest { email_key: String, ip: String },
    /// "Email me a sign-in code" for an address, bound to the asking browser.
    EmailSignIn {
        email_key: String,
        /// The browser binding's SHA-256, hex.
        binding_hash: String,
        ip: String,
    },
    /// A signed-in customer asked to move their account to a new address.
    ChangeEmail {
        customer: Uuid,
        new_email: String,
        new_email_key: String,
    },
}

impl Work {
    fn kind(&self) -> &'static str {
        match self {
            Work::Register { .. } => "register",
            Work::ResetRequest { .. } => "reset_request",
            Work::EmailSignIn { .. } => "email_sign_in",
            Work::ChangeEmail { .. } => "change_email",
        }
    }
}

/// Jobs that failed this many times are dropped (with a log line that names no one).
const MAX_ATTEMPTS: i64 = 12;

/// How often the worker looks for jobs without being woken (jobs queued by another server
/// instance on the same PostgreSQL, or left by a process that crashed).
const POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the worker looks whether the daily retention run is due.
const RETENTION_CHECK: std::time::Duration = std::time::Duration::from_secs(3600);

/// The worker's shared state, one per engine (clones share it).
#[derive(Default)]
pub(crate) struct Worker {
    wake: Notify,
    stopping: AtomicBool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// One batch at a time per process (the worker, `settle` and `close` share it).
    running: Mutex<()>,
}

impl Worker {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

/// Backoff after `attempts` failures: 2 s, 4 s, … capped at 10 minutes.
fn backoff(attempts: i64) -> Duration {
    Duration::seconds((2i64 << attempts.clamp(0, 9)).min(600))
}

impl Engine {
    /// Start the background worker (called once when the engine is assembled).
    pub(crate) fn start_deferred_worker(&self) {
        let engine = self.clone();
        let handle = tokio::spawn(async move {
            let worker = engine.deferred.clone();
            // The same worker looks hourly whether the daily retention run is due (it runs
            // only when a rule is set; see `privacy::retention`), and counts new analytics
            // events each time it wakes.
            let mut retention_checked: Option<tokio::time::Instant> = None;
            loop {
                if retention_checked.is_none_or(|t| t.elapsed() >= RETENTION_CHECK) {
                    retention_checked = Some(tokio::time::Instant::now());
                    if let Err(e) = engine.run_scheduled_retention().await {
                        tracing::warn!(error = %e.code(), "the retention run failed; retried in an hour");
                    }
                }
                tokio::select! {
                    _ = worker.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                if worker.stopping.load(Ordering::Acquire) {
                    break;
                }
                tokio::time::sleep(engine.config.deferred_delay).await;
                if let Err(e) = engine.settle().await {
                    tracing::warn!(error = %e.code(), "deferred work failed; it will be retried");
                }
                // The same worker keeps the analytics rollups current (see `analytics`).
                if !engine.config.analytics_worker {
                    continue;
                }
                if let Err(e) = engine.analytics_catch_up().await {
                    tracing::warn!(error = %e.code(), "counting analytics events failed; retried in a second");
                }
            }
        });
        if let Ok(mut slot) = self.deferred.task.try_lock() {
            *slot = Some(handle);
        }
    }

    /// Stop the worker after the due work is done (part of [`Engine::close`]).
    pub(crate) async fn stop_deferred_worker(&self) {
        self.deferred.stopping.store(true, Ordering::Release);
        self.deferred.wake.notify_one();
        let task = self.deferred.task.lock().await.take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        if let Err(e) = self.settle().await {
            tracing::warn!(error = %e.code(), "deferred work left for the next start");
        }
    }

    /// Queue a job in a transaction of its own, identical for every address, and wake the
    /// worker.
    pub(crate) async fn defer(&self, work: &Work) -> Result<()> {
        let payload = serde_json::to_string(work).map_err(|e| Error::Internal(e.to_string()))?;
        let now = to_us(self.now());
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO deferred_work (kind, payload, created_us, attempts, next_us) VALUES ($1, $2, $3, 0, $3)",
        )
        .bind(work.kind())
        .bind(payload)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.deferred.wake.notify_one();
        Ok(())
    }

    /// Do every due deferred job now; returns how many were done. The background worker
    /// calls this shortly after each request that queued work; tests call it to wait.
    pub async fn settle(&self) -> Result<usize> {
        let _one_at_a_time = self.deferred.running.lock().await;
        let mut done = 0;
        loop {
            match self.run_batch().await {
                Ok(0) => return Ok(done),
                Ok(n) => done += n,
                Err(e) => {
                    tracing::warn!(error = %e.code(), "deferred batch failed; retrying its jobs one by one");
                    return Ok(done + self.run_one_by_one().await?);
                }
            }
        }
    }

    /// Claim up to 500 due jobs and do them in one transaction.
    async fn run_batch(&self) -> Result<usize> {
        let mut tx = self.store.begin().await?;
        let jobs = self.claim(&mut tx, 500).await?;
        for (_, work) in &jobs {
            self.do_work(&mut tx, work).await?;
        }
        tx.commit().await?;
        Ok(jobs.len())
    }

    /// After a failed batch: each due job in its own transaction; a failing one is put back
    /// with backoff, or dropped after [`MAX_ATTEMPTS`].
    async fn run_one_by_one(&self) -> Result<usize> {
        let mut done = 0;
        let mut tx = self.store.begin().await?;
        let due: Vec<i64> = self
            .claim(&mut tx, 500)
            .await?
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        tx.rollback().await?;
        for seq in due {
            let mut tx = self.store.begin().await?;
            let row =
                sqlx::query("DELETE FROM deferred_work WHERE seq = $1 RETURNING payload, attempts")
                    .bind(seq)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(row) = row else { continue };
            let attempts: i64 = row.try_get("attempts")?;
            let outcome = match serde_json::from_str::<Work>(&row.try_get::<String, _>("payload")?)
            {
                Ok(work) => self.do_work(&mut tx, &work).await,
                Err(e) => Err(Error::Internal(format!("unreadable deferred job: {e}"))),
            };
            match outcome {
                Ok(()) => {
                    tx.commit().await?;
                    done += 1;
                }
                Err(e) => {
                    tx.rollback().await?;
                    let mut tx = self.store.begin().await?;
                    if attempts + 1 >= MAX_ATTEMPTS {
                        tracing::error!(seq, error = %e.code(), "deferred job dropped after repeated failures");
                        sqlx::query("DELETE FROM deferred_work WHERE seq = $1")
                            .bind(seq)
                            .execute(&mut *tx)
                            .await?;
                    } else {
                        sqlx::query(
                            "UPDATE deferred_work SET attempts = attempts + 1, next_us = $1, last_error = $2 WHERE seq = $3",
                        )
                        .bind(to_us(self.now() + backoff(attempts)))
                        .bind(e.code())
                        .bind(seq)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                }
            }
        }
        Ok(done)
    }

    /// Delete up to `limit` due jobs inside `tx` and return them; they come back if `tx`
    /// rolls back. On PostgreSQL, rows another instance is working on are skipped.
    async fn claim(&self, tx: &mut Tx, limit: i64) -> Result<Vec<(i64, Work)>> {
        let sql = match self.store.backend() {
            Backend::Postgres => {
                "DELETE FROM deferred_work WHERE seq IN (SELECT seq FROM deferred_work WHERE next_us <= $1 \
                 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING seq, payload"
            }
            Backend::Sqlite => {
                "DELETE FROM deferred_work WHERE seq IN (SELECT seq FROM deferred_work WHERE next_us <= $1 \
                 ORDER BY seq LIMIT $2) RETURNING seq, payload"
            }
        };
        let rows = sqlx::query(sql)
            .bind(to_us(self.now()))
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in rows {
            let seq: i64 = r.try_get("seq")?;
            let work = serde_json::from_str::<Work>(&r.try_get::<String, _>("payload")?)
                .map_err(|e| Error::Internal(format!("unreadable deferred job {seq}: {e}")))?;
            jobs.push((seq, work));
        }
        jobs.sort_by_key(|(seq, _)| *seq);
        Ok(jobs)
    }

    async fn do_work(&self, tx: &mut Tx, work: &Work) -> Result<()> {
        match work {
            Work::Register { .. } => self.finish_registration(tx, work).await,
            Work::ResetRequest { email_key, ip } => {
                self.finish_reset_request(tx, email_key, ip).await
            }
            Work::EmailSignIn {
                email_key,
                binding_hash,
                ip,
            } => {
                self.finish_email_sign_in_request(tx, email_key, binding_hash, ip)
                    .await
            }
            Work::ChangeEmail {
                customer,
                new_email,
                new_email_key,
            } => {
                self.finish_email_change_request(tx, *customer, new_email, new_email_key)
                    .await
            }
        }
    }
}
