//! Social sign-in between two real servers: an upstream `vestibule serve` (on 127.0.0.2, its
//! own vault) is the OpenID Connect provider, and the server under test (on 127.0.0.1, on a
//! vault and on PostgreSQL) signs its customers in through it — discovery, PKCE, state,
//! nonce, the code exchanged with client_secret_basic, the ID token checked against the
//! upstream's JWKS. Two loopback addresses, because browsers (and reqwest's cookie store)
//! keep cookies per host, not per port.

use super::*;

/// A server whose public URL is its real address on `ip`, on the real clock (the browser
/// walk computes TOTP codes for real time, and two servers must agree on the time).
pub(super) async fn real_server(ip: &str, postgres: Option<String>) -> Server {
    let port = std::net::TcpListener::bind(format!("{ip}:0"))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://{ip}:{port}");
    let mut d = deps();
    d.clock = Arc::new(vestibule_engine::SystemClock);
    d.config.public_url = base.clone();
    let (engine, admin, dir) = match postgres {
        Some(url) => {
            let (e, a) = Engine::init_postgres(&url, ADMIN, ADMIN_PW, d)
                .await
                .unwrap();
            (e, a, None)
        }
        None => {
            let dir = tempfile::tempdir().unwrap();
            let (e, a, _) = Engine::create_vault(&dir.path().join("s.vault"), ADMIN, ADMIN_PW, d)
                .await
                .unwrap();
            (e, a, Some(dir))
        }
    };
    let mut config = ServerConfig::new(base.clone());
    config.insecure_dev_cookies = true;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let (up_tx, up_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let addr: SocketAddr = base_addr(&base).parse().unwrap();
    let serving = tokio::spawn(async move {
        vestibule_server::serve(
            e,
            config,
            addr,
            move |a| {
                let _ = up_tx.send(a);
            },
            async {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
    });
    up_rx.await.unwrap();
    let (admin, admin_secret) = with_authenticator(&engine, &admin).await;
    Server {
        base,
        engine,
        admin,
        admin_secret,
        stop: tx,
        serving,
        _dir: dir,
    }
}

fn base_addr(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// A browser: cookies, redirects followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

/// The "Continue with …" button's address on a sign-in page.
fn button(html: &str) -> String {
    let i = html
        .find("href=\"/signin/social/")
        .expect("a provider button")
        + 6;
    html_unescape(&html[i..i + html[i..].find('"').unwrap()])
}

/// At the upstream's sign-in page (after following the button): sign in there and follow
/// its redirect back to the server under test.
async fn upstream_sign_in(
    b: &reqwest::Client,
    up: &Server,
    page: reqwest::Response,
    email: &str,
) -> reqwest::Response {
    assert!(
        page.url().as_str().starts_with(&up.base),
        "at the provider: {}",
        page.url()
    );
    let html = page.text().await.unwrap();
    b.post(format!("{}/oauth2/signin", up.base))
        .form(&[
            ("params", hidden(&html, "params")),
            ("csrf", hidden(&html, "csrf")),
            ("email", email.to_owned()),
            ("password", PW.to_owned()),
        ])
        .send()
        .await
        .unwrap()
}

/// From the server's sign-in page through its provider button: at the provider's sign-in
/// page (the button is there, with the flow's PKCE, state and nonce in the address).
async fn to_provider(b: &reqwest::Client, s: &Server) -> reqwest::Response {
    let html = b
        .get(format!("{}/signin", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Continue with Upstream ID"), "{html}");
    b.get(format!("{}{}", s.base, button(&html)))
        .send()
        .await
        .unwrap()
}

async fn customer_id(s: &Server, email: &str) -> Option<uuid::Uuid> {
    let page = s
        .engine
        .search_customers(&s.admin, email, None, 5)
        .await
        .unwrap();
    page.items.iter().find(|c| c.email == email).map(|c| c.id)
}

#[tokio::test]
async fn customers_sign_in_with_an_upstream_openid_provider() {
    let up = real_server("127.0.0.2", None).await;
    for (n, email) in [
        "new@example.com",
        "known@example.com",
        "unverified@example.com",
    ]
    .iter()
    .enumerate()
    {
        if n < 2 {
            registered(&up, &client(), email).await;
        } else {
            up.engine
                .register(
                    vestibule_engine::RegisterInput {
                        email: (*email).into(),
                        password: PW.into(),
                        display_name: "Not Verified".into(),
                        ..Default::default()
                    },
                    &ctx_for_tests(),
                )
                .await
                .unwrap();
            up.engine.settle().await.unwrap();
        }
    }
    let mut downs = vec![real_server("127.0.0.1", None).await];
    if let Ok(pg) = std::env::var("VESTIBULE_TEST_POSTGRES") {
        downs.push(real_server("127.0.0.1", Some(pg::create_database(&pg).await)).await);
    }
    for s in downs {
        let reg = up
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
        // An admin adds the provider through the admin API; the secret is never listed.
        let admin = staff_token(&s, ADMIN, ADMIN_PW).await;
        let c = reqwest::Client::new();
        let r = c
            .post(format!("{}/admin/v1/settings/providers", s.base))
            .bearer_auth(&admin)
            .json(
                &json!({"label": "Upstream ID", "issuer": up.base, "client_id": reg.client.id,
                "client_secret": reg.client_secret.clone().unwrap()}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        let listed: Value = c
            .get(format!("{}/admin/v1/settings/providers", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            listed["redirect_uri"],
            format!("{}/signin/social/callback", s.base)
        );
        assert_eq!(listed["providers"][0]["scopes"], "openid email profile");
        assert!(
            !listed
                .to_string()
                .contains(reg.client_secret.as_deref().unwrap())
        );
        for bad in [
            json!({"label": "X", "issuer": "http://accounts.example.com", "client_id": "a", "client_secret": "b"}),
            json!({"label": "", "issuer": "https://accounts.example.com", "client_id": "a", "client_secret": "b"}),
            json!({"label": "X", "issuer": "https://accounts.example.com", "client_id": "a", "client_secret": "b", "scopes": "email"}),
            json!({"label": "Again", "issuer": up.base, "client_id": "a", "client_secret": "b"}),
        ] {
            let r = c
                .post(format!("{}/admin/v1/settings/providers", s.base))
                .bearer_auth(&admin)
                .json(&bad)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        }

        // A new customer: the provider's verified address makes an account, signed in.
        let b = browser();
        let at_provider = to_provider(&b, &s).await;
        let u = at_provider.url().clone();
        assert_eq!(param(&u, "code_challenge_method").as_deref(), Some("S256"));
        assert!(param(&u, "nonce").is_some() && param(&u, "state").is_some());
        let back = upstream_sign_in(&b, &up, at_provider, "new@example.com").await;
        assert_eq!(back.url().path(), "/account", "{}", back.url());
        let account = back.text().await.unwrap();
        assert!(
            account.contains("Connected accounts") && account.contains("Upstream ID"),
            "{account}"
        );
        let id = customer_id(&s, "new@example.com")
            .await
            .expect("an account was made");
        let record = s.engine.get_customer(&s.admin, id, None).await.unwrap();
        assert!(record.email_verified, "the provider verified the address");
        let trail = s.engine.customer_audit(&s.admin, id, 20).await.unwrap();
        for action in ["customer.registered", "customer.social_linked"] {
            assert!(
                trail.iter().any(|e| e.action == action),
                "{action}: {trail:?}"
            );
        }
        // Signing in again (the provider remembers the customer): the same account.
        let fresh = browser();
        let at_provider = to_provider(&fresh, &s).await;
        let back = upstream_sign_in(&fresh, &up, at_provider, "new@example.com").await;
        assert_eq!(back.url().path(), "/account");
        let links = s.engine.customer_social_links(&s.admin, id).await.unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].email.as_deref(), Some("new@example.com"));

        // Inside an authorization request of the server's own client: back to the client
        // with a code, the ID token saying how the customer signed in.
        let app = shop_client(&s, "Shop app", "https://shop.example/cb").await;
        let to_app = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::custom(|a| {
                if a.url().host_str() == Some("shop.example") {
                    a.stop()
                } else {
                    a.follow()
                }
            }))
            .build()
            .unwrap();
        let verifier = "v".repeat(43);
        let challenge = pkce_challenge(&verifier);
        let authorize = format!(
            "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&scope=openid%20email&state=s1&nonce=n1&code_challenge={challenge}&code_challenge_method=S256",
            s.base, app.client.id
        );
        let r = to_app.get(&authorize).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{:?}",
            r.headers().get("location")
        );
        let html = r.text().await.unwrap();
        assert!(html.contains("Continue with Upstream ID"), "{html}");
        let at_provider = to_app
            .get(format!("{}{}", s.base, button(&html)))
            .send()
            .await
            .unwrap();
        let back = upstream_sign_in(&to_app, &up, at_provider, "new@example.com").await;
        assert_eq!(back.status(), StatusCode::SEE_OTHER);
        let cb = location(&back);
        assert_eq!(cb.host_str(), Some("shop.example"), "{cb}");
        assert_eq!(param(&cb, "state").as_deref(), Some("s1"));
        let tokens = exchange_code(
            &s.base,
            &app,
            &param(&cb, "code").unwrap(),
            "https://shop.example/cb",
            &verifier,
        )
        .await;
        let claims = id_claims(&tokens);
        assert_eq!(claims["amr"], json!(["fed"]), "{claims}");
        assert_eq!(claims["email"], "new@example.com");

        // An address that already has an account here: never linked without its password.
        registered(&s, &client(), "known@example.com").await;
        let b = browser();
        let at_provider = to_provider(&b, &s).await;
        let prove = upstream_sign_in(&b, &up, at_provider, "known@example.com").await;
        assert_eq!(prove.status(), StatusCode::OK);
        let known = customer_id(&s, "known@example.com").await.unwrap();
        assert!(
            s.engine
                .customer_social_links(&s.admin, known)
                .await
                .unwrap()
                .is_empty()
        );
        let html = prove.text().await.unwrap();
        assert!(
            html.contains("Connect Upstream ID") && html.contains("known@example.com"),
            "{html}"
        );
        let wrong = b
            .post(format!("{}/signin/social/link", s.base))
            .form(&[
                ("csrf", hidden(&html, "csrf")),
                ("password", "not the password".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(
            s.engine
                .customer_social_links(&s.admin, known)
                .await
                .unwrap()
                .is_empty()
        );
        // Without the form's CSRF token: refused, nothing linked.
        let forged = b
            .post(format!("{}/signin/social/link", s.base))
            .form(&[("csrf", "0".repeat(64)), ("password", PW.into())])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        let html = wrong.text().await.unwrap();
        let linked = b
            .post(format!("{}/signin/social/link", s.base))
            .form(&[("csrf", hidden(&html, "csrf")), ("password", PW.into())])
            .send()
            .await
            .unwrap();
        assert_eq!(linked.url().path(), "/account");
        assert_eq!(
            s.engine
                .customer_social_links(&s.admin, known)
                .await
                .unwrap()
                .len(),
            1
        );

        // The provider did not verify the address: no account, no link.
        let b = browser();
        let at_provider = to_provider(&b, &s).await;
        let refused = upstream_sign_in(&b, &up, at_provider, "unverified@example.com").await;
        assert!(
            refused.url().as_str().starts_with(&s.base),
            "{}",
            refused.url()
        );
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("did not confirm your email")
        );
        assert!(customer_id(&s, "unverified@example.com").await.is_none());

        // A callback that is replayed, forged or from another browser signs no one in.
        let b = browser();
        let at_provider = to_provider(&b, &s).await;
        let no_follow = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = at_provider.text().await.unwrap();
        let r = b
            .post(format!("{}/oauth2/signin", up.base))
            .form(&[
                ("params", hidden(&page, "params")),
                ("csrf", hidden(&page, "csrf")),
                ("email", "new@example.com".to_owned()),
                ("password", PW.to_owned()),
            ])
            .send()
            .await
            .unwrap();
        let callback = r.url().clone();
        // (The browser followed it: it is now signed in; the same callback again is spent.)
        assert_eq!(callback.path(), "/account");
        let r = b
            .get(format!("{}/signin/social/callback?state=x&code=y", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = no_follow
            .get(format!("{}/signin/social/callback?state=x&code=y", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::BAD_REQUEST,
            "no flow in this browser"
        );
        let r = reqwest::Client::new()
            .get(format!(
                "{}/signin/social/callback?error=access_denied&state=x",
                s.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let text = r.text().await.unwrap();
        assert!(text.contains("was cancelled"), "{text}");

        // The customer disconnects it in the account center; support sees the connections.
        let html = b
            .get(format!("{}/account", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let provider = listed["providers"][0]["id"].as_str().unwrap().to_owned();
        let r = b
            .post(format!("{}/account/connections/remove", s.base))
            .form(&[
                ("csrf", hidden(&html, "csrf")),
                ("provider", provider.clone()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.url().query(), Some("done=disconnected"));
        let html = r.text().await.unwrap();
        assert!(html.contains("Connect Upstream ID"));
        // Connecting again from the account center: its link carries the page's CSRF token;
        // the same link without it (from anywhere else) connects nothing.
        let i = html.find("href=\"/signin/social/").unwrap() + 6;
        let connect = html_unescape(&html[i..i + html[i..].find('"').unwrap()]);
        assert!(
            connect.contains("link=1") && connect.contains("csrf="),
            "{connect}"
        );
        let forged = connect.split("&csrf=").next().unwrap().to_owned();
        let r = b.get(format!("{}{forged}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = b.get(format!("{}{connect}", s.base)).send().await.unwrap();
        assert_eq!(r.url().query(), Some("done=connected"), "{}", r.url());
        assert!(r.text().await.unwrap().contains("Disconnect"));
        let r = b
            .post(format!("{}/account/connections/remove", s.base))
            .form(&[
                ("csrf", hidden(&html, "csrf")),
                ("provider", provider.clone()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.url().query(), Some("done=disconnected"));
        let v: Value = c
            .get(format!("{}/admin/v1/customers/{known}/connections", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["connections"][0]["provider"], "Upstream ID");
        let r = c
            .post(format!(
                "{}/admin/v1/customers/{known}/connections/{provider}/remove",
                s.base
            ))
            .bearer_auth(&admin)
            .json(&json!({"reason": "ticket 77"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        // Removing the provider removes its button.
        let r = c
            .post(format!(
                "{}/admin/v1/settings/providers/{provider}/remove",
                s.base
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let html = browser()
            .get(format!("{}/signin", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("Continue with"));
        s.stop().await;
    }
    up.stop().await;
}
