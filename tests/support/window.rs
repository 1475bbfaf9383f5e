//! A console window driven through WebDriver, shared by the real-window tests
//! (tests/console.rs) and the console search benchmark (benches/console_search.rs): starts
//! tauri-driver (which starts WebKitWebDriver and the app) with its own environment, opens a
//! fantoccini session, and offers the few waits and actions the tests need.
// Each user compiles its own copy and uses a different subset of the helpers.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// RFC 6238 (SHA-1, 6 digits, 30 s) code of a base32 secret, computed with totp-rs as an
/// authenticator app would.
pub fn totp_at(secret: &str, unix: u64) -> String {
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
        .generate(unix)
        .to_string()
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn app_binary() -> PathBuf {
    std::env::var_os("VESTIBULE_CONSOLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/e2e/vestibule-console"))
}

pub fn tauri_driver() -> PathBuf {
    std::env::var_os("TAURI_DRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo/bin/tauri-driver")
        })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// tauri-driver, stopped with SIGTERM (never SIGKILL: that orphans WebKitWebDriver, which
/// keeps the test's output open and hangs the run).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct App {
    pub client: Client,
    name: &'static str,
    shots: u32,
    _driver: Driver,
    pub dir: tempfile::TempDir,
}

impl App {
    /// Launch the console on `vault` (created by the test or absent for a first launch).
    pub async fn launch(name: &'static str, dir: tempfile::TempDir, env: &[(&str, &str)]) -> App {
        Self::launch_binary(&app_binary(), name, dir, env).await
    }

    /// Launch a given build of the console.
    pub async fn launch_binary(
        bin: &std::path::Path,
        name: &'static str,
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> App {
        assert!(
            bin.exists(),
            "{} is missing: build it with `ui/node_modules/.bin/tauri build --no-bundle -- --profile e2e`",
            bin.display()
        );
        let port = free_port();
        let native = free_port();
        let mut cmd = Command::new(tauri_driver());
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .env("VESTIBULE_VAULT", dir.path().join("console.vault"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("VESTIBULE_DEMO_VAULT", dir.path().join("demo.vault"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let driver = Driver(
            cmd.spawn()
                .expect("start tauri-driver (cargo install tauri-driver)"),
        );
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert("tauri:options".into(), json!({ "application": bin }));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("WebDriver session for the console: {e}"),
            }
        };
        App {
            client,
            name,
            shots: 0,
            _driver: driver,
            dir,
        }
    }

    /// Save what the window shows as target/e2e-screenshots/<test>-<n>-<label>.png.
    pub async fn shot(&mut self, label: &str) {
        self.shots += 1;
        let dir = root().join("target/e2e-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        // WebKit paints after the DOM changes: wait two animation frames so the picture shows
        // what the test has just seen in the DOM, not the frame before.
        let _ = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await;
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(
            dir.join(format!("{}-{:02}-{label}.png", self.name, self.shots)),
            png,
        )
        .unwrap();
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(e) => return e,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("{css} did not appear: {e}"),
            }
        }
    }

    pub async fn absent(&self, css: &str) -> bool {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Wait until the element's text contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
            {
                if t.contains(needle) {
                    return t;
                }
                last = t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never contained {needle:?}; last text: {last:?}");
    }

    /// Call an IPC command from inside the page, bypassing the UI (as a malicious page
    /// script could): the engine must still refuse what the role does not allow.
    pub async fn invoke(&self, command: &str, req: Value) -> Value {
        self.client
            .execute_async(
                "const [cmd, req, done] = arguments; \
                 window.__TAURI_INTERNALS__.invoke(cmd, { req }) \
                   .then((ok) => done({ ok }), (err) => done({ err }));",
                vec![json!(command), req],
            )
            .await
            .unwrap()
    }

    pub async fn sign_in(&self, email: &str, password: &str) {
        self.type_into("#signin-email", email).await;
        self.type_into("#signin-password", password).await;
        self.click("#signin-submit").await;
    }

    /// Type the authenticator's code for `secret` into the sign-in's second step, as the
    /// staff member's app shows it half a minute from now (accepted as ±1 step: never the
    /// step a set-up moments earlier spent).
    pub async fn give_code(&self, secret: &str, ahead_secs: u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        self.type_into("#factor-code", &totp_at(secret, now + ahead_secs))
            .await;
        self.click("#factor-submit").await;
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    /// Close the window and stop the driver (and the console with it), keeping the data
    /// directory so the test can open the vault itself afterwards.
    pub async fn close_keeping_dir(self) -> tempfile::TempDir {
        let App {
            client,
            _driver: driver,
            dir,
            ..
        } = self;
        let _ = client.close().await;
        drop(driver);
        dir
    }
}
