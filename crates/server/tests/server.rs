//! The server driven over real HTTP (reqwest) on loopback, on an encrypted vault and, when
//! `VESTIBULE_TEST_POSTGRES` is set, on PostgreSQL too. One test binary for the crate.

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use vestibule_engine::{Config, Deps, Engine, HashParams, ManualClock, SeededEntropy, Staff};
use vestibule_server::ServerConfig;

const ADMIN: &str = "owner@shop.example";
const ADMIN_PW: &str = "correct horse battery staple";
const PW: &str = "lantern orchard violet";

struct Server {
    base: String,
    engine: Engine,
    admin: Staff,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: Option<tempfile::TempDir>,
}

fn deps() -> Deps {
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
            ..Config::default()
        },
    }
}

async fn start(
    engine: Engine,
    admin: Staff,
    dir: Option<tempfile::TempDir>,
    dev_cookies: bool,
) -> Server {
    let mut config = ServerConfig::new("http://id.shop.example");
    config.allowed_origins = vec!["https://shop.example".into()];
    config.insecure_dev_cookies = dev_cookies;
    start_with(engine, admin, dir, config).await
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
    tokio::spawn(async move {
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
    Server {
        base: format!("http://{addr}"),
        engine,
        admin,
        _stop: tx,
        _dir: dir,
    }
}

async fn servers(dev_cookies: bool) -> Vec<Server> {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, _) =
        Engine::create_vault(&dir.path().join("s.vault"), ADMIN, ADMIN_PW, deps())
            .await
            .unwrap();
    let mut v = vec![start(engine, admin, Some(dir), dev_cookies).await];
    if let Ok(base) = std::env::var("VESTIBULE_TEST_POSTGRES") {
        use pg::create_database;
        let url = create_database(&base).await;
        let (engine, admin) = Engine::init_postgres(&url, ADMIN, ADMIN_PW, deps())
            .await
            .unwrap();
        v.push(start(engine, admin, None, dev_cookies).await);
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

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn token_from_outbox(s: &Server, kind: &str) -> String {
    let m = s.engine.outbox(&s.admin, 50).await.unwrap();
    let m = m.iter().find(|m| m.kind == kind).unwrap();
    let i = m.body.find("token=").unwrap() + 6;
    m.body[i..].split_whitespace().next().unwrap().to_owned()
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
    }
}

#[tokio::test]
async fn apps_use_bearer_tokens_and_password_change_revokes_others() {
    for s in servers(false).await {
        let c = client();
        registered(&s, &c, "app@example.com").await;
        let sign_in = || async {
            let v: Value = reqwest::Client::new()
                .post(format!("{}/v1/sign-in", s.base))
                .json(&json!({"email": "app@example.com", "password": PW, "return_token": true}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["token"].as_str().unwrap().to_owned()
        };
        let (a, b) = (sign_in().await, sign_in().await);
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
            async move {
                let v: Value = reqwest::Client::new()
                    .post(format!("{base}/admin/v1/sessions"))
                    .json(&json!({"email": email, "password": pw}))
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
    }
}

/// Two server processes' worth of state (two engines, two servers) on one PostgreSQL
/// database behave as one: a session made through one is valid on the other, a sign-out
/// on one ends it on both, and a staff token works on either.
#[tokio::test]
async fn two_instances_on_one_postgres_share_sessions() {
    let Ok(base) = std::env::var("VESTIBULE_TEST_POSTGRES") else {
        assert!(
            std::env::var("VESTIBULE_REQUIRE_POSTGRES").is_err(),
            "VESTIBULE_REQUIRE_POSTGRES is set but VESTIBULE_TEST_POSTGRES is not"
        );
        return;
    };
    let url = pg::create_database(&base).await;
    let (e1, admin) = Engine::init_postgres(&url, ADMIN, ADMIN_PW, deps())
        .await
        .unwrap();
    let e2 = Engine::connect_postgres(&url, deps()).await.unwrap();
    let a = start(e1, admin.clone(), None, false).await;
    let b = start(e2, admin, None, false).await;
    let c = client();
    registered(&a, &c, "both@example.com").await;
    let v: Value = c
        .post(format!("{}/v1/sign-in", a.base))
        .json(&json!({"email": "both@example.com", "password": PW, "return_token": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = v["token"].as_str().unwrap();
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
    let staff: Value = reqwest::Client::new()
        .post(format!("{}/admin/v1/sessions", a.base))
        .json(&json!({"email": ADMIN, "password": ADMIN_PW}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .get(format!("{}/admin/v1/customers?q=both", b.base))
        .bearer_auth(staff["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["items"][0]["email"],
        "both@example.com"
    );
}

async fn staff_token(s: &Server, email: &str, pw: &str) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{}/admin/v1/sessions", s.base))
        .json(&json!({"email": email, "password": pw}))
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
    }
}
