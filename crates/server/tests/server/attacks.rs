//! The server attacked from outside (issue 10): timing that would reveal accounts, slow
//! clients that would exhaust it, oversized bodies, malformed requests hyper answers itself.

use super::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::rank::mann_whitney_p;

#[test]
fn the_rank_test_tells_shifted_samples_from_equal_ones() {
    let a: Vec<f64> = (0..200).map(|i| (i % 17) as f64).collect();
    let same: Vec<f64> = (0..200).map(|i| ((i * 7) % 17) as f64).collect();
    let shifted: Vec<f64> = a.iter().map(|x| x + 3.0).collect();
    assert!(mann_whitney_p(&a, &same) > 0.5);
    assert!(mann_whitney_p(&a, &shifted) < 1e-6);
}

/// A server whose per-IP limit does not get in the way of a few hundred samples.
async fn timing_servers() -> Vec<Server> {
    let mut config = test_config(false);
    config.ip_burst = 1_000_000;
    config.ip_replenish_ms = 1;
    servers_with(config).await
}

/// Time `n` requests of each kind, in an order shuffled with a fixed seed (so neither kind
/// always follows the other), each answered before the next is sent.
async fn interleaved_timings(
    n: usize,
    mut send: impl AsyncFnMut(bool, usize) -> reqwest::Response,
) -> (Vec<f64>, Vec<f64>) {
    use rand_order::shuffled;
    let mut known = Vec::with_capacity(n);
    let mut unknown = Vec::with_capacity(n);
    // A warm-up of each kind, not counted.
    for kind in [true, false] {
        let _ = send(kind, n).await.bytes().await;
    }
    for (kind, i) in shuffled(n) {
        let started = Instant::now();
        let r = send(kind, i).await;
        let status = r.status();
        let _ = r.bytes().await.unwrap();
        let took = started.elapsed().as_secs_f64() * 1e3;
        assert!(status.is_success(), "{status}");
        if kind {
            known.push(took);
        } else {
            unknown.push(took);
        }
    }
    (known, unknown)
}

mod rand_order {
    /// (is_known, index) for n of each, shuffled by a small xorshift with a fixed seed.
    pub fn shuffled(n: usize) -> Vec<(bool, usize)> {
        let mut v: Vec<(bool, usize)> = (0..n).flat_map(|i| [(true, i), (false, i)]).collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in (1..v.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.swap(i, (x % (i as u64 + 1)) as usize);
        }
        v
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// The answer's timing must not tell known from unknown addresses: the p-value of the rank
/// test must not be small. (Before the fix a reset request for a known address took ~3× as
/// long: p ≈ 1e-80.)
fn assert_indistinguishable(what: &str, known: &[f64], unknown: &[f64]) {
    let p = mann_whitney_p(known, unknown);
    eprintln!(
        "{what}: median known {:.3} ms, unknown {:.3} ms, Mann-Whitney p = {p:.3e}",
        median(known),
        median(unknown)
    );
    assert!(
        p > 1e-4,
        "{what}: known and unknown addresses answer in distinguishable time (p = {p:.3e}; medians {:.3} vs {:.3} ms)",
        median(known),
        median(unknown)
    );
}

const SAMPLES: usize = 200;

#[tokio::test]
async fn email_address_flows_answer_in_time_that_does_not_depend_on_the_account() {
    for s in timing_servers().await {
        // Distinct addresses on both sides, so the per-recipient email cap never differs.
        for i in 0..=SAMPLES {
            s.engine
                .register(
                    vestibule_engine::RegisterInput {
                        email: format!("known{i:04}@example.com"),
                        password: PW.into(),
                        display_name: "Known".into(),
                        ..Default::default()
                    },
                    &ctx_for_tests(),
                )
                .await
                .unwrap();
        }
        s.engine.settle().await.unwrap();
        let c = reqwest::Client::new();
        let base = s.base.clone();

        // Password-reset requests.
        let (known, unknown) = interleaved_timings(SAMPLES, async |k, i| {
            let email = if k {
                format!("known{i:04}@example.com")
            } else {
                format!("nobod{i:04}@example.com")
            };
            c.post(format!("{base}/v1/password-reset/request"))
                .json(&json!({ "email": email }))
                .send()
                .await
                .unwrap()
        })
        .await;
        assert_indistinguishable(&format!("{}: reset request", s.base), &known, &unknown);
        s.engine.settle().await.unwrap();

        // "Email me a sign-in code", through its page (the form's cookie and token once).
        let page = c.get(format!("{base}/signin/email")).send().await.unwrap();
        let cookie = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        let csrf = hidden(&page.text().await.unwrap(), "csrf");
        let (known, unknown) = interleaved_timings(SAMPLES, async |k, i| {
            let email = if k {
                format!("known{i:04}@example.com")
            } else {
                format!("nobod{i:04}@example.com")
            };
            c.post(format!("{base}/signin/email"))
                .header("cookie", &cookie)
                .form(&[("csrf", csrf.as_str()), ("email", email.as_str())])
                .send()
                .await
                .unwrap()
        })
        .await;
        assert_indistinguishable(&format!("{}: email sign-in code", s.base), &known, &unknown);
        s.engine.settle().await.unwrap();
        let sent = s.engine.outbox(&s.admin, 2000).await.unwrap();
        assert!(
            sent.iter().any(|m| m.kind == "sign_in_code"),
            "codes went to known addresses"
        );
        assert!(
            sent.iter()
                .all(|m| !(m.kind == "sign_in_code" && m.to.starts_with("nobod"))),
            "and none to unknown ones"
        );

        // Registration with a taken and with a free address.
        let (known, unknown) = interleaved_timings(SAMPLES, async |k, i| {
            let email = if k {
                format!("known{i:04}@example.com")
            } else {
                format!("fresh{i:04}@example.com")
            };
            c.post(format!("{base}/v1/register"))
                .json(&json!({"email": email, "password": "a different good phrase", "display_name": "Someone"}))
                .send()
                .await
                .unwrap()
        })
        .await;
        assert_indistinguishable(&format!("{}: registration", s.base), &known, &unknown);
        s.engine.settle().await.unwrap();

        // Moving an account to a taken and to a free address.
        let token = app_token(&base, "known0000@example.com").await;
        let (known, unknown) = interleaved_timings(SAMPLES, async |k, i| {
            let email = if k {
                format!("known{:04}@example.com", i + 1)
            } else {
                format!("movie{:04}@example.com", i + 1)
            };
            c.post(format!("{base}/v1/email"))
                .bearer_auth(&token)
                .json(&json!({"password": PW, "new_email": email}))
                .send()
                .await
                .unwrap()
        })
        .await;
        assert_indistinguishable(&format!("{}: email change", s.base), &known, &unknown);
        s.stop().await;
    }
}

/// Read what the server sends until it closes the connection or `within` passes.
async fn read_answer(stream: &mut tokio::net::TcpStream, within: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn raw(base: &str) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_huge_declared_body_is_refused_at_once() {
    for s in servers(false).await {
        let mut c = raw(&s.base).await;
        c.write_all(
            b"POST /oauth2/token HTTP/1.1\r\nHost: id.shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n",
        )
        .await
        .unwrap();
        let started = Instant::now();
        let answer = read_answer(&mut c, Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(2), "{answer}");
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("payload_too_large"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("x-content-type-options: nosniff")
        );
        s.stop().await;
    }
}

fn short_timeouts() -> ServerConfig {
    let mut config = test_config(false);
    config.limits.header_timeout = Duration::from_millis(800);
    config.limits.body_timeout = Duration::from_millis(800);
    config
}

#[tokio::test]
async fn partial_headers_and_missing_bodies_time_out() {
    for s in servers_with(short_timeouts()).await {
        // Half a request head, then nothing.
        let mut slow_head = raw(&s.base).await;
        slow_head
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: id.shop.example\r\nX-Slow: ")
            .await
            .unwrap();
        // A whole head for a body that never comes (the token endpoint is not IP-limited).
        let mut no_body = raw(&s.base).await;
        no_body
            .write_all(b"POST /oauth2/token HTTP/1.1\r\nHost: id.shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\ngrant_type=")
            .await
            .unwrap();
        // Connected and silent.
        let mut silent = raw(&s.base).await;
        let started = Instant::now();
        for (name, c) in [
            ("partial head", &mut slow_head),
            ("missing body", &mut no_body),
            ("silent", &mut silent),
        ] {
            let answer = read_answer(c, Duration::from_secs(5)).await;
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "{name}: still open after {:?}: {answer}",
                started.elapsed()
            );
            if name == "missing body" {
                // The handler saw the body fail; the answer is a JSON error, then the end.
                assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
            }
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn requests_hyper_cannot_parse_get_json_errors_and_security_headers() {
    for s in servers(false).await {
        let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: id.shop.example\r\n");
        for i in 0..150 {
            many.push_str(&format!("X-H{i}: v\r\n"));
        }
        many.push_str("\r\n");
        for (request, status) in [
            ("GARBAGE\r\n\r\n".to_string(), "400"),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_string(),
                "400",
            ),
            (many, "431"),
        ] {
            let mut c = raw(&s.base).await;
            c.write_all(request.as_bytes()).await.unwrap();
            let answer = read_answer(&mut c, Duration::from_secs(5)).await;
            let lower = answer.to_ascii_lowercase();
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{answer}"
            );
            assert!(
                lower.contains("x-content-type-options: nosniff"),
                "{answer}"
            );
            assert!(lower.contains("content-security-policy:"), "{answer}");
            assert!(lower.contains("content-type: application/json"), "{answer}");
            let body = answer.split("\r\n\r\n").nth(1).unwrap();
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["code"], "bad_request", "{answer}");
        }
        // Ordinary answers are untouched.
        let r = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        s.stop().await;
    }
}

#[tokio::test]
async fn without_an_issuer_the_server_advertises_the_address_it_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, _) =
        Engine::create_vault(&dir.path().join("i.vault"), ADMIN, ADMIN_PW, deps())
            .await
            .unwrap();
    let s = start_with(engine, admin, Some(dir), ServerConfig::new("")).await;
    let v: Value = reqwest::get(format!("{}/.well-known/openid-configuration", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["issuer"], s.base.as_str());
    assert!(!s.base.ends_with(":0"));
    s.stop().await;
}

/// More slow connections than the server has descriptors, from another process (so the
/// attacker's sockets do not count against the server's limit), while ordinary requests must
/// still be answered. nextest runs each test in a process of its own, so lowering this
/// process's descriptor limit touches no other test.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_slow_connections_than_descriptors_do_not_stop_ordinary_requests() {
    use rustix::process::{Resource, Rlimit, setrlimit};
    // 700 connections in three kinds of slowness, held open until told to stop. Started
    // before this process lowers its own limit, so the attacker keeps the usual one.
    let attacker = r#"
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
host, port, n = sys.stdin.readline().split()
held = []
for i in range(int(n)):
    s = socket.create_connection((host, int(port)))
    if i % 3 == 0:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    elif i % 3 == 1:
        s.sendall(b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n")
    held.append(s)
print("held", len(held), flush=True)
sys.stdin.read()
"#;
    let mut child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(attacker)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    // The ordinary client is made before the descriptors run short (making one reads the
    // system's CA certificates, a file); it keeps no idle connections, so each request below
    // still comes on a new connection.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ordinary = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let limit = 256;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: Some(limit),
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, _) =
        Engine::create_vault(&dir.path().join("fd.vault"), ADMIN, ADMIN_PW, deps())
            .await
            .unwrap();
    let s = start_with(engine, admin, Some(dir), test_config(false)).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{host} {port} 700\n").as_bytes())
        .await
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line),
    )
    .await
    .expect("the attacker opens its connections")
    .unwrap();
    assert_eq!(line.trim(), "held 700");
    // While all of them are held: ordinary requests, each on a new connection.
    for i in 0..20 {
        let started = Instant::now();
        let r = ordinary
            .get(format!("{}/healthz", s.base))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} not answered: {e}"));
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "request {i} took {:?}",
            started.elapsed()
        );
    }
    drop(stdin);
    let _ = child.kill().await;
    s.stop().await;
}
