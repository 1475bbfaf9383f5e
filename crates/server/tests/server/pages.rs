//! The hosted pages as customers meet them: a real server on `http://localhost`, walked by
//! headless Chromium (`tests/browser/journey.mjs`, playwright-core + axe-core). The script
//! screenshots every page in both themes into `target/page-screenshots/` and fails on the
//! first broken step or accessibility violation.
//!
//! Needs Node.js, `npm ci` in `tests/browser/` and Debian's `chromium`; the test command
//! installs them and sets `VESTIBULE_REQUIRE_BROWSER=1`, without which a machine missing them
//! skips this test.

use super::*;
use std::path::PathBuf;

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
async fn localhost_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, _) =
        Engine::create_vault(&dir.path().join("s.vault"), ADMIN, ADMIN_PW, deps())
            .await
            .unwrap();
    let mut config = ServerConfig::new(format!("http://localhost:{port}"));
    config.insecure_dev_cookies = true;
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
    Server {
        base: format!("http://localhost:{port}"),
        engine,
        admin,
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
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/page-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let out = tokio::process::Command::new("node")
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
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the journey failed:\n{stdout}\n{stderr}"
    );
    let findings: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
    assert!(
        findings["pages"].as_array().is_some_and(|p| p.len() >= 13),
        "{findings}"
    );
    s.stop().await;
}
