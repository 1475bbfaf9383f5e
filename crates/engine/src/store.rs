//! Storage: connection pools for the two backends behind one API. SQL is written once in the
//! engine's modules (sqlx's `Any` driver, `$n` placeholders that both SQLite and PostgreSQL
//! accept); this module owns opening, keying, tuning and migrating, and the few statements
//! whose dialects differ (search, see `customers`).
//!
//! SQLite: the vault file is SQLCipher-encrypted (the raw data key is given at open), WAL,
//! `synchronous=FULL`, foreign keys, a busy timeout, one writer connection and a small pool of
//! read-only readers. PostgreSQL: one pool for both.

use crate::error::{Error, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, ConnectOptions, Executor};
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
}

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
            SQLITE_MIGRATIONS.run(&writer).await?;
            pool(4, true)
                .connect_with(options)
                .await
                .map_err(map_open_error)
        }
        .await;
        let reader = match prepared {
            Ok(reader) => reader,
            Err(e) => {
                // Closed, not dropped: see `Engine::close`.
                writer.close().await;
                return Err(e);
            }
        };
        Ok(Self {
            backend: Backend::Sqlite,
            writer,
            reader,
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
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Tune the SQLite writer for a bulk load (a bigger page cache; checkpoints every 64 MiB
    /// of WAL instead of every 4 MiB) or back to normal.
    pub(crate) async fn set_bulk_load(&self, on: bool) -> Result<()> {
        if self.backend == Backend::Sqlite {
            let sql = if on {
                "PRAGMA wal_autocheckpoint = 16384; PRAGMA cache_size = -262144;"
            } else {
                "PRAGMA wal_autocheckpoint = 1000; PRAGMA cache_size = -65536;"
            };
            sqlx::query(sql).execute(&self.writer).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
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
