//! The email outbox. Flows that must send email (verification, reset, notices) insert a row
//! in the same transaction as the change, so an email is never lost nor sent for a change
//! that rolled back. [`Engine::deliver_outbox`] sends due messages through a [`Mailer`]
//! (SMTP, or `.eml` files in a folder for standalone use) and reschedules failures with
//! exponential backoff; the error stays visible on the row.

use crate::Engine;
use crate::accounts::normalize;
use crate::clock::new_id;
use crate::error::{Error, Result};
use crate::staff::{Permission, Staff};
use crate::storage::Tx;
use crate::time::{from_us, to_us};
use chrono::{DateTime, Duration, Utc};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use sqlx::Row;
use std::path::PathBuf;

/// A queued email as shown to operators.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxMessage {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// How outgoing email leaves the machine.
pub enum Mailer {
    /// Write each message as an `.eml` file into a folder (the standalone default).
    Files(PathBuf),
    /// Send through an SMTP relay (`smtps://user:pass@host`, `smtp://host:25?tls=required`).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    /// `.eml` files in `dir`, which is created owner-only (0700) if missing; each file is
    /// written owner-only (0600): they hold live verification and reset links.
    pub fn files(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        crate::storage::files::private_dir(&dir)
            .map_err(|e| Error::Delivery(format!("{}: {e}", dir.display())))?;
        Ok(Mailer::Files(dir))
    }

    pub fn smtp(url: &str) -> Result<Self> {
        let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| Error::Delivery(format!("SMTP URL: {e}")))?
            .build();
        Ok(Mailer::Smtp(t))
    }

    /// Send one message; `id` (the outbox row's) names its file in a folder.
    async fn send(&self, id: &str, m: Message) -> std::result::Result<(), String> {
        match self {
            Mailer::Files(dir) => {
                let bytes = m.formatted();
                let path = dir.join(format!("{id}.eml"));
                tokio::task::spawn_blocking(move || {
                    crate::storage::files::write_private(&path, &bytes)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
            }
            Mailer::Smtp(t) => t.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}

/// Queue an email inside the caller's transaction.
pub(crate) async fn enqueue(
    tx: &mut Tx,
    engine: &Engine,
    kind: &str,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<()> {
    let now = engine.now();
    sqlx::query(
        "INSERT INTO outbox (id, created_us, kind, to_addr, to_key, subject, body, attempts, next_attempt_us) \
         VALUES ($1, $2, $3, $4, $8, $5, $6, 0, $7)",
    )
    .bind(new_id(now, engine.entropy.as_ref()).to_string())
    .bind(to_us(now))
    .bind(kind)
    .bind(to)
    .bind(subject)
    .bind(body)
    .bind(to_us(now))
    .bind(normalize::key_of_stored(to))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Has this address already been sent [`crate::Config::emails_per_recipient_per_hour`]
/// emails in the last hour? Flows that anyone can trigger for any address (reset requests,
/// "you already have an account", email-change links) then send nothing — silently, so the
/// cap reveals nothing about the address. Security-change notices (sent only for what the
/// account's owner or staff did) do not count against it.
pub(crate) async fn recipient_over_cap(tx: &mut Tx, engine: &Engine, to: &str) -> Result<bool> {
    let since = to_us(engine.now() - Duration::hours(1));
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE to_key = $1 AND created_us > $2 AND kind <> $3",
    )
    .bind(normalize::key_of_stored(to))
    .bind(since)
    .bind(crate::risk::notices::SECURITY_CHANGE_EMAIL)
    .fetch_one(&mut **tx)
    .await?;
    Ok(sent >= engine.config.emails_per_recipient_per_hour)
}

/// [`enqueue`] unless the recipient is over the hourly cap. Returns whether it was queued.
pub(crate) async fn enqueue_capped(
    tx: &mut Tx,
    engine: &Engine,
    kind: &str,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<bool> {
    if recipient_over_cap(tx, engine, to).await? {
        return Ok(false);
    }
    enqueue(tx, engine, kind, to, subject, body).await?;
    Ok(true)
}

fn row_to_message(r: &sqlx::any::AnyRow) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: r.try_get("id")?,
        created_at: from_us(r.try_get("created_us")?),
        kind: r.try_get("kind")?,
        to: r.try_get("to_addr")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: from_us(r.try_get("next_attempt_us")?),
        sent_at: r.try_get::<Option<i64>, _>("sent_us")?.map(from_us),
        last_error: r.try_get("last_error")?,
    })
}

/// Backoff after `attempts` failures: 1 min, 2, 4 … capped at 6 hours.
fn backoff(attempts: i64) -> Duration {
    let minutes = 1i64 << attempts.clamp(0, 9);
    Duration::minutes(minutes.min(360))
}

impl Engine {
    /// Recent outbox messages, newest first (admins: delivery problems are visible here).
    pub async fn outbox(&self, staff: &Staff, limit: i64) -> Result<Vec<OutboxMessage>> {
        staff.require(Permission::ManageSettings)?;
        self.outbox_recent(limit).await
    }

    /// Unchecked listing, for the engine's own tests and the deliverer.
    pub(crate) async fn outbox_recent(&self, limit: i64) -> Result<Vec<OutboxMessage>> {
        let rows = sqlx::query(
            "SELECT id, created_us, kind, to_addr, subject, body, attempts, next_attempt_us, sent_us, last_error \
             FROM outbox ORDER BY created_us DESC, id DESC LIMIT $1",
        )
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.store.reader())
        .await?;
        rows.iter().map(row_to_message).collect()
    }

    /// Send every due message once. Returns (sent, failed). Safe to run from several
    /// processes: a message is claimed by moving its next attempt forward before sending.
    pub async fn deliver_outbox(&self, mailer: &Mailer) -> Result<(usize, usize)> {
        let (mut sent, mut failed) = (0, 0);
        loop {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            let row = sqlx::query(
                "SELECT id, created_us, kind, to_addr, subject, body, attempts, next_attempt_us, sent_us, last_error, version \
                 FROM outbox WHERE sent_us IS NULL AND next_attempt_us <= $1 ORDER BY next_attempt_us LIMIT 1",
            )
            .bind(to_us(now))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                tx.commit().await?;
                break;
            };
            let msg = row_to_message(&row)?;
            let version: i64 = row.try_get("version")?;
            // Claim it (optimistically: another deliverer may have claimed it since we read);
            // nobody else picks it up while we send.
            let claimed = sqlx::query("UPDATE outbox SET next_attempt_us = $1, version = version + 1 WHERE id = $2 AND version = $3")
                .bind(to_us(now + Duration::minutes(5)))
                .bind(&msg.id)
                .bind(version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            if claimed == 0 {
                continue;
            }

            let result = match build_message(&self.config.mail_from, &msg) {
                Ok(m) => mailer.send(&msg.id, m).await,
                Err(e) => Err(e),
            };
            let mut tx = self.store.begin().await?;
            match result {
                Ok(()) => {
                    sqlx::query("UPDATE outbox SET sent_us = $1, attempts = attempts + 1, last_error = NULL, version = version + 1 WHERE id = $2")
                        .bind(to_us(self.now()))
                        .bind(&msg.id)
                        .execute(&mut *tx)
                        .await?;
                    sent += 1;
                }
                Err(err) => {
                    tracing::warn!(id = %msg.id, error = %err, "email delivery failed; will retry");
                    sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_us = $1, last_error = $2, version = version + 1 WHERE id = $3")
                        .bind(to_us(self.now() + backoff(msg.attempts)))
                        .bind(err)
                        .bind(&msg.id)
                        .execute(&mut *tx)
                        .await?;
                    failed += 1;
                }
            }
            tx.commit().await?;
        }
        Ok((sent, failed))
    }
}

fn build_message(from: &str, msg: &OutboxMessage) -> std::result::Result<Message, String> {
    Message::builder()
        .from(from.parse().map_err(|e| format!("from address: {e}"))?)
        .to(msg.to.parse().map_err(|e| format!("to address: {e}"))?)
        .subject(msg.subject.clone())
        .body(msg.body.clone())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0).num_minutes(), 1);
        assert_eq!(backoff(3).num_minutes(), 8);
        assert_eq!(backoff(50).num_minutes(), 360);
    }
}
