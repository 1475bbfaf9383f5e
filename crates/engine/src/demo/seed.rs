//! Deterministic demo data: a realistic customer base with sign-in history and attack
//! patterns (a credential-stuffing burst, a brute force on one account, sign-ins from two
//! distant countries within an hour). The same `seed` always gives the same vault contents
//! relative to the clock. Rows are written in large multi-row inserts inside a few big
//! transactions; demo customers share one password hash (of [`DEMO_CUSTOMER_PASSWORD`]),
//! computed once, so seeding is bounded by the database, not by argon2id.

use super::risk::{Known, Scored, Scorer, origin};
use crate::Engine;
use crate::error::{Error, Result};
use crate::risk::policy::{self, RiskMode};
use crate::staff::{Permission, Staff};
use crate::storage::Backend;
use crate::time::to_us;
use chrono::Duration;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use serde_json::json;

/// Where the seeded challenged customer ([`SeedReport::challenged_email`]) was challenged
/// from: a new phone on a mobile network.
pub fn challenged_phone() -> crate::RequestContext {
    crate::RequestContext {
        ip: "172.58.14.9".into(),
        user_agent: IPHONE.into(),
        device: None,
        form_ms: None,
        client: None,
    }
}

/// The password every seeded demo customer has (demo vaults only).
pub const DEMO_CUSTOMER_PASSWORD: &str = "demo customer password";
/// A seed of at least this many customers drops and rebuilds the indexes of the tables it
/// fills (see `Store::suspend_indexes`).
const REBUILD_INDEXES_FROM: u64 = 50_000;

#[derive(Debug, Clone, Copy)]
pub struct SeedOptions {
    pub customers: u64,
    /// Days of sign-in history, ending now.
    pub days: u32,
    pub seed: u64,
    /// Average sign-in attempts per customer over the period.
    pub attempts_per_customer: u32,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self {
            customers: 50_000,
            days: 90,
            seed: 1,
            attempts_per_customer: 10,
        }
    }
}

/// Progress reports while seeding.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SeedProgress {
    pub customers_done: u64,
    pub customers_total: u64,
    pub attempts_done: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedReport {
    pub customers: u64,
    pub attempts: u64,
    pub brute_forced_email: String,
    pub traveller_email: String,
    /// A customer challenged three hours ago on a new phone who never finished: the review
    /// queue's legitimate-looking item.
    pub challenged_email: String,
}

const FIRST: &[&str] = &[
    "Olivia", "Liam", "Amara", "Noah", "Sofia", "Mateo", "Aisha", "Lucas", "Mei", "Ethan", "Priya",
    "Jonas", "Chloe", "Kwame", "Elena", "Hiroshi", "Fatima", "Oscar", "Ingrid", "Diego", "Zara",
    "Tomasz", "Leila", "Samuel", "Yuki", "Anders", "Nadia", "Rafael", "Hannah", "Omar", "Isabel",
    "Chen", "Grace", "Arjun", "Maja", "Felix", "Ama", "Luca", "Sara", "Emeka", "Julia", "Ravi",
    "Clara", "Mohammed", "Eva", "Kenji", "Lucia", "Tariq", "Nora", "Pedro", "Alice", "Ben",
];
const LAST: &[&str] = &[
    "Smith",
    "Okafor",
    "García",
    "Nguyen",
    "Müller",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Johansson",
    "Patel",
    "Dubois",
    "Mensah",
    "Silva",
    "Cohen",
    "Ivanova",
    "Kim",
    "O'Brien",
    "Fernández",
    "Novak",
    "Ahmed",
    "Larsen",
    "Costa",
    "Yamamoto",
    "Brown",
    "Singh",
    "Wilson",
    "Moreau",
    "Adeyemi",
    "Schmidt",
    "Lopez",
    "Chen",
    "Walker",
    "Bianchi",
    "Horvath",
    "Mwangi",
    "Andersen",
    "Taylor",
    "Reyes",
    "Fischer",
    "Ali",
    "Martin",
    "Hughes",
    "Sato",
    "Jansen",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.example",
    "inbox.example.org",
    "post.example.net",
    "example.co.uk",
    "webmail.example",
    "example.de",
    "correo.example",
    "example.fr",
    "family.example",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
];
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const LOCALES: &[&str] = &["en", "en-GB", "de", "fr", "es", "pt-BR", "ja", "nl"];
const AREA: &[u32] = &[201, 212, 305, 312, 415, 503, 617, 702, 808, 919];

fn pick<'a, T>(rng: &mut ChaCha20Rng, xs: &'a [T]) -> &'a T {
    let i = rng.gen_range(0..xs.len());
    // gen_range is within bounds by construction.
    #[allow(clippy::indexing_slicing)]
    &xs[i]
}

fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'â' | 'ä' => Some('a'),
            'é' | 'è' | 'ê' | 'ë' => Some('e'),
            'í' | 'ï' => Some('i'),
            'ó' | 'ö' | 'ô' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ñ' => Some('n'),
            '\'' => None,
            c => Some(c.to_ascii_lowercase()),
        })
        .collect()
}

struct Row {
    id: String,
    email: String,
    key: String,
    verified: i64,
    phone: Option<String>,
    name: String,
    locale: String,
    attrs: String,
    status: &'static str,
    tier: &'static str,
    created_us: i64,
    last_us: Option<i64>,
}

struct Attempt {
    at_us: i64,
    email_key: String,
    customer: Option<String>,
    outcome: &'static str,
    reason: &'static str,
    ip: String,
    ua: &'static str,
    /// An attack (or the challenged customer): scored by the policy's signals.
    scored: bool,
    risk: Option<Scored>,
}

fn ip_for(rng: &mut ChaCha20Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.gen_range(11..=223),
        rng.gen_range(0..=255),
        rng.gen_range(0..=255),
        rng.gen_range(1..=254)
    )
}

/// Bulk statements have thousands of parameters. SQLite looks numbered names (`$n`) up in a
/// list while parsing, which is quadratic, so it gets anonymous positional `?` instead;
/// PostgreSQL needs `$n`.
#[derive(Clone, Copy)]
struct Placeholders(Backend);

impl Placeholders {
    fn at(self, n: usize) -> String {
        match self.0 {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }
}

impl Engine {
    /// Fill the store with demo data (admins only). Reports progress through `progress`.
    pub async fn seed_demo(
        &self,
        actor: &Staff,
        opts: SeedOptions,
        progress: &mut (dyn FnMut(SeedProgress) + Send),
    ) -> Result<SeedReport> {
        actor.require(Permission::SeedDemoData)?;
        if opts.customers == 0 || opts.customers > 10_000_000 || opts.days == 0 || opts.days > 3650
        {
            return Err(Error::invalid(
                "seed",
                "customers must be 1 to 10,000,000 and days 1 to 3650",
            ));
        }
        // Audited before any row goes in, as every staff action is: a seed killed part-way
        // still leaves its trace (and `demo.seeded` below records that it finished).
        let mut tx = self.store.begin().await?;
        self.audit(
            &mut tx,
            &actor.actor(),
            "demo.seed_started",
            "store",
            None,
            json!({"customers": opts.customers, "days": opts.days, "seed": opts.seed}),
        )
        .await?;
        tx.commit().await?;
        let mut rng = ChaCha20Rng::seed_from_u64(opts.seed);
        let salt: [u8; 16] = rng.r#gen();
        let hash = self
            .hashing(move |h| -> Result<String> {
                let e = crate::clock::SeededEntropy::new(u64::from_le_bytes(
                    salt[..8].try_into().unwrap_or([0; 8]),
                ));
                h.hash(DEMO_CUSTOMER_PASSWORD, &e)
            })
            .await??;
        let now = self.now();
        self.store.set_bulk_load(true).await?;
        // A large load goes in without the plain indexes of the tables it fills, which are
        // built again afterwards in one sorted pass each (on a 10M-row history, several
        // times faster than keeping them up to date row by row).
        let rebuild = opts.customers >= REBUILD_INDEXES_FROM;
        if rebuild {
            self.store
                .suspend_indexes(&["customers", "sign_in_attempts"])
                .await?;
        }
        let span_created = Duration::days(i64::from(opts.days) * 4);
        let history_start = now - Duration::days(i64::from(opts.days));
        let batch = 25_000u64;
        let mut done = 0u64;
        let mut attempts_done = 0u64;
        let mut brute_forced = String::new();
        let mut traveller = String::new();
        let mut challenged = String::new();
        let policy = policy::load(self.store.reader()).await?;
        while done < opts.customers {
            let n = batch.min(opts.customers - done);
            let mut rows = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
            let mut attempts = Vec::new();
            for i in done..done + n {
                let first = *pick(&mut rng, FIRST);
                let last = *pick(&mut rng, LAST);
                let domain = *pick(&mut rng, DOMAINS);
                let local = match rng.gen_range(0..4) {
                    0 => format!("{}.{}{}", ascii_fold(first), ascii_fold(last), i),
                    1 => format!(
                        "{}{}{}",
                        ascii_fold(first).chars().next().unwrap_or('x'),
                        ascii_fold(last),
                        i
                    ),
                    2 => format!("{}_{}", ascii_fold(first), i),
                    _ => format!("{}.{}.{}", ascii_fold(last), ascii_fold(first), i),
                };
                let mut email = format!("{local}@{domain}");
                let (mut first, mut last) = (first, last);
                // Two look-alike addresses (Latin "pace", Cyrillic "расе"), as an account from
                // before mixed-script checks or a deliberate impostor: staff see a warning.
                if i < 2 && opts.customers >= 2 {
                    email = if i == 0 {
                        "pace@mail.example".into()
                    } else {
                        "\u{0440}\u{0430}\u{0441}\u{0435}@mail.example".into()
                    };
                    (first, last) = ("Grace", "Pace");
                }
                let created = now - span_created
                    + Duration::seconds(rng.gen_range(0..span_created.num_seconds().max(1)));
                let id =
                    crate::clock::new_id(created, &crate::clock::SeededEntropy::new(rng.r#gen()));
                let phone = (rng.gen_range(0..10) < 7).then(|| {
                    format!(
                        "+1{}{}{:04}",
                        pick(&mut rng, AREA),
                        rng.gen_range(200..=999),
                        rng.gen_range(0..10_000)
                    )
                });
                let mut status = match rng.gen_range(0..1000) {
                    0..=5 => "locked",
                    6..=9 => "disabled",
                    _ => "active",
                };
                let tier = if rng.gen_range(0..10) == 0 {
                    "gold"
                } else {
                    "standard"
                };
                let attrs = json!({
                    "newsletter": rng.gen_bool(0.4),
                    "favourite_category": *pick(&mut rng, &["shoes", "books", "garden", "kitchen", "outdoor"]),
                    "loyalty_points": rng.gen_range(0..5000),
                })
                .to_string();
                let key = email.to_lowercase();
                // Sign-in history for this customer.
                let k = rng.gen_range(0..=opts.attempts_per_customer * 2);
                let home_ip = ip_for(&mut rng);
                let ua = *pick(&mut rng, AGENTS);
                let mut last_success = None;
                for _ in 0..k {
                    let at =
                        history_start.max(created)
                            + Duration::seconds(rng.gen_range(
                                0..(now - history_start.max(created)).num_seconds().max(1),
                            ));
                    let fail = rng.gen_range(0..100) < 8;
                    if !fail {
                        last_success =
                            Some(last_success.map_or(to_us(at), |l: i64| l.max(to_us(at))));
                    }
                    attempts.push(Attempt {
                        at_us: to_us(at),
                        email_key: key.clone(),
                        customer: Some(id.to_string()),
                        outcome: if fail { "failure" } else { "success" },
                        reason: if fail { "wrong_password" } else { "ok" },
                        ip: if rng.gen_range(0..10) == 0 {
                            ip_for(&mut rng)
                        } else {
                            home_ip.clone()
                        },
                        ua,
                        scored: false,
                        risk: None,
                    });
                }
                if i == 7 {
                    brute_forced = email.clone();
                    // Brute force: 300 wrong passwords in 40 minutes from one IP, two days ago.
                    let start = now - Duration::days(2);
                    for j in 0..300 {
                        attempts.push(Attempt {
                            at_us: to_us(start + Duration::seconds(j * 8)),
                            email_key: key.clone(),
                            customer: Some(id.to_string()),
                            outcome: "failure",
                            reason: "wrong_password",
                            ip: "203.0.113.66".into(),
                            ua: "python-requests/2.32.3",
                            scored: true,
                            risk: None,
                        });
                    }
                }
                if i == 11 {
                    traveller = email.clone();
                    // Impossible travel: London, then Sydney 40 minutes later.
                    let t = now - Duration::hours(30);
                    for (dt, ip) in [(0, "81.2.69.142"), (40, "1.128.0.17")] {
                        attempts.push(Attempt {
                            at_us: to_us(t + Duration::minutes(dt)),
                            email_key: key.clone(),
                            customer: Some(id.to_string()),
                            outcome: "success",
                            reason: "ok",
                            ip: ip.into(),
                            ua,
                            scored: false,
                            risk: None,
                        });
                    }
                }
                if i == 13 {
                    challenged = email.clone();
                    status = "active";
                    // Signed in at home a week ago; three hours ago, a new phone on a mobile
                    // network was challenged and the emailed code never came back.
                    let home = now - Duration::days(7);
                    last_success =
                        Some(last_success.map_or(to_us(home), |l: i64| l.max(to_us(home))));
                    for (at, ip, agent, outcome, reason, scored) in [
                        (home, home_ip.as_str(), ua, "success", "ok", false),
                        (
                            now - Duration::hours(3),
                            "172.58.14.9",
                            IPHONE,
                            "challenged",
                            "risk_challenged",
                            true,
                        ),
                    ] {
                        attempts.push(Attempt {
                            at_us: to_us(at),
                            email_key: key.clone(),
                            customer: Some(id.to_string()),
                            outcome,
                            reason,
                            ip: ip.to_owned(),
                            ua: agent,
                            scored,
                            risk: None,
                        });
                    }
                }
                rows.push(Row {
                    id: id.to_string(),
                    email,
                    key,
                    verified: i64::from(rng.gen_range(0..10) < 8),
                    phone,
                    name: format!("{first} {last}"),
                    locale: (*pick(&mut rng, LOCALES)).to_owned(),
                    attrs,
                    status,
                    tier,
                    created_us: to_us(created),
                    last_us: last_success,
                });
            }
            if done == 0 {
                // Credential stuffing: 2,000 attempts over 10 minutes from 4 IPs, most for
                // addresses that have no account, a day ago.
                let start = now - Duration::days(1);
                for j in 0..2_000i64 {
                    let unknown = rng.gen_range(0..10) < 9;
                    let (email_key, customer, reason) =
                        match rows.get(usize::try_from(j).unwrap_or(0) % rows.len().max(1)) {
                            Some(r) if !unknown => {
                                (r.key.clone(), Some(r.id.clone()), "wrong_password")
                            }
                            _ => (
                                format!("user{}@leaked.example", rng.gen_range(0..1_000_000)),
                                None,
                                "unknown_account",
                            ),
                        };
                    attempts.push(Attempt {
                        at_us: to_us(start + Duration::milliseconds(j * 300)),
                        email_key,
                        customer,
                        outcome: "failure",
                        reason,
                        ip: format!("198.51.100.{}", 10 + j % 4),
                        ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                        scored: true,
                        risk: None,
                    });
                }
            }
            attempts.sort_by_key(|a| a.at_us);
            // What the customers are known by, then what the policy made of the attacks.
            let mut known = Known::default();
            for a in attempts.iter().filter(|a| a.outcome == "success") {
                if let Some(c) = &a.customer {
                    known.learn(c, &a.ip, a.ua, a.at_us);
                }
            }
            let mut scorer = Scorer::new(&policy);
            for a in attempts.iter_mut().filter(|a| a.scored) {
                a.risk = Some(scorer.score(
                    &known,
                    a.at_us,
                    &a.email_key,
                    a.customer.as_deref(),
                    a.outcome == "failure",
                    &a.ip,
                    a.ua,
                )?);
            }
            self.insert_seed_batch(&rows, &attempts, &known, &hash, policy.mode)
                .await?;
            done += n;
            attempts_done += attempts.len() as u64;
            progress(SeedProgress {
                customers_done: done,
                customers_total: opts.customers,
                attempts_done,
            });
        }
        if rebuild {
            self.store.restore_indexes().await?;
        }
        self.store.set_bulk_load(false).await?;
        self.store.checkpoint().await?;
        let mut tx = self.store.begin().await?;
        self.audit(
            &mut tx,
            &actor.actor(),
            "demo.seeded",
            "store",
            None,
            json!({"customers": opts.customers, "attempts": attempts_done, "days": opts.days, "seed": opts.seed}),
        )
        .await?;
        tx.commit().await?;
        Ok(SeedReport {
            customers: opts.customers,
            attempts: attempts_done,
            brute_forced_email: brute_forced,
            traveller_email: traveller,
            challenged_email: challenged,
        })
    }

    async fn insert_seed_batch(
        &self,
        rows: &[Row],
        attempts: &[Attempt],
        known: &Known,
        hash: &str,
        mode: RiskMode,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let marks = crate::analytics::bulk_marks(&mut tx).await?;
        for chunk in rows.chunks(2000) {
            let mut sql = String::from(
                "INSERT INTO customers (id, email, email_key, email_verified, phone, display_name, name_key, locale, attributes, \
                 status, tier, password_hash, created_us, updated_us, last_sign_in_us, email_skeleton) VALUES ",
            );
            let ph = Placeholders(self.store.backend);
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                // Parameters in order of appearance (SQLite's `?` are positional).
                let p: Vec<String> = (1..=16).map(|k| ph.at(i * 16 + k)).collect();
                sql.push('(');
                sql.push_str(&p.join(","));
                sql.push(')');
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(&r.id)
                    .bind(&r.email)
                    .bind(&r.key)
                    .bind(r.verified)
                    .bind(&r.phone)
                    .bind(&r.name)
                    .bind(crate::accounts::normalize::search_key(&r.name))
                    .bind(&r.locale)
                    .bind(&r.attrs)
                    .bind(r.status)
                    .bind(r.tier)
                    .bind(hash.to_owned())
                    .bind(r.created_us)
                    .bind(r.created_us)
                    .bind(r.last_us)
                    .bind(crate::accounts::normalize::email_skeleton(&r.key));
            }
            q.execute(&mut *tx).await?;
        }
        const COLUMNS: usize = 15;
        for chunk in attempts.chunks(2000) {
            let mut sql = String::from(
                "INSERT INTO sign_in_attempts (at_us, email_key, customer_id, outcome, reason, method, ip, user_agent, \
                 device, network, score, decision, enforced, signals, policy_version, review) VALUES ",
            );
            let ph = Placeholders(self.store.backend);
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                let p: Vec<String> = (1..=COLUMNS).map(|k| ph.at(i * COLUMNS + k)).collect();
                let (head, tail) = p.split_at(5);
                sql.push_str(&format!(
                    "({},'password',{})",
                    head.join(","),
                    tail.join(",")
                ));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for a in chunk {
                let (device, network) = origin(&a.ip, a.ua);
                let r = a.risk.as_ref();
                q = q
                    .bind(a.at_us)
                    .bind(&a.email_key)
                    .bind(&a.customer)
                    .bind(a.outcome)
                    .bind(a.reason)
                    .bind(&a.ip)
                    .bind(a.ua)
                    .bind(device)
                    .bind(network)
                    .bind(r.map(|r| i64::from(r.score)))
                    .bind(r.map(|r| r.decision.name()))
                    .bind(i64::from(r.is_some() && mode == RiskMode::Enforce))
                    .bind(r.map_or_else(|| "[]".to_owned(), |r| r.signals.clone()))
                    .bind(r.map(|r| r.policy_version))
                    .bind(i64::from(r.is_some_and(|r| r.review)));
            }
            q.execute(&mut *tx).await?;
        }
        let devices: Vec<_> = known
            .devices
            .iter()
            .flat_map(|(c, ds)| ds.iter().map(move |(d, seen)| (c, d, seen)))
            .collect();
        for chunk in devices.chunks(4000) {
            let ph = Placeholders(self.store.backend);
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=5).map(|k| ph.at(i * 5 + k)).collect();
                    format!("({})", p.join(","))
                })
                .collect();
            let sql = format!(
                "INSERT INTO risk_devices (customer_id, device, label, first_us, last_us) VALUES {}",
                values.join(",")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, d, seen) in chunk {
                q = q
                    .bind(c.as_str())
                    .bind(d.as_str())
                    .bind(seen.label.as_str())
                    .bind(seen.span.first_us)
                    .bind(seen.span.last_us);
            }
            q.execute(&mut *tx).await?;
        }
        let networks: Vec<_> = known
            .networks
            .iter()
            .flat_map(|(c, ns)| ns.iter().map(move |(n, span)| (c, n, span)))
            .collect();
        for chunk in networks.chunks(5000) {
            let ph = Placeholders(self.store.backend);
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=4).map(|k| ph.at(i * 4 + k)).collect();
                    format!("({})", p.join(","))
                })
                .collect();
            let sql = format!(
                "INSERT INTO risk_networks (customer_id, network, first_us, last_us) VALUES {}",
                values.join(",")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, n, span) in chunk {
                q = q
                    .bind(c.as_str())
                    .bind(n.as_str())
                    .bind(span.first_us)
                    .bind(span.last_us);
            }
            q.execute(&mut *tx).await?;
        }
        crate::analytics::record_bulk(&mut tx, marks.0, marks.1, marks.2).await?;
        tx.commit().await?;
        Ok(())
    }
}
