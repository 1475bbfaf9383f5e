//! Adaptive security over HTTP: the device cookie the pages give a browser, and the analysts'
//! review queue, blocks and risk policy in the admin API.

use super::*;
use vestibule_engine::{RequestContext, SignInStep};

fn from(ip: &str, agent: &str) -> RequestContext {
    RequestContext {
        ip: ip.into(),
        user_agent: agent.into(),
        ..Default::default()
    }
}

/// A GET endpoint refuses each bad query with 400 and its code (as the admin), and refuses
/// support staff (403).
async fn refused(
    c: &reqwest::Client,
    url: &str,
    admin: &str,
    agent: &str,
    queries: &[(&str, &str)],
) {
    for (query, code) in queries {
        let r = c
            .get(format!("{url}?{query}"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], *code, "{query}: {v}");
    }
    let r = c.get(url).bearer_auth(agent).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{url}");
}

#[tokio::test]
async fn a_browser_gets_one_long_lived_device_cookie() {
    let s = servers(false).await.remove(0);
    let c = reqwest::Client::new();
    let r = c.get(format!("{}/signin", s.base)).send().await.unwrap();
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("__Host-vestibule_device="))
        .collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = cookies[0];
    for part in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=34560000",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let value = cookie.split(';').next().unwrap();
    // A browser that has one keeps it; JSON answers never set one.
    let r = c
        .get(format!("{}/signin", s.base))
        .header("cookie", value)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|v| !v.to_str().unwrap().starts_with("__Host-vestibule_device="))
    );
    let r = c.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    s.stop().await;
}

#[tokio::test]
async fn analysts_work_the_review_queue_blocks_and_policy_over_the_admin_api() {
    for s in servers(false).await {
        let c = reqwest::Client::new();
        registered(&s, &c, "ria@example.com").await;
        let home = from(
            "192.0.2.10",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0",
        );
        s.engine
            .sign_in("ria@example.com", PW, &home)
            .await
            .unwrap();
        let phone = from("198.51.100.77", "Mozilla/5.0 (iPhone) Mobile Safari/604.1");
        assert!(matches!(
            s.engine
                .begin_sign_in("ria@example.com", PW, &phone)
                .await
                .unwrap(),
            SignInStep::SecondFactor(_)
        ));
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
        let api = |path: &str| format!("{}/admin/v1{path}", s.base);

        let q: Value = c
            .get(api(
                "/risk/reviews?decision=challenge&network=198.51.100.0%2F24",
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = q["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{q}");
        let item = &items[0];
        assert_eq!(item["status"], "open");
        assert_eq!(item["attempt"]["decision"], "challenge");
        assert_eq!(item["attempt"]["score"], 40);
        assert!(
            item["attempt"]["signals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["evidence"]
                    .as_str()
                    .unwrap()
                    .starts_with("new network 198.51.100.0/24"))
        );
        let seq = item["attempt"]["seq"].as_i64().unwrap();
        // Bad filters are refused by name; support may not work the queue.
        refused(
            &c,
            &api("/risk/reviews"),
            &admin,
            &agent,
            &[
                ("network=nonsense", "invalid_input"),
                ("decision=maybe", "invalid_query"),
                ("colour=red", "invalid_query"),
            ],
        )
        .await;

        // A block, listed and ended.
        let r = c
            .post(api("/risk/blocks"))
            .bearer_auth(&admin)
            .json(&json!({"network": "203.0.113.0/24", "reason": "wave", "hours": 2}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let block: Value = r.json().await.unwrap();
        let listed: Value = c
            .get(api("/risk/blocks"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["blocks"][0]["network"], "203.0.113.0/24");
        let r = c
            .post(api(&format!(
                "/risk/blocks/{}/remove",
                block["id"].as_str().unwrap()
            )))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);

        // The overview: the last hour per minute, the challenge counted; bad windows refused.
        let view: Value = c
            .get(api("/risk/overview?window_minutes=60"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(view["failures"].as_array().unwrap().len(), 60, "{view}");
        assert_eq!(view["bucket_minutes"], 1);
        assert!(view["succeeded_total"].as_i64().unwrap() >= 1, "{view}");
        assert_eq!(view["challenged_or_denied"], 1, "{view}");
        refused(
            &c,
            &api("/risk/overview"),
            &admin,
            &agent,
            &[
                ("window_minutes=61", "invalid_input"),
                ("window_minutes=-1", "invalid_query"),
            ],
        )
        .await;

        // The item decided legitimate: her phone is trusted and signs in.
        let out: Value = c
            .post(api("/risk/reviews/decide"))
            .bearer_auth(&admin)
            .json(&json!({"attempts": [seq], "verdict": "legitimate", "note": "she called"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (out["decided"].as_i64(), out["trusted"].as_i64()),
            (Some(1), Some(1)),
            "{out}"
        );
        assert!(matches!(
            s.engine
                .begin_sign_in("ria@example.com", PW, &phone)
                .await
                .unwrap(),
            SignInStep::SignedIn(_)
        ));

        // The policy: read, changed with its version, a stale version refused.
        let mut policy: Value = c
            .get(api("/settings/risk-policy"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // Replayed first: a higher threshold would have let the phone through.
        let mut lenient = policy.clone();
        lenient["challenge_at"] = json!(45);
        lenient["review_at"] = json!(45);
        let replay: Value = c
            .post(api("/settings/risk-policy/replay"))
            .bearer_auth(&admin)
            .json(&lenient)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(replay["changed"], 1, "{replay}");
        assert_eq!(replay["examples"][0]["reviewed"], "legitimate");
        policy["mode"] = json!("audit_only");
        let r = c
            .put(api("/settings/risk-policy"))
            .bearer_auth(&admin)
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let saved: Value = r.json().await.unwrap();
        assert_eq!(saved["version"], 1);
        let r = c
            .put(api("/settings/risk-policy"))
            .bearer_auth(&admin)
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        s.stop().await;
    }
}

#[tokio::test]
async fn the_hosted_sign_in_form_tells_the_risk_engine_how_long_it_took() {
    use super::account::{goes_to, no_redirects, page, post};
    let s = servers(true).await.remove(0);
    let c = no_redirects();
    registered(&s, &c, "quick@example.com").await;
    let id = s
        .engine
        .search_customers(&s.admin, "quick@example.com", None, 1)
        .await
        .unwrap()
        .items[0]
        .id;
    // Sent at once: bot-like, and the evidence says how fast.
    let html = page(&c, format!("{}/signin", s.base)).await;
    let (csrf, shown) = (hidden(&html, "csrf"), hidden(&html, "shown"));
    let r = post(
        &c,
        format!("{}/signin", s.base),
        &[
            ("csrf", csrf.as_str()),
            ("shown", shown.as_str()),
            ("email", "quick@example.com"),
            ("password", PW),
        ],
    )
    .await;
    assert_eq!(
        goes_to(&r),
        "/account",
        "timing alone does not stop a sign-in"
    );
    let attempts = s.engine.customer_attempts(&s.admin, id, 5).await.unwrap();
    let bot = attempts[0]
        .signals
        .iter()
        .find(|g| g.signal == vestibule_engine::SignalKind::BotTiming)
        .expect("bot timing from the form's own field");
    assert!(
        bot.evidence.starts_with("the form was sent ")
            && bot.evidence.ends_with(" ms after it was shown"),
        "{}",
        bot.evidence
    );
    // Taken the time a person takes (the page made 5 s earlier), or without the field, or
    // with nonsense in it: no timing signal.
    let earlier = (shown.parse::<i64>().unwrap() - 5_000).to_string();
    for shown in [earlier.as_str(), "", "soon", "99999999999999999999"] {
        let c = no_redirects();
        let html = page(&c, format!("{}/signin", s.base)).await;
        let csrf = hidden(&html, "csrf");
        post(
            &c,
            format!("{}/signin", s.base),
            &[
                ("csrf", csrf.as_str()),
                ("shown", shown),
                ("email", "quick@example.com"),
                ("password", PW),
            ],
        )
        .await;
        let last = &s.engine.customer_attempts(&s.admin, id, 1).await.unwrap()[0];
        assert!(
            last.signals
                .iter()
                .all(|g| g.signal != vestibule_engine::SignalKind::BotTiming),
            "{shown:?}: {:?}",
            last.signals
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn the_admin_api_gives_the_analytics_figures_and_refuses_bad_ranges() {
    for s in servers(false).await {
        let c = reqwest::Client::new();
        registered(&s, &c, "ana@example.com").await;
        s.engine
            .sign_in("ana@example.com", PW, &from("192.0.2.10", "Firefox/132.0"))
            .await
            .unwrap();
        let _ = s
            .engine
            .sign_in(
                "ana@example.com",
                "not it",
                &from("192.0.2.10", "Firefox/132.0"),
            )
            .await;
        s.engine.analytics_catch_up().await.unwrap();
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
        let now = s.engine.now();
        let range = |days: i64| {
            format!(
                "from={}&to={}",
                (now - chrono::Duration::days(days)).format("%Y-%m-%dT%H:%M:%SZ"),
                (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
            )
        };
        let url = format!("{}/admin/v1/analytics", s.base);
        let r: Value = c
            .get(format!("{url}?{}&granularity=day", range(7)))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["buckets"].as_array().unwrap().len(), 8, "{r}");
        assert_eq!(r["kpis"]["registrations"], 1, "{r}");
        assert_eq!(r["kpis"]["sign_ins"], 1, "{r}");
        assert_eq!(r["kpis"]["failed_attempts"], 1, "{r}");
        assert_eq!(r["funnel"][0]["signed_in"], 1, "{r}");
        assert_eq!(r["mau"], 1, "{r}");
        let reversed = format!(
            "from={}&to={}&granularity=day",
            (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ"),
            (now - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
        );
        let day = format!("{}&granularity=day", range(7));
        refused(&c, &format!("{url}?{day}"), &admin, &agent, &[]).await;
        // The chart images: SVG with hover values and its font, PNG at print resolution.
        let chart = format!("{}/admin/v1/analytics/charts", s.base);
        let svg = c
            .get(format!("{chart}/sign-ins?{day}&theme=dark"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(svg.status(), StatusCode::OK);
        assert_eq!(svg.headers()["content-type"], "image/svg+xml");
        let text = svg.text().await.unwrap();
        assert!(
            text.contains("data-chart=\"sign-ins\"") && text.contains("data-value=\"1\""),
            "{text}"
        );
        assert!(text.contains("@font-face"));
        let png = c
            .get(format!(
                "{chart}/funnel?{day}&format=png&width=480&height=240&scale=2"
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(png.headers()["content-type"], "image/png");
        let bytes = png.bytes().await.unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // 960 × 480 pixels: the IHDR's width and height.
        assert_eq!(&bytes[16..24], &[0, 0, 3, 192, 0, 0, 1, 224]);
        for (path, code) in [
            (format!("{chart}/pie?{day}"), "invalid_input"),
            (format!("{chart}/funnel?{day}&format=gif"), "invalid_input"),
            (format!("{chart}/funnel?{day}&scale=9"), "invalid_input"),
            (format!("{chart}/funnel?{day}&theme=sepia"), "invalid_input"),
        ] {
            let resp = c.get(&path).bearer_auth(&admin).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["code"], code, "{path}: {v}");
        }
        let resp = c
            .get(format!("{chart}/funnel?{day}"))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);

        for (query, code) in [
            (reversed, "invalid_input"),
            (format!("{}&granularity=hour", range(40)), "invalid_input"),
            (format!("{day}&client=shop&country=DE"), "invalid_input"),
            (format!("{day}&method=pigeon"), "invalid_input"),
            (format!("{day}&colour=blue"), "invalid_query"),
            (
                format!("{}&granularity=fortnight", range(7)),
                "invalid_query",
            ),
        ] {
            let resp = c
                .get(format!("{url}?{query}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["code"], code, "{query}: {v}");
        }
    }
}
