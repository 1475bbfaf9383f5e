//! Consent over HTTP: privacy staff define a purpose and publish its text, the customer
//! reads and answers through the customer API, a back end asks for the decision with a
//! client-credentials token, receipts are fetched, and strangers get nothing.

use super::*;

/// GET with a bearer token, as JSON.
async fn get_json(c: &reqwest::Client, url: &str, token: &str) -> Value {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    r.json().await.unwrap()
}

/// A purpose (created when `version` is 1) with `version` of its text published: (locale,
/// title) each, the same body.
pub(super) async fn publish_purpose(
    s: &Server,
    id: &str,
    required: bool,
    version: i64,
    material: bool,
    texts: &[(&str, &str)],
) {
    use vestibule_engine::consent::{ConsentText, LegalBasis, PublishVersion, PurposeInput};
    if version == 1 {
        s.engine
            .save_consent_purpose(
                &s.admin,
                &PurposeInput {
                    id: id.into(),
                    name: texts.first().map_or(id, |t| t.1).into(),
                    legal_basis: if required {
                        LegalBasis::Consent
                    } else {
                        LegalBasis::LegitimateInterests
                    },
                    data_categories: vec!["email address".into()],
                    retention_days: 365,
                    consent_required: required,
                    version: 0,
                },
            )
            .await
            .unwrap();
    }
    s.engine
        .publish_consent_version(
            &s.admin,
            &PublishVersion {
                purpose_id: id.into(),
                version,
                material,
                texts: texts
                    .iter()
                    .map(|(locale, title)| ConsentText {
                        locale: (*locale).into(),
                        title: (*title).into(),
                        body: "What we send, and how often; withdraw any time.".into(),
                    })
                    .collect(),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn purposes_answers_decisions_and_receipts_over_http() {
    for s in servers(false).await {
        let c = client();
        let admin = staff_token(&s, ADMIN, ADMIN_PW).await;
        let api = |path: &str| format!("{}/admin/v1{path}", s.base);
        let r = c
            .post(api("/consent/purposes"))
            .bearer_auth(&admin)
            .json(&json!({
                "id": "marketing_email", "name": "Marketing email", "legal_basis": "consent",
                "data_categories": ["email address"], "retention_days": 365,
                "consent_required": true, "version": 0,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let text = json!([{"locale": "en", "title": "News and offers", "body": "We email news."}]);
        let publish = |version: i64, material: bool| {
            c.post(api("/consent/purposes/marketing_email/versions"))
                .bearer_auth(&admin)
                .json(&json!({"version": version, "material": material, "texts": text}))
                .send()
        };
        let r = publish(1, true).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        // Publishing over it: 409, and version 1 stays as it was.
        let r = publish(1, false).await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);

        // The customer reads the purposes with their texts and answers.
        registered(&s, &c, "ana@shop.example").await;
        let me = app_token(&s.base, "ana@shop.example").await;
        let mine: Value = get_json(&c, &format!("{}/v1/me/consent", s.base), &me).await;
        assert_eq!(
            mine["purposes"][0]["latest"]["texts"][0]["title"],
            "News and offers"
        );
        assert_eq!(mine["state"][0]["granted"], Value::Null);
        let answer = |granted: bool| {
            c.post(format!("{}/v1/me/consent", s.base))
                .bearer_auth(&me)
                .json(&json!({"answers": [{"purpose_id": "marketing_email", "version": 1, "locale": "en", "granted": granted}]}))
                .send()
        };
        let r = answer(true).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let rec: Value = r.json().await.unwrap();
        let record = rec["records"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(rec["records"][0]["channel"], "api");
        let customer = rec["records"][0]["customer_id"]
            .as_str()
            .unwrap()
            .to_owned();

        // A back end asks with a client-credentials token.
        let backend = s
            .engine
            .register_client(
                &s.admin,
                vestibule_engine::NewClient {
                    name: "CRM".into(),
                    redirect_uris: vec!["https://crm.shop.example/cb".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let t: Value = c
            .post(format!("{}/oauth2/token", s.base))
            .basic_auth(&backend.client.id, backend.client_secret.as_deref())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let machine = t["access_token"].as_str().unwrap().to_owned();
        let decide = |token: &str| {
            c.get(api(&format!(
                "/consent/decision?customer_id={customer}&purpose=marketing_email"
            )))
            .bearer_auth(token)
            .send()
        };
        let d: Value = decide(&machine).await.unwrap().json().await.unwrap();
        assert_eq!(
            (d["allowed"].as_bool(), d["basis"].as_str()),
            (Some(true), Some("granted")),
            "{d}"
        );
        assert_eq!(d["record"]["id"], record);
        // Withdrawn: no, and the record says so.
        assert_eq!(answer(false).await.unwrap().status(), StatusCode::CREATED);
        let d: Value = decide(&admin).await.unwrap().json().await.unwrap();
        assert_eq!(
            (d["allowed"].as_bool(), d["basis"].as_str()),
            (Some(false), Some("withdrawn"))
        );
        // No token, a customer's token, a made-up one: refused.
        for token in [me.as_str(), "made-up"] {
            assert_eq!(
                decide(token).await.unwrap().status(),
                StatusCode::UNAUTHORIZED,
                "{token}"
            );
        }
        let r = c
            .get(api(
                "/consent/decision?customer_id=nope&purpose=marketing_email",
            ))
            .bearer_auth(&machine)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);

        // Receipts: the customer's own, and staff's; another customer's is not found.
        let own: Value = get_json(
            &c,
            &format!("{}/v1/me/consent/receipts/{record}", s.base),
            &me,
        )
        .await;
        assert_eq!(own["receipt"].as_str().unwrap().split('.').count(), 3);
        registered(&s, &c, "bo@shop.example").await;
        let other = app_token(&s.base, "bo@shop.example").await;
        let r = c
            .get(format!("{}/v1/me/consent/receipts/{record}", s.base))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let staff: Value = get_json(&c, &api(&format!("/consent/receipts/{record}")), &admin).await;
        assert_eq!(staff["receipt"], own["receipt"]);

        // Staff see the ledger, and record for the customer only with a reason.
        let view: Value =
            get_json(&c, &api(&format!("/customers/{customer}/consent")), &admin).await;
        assert_eq!(view["ledger"].as_array().unwrap().len(), 2, "{view}");
        assert_eq!(view["state"][0]["granted"], false);
        let r = c
            .post(api(&format!("/customers/{customer}/consent")))
            .bearer_auth(&admin)
            .json(&json!({"answers": [{"purpose_id": "marketing_email", "version": 1, "locale": "en", "granted": true}], "reason": ""}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "invalid_input", "{v}");
        assert!(v["message"].as_str().unwrap().starts_with("reason:"), "{v}");
        let n: Value = get_json(
            &c,
            &api("/consent/purposes/marketing_email/reconsent"),
            &admin,
        )
        .await;
        assert_eq!(n["customers"], 0);

        // The DSAR export, for staff and for the customer; another customer's is their own.
        let x = get_json(&c, &api(&format!("/customers/{customer}/export")), &admin).await;
        assert_eq!(x["customer_id"], customer);
        assert_eq!(
            x["tables"]["consent_ledger"].as_array().unwrap().len(),
            2,
            "{x}"
        );
        let mine = get_json(&c, &format!("{}/v1/me/export", s.base), &me).await;
        assert_eq!(mine["tables"]["customers"][0]["email"], "ana@shop.example");
        let theirs = get_json(&c, &format!("{}/v1/me/export", s.base), &other).await;
        assert_eq!(theirs["tables"]["customers"][0]["email"], "bo@shop.example");
        assert!(
            theirs["tables"]["consent_ledger"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn the_sign_up_page_asks_for_consent_and_records_what_it_showed() {
    for s in servers(false).await {
        let texts = |id: &str| [(format!("{id} in English")), (format!("{id} auf Deutsch"))];
        for (id, required) in [("marketing_email", true), ("fraud_checks", false)] {
            let [en, de] = texts(id);
            publish_purpose(&s, id, required, 1, true, &[("en", &en), ("de", &de)]).await;
        }
        let c = super::account::no_redirects();
        let html = c
            .get(format!("{}/signup", s.base))
            .header("accept-language", "de-DE,de;q=0.9")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // One unticked box for the purpose that needs consent, in German; none for the other.
        assert!(html.contains("marketing_email auf Deutsch"), "{html}");
        assert!(
            html.contains(r#"<input type="checkbox" name="consent_marketing_email" id="consent-marketing_email">"#),
            "unticked: {html}"
        );
        assert!(!html.contains("fraud_checks"), "{html}");
        assert_eq!(hidden(&html, "consent_shown"), "marketing_email:1:de");
        let csrf = hidden(&html, "csrf");
        let r = c
            .post(format!("{}/signup", s.base))
            .header("accept-language", "de-DE,de;q=0.9")
            .form(&[
                ("csrf", csrf.as_str()),
                ("params", ""),
                ("display_name", "Greta"),
                ("email", "greta@shop.example"),
                ("password", PW),
                ("consent_shown", "marketing_email:1:de"),
                ("consent_marketing_email", "on"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        s.engine.settle().await.unwrap();
        let id = s
            .engine
            .search_customers(&s.admin, "greta@shop.example", None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        let ledger = s.engine.consent_ledger(&s.admin, id).await.unwrap();
        assert_eq!(ledger.len(), 1);
        assert!(ledger[0].granted);
        assert_eq!(ledger[0].locale, "de");
        assert_eq!(
            ledger[0].channel,
            vestibule_engine::consent::ConsentChannel::SignUp
        );
        // A forged answer to a text never published is refused; no account is made.
        let html = super::account::page(&c, format!("{}/signup", s.base)).await;
        let csrf = hidden(&html, "csrf");
        let r = c
            .post(format!("{}/signup", s.base))
            .form(&[
                ("csrf", csrf.as_str()),
                ("params", ""),
                ("display_name", "Mallory"),
                ("email", "mallory@shop.example"),
                ("password", PW),
                ("consent_shown", "marketing_email:9:en"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        s.engine.settle().await.unwrap();
        assert!(
            s.engine
                .search_customers(&s.admin, "mallory@shop.example", None, 1)
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}

#[tokio::test]
async fn the_preference_center_withdraws_downloads_and_deletes() {
    use super::account::{goes_to, no_redirects, page, post};
    for s in servers(true).await {
        publish_purpose(
            &s,
            "newsletter",
            true,
            1,
            true,
            &[("en", "The monthly newsletter")],
        )
        .await;
        let c = no_redirects();
        registered(&s, &c, "prefs@example.com").await;
        let html = page(&c, format!("{}/signin", s.base)).await;
        let csrf = hidden(&html, "csrf");
        let r = post(
            &c,
            format!("{}/signin", s.base),
            &[
                ("csrf", &csrf),
                ("email", "prefs@example.com"),
                ("password", PW),
            ],
        )
        .await;
        assert_eq!(goes_to(&r), "/account");
        assert!(
            page(&c, format!("{}/account", s.base))
                .await
                .contains("/account/privacy")
        );

        // Agree, then withdraw: one click each, each with a receipt.
        let html = page(&c, format!("{}/account/privacy", s.base)).await;
        assert!(
            html.contains("The monthly newsletter") && html.contains("id=\"grant-newsletter\""),
            "{html}"
        );
        let answer = |granted: &'static str| {
            let csrf = csrf.clone();
            let c = c.clone();
            let url = format!("{}/account/privacy/consent", s.base);
            async move {
                post(
                    &c,
                    url,
                    &[
                        ("csrf", csrf.as_str()),
                        ("purpose", "newsletter"),
                        ("version", "1"),
                        ("locale", "en"),
                        ("granted", granted),
                    ],
                )
                .await
            }
        };
        assert_eq!(goes_to(&answer("1").await), "/account/privacy?done=saved");
        let html = page(&c, format!("{}/account/privacy?done=saved", s.base)).await;
        assert!(html.contains("id=\"withdraw-newsletter\""), "{html}");
        assert_eq!(goes_to(&answer("0").await), "/account/privacy?done=saved");
        let html = page(&c, format!("{}/account/privacy", s.base)).await;
        assert!(html.contains("id=\"grant-newsletter\""));
        let id = s
            .engine
            .search_customers(&s.admin, "prefs@example.com", None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        let ledger = s.engine.consent_ledger(&s.admin, id).await.unwrap();
        assert_eq!(ledger.len(), 2);
        assert!(!ledger[0].granted && ledger[1].granted);
        assert_eq!(
            ledger[0].channel,
            vestibule_engine::consent::ConsentChannel::AccountCenter
        );
        let r = c
            .get(format!(
                "{}/account/privacy/receipts/{}",
                s.base, ledger[0].id
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/jose");
        assert_eq!(
            r.text().await.unwrap().split('.').count(),
            3,
            "a compact JWS"
        );
        // A malformed id is refused as such, signed in or not.
        for who in [&c, &no_redirects()] {
            let r = who
                .get(format!("{}/account/privacy/receipts/null,null", s.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        }

        // Download my data: one attachment, a ZIP of the JSON and the page to read.
        let r = c
            .get(format!("{}/account/privacy/export.zip", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/zip");
        let disposition = r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            disposition.starts_with("attachment; filename=\"customer-")
                && disposition.ends_with(".zip\""),
            "{disposition}"
        );
        let mut zip =
            zip::ZipArchive::new(std::io::Cursor::new(r.bytes().await.unwrap().to_vec())).unwrap();
        let read = |zip: &mut zip::ZipArchive<_>, name: &str| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
            text
        };
        let export: Value = serde_json::from_str(&read(&mut zip, "export.json")).unwrap();
        assert_eq!(
            export["tables"]["customers"][0]["email"],
            "prefs@example.com"
        );
        assert_eq!(
            export["tables"]["consent_ledger"].as_array().unwrap().len(),
            2
        );
        assert!(read(&mut zip, "summary.html").contains("prefs@example.com"));

        // Delete my account: the wrong address is refused; then gone and signed out.
        let r = post(
            &c,
            format!("{}/account/delete", s.base),
            &[("csrf", &csrf), ("confirm_email", "someone@example.com")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("id=\"delete-error\""));
        let r = post(
            &c,
            format!("{}/account/delete", s.base),
            &[("csrf", &csrf), ("confirm_email", "prefs@example.com")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("Your account was deleted"));
        let r = c.get(format!("{}/account", s.base)).send().await.unwrap();
        assert_eq!(goes_to(&r), "/signin");
        assert!(s.engine.erasure_of(&s.admin, id).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn a_material_change_is_asked_again_at_the_next_sign_in() {
    use super::account::{goes_to, no_redirects, page, post};
    for s in servers(true).await {
        let publish = |version: i64, material: bool, title: &'static str| {
            let s = &s;
            async move {
                publish_purpose(s, "newsletter", true, version, material, &[("en", title)]).await
            }
        };
        publish(1, true, "Newsletter, monthly").await;
        let c = no_redirects();
        registered(&s, &c, "again@example.com").await;
        // Each sign-in in a browser of its own.
        let sign_in = || {
            let c = no_redirects();
            let base = s.base.clone();
            async move {
                let html = page(&c, format!("{base}/signin")).await;
                let csrf = hidden(&html, "csrf");
                let r = post(
                    &c,
                    format!("{base}/signin"),
                    &[
                        ("csrf", &csrf),
                        ("email", "again@example.com"),
                        ("password", PW),
                    ],
                )
                .await;
                (goes_to(&r), csrf, c)
            }
        };
        let (to, csrf, c) = sign_in().await;
        assert_eq!(to, "/account");
        let r = post(
            &c,
            format!("{}/account/privacy/consent", s.base),
            &[
                ("csrf", &csrf),
                ("purpose", "newsletter"),
                ("version", "1"),
                ("locale", "en"),
                ("granted", "1"),
            ],
        )
        .await;
        assert_eq!(goes_to(&r), "/account/privacy?done=saved");

        // A minor version changes nothing; a material one is asked at the next sign-in.
        publish(2, false, "Newsletter, monthly (typo fixed)").await;
        assert_eq!(sign_in().await.0, "/account");
        publish(3, true, "Newsletter, weekly").await;
        let (to, _, c) = sign_in().await;
        assert_eq!(to, "/account/consent-update?return_to=%2Faccount");
        let html = page(&c, format!("{}{to}", s.base)).await;
        assert!(html.contains("Newsletter, weekly"), "{html}");
        assert!(
            html.contains(
                r#"<input type="checkbox" name="consent_newsletter" id="consent-newsletter">"#
            ),
            "unticked: {html}"
        );
        assert_eq!(hidden(&html, "consent_shown"), "newsletter:3:en");
        let csrf = hidden(&html, "csrf");
        let r = post(
            &c,
            format!("{}/account/consent-update", s.base),
            &[
                ("csrf", &csrf),
                ("return_to", "/account"),
                ("consent_shown", "newsletter:3:en"),
                ("consent_newsletter", "on"),
            ],
        )
        .await;
        assert_eq!(goes_to(&r), "/account");
        let id = s
            .engine
            .search_customers(&s.admin, "again@example.com", None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        let d = s.engine.consent_decision(id, "newsletter").await.unwrap();
        assert!(d.allowed, "{d:?}");
        assert_eq!(d.record.unwrap().version, 3);
        // Answered: the next sign-in goes straight on.
        assert_eq!(sign_in().await.0, "/account");
    }
}
