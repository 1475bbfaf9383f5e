//! The hosted pages as customers meet them: a real server on `http://localhost`, walked by
//! headless Chromium (`tests/browser/journey.mjs`, playwright-core + axe-core). The script
//! screenshots every page in both themes into `target/page-screenshots/` and fails on the
//! first broken step or accessibility violation.
//!
//! The script asks for emails on its stdout (`MAIL <kind> <address>`) and reads the link's
//! token on its stdin: the test is its mailbox, reading the server's outbox. The server runs on
//! the real clock, since the script computes TOTP codes (npm `otpauth`) for the real time.
//!
//! Needs Node.js, `npm ci` in `tests/browser/` and Debian's `chromium`; the test command
//! installs them and sets `VESTIBULE_REQUIRE_BROWSER=1`, without which a machine missing them
//! skips this test.

use super::*;
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn browser_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let ready = dir.join("node_modules/playwright-core").is_dir()
        && std::path::Path::new(
            &std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        )
        .exists();
    if ready {
        Some(dir)
    } else if std::env::var("VESTIBULE_REQUIRE_BROWSER").is_ok() {
        panic!(
            "VESTIBULE_REQUIRE_BROWSER is set but tests/browser/node_modules or chromium is missing"
        );
    } else {
        None
    }
}

/// A server whose public URL is `http://localhost:PORT` (WebAuthn and the browser's secure
/// context need a host name, not an address).
pub(super) async fn localhost_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut real = deps();
    real.clock = Arc::new(vestibule_engine::SystemClock);
    real.config.public_url = format!("http://localhost:{port}");
    let (engine, admin, _) =
        Engine::create_vault(&dir.path().join("s.vault"), ADMIN, ADMIN_PW, real)
            .await
            .unwrap();
    let mut config = ServerConfig::new(format!("http://localhost:{port}"));
    config.insecure_dev_cookies = true;
    // One browser posts every credential form of the walk within a minute, from one address;
    // the per-IP limit has tests of its own (`credential_endpoints_are_limited_per_ip`).
    config.ip_burst = 120;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let serving = tokio::spawn(async move {
        vestibule_server::serve(
            e,
            config,
            format!("127.0.0.1:{port}").parse().unwrap(),
            |_| {},
            async {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
    });
    let (admin, admin_secret) = with_authenticator(&engine, &admin).await;
    Server {
        base: format!("http://localhost:{port}"),
        engine,
        admin,
        admin_secret,
        stop: tx,
        serving,
        _dir: Some(dir),
    }
}

#[tokio::test]
async fn customers_walk_the_hosted_pages_in_a_real_browser() {
    let Some(dir) = browser_dir() else {
        eprintln!("skipped: run `npm ci` in tests/browser and install chromium");
        return;
    };
    let s = localhost_server().await;
    // Wait until it answers.
    for _ in 0..100 {
        if reqwest::get(format!("{}/healthz", s.base)).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    registered(&s, &client(), "walker@example.com").await;
    let redirect = format!("{}/rp/callback", s.base);
    let reg = s
        .engine
        .register_client(
            &s.admin,
            vestibule_engine::NewClient {
                name: "Shop website".into(),
                redirect_uris: vec![redirect.clone()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // An upstream provider for social sign-in: a second server with the walker's address
    // (which has an account here too) and one new address per theme.
    let up = super::social::real_server("127.0.0.2", None).await;
    for who in [
        "walker@example.com",
        "social-light@example.com",
        "social-dark@example.com",
    ] {
        registered(&up, &client(), who).await;
    }
    let upstream = up
        .engine
        .register_client(
            &up.admin,
            vestibule_engine::NewClient {
                name: "Shop".into(),
                redirect_uris: vec![vestibule_engine::social_redirect_uri(&s.base)],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.engine
        .add_upstream_provider(
            &s.admin,
            vestibule_engine::NewUpstreamProvider {
                label: "Upstream ID".into(),
                issuer: up.base.clone(),
                client_id: upstream.client.id.clone(),
                client_secret: upstream.client_secret.clone().unwrap(),
                scopes: None,
            },
        )
        .await
        .unwrap();
    // The organisation's attributes: a club asked at sign-up, a shipping address and shoe
    // size asked (and released) when a client asks for the `shipping` scope.
    let defs: vestibule_engine::AttributeDefinitions = serde_json::from_value(json!({
        "version": 0,
        "definitions": [
            {"name": "club", "label": "Loyalty club", "kind": "choice", "options": ["silver", "gold"],
             "customer_editable": true, "ask": "sign_up"},
            {"name": "shipping_address", "label": "Shipping address", "kind": "text",
             "max_length": 200, "customer_editable": true, "ask": "scope", "scope": "shipping"},
            {"name": "shoe_size", "label": "Shoe size (EU)", "kind": "number", "min": 30, "max": 50,
             "customer_editable": true, "ask": "scope", "scope": "shipping"}
        ]
    }))
    .unwrap();
    s.engine
        .update_attribute_definitions(&s.admin, &defs)
        .await
        .unwrap();
    // Two purposes that need consent: sign-up shows both, unticked.
    for (id, title) in [
        ("newsletter", "The monthly newsletter"),
        ("partner_offers", "Offers from our partners"),
    ] {
        super::consent::publish_purpose(&s, id, true, 1, true, &[("en", title)]).await;
    }
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/page-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("journey.mjs"))
        .current_dir(&dir)
        .env("VESTIBULE_BASE", &s.base)
        .env("VESTIBULE_CLIENT_ID", &reg.client.id)
        .env(
            "VESTIBULE_CLIENT_SECRET",
            reg.client_secret.as_deref().unwrap(),
        )
        .env("VESTIBULE_REDIRECT", &redirect)
        .env("VESTIBULE_EMAIL", "walker@example.com")
        .env("VESTIBULE_PASSWORD", PW)
        .env("VESTIBULE_SHOTS", &shots)
        .env("VESTIBULE_UPSTREAM", &up.base)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut to_script = child.stdin.take().unwrap();
    let mut from_script = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut errors = child.stderr.take().unwrap();
    let mut stdout = String::new();
    let walk = async {
        while let Some(line) = from_script.next_line().await.unwrap() {
            if let Some(ask) = line.strip_prefix("MAIL ") {
                let (kind, to) = ask.split_once(' ').expect("MAIL <kind> <address>");
                let token = mailed_token(&s, kind, to).await;
                to_script
                    .write_all(format!("{token}\n").as_bytes())
                    .await
                    .unwrap();
            } else {
                stdout.push_str(&line);
                stdout.push('\n');
            }
        }
        child.wait().await.unwrap()
    };
    // A stuck browser fails the test instead of hanging the run.
    let status = tokio::time::timeout(std::time::Duration::from_secs(300), walk)
        .await
        .expect("the journey finishes within 5 minutes");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut errors, &mut stderr)
        .await
        .unwrap();
    if !status.success() {
        // What the risk engine challenged or denied, for a failure's reader.
        let mut why = String::new();
        for i in s
            .engine
            .review_queue(&s.admin, &Default::default())
            .await
            .unwrap_or_default()
        {
            let a = i.attempt;
            let signals: Vec<String> = a.signals.iter().map(|g| g.evidence.clone()).collect();
            why.push_str(&format!(
                "{} {} {} {} {:?} {:?} {signals:?}\n",
                a.at, a.email, a.method, a.outcome, a.decision, a.score
            ));
        }
        panic!("the journey failed:\n{stdout}\n{stderr}\nthe review queue:\n{why}");
    }
    let findings: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
    assert!(
        findings["pages"].as_array().is_some_and(|p| p.len() >= 30),
        "{findings}"
    );
    s.stop().await;
    up.stop().await;
}

/// The token of the newest email of `kind` to `to` (waiting for the background work that
/// sends it), and for a sign-in email its code after a space; for a risk check's email, its
/// code.
async fn mailed_token(s: &Server, kind: &str, to: &str) -> String {
    s.engine.settle().await.unwrap();
    let m = s.engine.outbox(&s.admin, 200).await.unwrap();
    let m = m
        .iter()
        .find(|m| m.kind == kind && m.to.eq_ignore_ascii_case(to))
        .unwrap_or_else(|| panic!("no {kind} email to {to}"));
    if kind == "sign_in_check" {
        // A risk check's email holds only its code (also in the subject).
        return m.subject.rsplit_once(": ").unwrap().1.to_owned();
    }
    let i = m.body.find("token=").unwrap() + 6;
    let token = m.body[i..].split_whitespace().next().unwrap().to_owned();
    // A sign-in email also carries its code (in the subject, for phones' autofill).
    match m.subject.rsplit_once(": ") {
        Some((_, code)) if kind == "sign_in_code" => format!("{token} {code}"),
        _ => token,
    }
}
