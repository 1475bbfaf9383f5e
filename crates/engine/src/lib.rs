//! Vestibule's identity engine. It owns customer accounts, passwords, sessions, sign-in
//! attempts, staff and their permissions, the audit log and the email outbox, on an
//! encrypted SQLite vault or on PostgreSQL. It knows nothing about Tauri or HTTP: the console,
//! the server and the CLI are adapters that call [`Engine`] methods.
//!
//! Contact points:
//! - [`Engine`] — open a store ([`Engine::create_vault`], [`Engine::unlock_vault`],
//!   [`Engine::init_postgres`], [`Engine::connect_postgres`]) and call flows on it.
//! - A folder per domain: `accounts` (customer records, self-service flows, sessions, search,
//!   support actions), `credentials` (passwords, tokens), `oidc` (the provider), `staff`
//!   (roles, staff operations, audit, settings), `factors` (TOTP, recovery codes, the
//!   second sign-in step, recent authentication), `federation` (social sign-in through
//!   upstream OpenID Connect providers), `frontdoor` (what the hosted pages need:
//!   branding), `risk` (sign-in risk: the policy, the signals, GeoIP), `outbox`, `storage`. Each flow is one transaction that also appends to the
//!   audit log.
//! - [`Error`] — the one error type, with stable codes.
//! - Time and randomness come from [`Clock`] and [`Entropy`] given in [`Deps`].

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod accounts;
pub mod analytics;
mod clock;
mod config;
pub mod consent;
mod credentials;
pub mod demo;
mod error;
mod factors;
mod federation;
mod frontdoor;
pub mod oidc;
mod outbox;
pub mod privacy;
pub mod risk;
mod staff;
mod storage;
mod time;

/// The demo data generator (also reachable as `demo::seed`).
pub use demo::seed;

pub use accounts::attributes::{
    AttributeAsk, AttributeDefinition, AttributeDefinitions, AttributeKind, ProfileMoment,
    SKIP_QUIET,
};
pub use accounts::normalize::{Email, email as normalize_email};
pub use accounts::record::{
    Customer, CustomerRisk, CustomerStatus, CustomerSummary, ProfilePatch, RiskLevel, SearchPage,
    SignInAttempt,
};
pub use accounts::selfservice::RegisterInput;
pub use accounts::sessions::{RECENT_AUTH, RequestContext, SessionInfo, SignedIn};
pub use clock::{Clock, Entropy, ManualClock, OsEntropy, SeededEntropy, SystemClock};
pub use config::Config;
pub use credentials::password::{HashParams, Hasher, PasswordPolicy};
pub use credentials::sealed::FactorKey;
pub use error::{Error, ErrorCode, Result};
pub use factors::challenge::{CHALLENGE_TTL, Challenge, ChallengeKind, FactorProof, SignInStep};
pub use factors::email::{EMAIL_SIGN_IN_TTL, EmailProof, EmailSignIn};
pub use factors::passkeys::{CEREMONY_TTL, MAX_PASSKEYS, PasskeyCeremony};
pub use factors::stepup::StepUpProof;
pub use factors::totp::TotpEnrolment;
pub use factors::{Factor, FactorKind};
pub use federation::Fetch;
pub use federation::flow::{SOCIAL_FLOW_TTL, SocialOutcome, SocialStart, social_redirect_uri};
pub use federation::links::SocialLink;
pub use federation::providers::{DEFAULT_UPSTREAM_SCOPES, NewUpstreamProvider, UpstreamProvider};
pub use frontdoor::branding::{Branding, DEFAULT_ACCENT, Logo, MAX_LOGO_BYTES};
pub use frontdoor::is_local_path;
pub use oidc::clients::{NewClient, OidcClient, RegisteredClient};
pub use oidc::grants::ConnectedApp;
pub use oidc::introspect::Introspection;
pub use oidc::signing::SigningAlg;
pub use outbox::{Mailer, OutboxMessage};
pub use risk::blocks::IpBlock;
pub use risk::overview::{AttackOverview, AttackSource, TargetedAccount};
pub use risk::policy::{Decision, RiskLimits, RiskMode, RiskPolicy, SignalKind, SignalRule};
pub use risk::replay::{DecisionCounts, ReplayExample, ReplayReport};
pub use risk::review::{
    BlockRequest, ReviewDecision, ReviewFilter, ReviewItem, ReviewOutcome, ReviewStatus, Verdict,
};
pub use risk::signals::Signal;
pub use staff::audit::{AuditEntry, VerifyReport};
pub use staff::ops::StaffChannel;
pub use staff::settings::ConsoleSettings;
pub use staff::{Permission, Role, Staff, StaffFactor, StaffMember, allows};
pub use storage::files::write_private_replacing as write_private_file;
pub use storage::vault::{RecoveryKey, key_file_path};
pub use storage::{Backend, Store};

use accounts::normalize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The engine's inputs that tests replace: time, randomness and configuration.
#[derive(Clone)]
pub struct Deps {
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    pub config: Config,
}

impl Deps {
    /// Wall clock, OS randomness, default configuration.
    pub fn system() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
            config: Config::default(),
        }
    }
}

/// An open vault: where it is and its data key, kept to re-wrap when staff change.
struct VaultHandle {
    path: PathBuf,
    key: storage::vault::DataKey,
}

/// The identity engine over one store. Cheap to clone; clones share pools and state.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    hasher: Arc<Hasher>,
    config: Arc<Config>,
    /// One thread per core does all argon2id work, with a bounded queue in front.
    hash_pool: Arc<credentials::hashpool::HashPool>,
    vault: Option<Arc<Mutex<VaultHandle>>>,
    /// The background worker for email-address flows (see the `deferred` module).
    deferred: Arc<accounts::deferred::Worker>,
    /// Seals factor secrets (derived from a vault's data key, or the operator's on PostgreSQL).
    factor_key: Option<Arc<FactorKey>>,
    /// The WebAuthn relying party (the issuer's host), when the issuer is a host name.
    webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Upstream providers' discovery documents and keys, read at most hourly.
    upstream_meta: Arc<federation::flow::MetadataCache>,
    /// The current RS256 signing key, parsed (kid, key).
    rsa_key: Arc<std::sync::Mutex<Option<(String, oidc::signing::RsaSigner)>>>,
    /// The operator's GeoIP databases, when configured (see the `risk` module).
    geoip: Arc<std::sync::RwLock<Option<Arc<risk::geo::GeoIp>>>>,
    /// The risk policy last read, with its version (see `risk::assess`).
    risk_policy: Arc<std::sync::RwLock<Option<Arc<risk::policy::RiskPolicy>>>>,
    /// The operator's breached-password corpus, when configured.
    breached: Arc<std::sync::RwLock<Option<Arc<credentials::breached::Breached>>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl Engine {
    fn assemble(store: Store, deps: Deps, vault: Option<VaultHandle>) -> Result<Self> {
        let hasher = Arc::new(Hasher::new(deps.config.hash, deps.entropy.as_ref())?);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hash_pool = credentials::hashpool::HashPool::new(
            hasher.clone(),
            cores,
            deps.config.hash_queue,
            deps.config.hash_nice,
        )?;
        let factor_key = match &vault {
            Some(v) => Some(FactorKey::for_vault(&v.key.0)),
            None => deps.config.factor_key.clone(),
        }
        .map(Arc::new);
        let webauthn = factors::passkeys::relying_party(&deps.config.public_url).map(Arc::new);
        let engine = Self {
            upstream_meta: Arc::default(),
            rsa_key: Arc::default(),
            geoip: Arc::default(),
            risk_policy: Arc::default(),
            breached: Arc::default(),
            webauthn,
            factor_key,
            store,
            clock: deps.clock,
            entropy: deps.entropy,
            hasher,
            config: Arc::new(deps.config),
            hash_pool: Arc::new(hash_pool),
            vault: vault.map(|v| Arc::new(Mutex::new(v))),
            deferred: accounts::deferred::Worker::new(),
        };
        engine.start_deferred_worker();
        Ok(engine)
    }

    /// Work a newly opened store needs once: data added by migrations that SQL alone cannot
    /// compute (the confusable skeletons of addresses stored before they existed).
    async fn after_open(self) -> Result<Self> {
        let done = self.backfill_email_skeletons().await;
        self.or_close(done).await?;
        Ok(self)
    }

    /// Create a new encrypted vault with its first admin. Returns the engine, the admin
    /// (signed in) and the one-time recovery key to show the operator.
    pub async fn create_vault(
        path: &Path,
        admin_email: &str,
        admin_password: &str,
        deps: Deps,
    ) -> Result<(Engine, Staff, RecoveryKey)> {
        let email = normalize::email(admin_email)?;
        deps.config
            .policy
            .check(admin_password, &[&email.key], false)?;
        let (mut ring, key, recovery) =
            storage::vault::Keyring::create(path, deps.entropy.as_ref())?;
        let store = Store::open_sqlite(path, &key.0, true).await?;
        let engine = Engine::assemble(
            store,
            deps,
            Some(VaultHandle {
                path: path.to_owned(),
                key: key.clone(),
            }),
        )?;
        let made = async {
            let admin = engine.insert_first_admin(&email, admin_password).await?;
            ring.set_staff(
                &email.key,
                admin_password,
                &key,
                &engine.hasher,
                engine.entropy.as_ref(),
            )?;
            ring.save()?;
            Ok(admin)
        }
        .await;
        let admin = engine.or_close(made).await?;
        Ok((engine, admin, recovery))
    }

    /// Open a vault with a staff member's credentials: unwrapping the data key is the sign-in
    /// (with `code` from their authenticator app if they have one; without it the staff
    /// member is left at [`StaffFactor::CodeNeeded`], see [`Engine::staff_second_factor`]).
    pub async fn unlock_vault(
        path: &Path,
        staff_email: &str,
        password: &str,
        code: Option<&str>,
        deps: Deps,
    ) -> Result<(Engine, Staff)> {
        let email = normalize::email(staff_email).map_err(|_| Error::InvalidCredentials)?;
        let ring = storage::vault::Keyring::load(path, deps.entropy.as_ref())?;
        // Failures of a locked vault are kept beside it: throttle on them before hashing.
        let mut log = storage::vault::SignInLog::load(path)?;
        let holder = ring.holder_of(&email.key);
        let now = deps.clock.now();
        let since = time::to_us(now - deps.config.throttle_window);
        if log.recent(&holder, since) >= deps.config.staff_throttle_failures {
            return Err(Error::throttled(deps.config.throttle_window));
        }
        let kdf = Hasher::new_for_kdf(deps.config.hash)?;
        let key = match ring.unlock_staff(&email.key, password, &kdf) {
            Ok(key) => key,
            Err(Error::InvalidCredentials) => {
                log.record(holder, time::to_us(now))?;
                return Err(Error::InvalidCredentials);
            }
            Err(e) => return Err(e),
        };
        let store = Store::open_sqlite(path, &key.0, false).await?;
        let engine = Engine::assemble(
            store,
            deps,
            Some(VaultHandle {
                path: path.to_owned(),
                key,
            }),
        )?;
        let engine = engine.after_open().await?;
        let signed_in = async {
            engine.import_vault_failures(&ring, &mut log).await?;
            engine
                .staff_sign_in_via(staff_email, password, code, StaffChannel::Vault, "")
                .await
        }
        .await;
        let staff = engine.or_close(signed_in).await?;
        Ok((engine, staff))
    }

    /// Open a vault with the recovery key (when every staff password is lost). The caller
    /// then signs in a staff member or resets one with [`Engine::recover_staff_password`].
    pub async fn unlock_vault_with_recovery(
        path: &Path,
        recovery: &RecoveryKey,
        deps: Deps,
    ) -> Result<Engine> {
        let ring = storage::vault::Keyring::load(path, deps.entropy.as_ref())?;
        let key = ring.unlock_recovery(recovery)?;
        let store = Store::open_sqlite(path, &key.0, false).await?;
        Engine::assemble(
            store,
            deps,
            Some(VaultHandle {
                path: path.to_owned(),
                key,
            }),
        )?
        .after_open()
        .await
    }

    /// Initialise a PostgreSQL database with its first admin (fails if it already has staff).
    pub async fn init_postgres(
        url: &str,
        admin_email: &str,
        admin_password: &str,
        deps: Deps,
    ) -> Result<(Engine, Staff)> {
        let email = normalize::email(admin_email)?;
        deps.config
            .policy
            .check(admin_password, &[&email.key], false)?;
        let store = Store::open_postgres(url).await?;
        let engine = Engine::assemble(store, deps, None)?;
        let made = engine.insert_first_admin(&email, admin_password).await;
        let admin = engine.or_close(made).await?;
        Ok((engine, admin))
    }

    /// Connect to an initialised PostgreSQL database.
    pub async fn connect_postgres(url: &str, deps: Deps) -> Result<Engine> {
        let store = Store::open_postgres(url).await?;
        Engine::assemble(store, deps, None)?.after_open().await
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the vault file is, for vault-backed engines.
    pub async fn vault_path(&self) -> Option<PathBuf> {
        match &self.vault {
            Some(v) => Some(v.lock().await.path.clone()),
            None => None,
        }
    }

    /// Check that the database answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.store.reader()).await?;
        Ok(())
    }

    /// Flush and close the pools. Call it before the process ends: SQLite connections that
    /// are merely dropped close on their own threads afterwards, and a process exiting
    /// meanwhile crashes in SQLCipher's exit handler.
    pub async fn close(&self) {
        self.stop_deferred_worker().await;
        let _ = self.store.checkpoint().await;
        self.store.close().await;
    }

    /// A failed step of opening: close what was opened, then give the error.
    async fn or_close<T>(&self, r: Result<T>) -> Result<T> {
        if r.is_err() {
            self.close().await;
        }
        r
    }

    /// The engine's time (its clock is an input: tests and benchmarks give their own).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// A new argon2id PHC string for `password`, computed on the bounded hashing pool.
    async fn hash_password(&self, password: &str) -> Result<String> {
        let pw = password.to_owned();
        let entropy = self.entropy.clone();
        self.hashing(move |h| h.hash(&pw, entropy.as_ref())).await?
    }

    /// Check `password` against a stored PHC string on the hashing pool; with none (no such
    /// account) the same work is done against a dummy hash and the answer is false.
    async fn verify_password(&self, stored: Option<String>, password: &str) -> Result<bool> {
        let pw = password.to_owned();
        self.hashing(move |h| match stored {
            Some(phc) => h.verify(&pw, &phc).unwrap_or(false),
            None => {
                h.verify_dummy(&pw);
                false
            }
        })
        .await
    }

    /// Run argon2id work on the hashing pool (one thread per core); when its queue is full
    /// the caller gets [`Error::Overloaded`] at once.
    async fn hashing<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Hasher) -> T + Send + 'static,
    ) -> Result<T> {
        self.hash_pool.run(f).await
    }
}

#[cfg(feature = "test-hooks")]
impl Engine {
    /// Empty the analytics rollups without counting again (the crash test's child process
    /// then counts in small passes while its parent kills it).
    #[doc(hidden)]
    pub async fn analytics_forget_for_test(&self) -> Result<()> {
        let mut tx = self.store.begin().await?;
        for t in [
            "DELETE FROM analytics_counts",
            "DELETE FROM analytics_active",
            "DELETE FROM analytics_milestones",
            "DELETE FROM analytics_funnel",
            "UPDATE analytics_state SET seq = 0, last_txid = '0', counted = 0",
        ] {
            sqlx::query(t).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One aggregation pass over at most `limit` events; how many it counted.
    #[doc(hidden)]
    pub async fn analytics_pass_for_test(&self, limit: i64) -> Result<u64> {
        self.analytics_pass(limit).await
    }

    /// Run raw SQL bypassing every check. Only for the engine's tamper tests.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> Result<u64> {
        let mut tx = self.store.begin().await?;
        let n = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Checkpoint the WAL into the vault file (tests that read the file's bytes).
    #[doc(hidden)]
    pub async fn checkpoint_for_test(&self) -> Result<()> {
        self.store.checkpoint().await
    }

    /// The rows of `table` whose `column` equals `value`, as JSON, for tests that look at
    /// what is stored.
    #[doc(hidden)]
    pub async fn raw_rows_for_test(
        &self,
        table: &str,
        column: &str,
        value: &str,
    ) -> Result<Vec<serde_json::Value>> {
        let sql = format!("SELECT * FROM {table} WHERE {column} = $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_all(self.store.reader())
            .await?;
        Ok(rows.iter().map(privacy::export::row_json).collect())
    }

    /// How many events name this customer (the erasure test: none after).
    #[doc(hidden)]
    pub async fn events_of_for_test(&self, customer: uuid::Uuid) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM events WHERE customer_id = $1")
                .bind(customer.to_string())
                .fetch_one(self.store.reader())
                .await?,
        )
    }

    /// Every (table, column) of the store's own tables, for the schema-driven export test.
    #[doc(hidden)]
    pub async fn schema_columns_for_test(&self) -> Result<Vec<(String, String)>> {
        let sql = match self.store.backend() {
            Backend::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' \
                 AND m.sql NOT LIKE 'CREATE VIRTUAL%' AND m.name NOT LIKE 'customer%search_%' \
                 ORDER BY m.name, p.cid"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%' \
                 ORDER BY table_name, ordinal_position"
            }
        };
        Ok(sqlx::query_as(sql).fetch_all(self.store.reader()).await?)
    }

    /// A vault's data key (unwrapped with the recovery key), for the test that decrypts every
    /// page of the vault file and its WAL to look for an erased customer's bytes.
    #[doc(hidden)]
    pub fn vault_data_key_for_test(
        vault: &std::path::Path,
        recovery: &RecoveryKey,
    ) -> Result<[u8; 32]> {
        let ring = storage::vault::Keyring::load(vault, &OsEntropy)?;
        Ok(ring.unlock_recovery(recovery)?.0)
    }

    /// A factor's stored (sealed) secret, for the test that it is not in the clear.
    #[doc(hidden)]
    pub async fn raw_factor_secret_for_test(&self, factor: uuid::Uuid) -> Result<Vec<u8>> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM customer_factors WHERE id = $1")
                .bind(factor.to_string())
                .fetch_one(self.store.reader())
                .await?,
        )
    }

    /// The engine's TOTP check of one sealed secret (open the seal, ±1 step), without the
    /// store: what the benchmark measures against totp-rs alone.
    #[doc(hidden)]
    pub fn totp_check_for_bench(
        &self,
        factor: uuid::Uuid,
        sealed: &[u8],
        code: &str,
    ) -> Result<Option<u64>> {
        self.matching_step(factor, sealed, code)
    }

    /// The bare FTS5 trigram query search builds on, for the benchmark's baseline.
    #[doc(hidden)]
    /// `phone` selects the phone-digits index.
    pub async fn raw_fts_rowids(&self, phone: bool, fts_query: &str, limit: i64) -> Result<usize> {
        let sql = if phone {
            "SELECT rowid FROM customer_phone_search WHERE customer_phone_search MATCH $1 LIMIT $2"
        } else {
            "SELECT rowid FROM customer_search WHERE customer_search MATCH $1 LIMIT $2"
        };
        let rows = sqlx::query(sql)
            .bind(fts_query)
            .bind(limit)
            .fetch_all(self.store.reader())
            .await?;
        Ok(rows.len())
    }

    /// The first customer of the store, with at least `events` recorded sign-in attempts
    /// (added once, one a minute going back from now; every third a wrong password from
    /// another network): the DSAR export and erasure benchmarks' subject.
    #[doc(hidden)]
    pub async fn customer_with_history_for_bench(&self, events: i64) -> Result<uuid::Uuid> {
        let (id, key): (String, String) =
            sqlx::query_as("SELECT id, email_key FROM customers ORDER BY seq LIMIT 1")
                .fetch_one(self.store.reader())
                .await?;
        let mut tx = self.store.begin().await?;
        let have: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sign_in_attempts WHERE customer_id = $1")
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
        if have < events {
            let marks = analytics::bulk_marks(&mut tx).await?;
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                 INSERT INTO sign_in_attempts (at_us, email_key, customer_id, outcome, reason, method, \
                 ip, user_agent, device, network, signals) \
                 SELECT $2 - i * 60000000, $3, $4, \
                 CASE WHEN i % 3 = 0 THEN 'failure' ELSE 'success' END, \
                 CASE WHEN i % 3 = 0 THEN 'wrong_password' ELSE 'ok' END, 'password', \
                 CASE WHEN i % 3 = 0 THEN '203.0.113.' || (i % 200) ELSE '192.0.2.' || (i % 250) END, \
                 'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0', 'bench', \
                 CASE WHEN i % 3 = 0 THEN '203.0.113.0/24' ELSE '192.0.2.0/24' END, '[]' FROM n",
            )
            .bind(events - have)
            .bind(time::to_us(self.now()))
            .bind(&key)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            // Their events too, as sign-ins write them (erasure blanks those as well).
            analytics::record_bulk(&mut tx, i64::MAX, marks.1, i64::MAX).await?;
        }
        tx.commit().await?;
        uuid::Uuid::parse_str(&id).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Give the store at least `per_customer` consent records per customer (once): three
    /// purposes, answered in rounds (marketing granted, personalisation granted, marketing
    /// withdrawn, partners refused, marketing granted again), each round one set-based insert
    /// with the state kept beside it — the decision benchmark's ledger (SQLite vaults: the
    /// receipt ids come from `randomblob`). Returns the ledger's size.
    #[doc(hidden)]
    pub async fn seed_consent_for_bench(&self, per_customer: i64) -> Result<i64> {
        // The purposes are the benchmark's own (a cached benchmark vault has no privacy staff
        // member to sign in as); their audit entries name this actor.
        let admin = &Staff {
            id: uuid::Uuid::nil(),
            email: "benchmark@vestibule.invalid".into(),
            display_name: "Benchmark".into(),
            role: Role::Admin,
            factor: StaffFactor::Verified,
        };
        let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
            .fetch_one(self.store.reader())
            .await?;
        let have: i64 = sqlx::query_scalar("SELECT count(*) FROM consent_ledger")
            .fetch_one(self.store.reader())
            .await?;
        if have >= customers * per_customer {
            return Ok(have);
        }
        for id in ["bench_marketing", "bench_personal", "bench_partners"] {
            if self.consent_purpose(id).await.is_err() {
                self.save_consent_purpose(
                    admin,
                    &consent::PurposeInput {
                        id: id.into(),
                        name: id.into(),
                        legal_basis: consent::LegalBasis::Consent,
                        data_categories: vec![],
                        retention_days: 365,
                        consent_required: true,
                        version: 0,
                    },
                )
                .await?;
                self.publish_consent_version(
                    admin,
                    &consent::PublishVersion {
                        purpose_id: id.into(),
                        version: 1,
                        material: true,
                        texts: vec![consent::ConsentText {
                            locale: "en".into(),
                            title: id.into(),
                            body: "Benchmark text.".into(),
                        }],
                    },
                )
                .await?;
            }
        }
        let rounds = [
            ("bench_marketing", 1),
            ("bench_personal", 1),
            ("bench_marketing", 0),
            ("bench_partners", 0),
            ("bench_marketing", 1),
        ];
        let now = time::to_us(self.now());
        for (i, (purpose, granted)) in rounds.iter().enumerate().take(per_customer as usize) {
            let mut tx = self.store.begin().await?;
            let last: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM consent_ledger")
                .fetch_one(&mut *tx)
                .await?;
            // A random UUID (version 4 layout) per record, as the receipt id.
            sqlx::query(
                "INSERT INTO consent_ledger (id, customer_id, purpose_id, version, locale, granted, \
                 at_us, channel, ip, user_agent) SELECT lower(hex(randomblob(4)) || '-' || \
                 hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a' || \
                 substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))), id, $1, 1, 'en', $2, \
                 $3, 'api', '', '' FROM customers ORDER BY seq",
            )
            .bind(*purpose)
            .bind(*granted)
            .bind(now - 1_000_000 * (rounds.len() - i) as i64)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO consent_state (customer_id, purpose_id, granted, version, ledger_seq, at_us) \
                 SELECT customer_id, purpose_id, granted, version, seq, at_us FROM consent_ledger \
                 WHERE seq > $1 ON CONFLICT (customer_id, purpose_id) DO UPDATE SET \
                 granted = excluded.granted, version = excluded.version, \
                 ledger_seq = excluded.ledger_seq, at_us = excluded.at_us",
            )
            .bind(last)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        self.store.checkpoint().await?;
        Ok(sqlx::query_scalar("SELECT count(*) FROM consent_ledger")
            .fetch_one(self.store.reader())
            .await?)
    }

    /// `n` random customers' ids (the decision benchmark's subjects).
    #[doc(hidden)]
    pub async fn random_customers_for_bench(&self, n: i64) -> Result<Vec<uuid::Uuid>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM customers ORDER BY random() LIMIT $1")
                .bind(n)
                .fetch_all(self.store.reader())
                .await?;
        ids.iter()
            .map(|i| uuid::Uuid::parse_str(i).map_err(|e| Error::Internal(e.to_string())))
            .collect()
    }

    /// The decision benchmark's raw baseline: the answer in force, one indexed read.
    #[doc(hidden)]
    pub async fn consent_state_for_bench(&self, id: uuid::Uuid, purpose: &str) -> Result<bool> {
        let g: Option<i64> = sqlx::query_scalar(
            "SELECT granted FROM consent_state WHERE customer_id = $1 AND purpose_id = $2",
        )
        .bind(id.to_string())
        .bind(purpose)
        .fetch_optional(self.store.reader())
        .await?;
        Ok(g == Some(1))
    }

    /// The newest `n` customers' ids (the erasure benchmark's subjects).
    #[doc(hidden)]
    pub async fn newest_customers_for_bench(&self, n: i64) -> Result<Vec<uuid::Uuid>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM customers ORDER BY seq DESC LIMIT $1")
                .bind(n)
                .fetch_all(self.store.reader())
                .await?;
        ids.iter()
            .map(|i| uuid::Uuid::parse_str(i).map_err(|e| Error::Internal(e.to_string())))
            .collect()
    }

    /// The whole erasure of one customer (as staff would run it, without the typed
    /// confirmation), its WAL checkpoint included.
    #[doc(hidden)]
    pub async fn erase_for_bench(&self, id: uuid::Uuid) -> Result<()> {
        let mut tx = self.store.begin().await?;
        self.erase_in(&mut tx, id, "system:benchmark", Some("benchmark"), None)
            .await?;
        tx.commit().await?;
        self.store.checkpoint_truncate().await?;
        Ok(())
    }

    /// The erasure benchmark's baseline: deleting the customer's row alone (its sessions and
    /// factors go by cascade) in one transaction, with the same checkpoint.
    #[doc(hidden)]
    pub async fn delete_row_for_bench(&self, id: uuid::Uuid) -> Result<()> {
        let mut tx = self.store.begin().await?;
        sqlx::query("DELETE FROM customers WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.store.checkpoint_truncate().await?;
        Ok(())
    }

    /// Every recorded attempt of a customer, read raw: the export benchmark's baseline.
    #[doc(hidden)]
    pub async fn lookup_attempts_for_bench(&self, id: uuid::Uuid) -> Result<usize> {
        let rows = sqlx::query("SELECT * FROM sign_in_attempts WHERE customer_id = $1")
            .bind(id.to_string())
            .fetch_all(self.store.reader())
            .await?;
        Ok(rows.len())
    }

    /// The DSAR export bundle without the staff check and audit entry (what the benchmark times):
    /// how many rows it holds.
    #[doc(hidden)]
    pub async fn export_for_bench(&self, id: uuid::Uuid) -> Result<usize> {
        let x = self.collect_export(id).await?;
        std::hint::black_box(x.bundle("Benchmark")?);
        Ok(x.tables.values().map(Vec::len).sum())
    }

    /// Score one password attempt as a sign-in does — inside the write transaction, the
    /// history read and the signals run under the policy in force — then roll back, so
    /// nothing is recorded: what the risk benchmark times. Returns the score.
    #[doc(hidden)]
    pub async fn score_for_bench(&self, email: &str, ctx: &RequestContext) -> Result<u32> {
        let (mut tx, key, customer) = self.bench_lookup(email).await?;
        let attempt = risk::assess::Attempt {
            email_key: &key,
            customer,
            ctx,
            common_password: false,
        };
        let a = self.assess(&mut tx, &attempt).await?;
        tx.rollback().await?;
        Ok(a.score)
    }

    /// The write transaction and account lookup both benchmark calls start with.
    async fn bench_lookup(&self, email: &str) -> Result<(storage::Tx, String, Option<uuid::Uuid>)> {
        let key = accounts::normalize::email(email)?.key;
        let mut tx = self.store.begin().await?;
        let customer: Option<String> =
            sqlx::query_scalar("SELECT id FROM customers WHERE email_key = $1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
        let customer = customer.and_then(|c| uuid::Uuid::parse_str(&c).ok());
        Ok((tx, key, customer))
    }

    /// The events a password sign-in records (its attempt and its session), written in the
    /// sign-in's kind of write transaction after the account lookup, then rolled back: what
    /// keeping analytics current costs a sign-in. The baseline is [`Engine::lookup_for_bench`].
    #[doc(hidden)]
    pub async fn sign_in_events_for_bench(&self, email: &str) -> Result<bool> {
        let (mut tx, _, customer) = self.bench_lookup(email).await?;
        let now = self.now();
        for (kind, outcome, reason) in [
            (analytics::kind::ATTEMPT, "success", "ok"),
            (analytics::kind::SESSION, "", ""),
        ] {
            analytics::record(
                &mut tx,
                now,
                &analytics::Event {
                    kind,
                    customer,
                    method: "password",
                    outcome,
                    reason,
                    decision: "allow",
                    ..Default::default()
                },
            )
            .await?;
        }
        tx.rollback().await?;
        Ok(customer.is_some())
    }

    /// How many events the store holds.
    #[doc(hidden)]
    pub async fn events_count_for_bench(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.store.reader())
            .await?)
    }

    /// Whether the rollups have counted anything yet.
    #[doc(hidden)]
    pub async fn analytics_counted_for_bench(&self) -> Result<bool> {
        Ok(self.analytics_watermark().await?.1 > 0)
    }

    /// The raw baseline of the analytics benchmark: counting a range's attempts straight from
    /// `sign_in_attempts`, on its time index alone (the least a screen without rollups does;
    /// any figure by outcome or method would read the rows as well).
    #[doc(hidden)]
    pub async fn count_attempts_for_bench(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM sign_in_attempts WHERE at_us >= $1 AND at_us < $2",
        )
        .bind(time::to_us(from))
        .bind(time::to_us(to))
        .fetch_one(self.store.reader())
        .await?)
    }

    /// The raw baseline of [`Engine::score_for_bench`]: the same write transaction and
    /// account lookup, with no scoring.
    #[doc(hidden)]
    pub async fn lookup_for_bench(&self, email: &str) -> Result<bool> {
        let (tx, _, customer) = self.bench_lookup(email).await?;
        tx.rollback().await?;
        Ok(customer.is_some())
    }

    /// Recent sign-in origins of random customers (email, address, user agent of a success),
    /// for the risk benchmark's samples.
    #[doc(hidden)]
    pub async fn sample_origins(&self, n: i64) -> Result<Vec<(String, String, String)>> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT c.email AS email, a.ip AS ip, a.user_agent AS ua FROM sign_in_attempts a \
             JOIN customers c ON c.id = a.customer_id WHERE a.outcome = 'success' AND c.status = 'active' \
             AND a.seq IN (SELECT seq FROM sign_in_attempts ORDER BY random() LIMIT $1 * 20) LIMIT $1",
        )
        .bind(n)
        .fetch_all(self.store.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("email")?, r.try_get("ip")?, r.try_get("ua")?)))
            .collect()
    }

    /// `n` random customers (email, display name, phone), for benchmark samples.
    #[doc(hidden)]
    pub async fn sample_customers(&self, n: i64) -> Result<Vec<(String, String, Option<String>)>> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT email, display_name, phone FROM customers WHERE status = 'active' ORDER BY random() LIMIT $1",
        )
        .bind(n)
        .fetch_all(self.store.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("email")?,
                    r.try_get("display_name")?,
                    r.try_get("phone")?,
                ))
            })
            .collect()
    }
}
