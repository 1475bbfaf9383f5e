//! Signing in with an emailed code or link: the same answer for any address, bound to the
//! browser that asked, ten minutes, single use, five wrong codes end it, and never a second
//! factor (an account with an authenticator app is still asked for it; `mfa` is never said).

use super::factors::totp_code;
use super::*;
use vestibule_engine::{Clock, EMAIL_SIGN_IN_TTL, EmailProof, Error, SignInStep};

const PW: &str = "lantern orchard violet";

/// The code and the link token of the newest sign-in email to `to`.
async fn emailed(h: &Harness, to: &str) -> (String, String) {
    h.engine.settle().await.unwrap();
    let (m, code) = emailed_code(h, "sign_in_code", to).await;
    let link = token_after(&m.body, "token=");
    // The next email is then the newest even on the test's standing clock.
    h.clock.advance(chrono::Duration::seconds(1));
    (code, link)
}

fn token_after(body: &str, marker: &str) -> String {
    let start = body.find(marker).unwrap() + marker.len();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

fn signed(step: SignInStep) -> vestibule_engine::SignedIn {
    match step {
        SignInStep::SignedIn(s) => s,
        SignInStep::SecondFactor(_) => panic!("no second factor expected"),
    }
}

#[tokio::test]
async fn an_emailed_code_or_link_signs_in_the_browser_that_asked_once() {
    for h in backends().await {
        let e = &h.engine;
        let id = verified_customer(&h, "code@example.com", PW).await;

        // The code, with a wrong one first.
        let asked = e
            .request_email_sign_in("Code@Example.com", &ctx())
            .await
            .unwrap();
        let (code, _) = emailed(&h, "code@example.com").await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let err = e
            .finish_email_sign_in(&asked.binding, &EmailProof::Code(wrong.into()), &ctx())
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("code"), "{}", h.name);
        let s = signed(
            e.finish_email_sign_in(
                &asked.binding,
                &EmailProof::Code(format!("{} {}", &code[..3], &code[3..])),
                &ctx(),
            )
            .await
            .unwrap(),
        );
        assert_eq!(s.session.customer_id, id);
        assert_eq!(s.session.amr, ["email"], "low assurance, said as such");
        // Once.
        assert!(
            e.finish_email_sign_in(&asked.binding, &EmailProof::Code(code.clone()), &ctx())
                .await
                .is_err()
        );

        // The link: only with the binding of the browser that asked, once.
        let asked = e
            .request_email_sign_in("code@example.com", &ctx())
            .await
            .unwrap();
        let (_, link) = emailed(&h, "code@example.com").await;
        let elsewhere = e
            .request_email_sign_in("someone@example.com", &ctx())
            .await
            .unwrap();
        assert!(matches!(
            e.finish_email_sign_in(&elsewhere.binding, &EmailProof::Link(link.clone()), &ctx())
                .await,
            Err(Error::InvalidToken)
        ));
        let tampered = format!("{}x", &link[..link.len() - 1]);
        assert!(matches!(
            e.finish_email_sign_in(&asked.binding, &EmailProof::Link(tampered), &ctx())
                .await,
            Err(Error::InvalidToken)
        ));
        signed(
            e.finish_email_sign_in(&asked.binding, &EmailProof::Link(link.clone()), &ctx())
                .await
                .unwrap(),
        );
        assert!(matches!(
            e.finish_email_sign_in(&asked.binding, &EmailProof::Link(link), &ctx())
                .await,
            Err(Error::InvalidToken)
        ));

        // Ten minutes.
        let asked = e
            .request_email_sign_in("code@example.com", &ctx())
            .await
            .unwrap();
        let (code, _) = emailed(&h, "code@example.com").await;
        h.clock
            .advance(EMAIL_SIGN_IN_TTL + chrono::Duration::seconds(1));
        let late = e
            .finish_email_sign_in(&asked.binding, &EmailProof::Code(code), &ctx())
            .await
            .unwrap_err();
        assert_eq!(late.field(), Some("code"));

        // Five wrong codes end the request; the right one is refused after.
        let asked = e
            .request_email_sign_in("code@example.com", &ctx())
            .await
            .unwrap();
        let (code, _) = emailed(&h, "code@example.com").await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            e.finish_email_sign_in(&asked.binding, &EmailProof::Code(wrong.into()), &ctx())
                .await
                .unwrap_err();
        }
        assert!(
            e.finish_email_sign_in(&asked.binding, &EmailProof::Code(code), &ctx())
                .await
                .is_err()
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answers_and_no_email() {
    for h in backends().await {
        let e = &h.engine;
        let asked = e
            .request_email_sign_in("nobody@example.com", &ctx())
            .await
            .unwrap();
        e.settle().await.unwrap();
        let msgs = e.outbox(&h.admin, 100).await.unwrap();
        assert!(msgs.iter().all(|m| m.to != "nobody@example.com"));
        let err = e
            .finish_email_sign_in(&asked.binding, &EmailProof::Code("123456".into()), &ctx())
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("code"), "the same as a wrong code");
        // Malformed addresses too: an answer, no error that tells.
        assert!(
            e.request_email_sign_in("not an address", &ctx())
                .await
                .is_ok()
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn an_emailed_code_is_never_a_second_factor() {
    for h in backends().await {
        let e = &h.engine;
        verified_customer(&h, "two@example.com", PW).await;
        let token = e
            .sign_in("two@example.com", PW, &ctx())
            .await
            .unwrap()
            .token;
        let en = e.begin_totp(&token, "Shop").await.unwrap();
        let now = h.clock.now().timestamp();
        e.confirm_totp(&token, en.factor_id, &totp_code(&en.secret, now), "Phone")
            .await
            .unwrap();

        let asked = e
            .request_email_sign_in("two@example.com", &ctx())
            .await
            .unwrap();
        let (code, _) = emailed(&h, "two@example.com").await;
        let step = e
            .finish_email_sign_in(&asked.binding, &EmailProof::Code(code), &ctx())
            .await
            .unwrap();
        let SignInStep::SecondFactor(ch) = step else {
            panic!("the authenticator app is still asked for");
        };
        let s = e
            .complete_sign_in(
                &ch.token,
                &vestibule_engine::FactorProof::Totp(totp_code(&en.secret, now + 30)),
                &ctx(),
            )
            .await
            .unwrap();
        assert_eq!(
            s.session.amr,
            ["email", "otp"],
            "not mfa: email is no authenticator"
        );
        h.engine.close().await;
    }
}
