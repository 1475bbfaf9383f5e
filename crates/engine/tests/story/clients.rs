//! OpenID Connect client registration: validation, secrets shown once and stored hashed,
//! exact redirect matching, CORS origins, permissions and audit.

use super::*;
use vestibule_engine::{Error, NewClient, Role};

fn web_app() -> NewClient {
    NewClient {
        name: "Shop website".into(),
        redirect_uris: vec![
            "https://shop.example/auth/callback".into(),
            "http://localhost:3000/cb".into(),
        ],
        post_logout_redirect_uris: vec!["https://shop.example/signed-out".into()],
        public: false,
        allowed_origins: vec!["https://admin.shop.example".into()],
        id_token_alg: None,
    }
}

#[tokio::test]
async fn admins_register_confidential_and_public_clients() {
    for h in backends().await {
        let e = &h.engine;
        let reg = e.register_client(&h.admin, web_app()).await.unwrap();
        let secret = reg
            .client_secret
            .clone()
            .expect("confidential clients get a secret");
        assert!(secret.len() >= 43, "256-bit secret");
        let c = &reg.client;
        assert!(c.id.starts_with("vst_"));
        assert!(!c.public);
        assert!(c.allows_redirect("https://shop.example/auth/callback"));
        assert!(
            !c.allows_redirect("https://shop.example/auth/callback/"),
            "exact match only"
        );
        assert!(!c.allows_redirect("https://SHOP.example/auth/callback"));
        assert_eq!(
            c.allowed_origins,
            vec![
                "https://shop.example",
                "http://localhost:3000",
                "https://admin.shop.example"
            ]
        );

        // The secret authenticates; anything else is the same error.
        assert_eq!(
            e.authenticate_client(&c.id, &secret).await.unwrap().id,
            c.id
        );
        assert!(matches!(
            e.authenticate_client(&c.id, "wrong").await,
            Err(Error::InvalidCredentials)
        ));
        assert!(matches!(
            e.authenticate_client("vst_unknown", &secret).await,
            Err(Error::InvalidCredentials)
        ));

        let public = e
            .register_client(
                &h.admin,
                NewClient {
                    name: "Shop iOS app".into(),
                    redirect_uris: vec!["com.shop.app:/oauth".into()],
                    public: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(public.client_secret.is_none());
        assert!(public.client.public);
        // A public client has no secret to authenticate with.
        assert!(e.authenticate_client(&public.client.id, "").await.is_err());

        let listed = e.list_clients(&h.admin).await.unwrap();
        assert_eq!(listed.len(), 2, "{}", h.name);

        e.remove_client(&h.admin, &c.id).await.unwrap();
        assert!(e.client(&c.id).await.unwrap().is_none());
        assert!(e.authenticate_client(&c.id, &secret).await.is_err());
        assert!(matches!(
            e.remove_client(&h.admin, &c.id).await,
            Err(Error::NotFound(_))
        ));

        let log = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        assert!(log.iter().any(|a| a.action == "client.registered"));
        assert!(log.iter().any(|a| a.action == "client.removed"));
        assert!(
            !log.iter().any(|a| a.diff.to_string().contains(&secret)),
            "the audit log never holds the secret"
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn bad_registrations_are_refused_and_change_nothing() {
    for h in backends().await {
        let e = &h.engine;
        let cases: Vec<(NewClient, &str)> = vec![
            (
                NewClient {
                    name: "  ".into(),
                    ..web_app()
                },
                "name",
            ),
            (
                NewClient {
                    redirect_uris: vec![],
                    ..web_app()
                },
                "redirect_uris",
            ),
            (
                NewClient {
                    redirect_uris: vec!["http://shop.example/cb".into()],
                    ..web_app()
                },
                "redirect_uris",
            ),
            (
                NewClient {
                    redirect_uris: vec!["https://shop.example/cb#frag".into()],
                    ..web_app()
                },
                "redirect_uris",
            ),
            (
                NewClient {
                    redirect_uris: vec!["com.shop.app:/oauth".into()],
                    ..web_app()
                },
                "redirect_uris",
            ),
            (
                NewClient {
                    allowed_origins: vec!["*".into()],
                    ..web_app()
                },
                "allowed_origins",
            ),
            (
                NewClient {
                    redirect_uris: vec!["https://x.example/".into(); 11],
                    ..web_app()
                },
                "redirect_uris",
            ),
        ];
        for (input, field) in cases {
            let err = e.register_client(&h.admin, input).await.unwrap_err();
            assert_eq!(err.field(), Some(field), "{err}");
        }
        assert!(e.list_clients(&h.admin).await.unwrap().is_empty());

        // Only admins manage clients.
        for role in [Role::Support, Role::Security, Role::Privacy] {
            let email = format!("{}@staff.example", role.as_str());
            e.add_staff(&h.admin, &email, "Staff", role, "staff member passphrase")
                .await
                .unwrap();
            let who = staff_signed_in(&h, &email, "staff member passphrase").await;
            assert!(matches!(
                e.register_client(&who, web_app()).await,
                Err(Error::Forbidden(_))
            ));
            assert!(matches!(
                e.list_clients(&who).await,
                Err(Error::Forbidden(_))
            ));
        }
        h.engine.close().await;
    }
}
