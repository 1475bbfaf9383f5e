//! The account center's own details over HTTP: the profile (errors tied to their fields),
//! email and password changes (the current password first, recorded as any check), and the
//! apps the customer signed in to, whose access can be taken away.

use super::*;

pub(super) fn no_redirects() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(super) async fn page(c: &reqwest::Client, url: String) -> String {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

pub(super) async fn post(
    c: &reqwest::Client,
    url: String,
    form: &[(&str, &str)],
) -> reqwest::Response {
    c.post(url).form(form).send().await.unwrap()
}

pub(super) fn goes_to(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_account_center_changes_details_and_takes_access_from_apps() {
    for s in servers(true).await {
        let c = no_redirects();
        registered(&s, &c, "acct@example.com").await;
        let html = page(&c, format!("{}/signin", s.base)).await;
        let csrf = hidden(&html, "csrf");
        let r = post(
            &c,
            format!("{}/signin", s.base),
            &[
                ("csrf", &csrf),
                ("email", "acct@example.com"),
                ("password", PW),
            ],
        )
        .await;
        assert_eq!(goes_to(&r), "/account");
        let html = page(&c, format!("{}/account", s.base)).await;
        assert!(
            html.contains("Your details") && html.contains("No app holds access"),
            "{html}"
        );

        // Profile: a bad phone number is an error at its field; a good one is saved.
        let html = page(&c, format!("{}/account/profile", s.base)).await;
        let version = hidden(&html, "version");
        let bad = post(
            &c,
            format!("{}/account/profile", s.base),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("display_name", "Ada Lovelace"),
                ("phone", "call me"),
                ("locale", "en"),
            ],
        )
        .await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let html = bad.text().await.unwrap();
        assert!(
            html.contains("id=\"phone\" name=\"phone\" type=\"tel\" value=\"call me\""),
            "kept: {html}"
        );
        assert!(
            html.contains("aria-describedby=\"phone-hint phone-error\""),
            "{html}"
        );
        let r = post(
            &c,
            format!("{}/account/profile", s.base),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("display_name", "Ada Lovelace"),
                ("phone", "+44 20 7946 0018"),
                ("locale", "en"),
            ],
        )
        .await;
        assert_eq!(goes_to(&r), "/account?done=profile-saved");
        // The version read before is spent: a second save from the old form is refused.
        let stale = post(
            &c,
            format!("{}/account/profile", s.base),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("display_name", "Someone Else"),
                ("phone", ""),
                ("locale", "en"),
            ],
        )
        .await;
        assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
        let html = page(&c, format!("{}/account?done=profile-saved", s.base)).await;
        assert!(
            html.contains("Ada Lovelace") && html.contains("+442079460018"),
            "{html}"
        );

        // Email: the current password first.
        let r = post(
            &c,
            format!("{}/account/email", s.base),
            &[
                ("csrf", &csrf),
                ("new_email", "ada@example.com"),
                ("password", "wrong one"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("That password is not correct.")
        );
        let r = post(
            &c,
            format!("{}/account/email", s.base),
            &[
                ("csrf", &csrf),
                ("new_email", "ada@example.com"),
                ("password", PW),
            ],
        )
        .await;
        assert_eq!(goes_to(&r), "/account?done=email-sent");
        s.engine.settle().await.unwrap();
        let sent = s.engine.outbox(&s.admin, 50).await.unwrap();
        assert!(
            sent.iter()
                .any(|m| m.to == "ada@example.com" && m.kind == "change_email")
        );

        // Password: wrong current, too weak a new one, then changed; another device is signed out.
        let other = app_token(&s.base, "acct@example.com").await;
        let r = post(
            &c,
            format!("{}/account/password", s.base),
            &[
                ("csrf", &csrf),
                ("password", "nope"),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = post(
            &c,
            format!("{}/account/password", s.base),
            &[("csrf", &csrf), ("password", PW), ("new_password", "short")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("aria-describedby=\"new_password-hint new_password-error\"")
        );
        let r = post(
            &c,
            format!("{}/account/password", s.base),
            &[
                ("csrf", &csrf),
                ("password", PW),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await;
        assert_eq!(goes_to(&r), "/account?done=password-changed");
        let me = reqwest::Client::new()
            .get(format!("{}/v1/me", s.base))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(
            me.status(),
            StatusCode::UNAUTHORIZED,
            "the other device is signed out"
        );

        // Apps: signing in to one lists it; removing its access ends its tokens.
        let reg = shop_client(&s, "Shop app", "https://shop.example/cb").await;
        let verifier = "w".repeat(43);
        let challenge = pkce_challenge(&verifier);
        let r = c
            .get(format!(
                "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&scope=openid%20email&code_challenge={challenge}&code_challenge_method=S256",
                s.base, reg.client.id
            ))
            .send()
            .await
            .unwrap();
        let code = param(&location(&r), "code").expect("signed in already: a code");
        let tokens =
            exchange_code(&s.base, &reg, &code, "https://shop.example/cb", &verifier).await;
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let html = page(&c, format!("{}/account", s.base)).await;
        assert!(
            html.contains("Shop app") && html.contains("email openid"),
            "{html}"
        );
        let r = post(
            &c,
            format!("{}/account/apps/revoke", s.base),
            &[("csrf", &csrf), ("client", &reg.client.id)],
        )
        .await;
        assert_eq!(goes_to(&r), "/account?done=app-revoked");
        let info = reqwest::Client::new()
            .get(format!("{}/oauth2/userinfo", s.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(
            info.status(),
            StatusCode::UNAUTHORIZED,
            "the app's token ended"
        );
        assert!(
            page(&c, format!("{}/account", s.base))
                .await
                .contains("No app holds access")
        );
        // Forged (no CSRF token) changes do nothing.
        let r = post(
            &c,
            format!("{}/account/password", s.base),
            &[
                ("csrf", &"0".repeat(64)),
                ("password", "a brand new passphrase"),
                ("new_password", "yet another passphrase"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        s.stop().await;
    }
}

#[tokio::test]
async fn an_emailed_code_signs_in_inside_an_authorization_request() {
    for s in servers(true).await {
        let c = no_redirects();
        registered(&s, &c, "coded@example.com").await;
        let reg = shop_client(&s, "Shop app", "https://shop.example/cb").await;
        let verifier = "e".repeat(43);
        let challenge = pkce_challenge(&verifier);
        let html = page(&c, format!(
            "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&scope=openid&state=st&code_challenge={challenge}&code_challenge_method=S256&prompt=login",
            s.base, reg.client.id
        ))
        .await;
        let i = html
            .find("href=\"/signin/email?")
            .expect("the email link carries the request")
            + 6;
        let href = html_unescape(&html[i..i + html[i..].find('"').unwrap()]);
        let form = page(&c, format!("{}{href}", s.base)).await;
        let return_to = hidden(&form, "return_to");
        assert!(
            return_to.starts_with("/oauth2/authorize?") && !return_to.contains("prompt=login"),
            "{return_to}"
        );
        let csrf = hidden(&form, "csrf");
        let r = post(
            &c,
            format!("{}/signin/email", s.base),
            &[
                ("csrf", &csrf),
                ("email", "coded@example.com"),
                ("return_to", &return_to),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        s.engine.settle().await.unwrap();
        let sent = s.engine.outbox(&s.admin, 50).await.unwrap();
        let code = sent
            .iter()
            .find(|m| m.kind == "sign_in_code" && m.to == "coded@example.com")
            .and_then(|m| m.subject.rsplit_once(": ").map(|(_, c)| c.to_owned()))
            .unwrap();
        let r = post(
            &c,
            format!("{}/signin/email/code", s.base),
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
        assert_eq!(goes_to(&r), return_to, "back to the authorization request");
        let r = c
            .get(format!("{}{return_to}", s.base))
            .send()
            .await
            .unwrap();
        let cb = location(&r);
        assert_eq!(cb.host_str(), Some("shop.example"));
        assert_eq!(param(&cb, "state").as_deref(), Some("st"));
        let tokens = exchange_code(
            &s.base,
            &reg,
            &param(&cb, "code").unwrap(),
            "https://shop.example/cb",
            &verifier,
        )
        .await;
        let claims = id_claims(&tokens);
        assert_eq!(claims["amr"], json!(["email"]), "{claims}");

        // Somewhere else than this server: the account center instead.
        let other = no_redirects();
        let form = page(
            &other,
            format!(
                "{}/signin/email?return_to=https%3A%2F%2Fevil.example%2F",
                s.base
            ),
        )
        .await;
        assert_eq!(hidden(&form, "return_to"), "/account");
        let csrf = hidden(&form, "csrf");
        post(
            &other,
            format!("{}/signin/email", s.base),
            &[
                ("csrf", &csrf),
                ("email", "coded@example.com"),
                ("return_to", "//evil.example/x"),
            ],
        )
        .await;
        s.engine.settle().await.unwrap();
        let sent = s.engine.outbox(&s.admin, 50).await.unwrap();
        let first = code;
        let code = sent
            .iter()
            .filter(|m| m.kind == "sign_in_code" && m.to == "coded@example.com")
            .filter_map(|m| m.subject.rsplit_once(": ").map(|(_, c)| c.to_owned()))
            .find(|c| *c != first)
            .expect("a second code");
        let r = post(
            &other,
            format!("{}/signin/email/code", s.base),
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
        assert_eq!(goes_to(&r), "/account");
        s.stop().await;
    }
}

/// The code in the newest verification email to `to`.
async fn verify_code(s: &Server, to: &str) -> String {
    s.engine.settle().await.unwrap();
    let sent = s.engine.outbox(&s.admin, 100).await.unwrap();
    let m = sent
        .iter()
        .find(|m| m.kind == "verify_email" && m.to == to)
        .unwrap_or_else(|| panic!("no verification email to {to}"));
    let i = m.body.find("within an hour: ").unwrap() + 16;
    m.body[i..i + 7].replace(' ', "")
}

#[tokio::test]
async fn a_signed_in_customer_confirms_the_address_with_the_emailed_code() {
    for s in servers(true).await {
        let mut browsers = vec![];
        for who in ["first@example.com", "second@example.com"] {
            let r = reqwest::Client::new()
                .post(format!("{}/v1/register", s.base))
                .json(&json!({"email": who, "password": PW, "display_name": "Unconfirmed"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            s.engine.settle().await.unwrap();
            let c = no_redirects();
            let html = page(&c, format!("{}/signin", s.base)).await;
            let csrf = hidden(&html, "csrf");
            let r = post(
                &c,
                format!("{}/signin", s.base),
                &[("csrf", &csrf), ("email", who), ("password", PW)],
            )
            .await;
            assert_eq!(goes_to(&r), "/account");
            browsers.push((c, csrf));
        }
        let (c, csrf) = &browsers[0];
        let html = page(c, format!("{}/account", s.base)).await;
        assert!(
            html.contains("not confirmed yet") && html.contains("href=\"/account/verify\""),
            "{html}"
        );
        let mine = verify_code(&s, "first@example.com").await;
        let theirs = verify_code(&s, "second@example.com").await;
        // Someone else's code, a malformed one and a wrong one: refused, recorded.
        for bad in [
            theirs.as_str(),
            "12",
            if mine == "000000" { "000001" } else { "000000" },
        ] {
            let r = post(
                c,
                format!("{}/account/verify", s.base),
                &[("csrf", csrf), ("code", bad)],
            )
            .await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert!(
                r.text()
                    .await
                    .unwrap()
                    .contains("aria-describedby=\"code-hint code-error\"")
            );
        }
        let id = s
            .engine
            .search_customers(&s.admin, "first@example.com", None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        let attempts = s.engine.customer_attempts(&s.admin, id, 20).await.unwrap();
        assert_eq!(
            attempts
                .iter()
                .filter(|a| a.method == "verify_code")
                .count(),
            3,
            "{attempts:?}"
        );
        let r = post(
            c,
            format!("{}/account/verify", s.base),
            &[
                ("csrf", csrf),
                ("code", &format!("{} {}", &mine[..3], &mine[3..])),
            ],
        )
        .await;
        assert_eq!(goes_to(&r), "/account?done=confirmed");
        assert!(
            page(c, format!("{}/account", s.base))
                .await
                .contains("· confirmed")
        );
        // Spent: the same code does nothing more (and the second customer's still works).
        let r = post(
            c,
            format!("{}/account/verify", s.base),
            &[("csrf", csrf), ("code", &mine)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let (c2, csrf2) = &browsers[1];
        let r = post(
            c2,
            format!("{}/account/verify", s.base),
            &[("csrf", csrf2), ("code", &theirs)],
        )
        .await;
        assert_eq!(goes_to(&r), "/account?done=confirmed");
        s.stop().await;
    }
}
