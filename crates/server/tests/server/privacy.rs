//! Erasure and retention over HTTP: staff erase a customer with the typed address and a
//! reason, the tombstone is served, erasing again is refused; a customer deletes their own
//! account with their password; retention rules are saved, dry-run and run; support staff
//! get 403.

use super::*;

#[tokio::test]
async fn erasure_and_retention_over_http() {
    for s in servers(false).await {
        let c = client();
        let admin = staff_token(&s, ADMIN, ADMIN_PW).await;
        let api = |path: &str| format!("{}/admin/v1{path}", s.base);
        registered(&s, &c, "gone@shop.example").await;
        let id = s
            .engine
            .search_customers(&s.admin, "gone@shop.example", None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        s.engine
            .add_staff(
                &s.admin,
                "sup@shop.example",
                "Sam",
                vestibule_engine::Role::Support,
                PW,
            )
            .await
            .unwrap();
        let support = staff_token(&s, "sup@shop.example", PW).await;
        let erase = |token: &str, email: &str| {
            c.post(api(&format!("/customers/{id}/erase")))
                .bearer_auth(token.to_owned())
                .json(&json!({"confirm_email": email, "reason": "ticket 4711"}))
                .send()
        };
        let r = erase(&support, "gone@shop.example").await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = erase(&admin, "other@shop.example").await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "invalid_input", "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("confirm_email:")
        );
        let r = erase(&admin, "gone@shop.example").await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let done: Value = r.json().await.unwrap();
        assert_eq!(done["deleted"]["customers"], 1, "{done}");
        let r = erase(&admin, "gone@shop.example").await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = c
            .get(api(&format!("/customers/{id}/erasure")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let tomb: Value = r.json().await.unwrap();
        assert_eq!(tomb["reason"], "ticket 4711");
        let r = c
            .get(api(&format!("/customers/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);

        // A customer deletes their own account with their password.
        registered(&s, &c, "leaving@shop.example").await;
        let me = app_token(&s.base, "leaving@shop.example").await;
        let r = c
            .post(format!("{}/v1/me/erase", s.base))
            .bearer_auth(&me)
            .json(&json!({"confirm_email": "leaving@shop.example", "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let r = c
            .get(format!("{}/v1/me", s.base))
            .bearer_auth(&me)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        // Retention: rules saved with their version, a dry run, a real run, the report.
        let r = c
            .get(api("/retention/rules"))
            .bearer_auth(&support)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let rules: Value = c
            .get(api("/retention/rules"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(rules["version"], 0);
        let put = |body: Value| {
            c.put(api("/retention/rules"))
                .bearer_auth(&admin)
                .json(&body)
                .send()
        };
        let r = put(json!({"sign_in_attempts_days": 3, "version": 0}))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = put(json!({"sign_in_attempts_days": 90, "ended_sessions_days": 30, "version": 0}))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = put(json!({"sign_in_attempts_days": 90, "version": 0}))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let run = |dry: bool| {
            c.post(api("/retention/run"))
                .bearer_auth(&admin)
                .json(&json!({"dry_run": dry}))
                .send()
        };
        let dry: Value = run(true).await.unwrap().json().await.unwrap();
        assert_eq!(dry["dry_run"], true);
        assert_eq!(dry["items"].as_array().unwrap().len(), 2, "{dry}");
        let real: Value = run(false).await.unwrap().json().await.unwrap();
        assert_eq!(real["items"], dry["items"]);
        let last: Value = c
            .get(api("/retention/last-run"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(last, real);
    }
}
