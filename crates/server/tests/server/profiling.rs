//! Progressive profiling over HTTP: admins define attributes through the admin API (checked,
//! versioned), the customer API refuses what the definitions do not allow, the sign-up form
//! asks for sign-up attributes, a sign-in passes through the "a few more details" step when
//! attributes are due (skippable, quiet afterwards), "Your details" edits them, and an
//! authorization request whose scope names an attribute asks for it and releases the claim.

use super::*;

use super::account::{goes_to as to, no_redirects as browser, page as text};

fn definitions(version: i64) -> Value {
    json!({
        "version": version,
        "definitions": [
            {"name": "club", "label": "Loyalty club", "kind": "choice", "options": ["silver", "gold"],
             "customer_editable": true, "ask": "sign_up"},
            {"name": "shoe_size", "label": "Shoe size", "kind": "number", "min": 30, "max": 50,
             "customer_editable": true, "ask": "sign_in", "after_sign_ins": 1},
            {"name": "shipping_address", "label": "Shipping address", "kind": "text", "max_length": 200,
             "customer_editable": true, "ask": "scope", "scope": "shipping"},
            {"name": "crm_id", "label": "CRM id", "kind": "text", "customer_editable": false, "ask": "never"}
        ]
    })
}

#[tokio::test]
async fn attributes_are_defined_asked_for_checked_and_released() {
    for s in servers(true).await {
        let admin = staff_token(&s, ADMIN, ADMIN_PW).await;
        let api = reqwest::Client::new();
        let put = |body: Value| {
            api.put(format!("{}/admin/v1/settings/attributes", s.base))
                .bearer_auth(&admin)
                .json(&body)
                .send()
        };
        // A bad definition: 400 naming the field, nothing stored.
        let mut bad = definitions(0);
        bad["definitions"][1]["after_sign_ins"] = json!(0);
        let r = put(bad).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "invalid_input", "{body}");
        let r = put(definitions(0)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["version"], 1);
        assert_eq!(
            put(definitions(0)).await.unwrap().status(),
            StatusCode::CONFLICT
        );
        let got: Value = api
            .get(format!("{}/admin/v1/settings/attributes", s.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["definitions"].as_array().unwrap().len(), 4);
        // Discovery lists the attribute's scope and claim.
        let meta: Value = api
            .get(format!("{}/.well-known/openid-configuration", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            meta["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("shipping"))
        );
        assert!(
            meta["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("shipping_address"))
        );

        // Sign-up asks for the club (optional); a value outside the choice is refused at it.
        let c = browser();
        let html = text(&c, format!("{}/signup", s.base)).await;
        assert!(
            html.contains("<select id=\"attr_club\" name=\"attr_club\""),
            "{html}"
        );
        assert!(
            !html.contains("attr_shoe_size"),
            "asked later, not at sign-up"
        );
        let csrf = hidden(&html, "csrf");
        let sign_up = |club: &'static str| {
            c.post(format!("{}/signup", s.base))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("params", ""),
                    ("display_name", "Pat Profile"),
                    ("email", "pat@example.com"),
                    ("password", PW),
                    ("attr_club", club),
                ])
                .send()
        };
        let r = sign_up("platinum").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"attr_club-error\""), "{html}");
        assert_eq!(sign_up("gold").await.unwrap().status(), StatusCode::OK);
        let t = token_from_outbox(&s, "verify_email").await;
        s.engine.verify_email(&t).await.unwrap();

        // The first sign-in passes through the step (shoe size is due from the first).
        let html = text(&c, format!("{}/signin", s.base)).await;
        let csrf = hidden(&html, "csrf");
        let r = c
            .post(format!("{}/signin", s.base))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "pat@example.com"),
                ("password", PW),
            ])
            .send()
            .await
            .unwrap();
        let step = to(&r);
        assert_eq!(step, "/account/more-details?return_to=%2Faccount");
        let html = text(&c, format!("{}{step}", s.base)).await;
        assert!(
            html.contains("A few more details") && html.contains("Shoe size"),
            "{html}"
        );
        assert!(html.contains("Between 30 and 50."), "{html}");
        assert!(
            !html.contains("attr_shipping_address"),
            "no client asked for shipping"
        );
        let csrf = hidden(&html, "csrf");
        let post_step = |action: &'static str, size: &'static str| {
            c.post(format!("{}/account/more-details", s.base))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("return_to", "/account"),
                    ("action", action),
                    ("attr_shoe_size", size),
                ])
                .send()
        };
        // A value out of range: the form again, the error at its field, nothing saved.
        let r = post_step("save", "12").await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("aria-describedby=\"attr_shoe_size-hint attr_shoe_size-error\"")
                && html.contains("value=\"12\""),
            "{html}"
        );
        // A form without the CSRF token changes nothing.
        let r = c
            .post(format!("{}/account/more-details", s.base))
            .form(&[
                ("return_to", "/account"),
                ("action", "save"),
                ("attr_shoe_size", "42"),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error());
        // Skipping goes on and keeps the step away.
        assert_eq!(to(&post_step("skip", "").await.unwrap()), "/account");
        let id = s
            .engine
            .search_customers(&s.admin, "pat@example.com", None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        let me = s.engine.get_customer(&s.admin, id, None).await.unwrap();
        assert_eq!(me.attributes, json!({"club": "gold"}));
        let r = c.get(format!("{}{step}", s.base)).send().await.unwrap();
        assert_eq!(to(&r), "/account", "nothing due after a skip");

        // "Your details" edits the editable attributes (not the CRM id), checked.
        let html = text(&c, format!("{}/account/profile", s.base)).await;
        assert!(
            html.contains("attr_shoe_size") && html.contains("attr_club"),
            "{html}"
        );
        assert!(!html.contains("attr_crm_id"), "not the customer's to edit");
        let version = hidden(&html, "version");
        let csrf = hidden(&html, "csrf");
        let save = |size: &'static str| {
            c.post(format!("{}/account/profile", s.base))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("version", version.as_str()),
                    ("display_name", "Pat Profile"),
                    ("phone", ""),
                    ("locale", "en"),
                    ("attr_club", "silver"),
                    ("attr_shoe_size", size),
                    ("attr_shipping_address", ""),
                ])
                .send()
        };
        assert_eq!(
            save("forty").await.unwrap().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            to(&save("42").await.unwrap()),
            "/account?done=profile-saved"
        );
        let me = s.engine.get_customer(&s.admin, id, None).await.unwrap();
        assert_eq!(me.attributes, json!({"club": "silver", "shoe_size": 42}));

        // The customer API checks writes against the definitions too.
        let app = app_token(&s.base, "pat@example.com").await;
        for refused in [
            json!({"crm_id": "C1"}),
            json!({"note": "x"}),
            json!({"shoe_size": 99}),
        ] {
            let mut doc = me.attributes.clone();
            doc.as_object_mut()
                .unwrap()
                .extend(refused.as_object().unwrap().clone());
            let r = api
                .patch(format!("{}/v1/me", s.base))
                .bearer_auth(&app)
                .json(&json!({"version": me.version, "attributes": doc}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{refused}");
        }

        // A client asking for `shipping` gets the step first (the session is enough otherwise),
        // then the code; the claim comes with the scope.
        let reg = shop_client(&s, "Shop", "https://shop.example/cb").await;
        let verifier = "v".repeat(43);
        let auth = format!(
            "/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fshop.example%2Fcb\
             &scope=openid%20shipping&state=st&code_challenge={}&code_challenge_method=S256",
            reg.client.id,
            pkce_challenge(&verifier)
        );
        // Pat skipped a moment ago: quiet, so the code comes straight away.
        let r = c.get(format!("{}{auth}", s.base)).send().await.unwrap();
        assert!(
            to(&r).starts_with("https://shop.example/cb?code="),
            "quiet after a skip"
        );
        // A new customer signing in for the request: one step with both what the sign-in and
        // what the scope ask for, then back to the client.
        let c = browser();
        let r = api
            .post(format!("{}/v1/register", s.base))
            .json(&json!({"email": "ship@example.com", "password": PW, "display_name": "Sam Ship"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        s.engine.settle().await.unwrap();
        let mail = s.engine.outbox(&s.admin, 50).await.unwrap();
        let body = &mail
            .iter()
            .find(|m| m.kind == "verify_email" && m.to == "ship@example.com")
            .unwrap()
            .body;
        let i = body.find("token=").unwrap() + 6;
        let t = body[i..].split_whitespace().next().unwrap();
        s.engine.verify_email(t).await.unwrap();
        let html = text(&c, format!("{}{auth}", s.base)).await;
        let r = c
            .post(format!("{}/oauth2/signin", s.base))
            .form(&[
                ("params", hidden(&html, "params").as_str()),
                ("csrf", hidden(&html, "csrf").as_str()),
                ("email", "ship@example.com"),
                ("password", PW),
            ])
            .send()
            .await
            .unwrap();
        let step = to(&r);
        assert!(
            step.starts_with("/account/more-details?return_to=%2Foauth2%2Fauthorize"),
            "{step}"
        );
        let page = c.get(format!("{}{step}", s.base)).send().await.unwrap();
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("https://shop.example"),
            "the form may lead back to the client: {csp}"
        );
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Shipping address") && html.contains("Shoe size"),
            "{html}"
        );
        let r = c
            .post(format!("{}/account/more-details", s.base))
            .form(&[
                ("csrf", hidden(&html, "csrf").as_str()),
                ("return_to", hidden(&html, "return_to").as_str()),
                ("action", "save"),
                ("attr_shipping_address", "1 Harbour Road, Kiel"),
                ("attr_shoe_size", ""),
            ])
            .send()
            .await
            .unwrap();
        let back = to(&r);
        assert!(back.starts_with("/oauth2/authorize?"), "{back}");
        let r = c.get(format!("{}{back}", s.base)).send().await.unwrap();
        let done = url::Url::parse(&to(&r)).unwrap();
        let code = param(&done, "code").expect("a code");
        let tokens =
            exchange_code(&s.base, &reg, &code, "https://shop.example/cb", &verifier).await;
        assert_eq!(tokens["scope"], "openid shipping");
        assert_eq!(
            id_claims(&tokens)["shipping_address"],
            "1 Harbour Road, Kiel"
        );
        let info: Value = api
            .get(format!("{}/oauth2/userinfo", s.base))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["shipping_address"], "1 Harbour Road, Kiel");
        assert!(info.get("shoe_size").is_none());
    }
}
