//! The front door's pages and flow through the real router (in process, no sockets), each
//! next to a raw baseline measured in the same run:
//! - the sign-in page (branding and providers read, template rendered, headers set) against
//!   rendering nothing but a template of the same size with askama;
//! - a whole authorization code flow (authorization request → sign-in page → password post →
//!   token exchange → userinfo) against one argon2id verification with the engine's hasher
//!   and parameters: the budget is one hash plus 5 ms.
//!
//! Run: `cargo bench -p vestibule-server --bench frontdoor` (about half a minute). Prints and
//! writes `target/bench/frontdoor-report.md`.

mod support;
use support::with_authenticator;

use axum::body::Body;
use axum::http::{Request, header};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;
use tower::ServiceExt as _;
use vestibule_engine::{Deps, Engine, Hasher, NewClient, OsEntropy, RegisterInput, RequestContext};
use vestibule_server::ServerConfig;

const PW: &str = "benchmark customer passphrase";
const BASE: &str = "http://id.shop.example";

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[(((v.len() - 1) as f64) * p).round() as usize];
    (at(0.5), at(0.99))
}

fn ms(x: f64) -> String {
    format!("{:.3} ms", x * 1e3)
}

/// A response's body, its `Set-Cookie` name=value pairs and its `Location`.
async fn answer(r: axum::response::Response) -> (u16, String, Vec<String>, String) {
    let status = r.status().as_u16();
    let cookies = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let location = r
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        cookies,
        location,
    )
}

fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let i = html.find(&key).unwrap() + key.len();
    html[i..i + html[i..].find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
}

#[derive(askama::Template)]
#[template(
    source = "<!doctype html><html><head><title>{{ title }}</title></head><body><main><h1>{{ title }}</h1>{% for f in fields %}<label for=\"{{ f }}\">{{ f }}</label><input id=\"{{ f }}\" name=\"{{ f }}\">{% endfor %}<p>{{ text }}</p></main></body></html>",
    ext = "html"
)]
struct Raw<'a> {
    title: &'a str,
    fields: &'a [&'a str],
    text: &'a str,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let out =
        PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "../../target/bench".into()));
    std::fs::create_dir_all(&out).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut deps = Deps::system();
    deps.config.public_url = BASE.into();
    let hash = deps.config.hash;
    let (engine, admin, _) = Engine::create_vault(
        &tmp.path().join("frontdoor.vault"),
        "bench@vestibule.example",
        "benchmark admin passphrase",
        deps,
    )
    .await
    .unwrap();
    let admin = with_authenticator(&engine, &admin).await;
    let ctx = RequestContext::default();
    engine
        .register(
            RegisterInput {
                email: "flow@example.com".into(),
                password: PW.into(),
                display_name: "Flow".into(),
                ..Default::default()
            },
            &ctx,
        )
        .await
        .unwrap();
    engine.settle().await.unwrap();
    let client = engine
        .register_client(
            &admin,
            NewClient {
                name: "Shop".into(),
                redirect_uris: vec!["https://shop.example/cb".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let secret = client.client_secret.clone().unwrap();
    let mut config = ServerConfig::new(BASE);
    config.insecure_dev_cookies = true;
    // One client does every request here: no per-IP limit in the way.
    config.ip_burst = 1_000_000;
    let app = vestibule_server::router(engine.clone(), config);
    // As the accept loop does: the peer's address rides along (limits and attempts use it).
    let peer: std::net::SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let call = |mut req: Request<Body>| {
        let app = app.clone();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        async move { answer(app.oneshot(req).await.unwrap()).await }
    };

    // --- the sign-in page -------------------------------------------------------------
    let n_pages = 2_000;
    let (mut page, mut raw) = (Vec::new(), Vec::new());
    let fields = ["email", "password"];
    for i in 0..n_pages + 100 {
        let t = Instant::now();
        let (status, body, _, _) = call(Request::get("/signin").body(Body::empty()).unwrap()).await;
        let took = t.elapsed().as_secs_f64();
        assert_eq!(status, 200);
        let t = Instant::now();
        let rendered = askama::Template::render(&Raw {
            title: "Sign in",
            fields: &fields,
            text: &body[..body.len().min(2000)],
        })
        .unwrap();
        let raw_took = t.elapsed().as_secs_f64();
        std::hint::black_box(rendered);
        if i >= 100 {
            page.push(took);
            raw.push(raw_took);
        }
    }

    // --- a whole code flow ----------------------------------------------------------------
    let hasher = Hasher::new(hash, &OsEntropy).unwrap();
    let phc = hasher.hash(PW, &OsEntropy).unwrap();
    // Enough flows that the median of (flow − its own hash) is steady to a tenth of a
    // millisecond: the two are measured back to back, so each difference is one flow's cost
    // beyond its hash.
    let n_flows = 200;
    let (mut flow, mut verify) = (Vec::new(), Vec::new());
    // Each step's share: the authorization request, the password post, the token exchange,
    // userinfo.
    let mut steps = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for i in 0..n_flows + 3 {
        let t = Instant::now();
        hasher.verify(PW, &phc).unwrap();
        let v = t.elapsed().as_secs_f64();
        let verifier = format!("{:0>43}", i);
        let challenge = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            <sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()),
        );
        let t = Instant::now();
        let auth = format!(
            "/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&scope=openid%20email&state=s&code_challenge={challenge}&code_challenge_method=S256",
            client.client.id
        );
        let (status, html, cookies, _) =
            call(Request::get(auth).body(Body::empty()).unwrap()).await;
        assert_eq!(status, 200, "{html}");
        let t1 = t.elapsed().as_secs_f64();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("params", &hidden(&html, "params"))
            .append_pair("csrf", &hidden(&html, "csrf"))
            .append_pair("email", "flow@example.com")
            .append_pair("password", PW)
            .finish();
        let (status, body, _, location) = call(
            Request::post("/oauth2/signin")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, cookies.join("; "))
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let t2 = t.elapsed().as_secs_f64();
        let code = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", "https://shop.example/cb")
            .append_pair("code_verifier", &verifier)
            .append_pair("client_id", &client.client.id)
            .append_pair("client_secret", &secret)
            .finish();
        let (status, body, _, _) = call(
            Request::post("/oauth2/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let t3 = t.elapsed().as_secs_f64();
        let tokens: serde_json::Value = serde_json::from_str(&body).unwrap();
        let access = tokens["access_token"].as_str().unwrap();
        let (status, body, _, _) = call(
            Request::get("/oauth2/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {access}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let took = t.elapsed().as_secs_f64();
        if i >= 3 {
            flow.push(took);
            verify.push(v);
            for (k, d) in [t1, t2 - t1, t3 - t2, took - t3].into_iter().enumerate() {
                steps[k].push(d);
            }
        }
    }

    let (p50, p99) = stats(page);
    let (r50, r99) = stats(raw);
    let over: Vec<f64> = flow.iter().zip(&verify).map(|(f, v)| f - v).collect();
    let (o50, o99) = stats(over);
    let (f50, f99) = stats(flow);
    let (v50, v99) = stats(verify);
    let steps: Vec<(f64, f64)> = steps.into_iter().map(stats).collect();
    let mut report = String::new();
    writeln!(report, "# Front door benchmark\n").unwrap();
    writeln!(report, "Encrypted vault, the real router in process (no sockets), argon2id m={} KiB, t={}, p={}.\n", hash.m_kib, hash.t, hash.p).unwrap();
    writeln!(report, "| what | p50 | p99 |\n|---|---|---|").unwrap();
    writeln!(
        report,
        "| sign-in page, {n_pages} renders through the router | {} | {} |",
        ms(p50),
        ms(p99)
    )
    .unwrap();
    writeln!(
        report,
        "| raw askama render of a page of the same size | {} | {} |",
        ms(r50),
        ms(r99)
    )
    .unwrap();
    writeln!(
        report,
        "| whole code flow (authorize → form → token → userinfo), {n_flows} flows | {} | {} |",
        ms(f50),
        ms(f99)
    )
    .unwrap();
    for ((what, (a, b)), _) in [
        "authorization request (sign-in page)",
        "password post (hash, attempt, session, code)",
        "token exchange (ID token signed)",
        "userinfo",
    ]
    .iter()
    .zip(&steps)
    .zip(0..)
    {
        writeln!(report, "| · {what} | {} | {} |", ms(*a), ms(*b)).unwrap();
    }
    writeln!(
        report,
        "| one argon2id verification, same hasher and parameters | {} | {} |",
        ms(v50),
        ms(v99)
    )
    .unwrap();
    writeln!(report, "\nSign-in page p99 {} (budget 2 ms; {:.1}× the raw render at p99). A code flow costs its hash plus {} at p50 (budget 5 ms), {} at p99 (each flow less the hash measured just before it).", ms(p99), p99 / r99, ms(o50), ms(o99)).unwrap();
    print!("{report}");
    std::fs::write(out.join("frontdoor-report.md"), report).unwrap();
    engine.close().await;
}
