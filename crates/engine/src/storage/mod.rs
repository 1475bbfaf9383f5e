//! Storage: connection pools for the two backends behind one API. SQL is written once in the
//! engine's modules (sqlx's `Any` driver, `$n` placeholders that both SQLite and PostgreSQL
//! accept); this module owns opening, keying, tuning and migrating, and the few statements
//! whose dialects differ (search, see `accounts::search`). Beside it: the vault key file
//! (`vault`) and owner-only files (`files`).
//!
//! SQLite: the vault file is SQLCipher-encrypted (the raw data key is given at open), WAL,
//! `synchronous=FULL`, foreign keys, a busy timeout, one writer connection and a small pool of
//! read-only readers. WAL checkpoints run on a connection of their own, from a background task,
//! so no request waits behind one; the writer checkpoints only as a backstop when the WAL has
//! grown large. PostgreSQL: one pool for both.

pub(crate) mod files;
pub(crate) mod vault;

use crate::error::{Error, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, ConnectOptions, Executor, Row};
use std::path::Path;
use std::time::Duration;

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A write transaction; every engine flow runs in exactly one.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    writer: AnyPool,
    reader: AnyPool,
    /// SQLite: the connection background checkpoints run on.
    checkpointer: Option<AnyPool>,
}

/// How often the background task moves committed WAL frames into the vault file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// WAL pages after which the writer checkpoints itself (the backstop if the background task
/// falls behind): 16 MiB, against SQLite's default of 1000 pages taken on the commit path.
const WRITER_CHECKPOINT_PAGES: u32 = 4096;
/// The same during bulk loads (64 MiB), when the page cache is bigger too.
const BULK_CHECKPOINT_PAGES: u32 = 16_384;

/// The `settings` key holding the definitions of indexes dropped for a bulk load.
const SUSPENDED_INDEXES: &str = "storage.suspended_indexes";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

fn sqlite_url(path: &Path, create: bool) -> Result<String> {
    let abs =
        std::path::absolute(path).map_err(|e| Error::Vault(format!("{}: {e}", path.display())))?;
    let s = abs
        .to_str()
        .ok_or_else(|| Error::Vault("the vault path must be valid UTF-8".into()))?;
    let escaped = s
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    let mode = if create { "rwc" } else { "rw" };
    Ok(format!("sqlite://{escaped}?mode={mode}"))
}

impl Store {
    /// Open (or create) an encrypted SQLite vault with its raw 256-bit data key.
    pub async fn open_sqlite(path: &Path, data_key: &[u8; 32], create: bool) -> Result<Self> {
        install_default_drivers();
        if !create && !path.exists() {
            return Err(Error::Vault(format!("{} does not exist", path.display())));
        }
        // SQLite gives the WAL and shared-memory files the main file's mode: create it
        // owner-only first, and tighten an existing vault that is more open.
        if create && !path.exists() {
            crate::storage::files::private_parent(path)
                .and_then(|()| crate::storage::files::open_private(path, true).map(drop))
                .map_err(|e| Error::Vault(format!("{}: {e}", path.display())))?;
        }
        crate::storage::files::tighten_vault(path)
            .map_err(|e| Error::Vault(format!("{}: {e}", path.display())))?;
        let url = sqlite_url(path, create)?;
        // sqlx logs each statement's text (at debug level); on a vault the first statement of
        // every connection is `PRAGMA key` with the data key in it, so vault connections
        // never log statements.
        let options = url
            .parse::<AnyConnectOptions>()?
            .disable_statement_logging();
        let key_pragma = format!("PRAGMA key = \"x'{}'\"", hex::encode(data_key));
        let pool = |max: u32, read_only: bool| {
            let key_pragma = key_pragma.clone();
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(30))
                // A local file connection does not go stale: no ping (a round trip to the
                // connection's thread) before every statement.
                .test_before_acquire(false)
                .after_connect(move |conn, _meta| {
                    let key_pragma = key_pragma.clone();
                    Box::pin(async move {
                        // The key must come before anything reads the file.
                        conn.execute(sqlx::AssertSqlSafe(key_pragma)).await?;
                        // Every page read from disk is decrypted and authenticated, so a
                        // generous page cache (64 MiB, allocated only as used) saves most of
                        // SQLCipher's work on large vaults.
                        conn.execute(
                            "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                             PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; \
                             PRAGMA cache_size = -65536;",
                        )
                        .await?;
                        if read_only {
                            conn.execute("PRAGMA query_only = ON").await?;
                        } else {
                            // Deleted content is overwritten with zeros (in the page and in
                            // free pages), so an erased customer's bytes do not linger.
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}; \
                                 PRAGMA secure_delete = ON;"
                            )))
                            .await?;
                        }
                        Ok(())
                    })
                })
        };
        let writer = pool(1, false)
            .connect_with(options.clone())
            .await
            .map_err(map_open_error)?;
        let prepared = async {
            // Reading the schema fails here when the key is wrong.
            sqlx::query("SELECT count(*) FROM sqlite_master")
                .execute(&writer)
                .await
                .map_err(map_open_error)?;
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&writer)
                .await?;
            restore_indexes(&writer).await?;
            SQLITE_MIGRATIONS.run(&writer).await?;
            let reader = pool(4, true)
                .connect_with(options.clone())
                .await
                .map_err(map_open_error)?;
            let checkpointer = pool(1, false).connect_lazy_with(options);
            Ok::<_, Error>((reader, checkpointer))
        }
        .await;
        let (reader, checkpointer) = match prepared {
            Ok(pools) => pools,
            Err(e) => {
                // Closed, not dropped: see `Engine::close`.
                writer.close().await;
                return Err(e);
            }
        };
        tokio::spawn(checkpoint_in_background(checkpointer.clone()));
        Ok(Self {
            backend: Backend::Sqlite,
            writer,
            reader,
            checkpointer: Some(checkpointer),
        })
    }

    /// Connect to PostgreSQL and apply migrations.
    pub async fn open_postgres(url: &str) -> Result<Self> {
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(Self {
            backend: Backend::Postgres,
            writer: pool.clone(),
            reader: pool,
            checkpointer: None,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begin the single write transaction of a flow. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so a flow never fails half-way on lock upgrade.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }

    /// Pool for reads that need no transaction.
    pub(crate) fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Flush the WAL into the main file (SQLite) so the file on disk is self-contained.
    pub async fn checkpoint(&self) -> Result<()> {
        self.checkpoint_truncate().await.map(drop)
    }

    /// Copy every WAL frame into the main file and truncate the WAL to nothing; `false` when
    /// a reader still needed old frames (they stay until the next checkpoint). PostgreSQL:
    /// nothing to do (`true`).
    pub(crate) async fn checkpoint_truncate(&self) -> Result<bool> {
        if self.backend != Backend::Sqlite {
            return Ok(true);
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.writer)
            .await?;
        Ok(row.try_get::<i64, _>(0)? == 0)
    }

    /// Tune the SQLite writer for a bulk load (a bigger page cache and WAL backstop) or back
    /// to normal.
    pub(crate) async fn set_bulk_load(&self, on: bool) -> Result<()> {
        if self.backend == Backend::Sqlite {
            let (pages, cache_kib) = if on {
                (BULK_CHECKPOINT_PAGES, 262_144)
            } else {
                (WRITER_CHECKPOINT_PAGES, 65_536)
            };
            let sql =
                format!("PRAGMA wal_autocheckpoint = {pages}; PRAGMA cache_size = -{cache_kib};");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Drop the plain (not unique) indexes of `tables` for a bulk load into a SQLite vault,
    /// so each row goes in without a random write per index, keeping their definitions in
    /// `settings` in the same transaction: [`Store::restore_indexes`] builds them again in
    /// one sorted pass each — and so does the next open, should the load be cut short.
    /// PostgreSQL keeps its indexes.
    pub(crate) async fn suspend_indexes(&self, tables: &[&str]) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        let mut kept: Vec<String> =
            match sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
                .bind(SUSPENDED_INDEXES)
                .fetch_optional(&mut *tx)
                .await?
            {
                Some(v) => serde_json::from_str(&v).map_err(|e| Error::Internal(e.to_string()))?,
                None => vec![],
            };
        for table in tables {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
                 AND sql LIKE 'CREATE INDEX %' ORDER BY name",
            )
            .bind(*table)
            .fetch_all(&mut *tx)
            .await?;
            for (name, sql) in rows {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
                    .execute(&mut *tx)
                    .await?;
                kept.push(sql);
            }
        }
        let value = serde_json::to_string(&kept).map_err(|e| Error::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(SUSPENDED_INDEXES)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Build again the indexes [`Store::suspend_indexes`] dropped.
    pub(crate) async fn restore_indexes(&self) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        restore_indexes(&self.writer).await
    }

    pub async fn close(&self) {
        if let Some(c) = &self.checkpointer {
            // The background task sees the closed pool and ends.
            c.close().await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Every [`CHECKPOINT_EVERY`], copy what the WAL holds into the vault file (`PASSIVE`: it
/// never waits for, or blocks, the writer or readers), until the store is closed. A commit
/// then only appends to the WAL; before, every 1000th page made one commit do the copying and
/// its fsync while its request, and any write queued behind it, waited.
async fn checkpoint_in_background(pool: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "background WAL checkpoint failed; the writer's backstop still applies");
        }
    }
}

fn map_open_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.message().contains("file is not a database") => {
            Error::VaultLocked
        }
        _ => Error::Storage(e),
    }
}

/// Build the indexes a bulk load dropped (see [`Store::suspend_indexes`]), if any: after the
/// load, or on opening a vault whose load was cut short — before migrations, which expect
/// the schema they left.
async fn restore_indexes(writer: &AnyPool) -> Result<()> {
    let has_settings: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'settings'",
    )
    .fetch_one(writer)
    .await?;
    if has_settings == 0 {
        return Ok(());
    }
    let mut tx = writer.begin().await?;
    let Some(value) = sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
        .bind(SUSPENDED_INDEXES)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(());
    };
    let kept: Vec<String> =
        serde_json::from_str(&value).map_err(|e| Error::Internal(e.to_string()))?;
    for sql in kept {
        let sql = match sql.strip_prefix("CREATE INDEX ") {
            Some(rest) => format!("CREATE INDEX IF NOT EXISTS {rest}"),
            None => return Err(Error::Internal(format!("suspended index: {sql}"))),
        };
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM settings WHERE key = $1")
        .bind(SUSPENDED_INDEXES)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_wal_is_checkpointed_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.vault");
        let store = Store::open_sqlite(&path, &[7; 32], true).await.unwrap();
        store.checkpoint().await.unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        sqlx::query("CREATE TABLE t (x BLOB)")
            .execute(&store.writer)
            .await
            .unwrap();
        for _ in 0..50 {
            sqlx::query("INSERT INTO t VALUES (randomblob(4000))")
                .execute(&store.writer)
                .await
                .unwrap();
        }
        // ~100 pages: far below the writer's own threshold, so only the background task
        // brings them into the vault file (it may already have, while the rows went in).
        let started = std::time::Instant::now();
        while std::fs::metadata(&path).unwrap().len() == before {
            assert!(
                started.elapsed() < CHECKPOINT_EVERY * 10,
                "no background checkpoint"
            );
            tokio::time::sleep(CHECKPOINT_EVERY / 5).await;
        }
        store.close().await;
    }

    async fn indexes(store: &Store, table: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
             AND sql IS NOT NULL ORDER BY name",
        )
        .bind(table)
        .fetch_all(&store.writer)
        .await
        .unwrap()
    }

    async fn unique_indexes(store: &Store) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customers' \
             AND (sql IS NULL OR sql LIKE 'CREATE UNIQUE%')",
        )
        .fetch_one(&store.writer)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn indexes_dropped_for_a_bulk_load_come_back_after_it_or_on_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.vault");
        let store = Store::open_sqlite(&path, &[7; 32], true).await.unwrap();
        let attempts = indexes(&store, "sign_in_attempts").await;
        let customers = indexes(&store, "customers").await;
        assert!(attempts.len() >= 5, "{attempts:?}");
        let unique_before = unique_indexes(&store).await;
        assert!(unique_before > 0);

        store
            .suspend_indexes(&["customers", "sign_in_attempts"])
            .await
            .unwrap();
        assert!(indexes(&store, "sign_in_attempts").await.is_empty());
        // Unique indexes keep checking the rows that go in.
        assert!(
            indexes(&store, "customers")
                .await
                .iter()
                .all(|s| s.starts_with("CREATE UNIQUE"))
        );
        assert_eq!(unique_indexes(&store).await, unique_before);
        store.restore_indexes().await.unwrap();
        assert_eq!(indexes(&store, "sign_in_attempts").await, attempts);
        assert_eq!(indexes(&store, "customers").await, customers);

        // A load cut short: the next open builds them.
        store.suspend_indexes(&["sign_in_attempts"]).await.unwrap();
        store.close().await;
        let store = Store::open_sqlite(&path, &[7; 32], false).await.unwrap();
        assert_eq!(indexes(&store, "sign_in_attempts").await, attempts);
        let marker: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(SUSPENDED_INDEXES)
                .fetch_optional(&store.writer)
                .await
                .unwrap();
        assert_eq!(marker, None);
        store.close().await;
    }
}
