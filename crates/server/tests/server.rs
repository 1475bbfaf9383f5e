//! The server driven over real HTTP (reqwest) on loopback, on an encrypted vault and, when
//! `VESTIBULE_TEST_POSTGRES` is set, on PostgreSQL too. One test binary for the crate.

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use vestibule_engine::{Config, Deps, Engine, HashParams, ManualClock, SeededEntropy, Staff};
use vestibule_server::ServerConfig;

#[path = "server/account.rs"]
mod account;
#[path = "server/apache.rs"]
mod apache;
#[path = "server/attacks.rs"]
mod attacks;
#[path = "server/consent.rs"]
mod consent;
#[path = "server/pages.rs"]
mod pages;
#[path = "server/privacy.rs"]
mod privacy;
#[path = "server/profiling.rs"]
mod profiling;
#[path = "../../../tests/support/rank.rs"]
mod rank;
#[path = "server/risk.rs"]
mod risk;
#[path = "server/social.rs"]
mod social;

const ADMIN: &str = "owner@shop.example";
const ADMIN_PW: &str = "correct horse battery staple";
const PW: &str = "lantern orchard violet";

struct Server {
    base: String,
    engine: Engine,
    admin: Staff,
    /// The admin's authenticator secret (set up when the server was started).
    admin_secret: String,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Shut down as the real process does: stop serving, then close the engine (SQLite
    /// connections merely dropped at the end of a test close after the process has begun to
    /// exit, which crashes in SQLCipher's exit handler).
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(std::time::Duration::from_secs(10), self.serving)
            .await
            .expect("the server stops within 10 s")
            .unwrap();
        self.engine.close().await;
    }
}

fn deps() -> Deps {
    // reqwest's TLS is rustls without a built-in provider (the server links ring and
    // installs it when it starts; a test's client may be built first). Every test makes its
    // servers with these deps, before any client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Deps {
        clock: Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
        )),
        entropy: Arc::new(SeededEntropy::new(3)),
        config: Config {
            hash: HashParams {
                m_kib: 64,
                t: 1,
                p: 1,
            },
            // PostgreSQL needs the operator's factor key (a vault derives its own).
            factor_key: Some(vestibule_engine::FactorKey::from_bytes([9; 32])),
            ..Config::default()
        },
    }
}

async fn start_with(
    engine: Engine,
    admin: Staff,
    dir: Option<tempfile::TempDir>,
    config: ServerConfig,
) -> Server {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let e = engine.clone();
    let serving = tokio::spawn(async move {
        vestibule_server::serve(
            e,
            config,
            "127.0.0.1:0".parse().unwrap(),
            move |a| {
                let _ = addr_tx.send(a);
            },
            async {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
    });
    let addr = addr_rx.await.unwrap();
    let (admin, admin_secret) = with_authenticator(&engine, &admin).await;
    Server {
        base: format!("http://{addr}"),
        engine,
        admin,
        admin_secret,
        stop: tx,
        serving,
        _dir: dir,
    }
}

/// RFC 6238 code of a base32 secret at a time (totp-rs as the staff member's app).
fn totp_at(secret: &str, unix: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .unwrap()
        .generate(unix as u64)
        .to_string()
}

/// Set up an authenticator app for a staff member just signed in with their password (an
/// admin must before acting): the staff member who may act, and the secret.
async fn with_authenticator(engine: &Engine, staff: &Staff) -> (Staff, String) {
    if staff.factor() != vestibule_engine::StaffFactor::EnrolmentNeeded {
        return (staff.clone(), String::new());
    }
    let en = engine.begin_staff_authenticator(staff).await.unwrap();
    let code = totp_at(&en.secret, engine.now().timestamp());
    let staff = engine
        .confirm_staff_authenticator(staff, &code)
        .await
        .unwrap();
    (staff, en.secret)
}

fn test_config(dev_cookies: bool) -> ServerConfig {
    let mut config = ServerConfig::new("http://id.shop.example");
    config.allowed_origins = vec!["https://shop.example".into()];
    config.insecure_dev_cookies = dev_cookies;
    config
}

async fn servers(dev_cookies: bool) -> Vec<Server> {
    servers_with(test_config(dev_cookies)).await
}

/// One server on a fresh vault and, when PostgreSQL is configured, one on a fresh database.
async fn servers_with(config: ServerConfig) -> Vec<Server> {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, _) =
        Engine::create_vault(&dir.path().join("s.vault"), ADMIN, ADMIN_PW, deps())
            .await
            .unwrap();
    let mut v = vec![start_with(engine, admin, Some(dir), config.clone()).await];
    if let Ok(base) = std::env::var("VESTIBULE_TEST_POSTGRES") {
        use pg::create_database;
        let url = create_database(&base).await;
        let (engine, admin) = Engine::init_postgres(&url, ADMIN, ADMIN_PW, deps())
            .await
            .unwrap();
        v.push(start_with(engine, admin, None, config).await);
    } else if std::env::var("VESTIBULE_REQUIRE_POSTGRES").is_ok() {
        panic!("VESTIBULE_REQUIRE_POSTGRES is set but VESTIBULE_TEST_POSTGRES is not");
    }
    v
}

/// A fresh database on the test PostgreSQL server (created with psql).
/// own driver stack.
mod pg {
    pub async fn create_database(base: &str) -> String {
        let name = format!("vs_{}", uuid::Uuid::new_v4().simple());
        let out = tokio::process::Command::new("psql")
            .arg(format!("{base}/postgres"))
            .arg("-qc")
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .await
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("{base}/{name}")
    }
}

/// A confidential OIDC client of `s` with one redirect URI.
async fn shop_client(s: &Server, name: &str, redirect: &str) -> vestibule_engine::RegisteredClient {
    s.engine
        .register_client(
            &s.admin,
            vestibule_engine::NewClient {
                name: name.into(),
                redirect_uris: vec![redirect.into()],
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// The S256 challenge of a PKCE verifier.
fn pkce_challenge(verifier: &str) -> String {
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        <sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()),
    )
}

/// Exchange a code at `base`'s token endpoint as the confidential client.
async fn exchange_code(
    base: &str,
    reg: &vestibule_engine::RegisteredClient,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&reg.client.id, reg.client_secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The claims of a token response's ID token (read, not checked: the tests that check
/// signatures do so with a relying-party library).
fn id_claims(tokens: &Value) -> Value {
    let t = tokens["id_token"].as_str().expect("an ID token");
    serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            t.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap()
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn token_from_outbox(s: &Server, kind: &str) -> String {
    // Registration, reset requests and email changes finish in the background.
    s.engine.settle().await.unwrap();
    let m = s.engine.outbox(&s.admin, 50).await.unwrap();
    let m = m.iter().find(|m| m.kind == kind).unwrap();
    let i = m.body.find("token=").unwrap() + 6;
    m.body[i..].split_whitespace().next().unwrap().to_owned()
}

/// Sign in as an app does (token in the body, no cookies) and return the bearer token.
async fn app_token(base: &str, email: &str) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/v1/sign-in"))
        .json(&json!({"email": email, "password": PW, "return_token": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().unwrap().to_owned()
}

async fn registered(s: &Server, c: &reqwest::Client, email: &str) {
    let r = c
        .post(format!("{}/v1/register", s.base))
        .json(&json!({"email": email, "password": PW, "display_name": "Web Customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let t = token_from_outbox(s, "verify_email").await;
    let r = c
        .post(format!("{}/v1/verify-email", s.base))
        .json(&json!({"token": t}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// A `newsletter` attribute customers may set (as an admin defines it).
async fn define_newsletter(s: &Server) {
    let mut defs = s.engine.attribute_definitions().await.unwrap();
    defs.definitions
        .push(vestibule_engine::AttributeDefinition::new(
            "newsletter",
            "Newsletter",
            vestibule_engine::AttributeKind::Boolean,
        ));
    s.engine
        .update_attribute_definitions(&s.admin, &defs)
        .await
        .unwrap();
}

#[tokio::test]
async fn browser_flow_uses_cookies_and_csrf() {
    for s in servers(true).await {
        let c = client();
        registered(&s, &c, "web@example.com").await;
        let r = c
            .post(format!("{}/v1/sign-in", s.base))
            .json(&json!({"email": "web@example.com", "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert!(
            body.get("token").is_none(),
            "browsers get no token in the body"
        );
        let csrf = body["csrf_token"].as_str().unwrap().to_owned();

        let me: Value = c
            .get(format!("{}/v1/me", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["email"], "web@example.com");
        let version = me["version"].as_i64().unwrap();

        define_newsletter(&s).await;
        let patch = json!({"version": version, "attributes": {"newsletter": true}});
        let r = c
            .patch(format!("{}/v1/me", s.base))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "csrf");
        let r = c
            .patch(format!("{}/v1/me", s.base))
            .header("x-csrf-token", &csrf)
            .header("origin", "https://evil.example")
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = c
            .patch(format!("{}/v1/me", s.base))
            .header("x-csrf-token", &csrf)
            .header("origin", "https://shop.example")
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.json::<Value>().await.unwrap()["attributes"]["newsletter"],
            true
        );
        // The same stale version again is a conflict.
        let r = c
            .patch(format!("{}/v1/me", s.base))
            .header("x-csrf-token", &csrf)
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);

        let sessions: Value = c
            .get(format!("{}/v1/sessions", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
        let r = c
            .post(format!("{}/v1/sign-out", s.base))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = c.get(format!("{}/v1/me", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_session");
        s.stop().await;
    }
}

#[tokio::test]
async fn secure_cookies_are_host_prefixed_secure_httponly_lax() {
    for s in servers(false).await {
        let c = client();
        registered(&s, &c, "sec@example.com").await;
        let r = c
            .post(format!("{}/v1/sign-in", s.base))
            .json(&json!({"email": "sec@example.com", "password": PW}))
            .send()
            .await
            .unwrap();
        let cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let session = cookies
            .iter()
            .find(|c| c.starts_with("__Host-vestibule_session="))
            .unwrap();
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(session.contains(attr), "{session}");
        }
        assert!(!session.contains("Domain"));
        let csrf = cookies
            .iter()
            .find(|c| c.starts_with("__Host-vestibule_csrf="))
            .unwrap();
        assert!(csrf.contains("Secure") && !csrf.contains("HttpOnly"));
        for (h, v) in [
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-store"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(r.headers()[h], v);
        }
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(r.headers().contains_key("strict-transport-security"));
        s.stop().await;
    }
}

#[tokio::test]
async fn apps_use_bearer_tokens_and_password_change_revokes_others() {
    for s in servers(false).await {
        let c = client();
        registered(&s, &c, "app@example.com").await;
        let (a, b) = (
            app_token(&s.base, "app@example.com").await,
            app_token(&s.base, "app@example.com").await,
        );
        let app = reqwest::Client::new();
        let r = app
            .get(format!("{}/v1/me", s.base))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .post(format!("{}/v1/password", s.base))
            .bearer_auth(&a)
            .json(&json!({"current_password": PW, "new_password": "a whole new passphrase"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            app.get(format!("{}/v1/me", s.base))
                .bearer_auth(&a)
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            app.get(format!("{}/v1/me", s.base))
                .bearer_auth(&b)
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::UNAUTHORIZED
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn responses_do_not_reveal_which_emails_exist() {
    for s in servers(false).await {
        let c = client();
        registered(&s, &c, "known@example.com").await;
        let reset = |email: &'static str| {
            let c = c.clone();
            let base = s.base.clone();
            async move {
                let r = c
                    .post(format!("{base}/v1/password-reset/request"))
                    .json(&json!({"email": email}))
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.text().await.unwrap())
            }
        };
        assert_eq!(
            reset("known@example.com").await,
            reset("unknown@example.com").await
        );
        let sign_in = |email: &'static str| {
            let c = c.clone();
            let base = s.base.clone();
            async move {
                let r = c
                    .post(format!("{base}/v1/sign-in"))
                    .json(&json!({"email": email, "password": "wrong password!"}))
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.text().await.unwrap())
            }
        };
        let (a, b) = (
            sign_in("known@example.com").await,
            sign_in("unknown@example.com").await,
        );
        assert_eq!(a, b);
        assert_eq!(a.0, StatusCode::UNAUTHORIZED);
        let register = c
            .post(format!("{}/v1/register", s.base))
            .json(&json!({"email": "known@example.com", "password": "another fine passphrase"}))
            .send()
            .await
            .unwrap();
        assert_eq!(register.status(), StatusCode::ACCEPTED);
        s.stop().await;
    }
}

#[tokio::test]
async fn admin_api_enforces_roles_and_audits() {
    for s in servers(false).await {
        let c = client();
        registered(&s, &c, "cust@example.com").await;
        s.engine
            .add_staff(
                &s.admin,
                "agent@shop.example",
                "Agent",
                vestibule_engine::Role::Support,
                "support agent words",
            )
            .await
            .unwrap();
        let token = |email: &'static str, pw: &'static str| {
            let base = s.base.clone();
            let code =
                (email == ADMIN).then(|| totp_at(&s.admin_secret, s.engine.now().timestamp() + 30));
            async move {
                let v: Value = reqwest::Client::new()
                    .post(format!("{base}/admin/v1/sessions"))
                    .json(&json!({"email": email, "password": pw, "code": code}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v["token"].as_str().unwrap().to_owned()
            }
        };
        let admin = token(ADMIN, ADMIN_PW).await;
        let agent = token("agent@shop.example", "support agent words").await;
        let api = reqwest::Client::new();
        let page: Value = api
            .get(format!("{}/admin/v1/customers?q=cust%40exa", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = page["items"][0]["id"].as_str().unwrap().to_owned();
        let cust: Value = api
            .get(format!(
                "{}/admin/v1/customers/{id}?reason=ticket%2042",
                s.base
            ))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let version = cust["version"].as_i64().unwrap();
        let lock = json!({"version": version, "status": "locked", "reason": "fraud report"});
        let r = api
            .post(format!("{}/admin/v1/customers/{id}/status", s.base))
            .bearer_auth(&agent)
            .json(&lock)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "forbidden");
        let r = api
            .post(format!("{}/admin/v1/customers/{id}/status", s.base))
            .bearer_auth(&admin)
            .json(&lock)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "locked");
        let r = api
            .post(format!("{}/admin/v1/customers/{id}/status", s.base))
            .bearer_auth(&admin)
            .json(&lock)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let trail: Value = api
            .get(format!("{}/admin/v1/customers/{id}/audit", s.base))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = trail["entries"].as_array().unwrap();
        assert_eq!(entries[0]["action"], "customer.locked");
        assert!(
            entries
                .iter()
                .any(|e| e["action"] == "customer.viewed" && e["reason"] == "ticket 42")
        );
        let r = api
            .get(format!("{}/admin/v1/audit", s.base))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let v: Value = api
            .post(format!("{}/admin/v1/audit/verify", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["entries"].as_i64().unwrap() > 3);
        let r = api
            .get(format!("{}/admin/v1/customers?q=x", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = api
            .delete(format!("{}/admin/v1/sessions", s.base))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = api
            .get(format!("{}/admin/v1/customers?q=x", s.base))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        s.stop().await;
    }
}

#[tokio::test]
async fn bad_input_gets_json_errors_never_5xx() {
    for s in servers(false).await {
        let c = reqwest::Client::new();
        let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
            (c.post(format!("{}/v1/sign-in", s.base)).header("content-type", "application/json").body("{not json"), StatusCode::BAD_REQUEST, "invalid_json"),
            (c.post(format!("{}/v1/sign-in", s.base)).body("email=a"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            (c.post(format!("{}/v1/sign-in", s.base)).json(&json!({"email": "a@b.example", "password": "x", "admin": true})), StatusCode::BAD_REQUEST, "invalid_json"),
            (c.post(format!("{}/v1/register", s.base)).json(&json!({"email": "big@example.com", "password": PW, "display_name": "x".repeat(100_000)})), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            (c.post(format!("{}/v1/register", s.base)).json(&json!({"email": "not-an-email", "password": PW})), StatusCode::BAD_REQUEST, "invalid_input"),
            (c.post(format!("{}/v1/register", s.base)).json(&json!({"email": "weak@example.com", "password": "password"})), StatusCode::UNPROCESSABLE_ENTITY, "weak_password"),
            (c.post(format!("{}/v1/verify-email", s.base)).json(&json!({"token": "nope"})), StatusCode::BAD_REQUEST, "invalid_token"),
            (c.get(format!("{}/v1/nowhere", s.base)), StatusCode::NOT_FOUND, "not_found"),
            (c.put(format!("{}/v1/sign-in", s.base)), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            (c.delete(format!("{}/v1/sessions/not-a-uuid", s.base)).bearer_auth("x"), StatusCode::BAD_REQUEST, "invalid_path"),
            (c.get(format!("{}/admin/v1/customers/not-a-uuid", s.base)).bearer_auth("x"), StatusCode::UNAUTHORIZED, "invalid_session"),
            (c.get(format!("{}/v1/me", s.base)).bearer_auth("x".repeat(5000)), StatusCode::UNAUTHORIZED, "invalid_session"),
        ];
        for (req, status, code) in cases {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), status);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["code"], code, "{body}");
            assert!(body["message"].is_string());
        }
        let ok: Value = c
            .get(format!("{}/readyz", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ok["status"], "ready");
        s.stop().await;
    }
}

#[tokio::test]
async fn credential_endpoints_are_limited_per_ip() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, _) =
        Engine::create_vault(&dir.path().join("r.vault"), ADMIN, ADMIN_PW, deps())
            .await
            .unwrap();
    let mut config = ServerConfig::new("http://id.shop.example");
    config.ip_burst = 3;
    config.ip_replenish_ms = 60_000;
    let s = start_with(engine, admin, Some(dir), config).await;
    let c = reqwest::Client::new();
    let attempt = || {
        c.post(format!("{}/v1/sign-in", s.base))
            .json(&json!({"email": "x@example.com", "password": "wrong password!"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(attempt().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after >= 1);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "rate_limited");
    // Other endpoints are not affected by the credential limit.
    assert_eq!(
        c.get(format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    s.stop().await;
}

#[tokio::test]
async fn metrics_count_sign_ins_by_outcome_and_time_routes() {
    for s in servers(false).await {
        let c = client();
        registered(&s, &c, "met@example.com").await;
        for pw in [PW, "wrong password!", "wrong password!"] {
            c.post(format!("{}/v1/sign-in", s.base))
                .json(&json!({"email": "met@example.com", "password": pw}))
                .send()
                .await
                .unwrap();
        }
        let text = c
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(r#"vestibule_sign_ins_total{outcome="success"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"vestibule_sign_ins_total{outcome="invalid_credentials"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"vestibule_http_request_duration_seconds_count{method="POST",route="/v1/sign-in",status="401"} 2"#), "{text}");
        assert!(
            !text.contains("met@example.com"),
            "no personal data in metrics"
        );
        s.stop().await;
    }
}

/// Two servers, each with its own engine (and its own randomness, as two real processes
/// would have), on one fresh PostgreSQL database; `None` when no PostgreSQL is configured.
async fn two_instances() -> Option<(Server, Server)> {
    let Ok(base) = std::env::var("VESTIBULE_TEST_POSTGRES") else {
        assert!(
            std::env::var("VESTIBULE_REQUIRE_POSTGRES").is_err(),
            "VESTIBULE_REQUIRE_POSTGRES is set but VESTIBULE_TEST_POSTGRES is not"
        );
        return None;
    };
    let url = pg::create_database(&base).await;
    let (e1, admin) = Engine::init_postgres(&url, ADMIN, ADMIN_PW, deps())
        .await
        .unwrap();
    let e2 = Engine::connect_postgres(
        &url,
        Deps {
            entropy: Arc::new(SeededEntropy::new(99)),
            ..deps()
        },
    )
    .await
    .unwrap();
    let a = start_with(e1, admin, None, test_config(false)).await;
    let mut b = start_with(e2, a.admin.clone(), None, test_config(false)).await;
    b.admin_secret = a.admin_secret.clone();
    Some((a, b))
}

/// Two server processes' worth of state (two engines, two servers) on one PostgreSQL
/// database behave as one: a session made through one is valid on the other, a sign-out
/// on one ends it on both, and a staff token works on either.
#[tokio::test]
async fn two_instances_on_one_postgres_share_sessions() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let c = client();
    registered(&a, &c, "both@example.com").await;
    let token = &app_token(&a.base, "both@example.com").await;
    let me = |base: String| {
        let t = token.to_owned();
        async move {
            reqwest::Client::new()
                .get(format!("{base}/v1/me"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(b.base.clone()).await, StatusCode::OK);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/sign-out", b.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(a.base.clone()).await, StatusCode::UNAUTHORIZED);
    let staff = staff_token(&a, ADMIN, ADMIN_PW).await;
    let r = reqwest::Client::new()
        .get(format!("{}/admin/v1/customers?q=both", b.base))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["items"][0]["email"],
        "both@example.com"
    );
    a.stop().await;
    b.stop().await;
}

/// A staff API token. The admin gives their authenticator's next code (the servers' clock
/// stands still: the step after the one spent setting it up, accepted as ±1 step, once).
async fn staff_token(s: &Server, email: &str, pw: &str) -> String {
    let code = (email == ADMIN).then(|| totp_at(&s.admin_secret, s.engine.now().timestamp() + 30));
    let v: Value = reqwest::Client::new()
        .post(format!("{}/admin/v1/sessions", s.base))
        .json(&json!({"email": email, "password": pw, "code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn admins_register_oidc_clients_through_the_admin_api() {
    for s in servers(false).await {
        s.engine
            .add_staff(
                &s.admin,
                "agent@shop.example",
                "Agent",
                vestibule_engine::Role::Support,
                "support agent words",
            )
            .await
            .unwrap();
        let admin = staff_token(&s, ADMIN, ADMIN_PW).await;
        let agent = staff_token(&s, "agent@shop.example", "support agent words").await;
        let api = reqwest::Client::new();
        let body = json!({
            "name": "Shop website",
            "redirect_uris": ["https://shop.example/callback"],
            "allowed_origins": ["https://shop.example"]
        });
        let r = api
            .post(format!("{}/admin/v1/clients", s.base))
            .bearer_auth(&agent)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        let r = api
            .post(format!("{}/admin/v1/clients", s.base))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let reg: Value = r.json().await.unwrap();
        let id = reg["client"]["id"].as_str().unwrap().to_owned();
        let secret = reg["client_secret"].as_str().unwrap().to_owned();
        assert!(!reg["client"]["public"].as_bool().unwrap());
        s.engine.authenticate_client(&id, &secret).await.unwrap();

        // Bad input: a clear typed error naming the field, and nothing registered.
        for (bad, field) in [
            (
                json!({"name": "X", "redirect_uris": ["http://shop.example/cb"]}),
                "redirect_uris",
            ),
            (
                json!({"name": "X", "redirect_uris": ["https://a.example/cb"], "extra": 1}),
                "",
            ),
            (
                json!({"name": "", "redirect_uris": ["https://a.example/cb"]}),
                "name",
            ),
        ] {
            let r = api
                .post(format!("{}/admin/v1/clients", s.base))
                .bearer_auth(&admin)
                .json(&bad)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
            let e: Value = r.json().await.unwrap();
            assert!(e["code"].is_string() && e["message"].is_string(), "{e}");
            if !field.is_empty() {
                assert!(e["message"].as_str().unwrap().contains(field), "{e}");
            }
        }

        let list: Value = api
            .get(format!("{}/admin/v1/clients", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["clients"].as_array().unwrap().len(), 1);
        assert!(
            !list.to_string().contains(&secret),
            "listing never shows the secret"
        );

        let r = api
            .delete(format!("{}/admin/v1/clients/{id}", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = api
            .delete(format!("{}/admin/v1/clients/{id}", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(s.engine.authenticate_client(&id, &secret).await.is_err());
        s.stop().await;
    }
}

/// The relying party's HTTP client: reqwest without redirects, with the provider's public
/// host name mapped to the test server's loopback address.
async fn rp_http(
    base: String,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (parts, body) = req.into_parts();
    let url = parts
        .uri
        .to_string()
        .replace("http://id.shop.example", &base);
    let mut rb = c.request(parts.method, url).body(body);
    for (k, v) in &parts.headers {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await?;
    let mut b = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        b = b.header(k, v);
    }
    Ok(b.body(resp.bytes().await?.to_vec()).unwrap())
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let i = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + key.len();
    html_unescape(&html[i..i + html[i..].find('"').unwrap()])
}

fn location(r: &reqwest::Response) -> url::Url {
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

fn param(u: &url::Url, k: &str) -> Option<String> {
    u.query_pairs()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.into_owned())
}

/// The browser part: open the authorization URL, fill in the sign-in form, return where the
/// provider redirects to.
async fn browser_sign_in(s: &Server, browser: &reqwest::Client, auth_url: &str) -> url::Url {
    let url = auth_url.replace("http://id.shop.example", &s.base);
    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<label for=\"password\">Password</label>"),
        "accessible form"
    );
    let r = browser
        .post(format!("{}/oauth2/signin", s.base))
        .form(&[
            ("params", hidden(&html, "params")),
            ("csrf", hidden(&html, "csrf")),
            ("email", "rp@example.com".to_owned()),
            ("password", PW.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    location(&r)
}

#[tokio::test]
async fn a_relying_party_signs_customers_in_with_openid_connect() {
    use openidconnect::core::{
        CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims,
    };
    use openidconnect::{
        AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    };
    for s in servers(true).await {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        registered(&s, &client(), "rp@example.com").await;
        let reg = s
            .engine
            .register_client(
                &s.admin,
                vestibule_engine::NewClient {
                    name: "Shop website".into(),
                    redirect_uris: vec!["https://shop.example/cb".into()],
                    post_logout_redirect_uris: vec!["https://shop.example/bye".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let base = s.base.clone();
        let http = move |req| rp_http(base.clone(), req);

        // Discovery (issuer must match), then a client as any RP library builds it.
        let meta = CoreProviderMetadata::discover_async(
            IssuerUrl::new("http://id.shop.example".into()).unwrap(),
            &http,
        )
        .await
        .unwrap();
        let rp = CoreClient::from_provider_metadata(
            meta,
            ClientId::new(reg.client.id.clone()),
            Some(ClientSecret::new(reg.client_secret.clone().unwrap())),
        )
        .set_redirect_uri(RedirectUrl::new("https://shop.example/cb".into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, state, nonce) = rp
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();

        let back = browser_sign_in(&s, &browser, auth_url.as_str()).await;
        assert_eq!(back.host_str(), Some("shop.example"));
        assert_eq!(
            param(&back, "state").as_deref(),
            Some(state.secret().as_str())
        );
        assert_eq!(
            param(&back, "iss").as_deref(),
            Some("http://id.shop.example")
        );
        let code = param(&back, "code").unwrap();

        // Code → tokens; the ID token's signature, issuer, audience, expiry and nonce are
        // checked by the library against the published JWKS.
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code.clone()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap();
        let id_token = tokens.id_token().expect("an ID token").clone();
        // The test server runs on a manual clock (2026-11-01 09:00 UTC); the RP's clock agrees.
        let verifier = rp
            .id_token_verifier()
            .set_time_fn(|| Utc.with_ymd_and_hms(2026, 11, 1, 9, 5, 0).unwrap());
        let claims = id_token.claims(&verifier, &nonce).unwrap();
        assert_eq!(claims.email().map(|e| e.as_str()), Some("rp@example.com"));
        let sub = claims.subject().as_str().to_owned();

        let info: CoreUserInfoClaims = rp
            .user_info(tokens.access_token().clone(), None)
            .unwrap()
            .request_async(&http)
            .await
            .unwrap();
        assert_eq!(info.subject().as_str(), sub);
        assert_eq!(info.email().map(|e| e.as_str()), Some("rp@example.com"));
        assert_eq!(
            info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
            Some("Web Customer")
        );

        // Refresh rotates; the old refresh token is then refused.
        let old_refresh = tokens.refresh_token().unwrap().clone();
        let refreshed = rp
            .exchange_refresh_token(&old_refresh)
            .unwrap()
            .request_async(&http)
            .await
            .unwrap();
        assert_ne!(
            refreshed.refresh_token().unwrap().secret(),
            old_refresh.secret()
        );
        assert!(
            rp.exchange_refresh_token(&old_refresh)
                .unwrap()
                .request_async(&http)
                .await
                .is_err()
        );

        // Code reuse is refused with invalid_grant (a JSON error, not a 5xx).
        let again = reqwest::Client::new()
            .post(format!("{}/oauth2/token", s.base))
            .basic_auth(&reg.client.id, reg.client_secret.as_deref())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "https://shop.example/cb"),
                ("code_verifier", "x".repeat(43).as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            again.json::<Value>().await.unwrap()["error"],
            "invalid_grant"
        );

        // With the browser session, a second authorization needs no password; prompt=none works.
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let (url, _, _) = rp
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_prompt(openidconnect::core::CoreAuthPrompt::None)
            .set_pkce_challenge(challenge)
            .url();
        let r = browser
            .get(url.as_str().replace("http://id.shop.example", &s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(param(&location(&r), "code").is_some());

        // RP-initiated logout with the ID token as hint ends the session.
        let r = browser
            .get(format!("{}/oauth2/logout", s.base))
            .query(&[
                ("id_token_hint", id_token.to_string().as_str()),
                ("post_logout_redirect_uri", "https://shop.example/bye"),
                ("state", "bye"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(param(&location(&r), "state").as_deref(), Some("bye"));
        let r = browser
            .get(url.as_str().replace("http://id.shop.example", &s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            param(&location(&r), "error").as_deref(),
            Some("login_required"),
            "after logout prompt=none needs a sign-in"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn authorization_errors_follow_the_basic_op_rules() {
    for s in servers(true).await {
        let reg = s
            .engine
            .register_client(
                &s.admin,
                vestibule_engine::NewClient {
                    name: "Shop".into(),
                    redirect_uris: vec!["https://shop.example/cb".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let id = reg.client.id.clone();
        let nav = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let get = |q: Vec<(&'static str, String)>| {
            let nav = nav.clone();
            let base = s.base.clone();
            async move {
                nav.get(format!("{base}/oauth2/authorize"))
                    .query(&q)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let good = |extra: &[(&'static str, &str)]| {
            let mut q = vec![
                ("client_id", id.clone()),
                ("redirect_uri", "https://shop.example/cb".to_owned()),
                ("response_type", "code".to_owned()),
                ("scope", "openid".to_owned()),
                ("state", "s1".to_owned()),
                ("code_challenge", challenge.to_owned()),
                ("code_challenge_method", "S256".to_owned()),
            ];
            for (k, v) in extra {
                q.retain(|(a, _)| a != k);
                if !v.is_empty() {
                    q.push((k, (*v).to_owned()));
                }
            }
            q
        };
        // Wrong redirect URI: an error page, never a redirect to the unregistered address.
        let r = get(good(&[("redirect_uri", "https://evil.example/cb")])).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get("location").is_none());
        let html = r.text().await.unwrap();
        assert!(html.contains("not registered with us"), "{html}");
        assert!(
            html.contains("For the site&#39;s developers")
                || html.contains("For the site's developers"),
            "{html}"
        );
        // In the customer's language (ui_locales), the protocol's words kept for developers.
        let r = get(good(&[
            ("redirect_uri", "https://evil.example/cb"),
            ("ui_locales", "de"),
        ]))
        .await;
        let html = r.text().await.unwrap();
        assert!(
            html.contains("bei uns nicht registriert hat")
                && html.contains("Für die Entwickler der Website"),
            "{html}"
        );
        // Unknown client: also an error page.
        let r = get(good(&[("client_id", "vst_unknown")])).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        // PKCE plain, PKCE missing, no openid: redirected back with the error and state.
        for (extra, err) in [
            (vec![("code_challenge_method", "plain")], "invalid_request"),
            (vec![("code_challenge", "")], "invalid_request"),
            (vec![("scope", "email")], "invalid_scope"),
            (
                vec![("response_type", "token")],
                "unsupported_response_type",
            ),
        ] {
            let r = get(good(&extra)).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{extra:?}");
            let to = location(&r);
            assert_eq!(param(&to, "error").as_deref(), Some(err), "{extra:?}");
            assert_eq!(param(&to, "state").as_deref(), Some("s1"));
        }
        // prompt=none without a session: login_required.
        let r = get(good(&[("prompt", "none")])).await;
        assert_eq!(
            param(&location(&r), "error").as_deref(),
            Some("login_required")
        );
        // Missing nonce is fine in the code flow: the sign-in page is shown.
        let r = get(good(&[])).await;
        assert_eq!(r.status(), StatusCode::OK);
        // The sign-in form refuses a post without the page's CSRF cookie.
        let r = nav
            .post(format!("{}/oauth2/signin", s.base))
            .form(&[
                ("params", "x"),
                ("csrf", "y"),
                ("email", "a@b.c"),
                ("password", "p"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // Token endpoint: bad client credentials are 401 with WWW-Authenticate.
        let r = nav
            .post(format!("{}/oauth2/token", s.base))
            .basic_auth(&id, Some("wrong"))
            .form(&[("grant_type", "authorization_code"), ("code", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get("www-authenticate").is_some());
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
        // Userinfo without a valid token: 401 invalid_token.
        let r = nav
            .get(format!("{}/oauth2/userinfo", s.base))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // An unsigned (alg none) id_token_hint is refused at logout.
        let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
        let r = nav
            .get(format!("{}/oauth2/logout?id_token_hint={none}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        // JWKS publishes an RSA and an Ed25519 key.
        let jwks: Value = nav
            .get(format!("{}/oauth2/jwks", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // The RSA key is for RS256; the Ed25519 key carries no `alg`, as it signs under
        // both names (Ed25519, and the deprecated EdDSA).
        let keys = jwks["keys"].as_array().unwrap();
        assert!(
            keys.iter()
                .any(|k| k["kty"] == "RSA" && k["alg"] == "RS256"),
            "{keys:?}"
        );
        assert!(
            keys.iter()
                .any(|k| k["crv"] == "Ed25519" && k.get("alg").is_none()),
            "{keys:?}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn two_instances_rotate_one_refresh_token_family() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    registered(&a, &client(), "rotate@example.com").await;
    let reg = a
        .engine
        .register_client(
            &a.admin,
            vestibule_engine::NewClient {
                name: "Shop".into(),
                redirect_uris: vec!["https://shop.example/cb".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let secret = reg.client_secret.clone().unwrap();
    let verifier = "v".repeat(50);
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let req = a
        .engine
        .authorize_request(
            &reg.client,
            &vestibule_engine::oidc::AuthorizeParams {
                client_id: Some(reg.client.id.clone()),
                redirect_uri: Some("https://shop.example/cb".into()),
                response_type: Some("code".into()),
                scope: Some("openid offline_access".into()),
                code_challenge: Some(challenge),
                code_challenge_method: Some("S256".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let signed = a
        .engine
        .sign_in("rotate@example.com", PW, &ctx_for_tests())
        .await
        .unwrap();
    let redirect = a
        .engine
        .issue_code("http://id.shop.example", &req, &signed.session)
        .await
        .unwrap();
    let code = param(&url::Url::parse(&redirect).unwrap(), "code").unwrap();
    let token = |server: &str, form: Vec<(&'static str, String)>| {
        let url = format!("{server}/oauth2/token");
        let (id, secret) = (reg.client.id.clone(), secret.clone());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    // Code exchanged on A.
    let (st, t) = token(
        &a.base,
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", "https://shop.example/cb".into()),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{t}");
    let r1 = t["refresh_token"].as_str().unwrap().to_owned();
    // Refreshed on B: rotated for both.
    let (st, t2) = token(
        &b.base,
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", r1.clone()),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{t2}");
    let r2 = t2["refresh_token"].as_str().unwrap().to_owned();
    // The old token replayed on A is reuse: refused, and the family (r2 too) is revoked.
    let (st, e) = token(
        &a.base,
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", r1),
        ],
    )
    .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (st, _) = token(
        &b.base,
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", r2),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    a.stop().await;
    b.stop().await;
}

fn ctx_for_tests() -> vestibule_engine::RequestContext {
    vestibule_engine::RequestContext {
        ip: "192.0.2.1".into(),
        user_agent: "test".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn serves_https_with_the_given_certificate() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    // Wrong files are refused with a message naming the file.
    let (engine, admin, _) =
        Engine::create_vault(&dir.path().join("t.vault"), ADMIN, ADMIN_PW, deps())
            .await
            .unwrap();
    let mut bad = ServerConfig::new("https://localhost");
    bad.tls = Some(vestibule_server::TlsFiles {
        cert: key_path.clone(),
        key: key_path.clone(),
    });
    let err = vestibule_server::serve(
        engine.clone(),
        bad,
        "127.0.0.1:0".parse().unwrap(),
        |_| {},
        async {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("key.pem"), "{err}");

    let mut config = ServerConfig::new("https://localhost");
    config.tls = Some(vestibule_server::TlsFiles {
        cert: cert_path,
        key: key_path,
    });
    let s = start_with(engine, admin, None, config).await;
    let addr: SocketAddr = s.base.trim_start_matches("http://").parse().unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("TLS handshake with the server's certificate");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("strict-transport-security"), "{response}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    s.stop().await;
}

#[tokio::test]
async fn openapi_document_describes_every_endpoint() {
    let s = servers(false).await.remove(0);
    let r = client()
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Every route the server answers (utoipa-axum registers a route only together with its
    // description, so this list is what a client can rely on).
    let expected = [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/v1/register", "post"),
        ("/v1/verify-email", "post"),
        ("/v1/sign-in", "post"),
        ("/v1/sign-in/factor", "post"),
        ("/v1/sign-out", "post"),
        ("/v1/password-reset/request", "post"),
        ("/v1/password-reset/confirm", "post"),
        ("/v1/password", "post"),
        ("/v1/email", "post"),
        ("/v1/email/confirm", "post"),
        ("/v1/sessions", "get"),
        ("/v1/sessions/{id}", "delete"),
        ("/v1/me", "get"),
        ("/v1/me", "patch"),
        ("/.well-known/openid-configuration", "get"),
        ("/oauth2/jwks", "get"),
        ("/oauth2/authorize", "get"),
        ("/oauth2/authorize", "post"),
        ("/oauth2/token", "post"),
        ("/oauth2/userinfo", "get"),
        ("/oauth2/userinfo", "post"),
        ("/oauth2/revoke", "post"),
        ("/oauth2/signin", "post"),
        ("/oauth2/logout", "get"),
        ("/oauth2/logout", "post"),
        ("/branding/logo", "get"),
        ("/oauth2/signin/factor", "get"),
        ("/oauth2/signin/factor", "post"),
        ("/oauth2/signin/passkey", "post"),
        ("/oauth2/introspect", "post"),
        ("/oauth2/signup", "get"),
        ("/admin/v1/customers/{id}/factors", "get"),
        ("/admin/v1/customers/{id}/factors/{factor}/remove", "post"),
        ("/admin/v1/settings/risk-policy", "get"),
        ("/admin/v1/settings/risk-policy", "put"),
        ("/admin/v1/settings/risk-policy/replay", "post"),
        ("/admin/v1/risk/reviews", "get"),
        ("/admin/v1/risk/reviews/decide", "post"),
        ("/admin/v1/risk/reviews/assign", "post"),
        ("/admin/v1/risk/overview", "get"),
        ("/admin/v1/analytics", "get"),
        ("/admin/v1/analytics/charts/{chart}", "get"),
        ("/admin/v1/consent/purposes", "get"),
        ("/admin/v1/consent/purposes", "post"),
        ("/admin/v1/consent/purposes/{id}/versions", "post"),
        ("/admin/v1/consent/purposes/{id}/reconsent", "get"),
        ("/admin/v1/customers/{id}/consent", "get"),
        ("/admin/v1/customers/{id}/consent", "post"),
        ("/admin/v1/consent/receipts/{id}", "get"),
        ("/admin/v1/consent/decision", "get"),
        ("/v1/me/consent", "get"),
        ("/v1/me/consent", "post"),
        ("/v1/me/consent/receipts/{id}", "get"),
        ("/admin/v1/customers/{id}/export", "get"),
        ("/v1/me/export", "get"),
        ("/admin/v1/customers/{id}/erase", "post"),
        ("/admin/v1/customers/{id}/erasure", "get"),
        ("/admin/v1/retention/rules", "get"),
        ("/admin/v1/retention/rules", "put"),
        ("/admin/v1/retention/run", "post"),
        ("/admin/v1/retention/last-run", "get"),
        ("/v1/me/erase", "post"),
        ("/account/privacy", "get"),
        ("/account/privacy/consent", "post"),
        ("/account/privacy/receipts/{id}", "get"),
        ("/account/privacy/export.zip", "get"),
        ("/account/delete", "post"),
        ("/account/consent-update", "get"),
        ("/account/consent-update", "post"),
        ("/admin/v1/risk/blocks", "get"),
        ("/admin/v1/risk/blocks", "post"),
        ("/admin/v1/risk/blocks/{id}/remove", "post"),
        ("/admin/v1/settings/branding", "get"),
        ("/admin/v1/settings/branding", "put"),
        ("/admin/v1/settings/attributes", "get"),
        ("/admin/v1/settings/attributes", "put"),
        ("/admin/v1/settings/providers", "get"),
        ("/admin/v1/settings/providers", "post"),
        ("/admin/v1/settings/providers/{id}/remove", "post"),
        ("/admin/v1/customers/{id}/connections", "get"),
        (
            "/admin/v1/customers/{id}/connections/{provider}/remove",
            "post",
        ),
        ("/signin", "get"),
        ("/signin", "post"),
        ("/signin/factor", "get"),
        ("/signin/factor", "post"),
        ("/signup", "get"),
        ("/signup", "post"),
        ("/verify", "get"),
        ("/verify", "post"),
        ("/verify-email-change", "get"),
        ("/verify-email-change", "post"),
        ("/forgot", "get"),
        ("/forgot", "post"),
        ("/reset", "get"),
        ("/reset", "post"),
        ("/account", "get"),
        ("/account/step-up", "get"),
        ("/account/step-up", "post"),
        ("/account/totp", "post"),
        ("/account/totp/confirm", "post"),
        ("/account/recovery-codes", "post"),
        ("/account/factors/remove", "post"),
        ("/account/passkeys", "post"),
        ("/account/passkeys/new", "post"),
        ("/account/passkeys/rename", "post"),
        ("/signin/passkey", "post"),
        ("/signin/email", "get"),
        ("/signin/email", "post"),
        ("/signin/email/code", "post"),
        ("/signin/email/link", "get"),
        ("/signin/email/link", "post"),
        ("/signin/social/{provider}", "get"),
        ("/signin/social/callback", "get"),
        ("/signin/social/link", "post"),
        ("/account/connections/remove", "post"),
        ("/account/profile", "get"),
        ("/account/profile", "post"),
        ("/account/more-details", "get"),
        ("/account/more-details", "post"),
        ("/account/email", "get"),
        ("/account/email", "post"),
        ("/account/password", "get"),
        ("/account/password", "post"),
        ("/account/apps/revoke", "post"),
        ("/account/verify", "get"),
        ("/account/verify", "post"),
        ("/signin/passkey/options", "post"),
        ("/account/sessions/revoke", "post"),
        ("/account/sign-out", "post"),
        ("/admin/v1/sessions", "post"),
        ("/admin/v1/sessions", "delete"),
        ("/admin/v1/me/authenticator", "post"),
        ("/admin/v1/me/authenticator/confirm", "post"),
        ("/admin/v1/staff/{id}/authenticator/reset", "post"),
        ("/admin/v1/customers", "get"),
        ("/admin/v1/customers/{id}", "get"),
        ("/admin/v1/customers/{id}", "patch"),
        ("/admin/v1/customers/{id}/attempts", "get"),
        ("/admin/v1/customers/{id}/sessions", "get"),
        ("/admin/v1/customers/{id}/audit", "get"),
        ("/admin/v1/customers/{id}/status", "post"),
        ("/admin/v1/customers/{id}/revoke-sessions", "post"),
        ("/admin/v1/customers/{id}/password-reset", "post"),
        ("/admin/v1/customers/{id}/resend-verification", "post"),
        ("/admin/v1/clients", "get"),
        ("/admin/v1/clients", "post"),
        ("/admin/v1/clients/{id}", "delete"),
        ("/admin/v1/audit", "get"),
        ("/admin/v1/audit/verify", "post"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "documented operations");
    for (path, method) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses
                .keys()
                .any(|k| k.starts_with('2') || k.starts_with('3')),
            "{method} {path} has no success response"
        );
        // Every JSON API operation documents its error shape.
        if path.starts_with("/v1/") || path.starts_with("/admin/") {
            let errors: Vec<_> = responses
                .iter()
                .filter(|(k, _)| k.starts_with('4'))
                .collect();
            assert!(!errors.is_empty(), "{method} {path} documents no errors");
            for (code, r) in errors {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {code}"
                );
            }
        }
        // Every request body has a schema.
        if let Some(body) = op.get("requestBody") {
            let content = body["content"].as_object().unwrap();
            assert!(
                content.values().all(|c| c["schema"].is_object()),
                "{method} {path}"
            );
        }
    }
    // Operations name their security schemes by string; each must exist.
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for requirement in op["security"].as_array().into_iter().flatten() {
                for name in requirement.as_object().unwrap().keys() {
                    assert!(
                        schemes.contains_key(name),
                        "{method} {path}: unknown scheme {name}"
                    );
                }
            }
        }
    }
    // The wire types are the engine's own (not copies).
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Customer",
        "SessionInfo",
        "SearchPage",
        "AuditEntry",
        "OidcClient",
        "TokenResponse",
        "ErrorBody",
        "OAuthErrorBody",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    assert_eq!(
        doc["components"]["schemas"]["Register"]["additionalProperties"], false,
        "unknown fields are refused, and the document says so"
    );
    s.stop().await;
}

/// schemathesis (from PyPI) against `/openapi.json`, with a fixed seed and a bounded number of
/// cases per operation: no response may be a 5xx, and every response must match the
/// document (status, content type, headers, schema). Run three ways: anonymous, as a
/// signed-in customer and as an admin, on the vault and on PostgreSQL. `scripts/test.sh`
/// installs schemathesis and sets `VESTIBULE_SCHEMATHESIS`; with
/// `VESTIBULE_REQUIRE_SCHEMATHESIS` set, its absence fails instead of skipping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_or_schema_violations() {
    let Ok(st) = std::env::var("VESTIBULE_SCHEMATHESIS") else {
        assert!(
            std::env::var("VESTIBULE_REQUIRE_SCHEMATHESIS").is_err(),
            "VESTIBULE_REQUIRE_SCHEMATHESIS is set but VESTIBULE_SCHEMATHESIS is not"
        );
        eprintln!("skipped: set VESTIBULE_SCHEMATHESIS to the schemathesis `st` command");
        return;
    };
    // Fuzzing must reach the handlers, not the per-IP limiter.
    let mut config = test_config(false);
    config.ip_burst = 1_000_000;
    config.ip_replenish_ms = 1;
    // schemathesis keeps a cache (replayed crashes) in its working directory: a fresh one per
    // run keeps runs reproducible and the source tree clean.
    let work = tempfile::tempdir().unwrap();
    for s in servers_with(config).await {
        let c = client();
        registered(&s, &c, "fuzz@shop.example").await;
        let customer = app_token(&s.base, "fuzz@shop.example").await;
        let staff = staff_token(&s, ADMIN, ADMIN_PW).await;
        let runs: [(&str, Option<&str>, &[&str]); 3] = [
            ("anonymous", None, &[]),
            (
                "customer",
                Some(&customer),
                // Signing out would end the session the rest of the run uses.
                &[
                    "--include-path-regex",
                    "^/(v1|oauth2)/",
                    "--exclude-path",
                    "/v1/sign-out",
                ],
            ),
            (
                "admin",
                Some(&staff),
                &[
                    "--include-path-regex",
                    "^/admin/v1/",
                    "--exclude-path",
                    "/admin/v1/sessions",
                ],
            ),
        ];
        for (name, token, filters) in runs {
            let mut cmd = tokio::process::Command::new(&st);
            cmd.current_dir(work.path())
                .arg("run")
                .arg(format!("{}/openapi.json", s.base))
                // One worker: with two, CPython 3.11's ast.parse, which hypothesis calls from
                // both threads, now and then dies with "AST constructor recursion depth
                // mismatch" (cpython#106905) — a crash of the tool, not a finding.
                .args([
                    "--seed",
                    "20261123",
                    "--max-examples",
                    "25",
                    "--workers",
                    "1",
                ])
                // Every check but positive_data_acceptance: schema-valid input such as an
                // empty email is still refused by the engine's rules, as it must be.
                .args([
                    "--checks",
                    "all",
                    "--exclude-checks",
                    "positive_data_acceptance",
                ])
                .args(["--max-redirects", "0", "--request-timeout", "30"])
                .args(filters)
                .env("NO_COLOR", "1");
            if let Some(t) = token {
                cmd.arg("-H").arg(format!("Authorization: Bearer {t}"));
            }
            let out = cmd.output().await.expect("run schemathesis");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "schemathesis ({name}, {}) found problems:\n{text}\n{}",
                s.base,
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(text.contains("passed"), "{text}");
        }
        s.stop().await;
    }
}

/// The OpenID Connect conformance gaps of issue 11, over real HTTP: POST authorization
/// requests, logout that asks unless the hint proves who asks (GET and POST), no stray `?`,
/// bare bearer challenges, refusing to revoke another client's token, both Ed25519 names, and
/// the sign-in page in the browser's language with a form policy that allows the redirect.
#[tokio::test]
async fn oidc_endpoints_follow_the_specifications_over_http() {
    for s in servers(true).await {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        registered(&s, &client(), "rp@example.com").await;
        let reg = s
            .engine
            .register_client(
                &s.admin,
                vestibule_engine::NewClient {
                    name: "Shop website".into(),
                    redirect_uris: vec!["https://shop.example/cb".into()],
                    post_logout_redirect_uris: vec!["https://shop.example/bye".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let verifier = "v".repeat(43);
        let challenge = {
            use base64::Engine as _;
            use sha2::Digest as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()))
        };
        let form = [
            ("client_id", reg.client.id.as_str()),
            ("redirect_uri", "https://shop.example/cb"),
            ("response_type", "code"),
            ("scope", "openid email offline_access"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];

        // OIDC Core 3.1.2.1: the authorization endpoint takes POST with a form body. The page
        // speaks the browser's language and lets its form lead to the client's origin.
        let page = browser
            .post(format!("{}/oauth2/authorize", s.base))
            .header("accept-language", "de-DE,de;q=0.9")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("form-action 'self' https://shop.example"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        let html = page.text().await.unwrap();
        // One script may run: the page's own passkey script, allowed by its hash.
        let script_src = csp
            .split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix("script-src "))
            .unwrap_or_else(|| panic!("{csp}"));
        let inline = html
            .split_once("<script>")
            .and_then(|(_, rest)| rest.split_once("</script>"))
            .map(|(js, _)| js)
            .unwrap();
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(inline));
        assert_eq!(script_src, format!("'sha256-{hash}'"), "{csp}");
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(html.contains("<html lang=\"de\">"), "{html}");
        assert!(html.contains(">Anmelden</h1>"), "{html}");
        let r = browser
            .post(format!("{}/oauth2/signin", s.base))
            .form(&[
                ("params", hidden(&html, "params")),
                ("csrf", hidden(&html, "csrf")),
                ("email", "rp@example.com".to_owned()),
                ("password", PW.to_owned()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let code = param(&location(&r), "code").unwrap();
        let tokens: Value = reqwest::Client::new()
            .post(format!("{}/oauth2/token", s.base))
            .basic_auth(&reg.client.id, reg.client_secret.as_deref())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "https://shop.example/cb"),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id_token = tokens["id_token"].as_str().unwrap().to_owned();
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let me = |c: &reqwest::Client| {
            let c = c.clone();
            let url = format!("{}/v1/me", s.base);
            async move { c.get(url).send().await.unwrap().status() }
        };
        assert_eq!(me(&browser).await, StatusCode::OK);

        // RP-Initiated Logout §2: a GET without a hint (an image tag on any page) only asks.
        let r = browser
            .get(format!("{}/oauth2/logout", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let ask = r.text().await.unwrap();
        assert!(ask.contains("name=\"confirm\" value=\"yes\""), "{ask}");
        assert_eq!(me(&browser).await, StatusCode::OK, "still signed in");
        // The confirmation refuses a post that is not from its own page.
        let r = reqwest::Client::new()
            .post(format!("{}/oauth2/logout", s.base))
            .form(&[("csrf", hidden(&ask, "csrf").as_str()), ("confirm", "yes")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // "Stay signed in" changes nothing.
        let r = browser
            .post(format!("{}/oauth2/logout", s.base))
            .form(&[("csrf", hidden(&ask, "csrf").as_str()), ("confirm", "no")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(me(&browser).await, StatusCode::OK);

        // Userinfo with no credentials: a challenge without an error code (RFC 6750 §3.1).
        let r = reqwest::Client::new()
            .get(format!("{}/oauth2/userinfo", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.starts_with("Bearer") && !challenge.contains("error"),
            "{challenge}"
        );

        // RFC 7009 §2.1: another client cannot revoke this client's token, and is told so.
        let other = s
            .engine
            .register_client(
                &s.admin,
                vestibule_engine::NewClient {
                    name: "Other".into(),
                    redirect_uris: vec!["https://other.example/cb".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let r = reqwest::Client::new()
            .post(format!("{}/oauth2/revoke", s.base))
            .basic_auth(&other.client.id, other.client_secret.as_deref())
            .form(&[("token", access.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unauthorized_client"
        );

        // POST logout with the customer's own hint: no question, back to a registered
        // post-logout URI — not a login redirect URI — and without a stray `?`.
        let r = browser
            .post(format!("{}/oauth2/logout", s.base))
            .form(&[
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", "https://shop.example/cb"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::BAD_REQUEST,
            "login redirect URIs are not logout ones"
        );
        let r = browser
            .post(format!("{}/oauth2/logout", s.base))
            .form(&[
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", "https://shop.example/bye"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "https://shop.example/bye");
        assert_eq!(me(&browser).await, StatusCode::UNAUTHORIZED, "signed out");

        // Discovery names both Ed25519 algorithms and the page languages.
        let meta: Value = reqwest::get(format!("{}/.well-known/openid-configuration", s.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let algs = meta["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        for a in ["RS256", "Ed25519", "EdDSA"] {
            assert!(algs.iter().any(|v| v == a), "{a} in {algs:?}");
        }
        assert_eq!(meta["ui_locales_supported"], json!(["en-US", "de"]));
        s.stop().await;
    }
}

/// Start adding an authenticator app for a signed-in customer: the enrolment, an
/// authenticator for its secret, and the servers' time (their manual clock stands at
/// 2026-11-01 09:00 UTC).
async fn begin_totp(
    s: &Server,
    token: &str,
) -> (vestibule_engine::TotpEnrolment, totp_rs::Totp, u64) {
    let en = s.engine.begin_totp(token, "Shop").await.unwrap();
    let secret = totp_rs::Secret::try_from_base32(&en.secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret).build().unwrap();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 1, 9, 0, 0)
        .unwrap()
        .timestamp() as u64;
    (en, totp, now)
}

/// The customer API's sign-in for an account with a second factor: the password answers
/// with a challenge (no session, no cookie), and `/v1/sign-in/factor` finishes it once.
#[tokio::test]
async fn api_sign_in_with_a_second_factor_takes_two_steps() {
    for s in servers(true).await {
        let c = client();
        registered(&s, &c, "two@example.com").await;
        let token = app_token(&s.base, "two@example.com").await;
        let (en, totp, now) = begin_totp(&s, &token).await;
        let codes = s
            .engine
            .confirm_totp(
                &token,
                en.factor_id,
                &totp.generate(now).to_string(),
                "Phone",
            )
            .await
            .unwrap()
            .unwrap();
        let api = reqwest::Client::new();
        let step1: Value = api
            .post(format!("{}/v1/sign-in", s.base))
            .json(&json!({"email": "two@example.com", "password": PW, "return_token": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(step1["status"], "second_factor_required", "{step1}");
        assert!(step1.get("token").is_none() && step1.get("session").is_none());
        let challenge = step1["challenge"].as_str().unwrap();
        let finish = |challenge: String, code: String| {
            let api = api.clone();
            let url = format!("{}/v1/sign-in/factor", s.base);
            async move {
                api.post(url)
                    .json(&json!({"challenge": challenge, "method": "recovery_code",
                        "code": code, "return_token": true}))
                    .send()
                    .await
                    .unwrap()
            }
        };
        let r = finish(challenge.to_owned(), "WRONG-CODE1".into()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_input");
        let r = finish(challenge.to_owned(), codes[0].clone()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["session"]["amr"], json!(["pwd", "otp", "mfa"]));
        let me = api
            .get(format!("{}/v1/me", s.base))
            .bearer_auth(body["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK);
        // The challenge is spent; the code too.
        let r = finish(challenge.to_owned(), codes[1].clone()).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_session");
        s.stop().await;
    }
}

#[tokio::test]
async fn resource_servers_introspect_tokens_and_back_ends_use_client_credentials() {
    use base64::Engine as _;
    use sha2::Digest as _;
    for s in servers(true).await {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let c = client();
        registered(&s, &c, "rp@example.com").await;
        let found = s
            .engine
            .search_customers(&s.admin, "rp@example.com", None, 1)
            .await
            .unwrap()
            .items
            .remove(0);
        let customer = s
            .engine
            .get_customer(&s.admin, found.id, None)
            .await
            .unwrap();
        s.engine
            .update_customer_profile(
                &s.admin,
                customer.id,
                customer.version,
                vestibule_engine::ProfilePatch {
                    tier: Some("gold".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let register = |name: &str, public: bool| vestibule_engine::NewClient {
            name: name.into(),
            redirect_uris: vec!["https://shop.example/cb".into()],
            public,
            ..Default::default()
        };
        let web = s
            .engine
            .register_client(&s.admin, register("Shop website", false))
            .await
            .unwrap();
        let api = s
            .engine
            .register_client(&s.admin, register("Orders API", false))
            .await
            .unwrap();
        let spa = s
            .engine
            .register_client(&s.admin, register("Shop app", true))
            .await
            .unwrap();
        let (web_id, web_secret) = (web.client.id.clone(), web.client_secret.clone().unwrap());
        let (api_id, api_secret) = (api.client.id.clone(), api.client_secret.clone().unwrap());

        // Discovery lists all of it.
        let meta: Value = c
            .get(format!("{}/.well-known/openid-configuration", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            meta["introspection_endpoint"],
            "http://id.shop.example/oauth2/introspect"
        );
        assert!(
            meta["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("client_credentials"))
        );
        assert!(
            meta["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("roles"))
        );
        assert!(
            meta["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("tier"))
        );

        // A code flow with the roles scope: tier and roles in the ID token and userinfo.
        let verifier = "v".repeat(50);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        let auth = format!(
            "http://id.shop.example/oauth2/authorize?client_id={web_id}&redirect_uri=https%3A%2F%2Fshop.example%2Fcb\
             &response_type=code&scope=openid%20roles%20offline_access&state=st&nonce=nn\
             &code_challenge={challenge}&code_challenge_method=S256"
        );
        let back = browser_sign_in(&s, &browser, &auth).await;
        let tokens: Value = c
            .post(format!("{}/oauth2/token", s.base))
            .basic_auth(&web_id, Some(&web_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &param(&back, "code").unwrap()),
                ("redirect_uri", "https://shop.example/cb"),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id_token = tokens["id_token"].as_str().unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(id_token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["tier"], "gold", "{claims}");
        assert_eq!(claims["roles"], json!([]));
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let info: Value = c
            .get(format!("{}/oauth2/userinfo", s.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["tier"], "gold");

        let introspect = |id: String, secret: Option<String>, token: String| {
            let c = c.clone();
            let base = s.base.clone();
            async move {
                let mut rb = c.post(format!("{base}/oauth2/introspect"));
                if let Some(secret) = secret {
                    rb = rb.basic_auth(id, Some(secret));
                }
                let r = rb
                    .form(&[
                        ("token", token.as_str()),
                        ("token_type_hint", "access_token"),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let no_store = r
                    .headers()
                    .get("cache-control")
                    .is_some_and(|v| v == "no-store");
                (status, no_store, r.json::<Value>().await.unwrap())
            }
        };
        // The resource server inspects the customer's access token.
        let (st, no_store, i) =
            introspect(api_id.clone(), Some(api_secret.clone()), access.clone()).await;
        assert_eq!(st, StatusCode::OK);
        assert!(no_store);
        assert_eq!(i["active"], true, "{i}");
        assert_eq!(i["sub"], customer.id.to_string());
        assert_eq!(i["client_id"], web_id);
        assert_eq!(i["token_type"], "access_token");
        assert_eq!(i["iss"], "http://id.shop.example");
        assert_eq!(i["acr"], "urn:vestibule:acr:1fa");
        assert_eq!(i["tier"], "gold");
        assert!(i["exp"].as_i64().unwrap() > i["iat"].as_i64().unwrap());
        // A refresh token only to its own client; nonsense and no credentials are refused.
        let (_, _, i) = introspect(api_id.clone(), Some(api_secret.clone()), refresh.clone()).await;
        assert_eq!(i, json!({"active": false}));
        let (_, _, i) = introspect(web_id.clone(), Some(web_secret.clone()), refresh).await;
        assert_eq!(i["token_type"], "refresh_token");
        let (_, _, i) =
            introspect(api_id.clone(), Some(api_secret.clone()), "nonsense".into()).await;
        assert_eq!(i, json!({"active": false}));
        let (st, _, i) = introspect(api_id.clone(), None, access.clone()).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{i}");
        assert_eq!(i["error"], "invalid_client");
        let (st, _, _) = introspect(api_id.clone(), Some("wrong".into()), access.clone()).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);

        // client_credentials: a token naming the back end, no customer in it.
        let cc = |id: String, secret: Option<String>| {
            let c = c.clone();
            let base = s.base.clone();
            async move {
                let mut rb = c.post(format!("{base}/oauth2/token"));
                let mut form = vec![("grant_type", "client_credentials".to_owned())];
                match secret {
                    Some(secret) => rb = rb.basic_auth(id, Some(secret)),
                    None => form.push(("client_id", id)),
                }
                let r = rb.form(&form).send().await.unwrap();
                (r.status(), r.json::<Value>().await.unwrap())
            }
        };
        let (st, t) = cc(api_id.clone(), Some(api_secret.clone())).await;
        assert_eq!(st, StatusCode::OK, "{t}");
        assert!(t.get("id_token").is_none() && t.get("refresh_token").is_none());
        let machine = t["access_token"].as_str().unwrap().to_owned();
        let (_, _, i) = introspect(web_id.clone(), Some(web_secret.clone()), machine.clone()).await;
        assert_eq!(i["active"], true);
        assert_eq!(i["sub"], api_id);
        assert_eq!(i["client_id"], api_id);
        let r = c
            .get(format!("{}/oauth2/userinfo", s.base))
            .bearer_auth(&machine)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "no customer behind it"
        );
        let (st, t) = cc(spa.client.id.clone(), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{t}");
        assert_eq!(t["error"], "unauthorized_client");

        // Revocation: only the token's own client; then it is inactive.
        let revoke = |id: String, secret: String, token: String| {
            let c = c.clone();
            let base = s.base.clone();
            async move {
                let r = c
                    .post(format!("{base}/oauth2/revoke"))
                    .basic_auth(id, Some(secret))
                    .form(&[("token", token.as_str())])
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.text().await.unwrap())
            }
        };
        let (st, body) = revoke(web_id.clone(), web_secret.clone(), machine.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("unauthorized_client"));
        let (st, _) = revoke(api_id.clone(), api_secret.clone(), machine.clone()).await;
        assert_eq!(st, StatusCode::OK);
        let (_, _, i) = introspect(web_id.clone(), Some(web_secret.clone()), machine).await;
        assert_eq!(i, json!({"active": false}));
        let (st, _) = revoke(web_id.clone(), web_secret.clone(), access.clone()).await;
        assert_eq!(st, StatusCode::OK);
        let (_, _, i) = introspect(api_id, Some(api_secret), access).await;
        assert_eq!(i, json!({"active": false}));
        s.stop().await;
    }
}

#[tokio::test]
async fn prompt_create_and_the_sign_up_link_carry_the_authorization_request() {
    for s in servers(true).await {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let reg = s
            .engine
            .register_client(
                &s.admin,
                vestibule_engine::NewClient {
                    name: "Shop website".into(),
                    redirect_uris: vec!["https://shop.example/cb".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let meta: Value = browser
            .get(format!("{}/.well-known/openid-configuration", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            meta["prompt_values_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("create"))
        );
        let query = format!(
            "client_id={}&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&response_type=code&scope=openid\
             &state=st&code_challenge={}&code_challenge_method=S256",
            reg.client.id, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        // prompt=create: the sign-up page first, for this client, the request carried along
        // without the prompt (so signing in afterwards does not loop back here).
        let page = browser
            .get(format!("{}/oauth2/authorize?{query}&prompt=create", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("Create your account"), "{html}");
        assert!(html.contains("to continue to Shop website"), "{html}");
        let params = hidden(&html, "params");
        assert!(
            !params.contains("prompt") && params.contains("client_id="),
            "{params}"
        );
        // The sign-in page's "create an account" link leads to the same page.
        let signin = browser
            .get(format!("{}/oauth2/authorize?{query}", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let i = signin
            .find("href=\"/oauth2/signup?params=")
            .unwrap_or_else(|| panic!("{signin}"))
            + 6;
        let href = html_unescape(&signin[i..i + signin[i..].find('"').unwrap()]);
        let via_link = browser
            .get(format!("{}{href}", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            hidden(&via_link, "params"),
            hidden(&html, "params").replace("&prompt=create", "")
        );
        // Signing up: check your email, then the way back to the client's sign-in.
        let done = browser
            .post(format!("{}/signup", s.base))
            .form(&[
                ("csrf", hidden(&html, "csrf")),
                ("params", params.clone()),
                ("display_name", "New Shopper".into()),
                ("email", "newshopper@example.com".into()),
                ("password", "a long and unusual passphrase".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        let done = done.text().await.unwrap();
        assert!(done.contains("Continue to Shop website"), "{done}");
        let i = done.find("href=\"/oauth2/authorize?").unwrap() + 6;
        let back = html_unescape(&done[i..i + done[i..].find('"').unwrap()]);
        let again = browser
            .get(format!("{}{back}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::OK);
        assert!(again.text().await.unwrap().contains("<h1>Sign in</h1>"));
        // Analytics counts the registration as the client's.
        s.engine.settle().await.unwrap();
        s.engine.analytics_catch_up().await.unwrap();
        let now = s.engine.now();
        let report = s
            .engine
            .analytics(
                &s.admin,
                &vestibule_engine::analytics::AnalyticsQuery {
                    from: now - chrono::Duration::days(1),
                    to: now + chrono::Duration::hours(1),
                    granularity: vestibule_engine::analytics::Granularity::Day,
                    filter: vestibule_engine::analytics::AnalyticsFilter {
                        client: Some(reg.client.id.clone()),
                        ..Default::default()
                    },
                },
            )
            .await
            .unwrap();
        assert_eq!(report.kpis.registrations, 1, "{:?}", report.registrations);
        s.stop().await;
    }
}

/// Support sees a customer's factors and removes a lost one with a reason; admins change the
/// hosted pages' branding, which the pages show at once.
#[tokio::test]
async fn staff_manage_factors_and_branding_through_the_admin_api() {
    for s in servers(true).await {
        let c = client();
        registered(&s, &c, "lost@example.com").await;
        let token = app_token(&s.base, "lost@example.com").await;
        let (en, totp, now) = begin_totp(&s, &token).await;
        s.engine
            .confirm_totp(
                &token,
                en.factor_id,
                &totp.generate(now).to_string(),
                "Old phone",
            )
            .await
            .unwrap();
        s.engine
            .add_staff(
                &s.admin,
                "sup@staff.example",
                "Sam",
                vestibule_engine::Role::Support,
                "support staff password",
            )
            .await
            .unwrap();
        let support = staff_token(&s, "sup@staff.example", "support staff password").await;
        let admin = staff_token(&s, ADMIN, ADMIN_PW).await;
        let id = s
            .engine
            .search_customers(&s.admin, "lost@example.com", None, 1)
            .await
            .unwrap()
            .items[0]
            .id;

        let listed: Value = c
            .get(format!("{}/admin/v1/customers/{id}/factors", s.base))
            .bearer_auth(&support)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["factors"][0]["name"], "Old phone", "{listed}");
        assert_eq!(listed["factors"][0]["kind"], "totp");
        assert!(!listed.to_string().contains(&en.secret), "never the secret");
        let remove = |reason: &'static str| {
            let c = c.clone();
            let url = format!(
                "{}/admin/v1/customers/{id}/factors/{}/remove",
                s.base, en.factor_id
            );
            let support = support.clone();
            async move {
                c.post(url)
                    .bearer_auth(support)
                    .json(&json!({ "reason": reason }))
                    .send()
                    .await
                    .unwrap()
            }
        };
        let r = remove("  ").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_input");
        assert_eq!(
            remove("ticket #88: phone lost").await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(remove("again").await.status(), StatusCode::NOT_FOUND);
        let trail: Value = c
            .get(format!("{}/admin/v1/customers/{id}/audit", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            trail["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "customer.factor_removed"
                    && e["reason"] == "ticket #88: phone lost"),
            "{trail}"
        );

        // Branding: read by any staff, changed by admins only, checked, versioned.
        let b: Value = c
            .get(format!("{}/admin/v1/settings/branding", s.base))
            .bearer_auth(&support)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut changed = b.clone();
        changed["name"] = json!("Shop Example");
        changed["accent"] = json!("#0b6e4f");
        changed["support_url"] = json!("https://help.shop.example");
        let put = |who: String, body: Value| {
            let c = c.clone();
            let url = format!("{}/admin/v1/settings/branding", s.base);
            async move {
                c.put(url)
                    .bearer_auth(who)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            put(support.clone(), changed.clone()).await.status(),
            StatusCode::FORBIDDEN
        );
        let mut pale = changed.clone();
        pale["accent"] = json!("#ffee00");
        assert_eq!(
            put(admin.clone(), pale).await.status(),
            StatusCode::BAD_REQUEST
        );
        let r = put(admin.clone(), changed.clone()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let now: Value = r.json().await.unwrap();
        assert_eq!(
            now["version"].as_i64(),
            Some(b["version"].as_i64().unwrap() + 1)
        );
        assert_eq!(
            put(admin.clone(), changed).await.status(),
            StatusCode::CONFLICT,
            "stale version"
        );
        let page = c
            .get(format!("{}/signin", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("<span>Shop Example</span>"), "{page}");
        assert!(page.contains("https://help.shop.example"));
        s.stop().await;
    }
}

/// Security staff through the admin API: the password alone gives a token that may only set
/// up the authenticator; once set up, sign-in without its code is 401
/// `second_factor_required`, with a wrong code 400, with the right one a working token.
#[tokio::test]
async fn staff_api_sign_in_needs_the_authenticator() {
    for s in servers(false).await {
        s.engine
            .add_staff(
                &s.admin,
                "sec@shop.example",
                "Sec",
                vestibule_engine::Role::Security,
                PW,
            )
            .await
            .unwrap();
        let api = reqwest::Client::new();
        let sign_in = |code: Option<String>| {
            api.post(format!("{}/admin/v1/sessions", s.base))
                .json(&json!({"email": "sec@shop.example", "password": PW, "code": code}))
                .send()
        };
        let first: Value = sign_in(None).await.unwrap().json().await.unwrap();
        assert_eq!(first["staff"]["factor"], "enrolment_needed", "{first}");
        let token = first["token"].as_str().unwrap().to_owned();
        let r = api
            .get(format!("{}/admin/v1/customers?q=a", s.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            r.json::<Value>().await.unwrap()["code"],
            "authenticator_required"
        );
        let en: Value = api
            .post(format!("{}/admin/v1/me/authenticator", s.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let secret = en["secret"].as_str().unwrap().to_owned();
        assert!(en["uri"].as_str().unwrap().starts_with("otpauth://totp/"));
        let now = s.engine.now().timestamp();
        let r = api
            .post(format!("{}/admin/v1/me/authenticator/confirm", s.base))
            .bearer_auth(&token)
            .json(&json!({"code": totp_at(&secret, now)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["factor"], "verified");
        let r = api
            .get(format!("{}/admin/v1/customers?q=a", s.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        let r = sign_in(None).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.json::<Value>().await.unwrap()["code"],
            "second_factor_required"
        );
        let r = sign_in(Some("000000".into())).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let next = totp_at(&secret, now + 30);
        let ok: Value = sign_in(Some(next.clone()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ok["staff"]["factor"], "verified", "{ok}");
        // Replayed: refused.
        let r = sign_in(Some(next)).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        s.stop().await;
    }
}
