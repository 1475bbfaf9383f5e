//! A generated month replayed through the engine's real sign-in path (risk scoring, throttles,
//! challenges) with GeoIP: ordinary customers — some travel, some change phones, a few mistype
//! — beside a credential-stuffing botnet (200 addresses, 10,000 leaked pairs, 5 % of them
//! right), brute force on 20 accounts, impossible travel with a stolen password, and password
//! spraying with common passwords. It prints the confusion table and checks the bars: every
//! right leaked pair challenged or denied, at least 99 % of attack attempts without a session,
//! no customer kept out for more than 15 minutes, and it reports the false-challenge rate.

use super::*;
use chrono::Duration;
use vestibule_engine::{Error, FactorProof, SignInStep};

/// A small deterministic generator (the test must replay the same month every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const CUSTOMERS: usize = 500;
const DAY: i64 = 86_400;

#[derive(Clone)]
enum Who {
    /// Customer index; their own sign-in.
    Customer(usize),
    /// An attack of this kind.
    Attack(&'static str),
}

#[derive(Clone)]
struct Event {
    at: i64,
    who: Who,
    email: String,
    password: String,
    ctx: RequestContext,
    /// The attempt uses a right password (for attacks: a valid leaked pair).
    right: bool,
}

fn cx(ip: String, agent: &str, device: Option<String>) -> RequestContext {
    RequestContext {
        ip,
        user_agent: agent.into(),
        device,
        form_ms: None,
        client: None,
    }
}

fn geo(dir: &std::path::Path) -> PathBuf {
    let mut city = mmdb_writer::Writer::new("Vestibule-Simulation-City");
    for (net, iso, lat, lon) in [
        ("198.18.0.0/16", "DE", 52.52, 13.40),
        ("198.19.0.0/16", "FR", 48.86, 2.35),
        ("203.0.113.0/24", "JP", 35.68, 139.65),
        ("100.64.0.0/10", "US", 39.0, -77.5),
    ] {
        city.insert(
            net.parse::<ipnet::IpNet>().unwrap(),
            &serde_json::json!({"country": {"iso_code": iso}, "location": {"latitude": lat, "longitude": lon}}),
        )
        .unwrap();
    }
    let path = dir.join("city.mmdb");
    std::fs::write(&path, city.to_bytes().unwrap()).unwrap();
    path
}

const HOME_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0";
const PHONE_AGENT: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile Safari/604.1";
const BOT_AGENTS: [&str; 5] = [
    "python-requests/2.32",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0",
    "curl/8.4",
    "Go-http-client/1.1",
    "okhttp/4.12",
];

fn home(n: usize) -> RequestContext {
    cx(
        format!("198.18.{}.{}", n / 200, n % 200 + 1),
        HOME_AGENT,
        Some(format!("laptop-{n}")),
    )
}

#[tokio::test]
async fn a_generated_month_of_customers_and_attacks() {
    let h = sqlite(fast_config()).await;
    let e = &h.engine;
    let dir = tempfile::tempdir().unwrap();
    e.load_geoip(&[&geo(dir.path())]).unwrap();
    let pw = |n: usize| format!("customer {n} own passphrase");
    let email = |n: usize| format!("c{n}@shop.example");
    let mut customers = vec![];
    for n in 0..CUSTOMERS {
        customers.push(verified_customer(&h, &email(n), &pw(n)).await);
        // The outbox lists newest first: a second apart keeps each address's email findable.
        h.clock.advance(Duration::seconds(1));
    }
    // Everyone has signed in at home before the month starts.
    for n in 0..CUSTOMERS {
        e.sign_in(&email(n), &pw(n), &home(n)).await.unwrap();
        h.clock.advance(Duration::seconds(7));
    }
    let start = e.now() + Duration::hours(1);

    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut events: Vec<Event> = vec![];
    for n in 0..CUSTOMERS {
        let travels = n % 10 == 3;
        // Some change phones at home; some travellers buy one on the trip (a new device in a
        // new country: challenged, and they answer the emailed code).
        let new_phone = n % 20 == 7 || n % 20 == 3;
        for k in 0..8 {
            let at = k * 4 * DAY + rng.below(3 * DAY as u64) as i64;
            let mut ctx = home(n);
            // A new phone: at home from the fifth sign-in, or bought on the trip.
            let first_on_phone = if travels { 5 } else { 4 };
            if new_phone && k >= first_on_phone {
                ctx = cx(ctx.ip.clone(), PHONE_AGENT, Some(format!("new-phone-{n}")));
            }
            if travels && (k == 5 || k == 6) {
                // Abroad with their own laptop (flying takes hours: the trip starts a day on).
                ctx.ip = format!("198.19.{}.{}", n / 200, n % 200 + 1);
            }
            let typo = rng.below(50) == 0;
            if typo {
                events.push(Event {
                    at: at - 20,
                    who: Who::Customer(n),
                    email: email(n),
                    password: format!("{} oops", pw(n)),
                    ctx: ctx.clone(),
                    right: false,
                });
            }
            events.push(Event {
                at,
                who: Who::Customer(n),
                email: email(n),
                password: pw(n),
                ctx,
                right: true,
            });
        }
    }
    // Credential stuffing: 10,000 leaked pairs from 200 addresses over two hours on day 9;
    // 5 % are right (500 of our customers'), the rest wrong or unknown addresses.
    let wave_start = 9 * DAY;
    for i in 0..10_000_usize {
        let bot = i % 200;
        let (mail, pass, right) = if i % 20 == 0 {
            let n = (i / 20) % CUSTOMERS;
            (email(n), pw(n), true)
        } else if i % 3 == 0 {
            let n = rng.below(CUSTOMERS as u64) as usize;
            (email(n), format!("leaked{i}"), false)
        } else {
            (
                format!("user{i}@leaked.example"),
                format!("leaked{i}"),
                false,
            )
        };
        events.push(Event {
            at: wave_start + (i as i64 * 7200 / 10_000),
            who: Who::Attack("stuffing"),
            email: mail,
            password: pass,
            ctx: cx(
                format!("100.64.{}.{}", bot / 2, bot % 2 * 100 + 7),
                BOT_AGENTS[bot % 5],
                None,
            ),
            right,
        });
    }
    // Brute force: 20 accounts, 50 guesses each from one address, over an hour on day 15.
    for a in 0..20_usize {
        for g in 0..50_i64 {
            events.push(Event {
                at: 15 * DAY + a as i64 * 3 + g * 70,
                who: Who::Attack("brute force"),
                email: email(100 + a),
                password: format!("guess {g}"),
                ctx: cx(format!("100.99.1.{}", a + 1), "curl/8.4", None),
                right: false,
            });
        }
    }
    // Impossible travel: a stolen password used from Japan minutes after the customer signed
    // in at home in Germany.
    for a in 0..20_usize {
        let n = 300 + a;
        let at = 20 * DAY + a as i64 * 600;
        events.push(Event {
            at,
            who: Who::Customer(n),
            email: email(n),
            password: pw(n),
            ctx: home(n),
            right: true,
        });
        events.push(Event {
            at: at + 25 * 60,
            who: Who::Attack("impossible travel"),
            email: email(n),
            password: pw(n),
            ctx: cx(format!("203.0.113.{}", a + 10), HOME_AGENT, None),
            right: true,
        });
    }
    // Spraying: three common passwords across many accounts from 40 addresses on day 25.
    for i in 0..1500_usize {
        events.push(Event {
            at: 25 * DAY + i as i64 * 2,
            who: Who::Attack("spraying"),
            email: email(i % CUSTOMERS),
            password: ["password1", "123456789", "qwerty123"][i % 3].into(),
            ctx: cx(format!("100.100.{}.9", i % 40), BOT_AGENTS[i % 5], None),
            right: false,
        });
    }
    events.sort_by_key(|e| e.at);

    // Outcomes: [signed in, challenged, refused] per kind; for customers also whether they
    // answered the challenge and how long they were kept out.
    let mut table: std::collections::BTreeMap<&str, [u64; 3]> = Default::default();
    let mut right_pairs = [0_u64; 3];
    let mut refused_since: Vec<Option<i64>> = vec![None; CUSTOMERS];
    let mut longest_out = 0_i64;
    let mut queue: std::collections::VecDeque<Event> = events.into();
    let mut retries: Vec<Event> = vec![];
    while let Some(ev) = {
        // Retries (a refused customer tries again 15 minutes later) interleave by time.
        retries.sort_by_key(|r| std::cmp::Reverse(r.at));
        match (queue.front(), retries.last()) {
            (Some(q), Some(r)) if r.at < q.at => retries.pop(),
            (Some(_), _) => queue.pop_front(),
            (None, Some(_)) => retries.pop(),
            (None, None) => None,
        }
    } {
        h.clock.set(start + Duration::seconds(ev.at));
        let r = e.begin_sign_in(&ev.email, &ev.password, &ev.ctx).await;
        let column = match &r {
            Ok(SignInStep::SignedIn(_)) => 0,
            Ok(SignInStep::SecondFactor(_)) => 1,
            Err(_) => 2,
        };
        let kind = match ev.who {
            Who::Customer(_) if ev.right => "customer",
            Who::Customer(_) => "customer typo",
            Who::Attack(k) => k,
        };
        table.entry(kind).or_default()[column] += 1;
        if let (Who::Attack(_), true) = (&ev.who, ev.right) {
            right_pairs[column] += 1;
        }
        let Who::Customer(n) = ev.who else { continue };
        if !ev.right {
            continue;
        }
        match r {
            Ok(SignInStep::SignedIn(_)) => {}
            Ok(SignInStep::SecondFactor(ch)) => {
                // The customer reads the emailed code and finishes.
                let code = e
                    .outbox(&h.admin, 20)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|m| m.kind == "sign_in_check" && m.to == ev.email)
                    .map(|m| m.subject.rsplit_once(": ").unwrap().1.to_owned())
                    .expect("the check code was emailed");
                e.complete_sign_in(&ch.token, &FactorProof::EmailCode(code), &ev.ctx)
                    .await
                    .unwrap();
            }
            Err(err) => {
                assert!(
                    matches!(err, Error::RateLimited(_) | Error::InvalidCredentials),
                    "{err:?}"
                );
                let since = *refused_since[n].get_or_insert(ev.at);
                longest_out = longest_out.max(ev.at - since);
                retries.push(Event {
                    at: ev.at + 15 * 60,
                    ..ev.clone()
                });
                continue;
            }
        }
        if let Some(since) = refused_since[n].take() {
            longest_out = longest_out.max(ev.at - since);
        }
    }

    println!(
        "\n{:<20} {:>10} {:>11} {:>9}",
        "attempts", "signed in", "challenged", "refused"
    );
    for (kind, [a, c, d]) in &table {
        println!("{kind:<20} {a:>10} {c:>11} {d:>9}");
    }
    let attacks: [u64; 3] = table
        .iter()
        .filter(|(k, _)| !k.starts_with("customer"))
        .fold([0; 3], |acc, (_, v)| {
            [acc[0] + v[0], acc[1] + v[1], acc[2] + v[2]]
        });
    let attack_total: u64 = attacks.iter().sum();
    let stopped = (attacks[1] + attacks[2]) as f64 / attack_total as f64;
    let legit = table["customer"];
    let false_challenges = legit[1] as f64 / legit.iter().sum::<u64>() as f64;
    println!(
        "attack attempts without a session: {:.3} % of {attack_total}; right leaked pairs signed in / challenged / refused: {right_pairs:?}",
        stopped * 100.0
    );
    println!(
        "customers' sign-ins challenged: {:.2} %; longest a customer was kept out: {} min",
        false_challenges * 100.0,
        longest_out / 60
    );
    assert_eq!(
        right_pairs[0], 0,
        "every right leaked pair challenged or denied"
    );
    assert!(stopped >= 0.99, "{stopped}");
    assert!(longest_out <= 15 * 60, "kept out {longest_out} s");
    assert!(
        false_challenges < 0.02,
        "false challenges {false_challenges}"
    );
    assert!(!customers.is_empty());
}
