//! The permission matrix, enforced by the engine, one test per role.

use super::*;
use vestibule_engine::{CustomerStatus, Error, Permission, ProfilePatch, Role, allows};

const PW: &str = "lantern orchard violet";

async fn member(h: &Harness, role: Role) -> Staff {
    let email = format!("{}@staff.example", role.as_str());
    h.engine
        .add_staff(
            &h.admin,
            &email,
            "Staff Member",
            role,
            "staff member passphrase",
        )
        .await
        .unwrap();
    staff_signed_in(h, &email, "staff member passphrase").await
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Forbidden(_)))
}

/// Try every staff operation as `who` and compare with the matrix.
async fn check_role(role: Role) {
    for h in backends().await {
        let who = member(&h, role).await;
        let id = verified_customer(&h, "cust@example.com", PW).await;
        let v = |p| allows(role, p);
        let e = &h.engine;
        assert_eq!(
            !forbidden(e.get_customer(&who, id, None).await),
            v(Permission::ReadCustomers),
            "{role:?} read"
        );
        assert_eq!(
            !forbidden(e.search_customers(&who, "cust", None, 5).await),
            v(Permission::ReadCustomers)
        );
        assert_eq!(
            !forbidden(e.customer_sessions(&who, id).await),
            v(Permission::ReadCustomers)
        );
        let version = e.get_customer(&h.admin, id, None).await.unwrap().version;
        assert_eq!(
            !forbidden(
                e.update_customer_profile(
                    &who,
                    id,
                    version,
                    ProfilePatch {
                        display_name: Some("X".into()),
                        ..Default::default()
                    }
                )
                .await
            ),
            v(Permission::EditCustomers),
            "{role:?} edit"
        );
        assert_eq!(
            !forbidden(e.start_password_reset(&who, id).await),
            v(Permission::StartPasswordReset)
        );
        assert_eq!(
            !forbidden(e.revoke_customer_sessions(&who, id, None).await),
            v(Permission::RevokeSessions)
        );
        let version = e.get_customer(&h.admin, id, None).await.unwrap().version;
        let locked = e
            .set_customer_status(&who, id, version, CustomerStatus::Locked, None)
            .await;
        assert_eq!(
            !forbidden(locked),
            v(Permission::LockCustomers),
            "{role:?} lock"
        );
        // Unlock needs the account locked first (by an admin if need be).
        let c = e.get_customer(&h.admin, id, None).await.unwrap();
        let version = if c.status == CustomerStatus::Locked {
            c.version
        } else {
            e.set_customer_status(&h.admin, id, c.version, CustomerStatus::Locked, None)
                .await
                .unwrap()
                .version
        };
        assert_eq!(
            !forbidden(
                e.set_customer_status(&who, id, version, CustomerStatus::Active, None)
                    .await
            ),
            v(Permission::UnlockCustomers),
            "{role:?} unlock"
        );
        let version = e.get_customer(&h.admin, id, None).await.unwrap().version;
        assert_eq!(
            !forbidden(
                e.set_customer_status(&who, id, version, CustomerStatus::Disabled, Some("fraud"))
                    .await
            ),
            v(Permission::DisableCustomers),
            "{role:?} disable"
        );
        assert_eq!(
            !forbidden(e.list_staff(&who).await),
            v(Permission::ManageStaff)
        );
        assert_eq!(
            !forbidden(
                e.add_staff(
                    &who,
                    "new@staff.example",
                    "New",
                    Role::Support,
                    "new staff passphrase"
                )
                .await
            ),
            v(Permission::ManageStaff)
        );
        assert_eq!(
            !forbidden(e.verify_audit(&who).await),
            v(Permission::ReadAudit)
        );
        assert_eq!(
            !forbidden(e.outbox(&who, 5).await),
            v(Permission::ManageSettings)
        );
        assert_eq!(
            !forbidden(
                e.seed_demo(
                    &who,
                    vestibule_engine::seed::SeedOptions {
                        customers: 1,
                        days: 1,
                        seed: 1,
                        attempts_per_customer: 0
                    },
                    &mut |_| {}
                )
                .await
            ),
            v(Permission::SeedDemoData)
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn support_role_is_limited_to_help_actions() {
    assert!(!allows(Role::Support, Permission::LockCustomers));
    assert!(!allows(Role::Support, Permission::DisableCustomers));
    assert!(!allows(Role::Support, Permission::ManageStaff));
    check_role(Role::Support).await;
}

#[tokio::test]
async fn security_role_adds_lock_and_disable() {
    assert!(allows(Role::Security, Permission::LockCustomers));
    assert!(allows(Role::Security, Permission::DisableCustomers));
    assert!(!allows(Role::Security, Permission::ManageStaff));
    check_role(Role::Security).await;
}

#[tokio::test]
async fn privacy_role_reads_and_handles_data_rights_only() {
    assert!(allows(Role::Privacy, Permission::ExportCustomers));
    assert!(!allows(Role::Privacy, Permission::RevokeSessions));
    check_role(Role::Privacy).await;
}

#[tokio::test]
async fn admin_role_does_everything() {
    assert!(Permission::ALL.iter().all(|p| allows(Role::Admin, *p)));
    check_role(Role::Admin).await;
}

#[tokio::test]
async fn stale_edit_is_a_conflict_and_changes_nothing() {
    for h in backends().await {
        let id = verified_customer(&h, "opt@example.com", PW).await;
        let c = h.engine.get_customer(&h.admin, id, None).await.unwrap();
        let updated = h
            .engine
            .update_customer_profile(
                &h.admin,
                id,
                c.version,
                ProfilePatch {
                    display_name: Some("First Edit".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.version, c.version + 1);
        let stale = h
            .engine
            .update_customer_profile(
                &h.admin,
                id,
                c.version,
                ProfilePatch {
                    display_name: Some("Second Edit".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(stale.code(), "conflict");
        let now = h.engine.get_customer(&h.admin, id, None).await.unwrap();
        assert_eq!(now.display_name, "First Edit");
        assert_eq!(now.version, updated.version);
        // Invalid edits are refused and change nothing either.
        let bad = h
            .engine
            .update_customer_profile(
                &h.admin,
                id,
                now.version,
                ProfilePatch {
                    phone: Some("12".into()),
                    display_name: Some("Y".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(bad.code(), "invalid_input");
        assert_eq!(
            h.engine
                .get_customer(&h.admin, id, None)
                .await
                .unwrap()
                .display_name,
            "First Edit"
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn locking_revokes_sessions_and_blocks_sign_in() {
    for h in backends().await {
        let id = verified_customer(&h, "lock@example.com", PW).await;
        let s = h
            .engine
            .sign_in("lock@example.com", PW, &ctx())
            .await
            .unwrap();
        let c = h.engine.get_customer(&h.admin, id, None).await.unwrap();
        let c = h
            .engine
            .set_customer_status(
                &h.admin,
                id,
                c.version,
                CustomerStatus::Locked,
                Some("ticket #42"),
            )
            .await
            .unwrap();
        assert_eq!(c.status, CustomerStatus::Locked);
        assert!(h.engine.validate_session(&s.token).await.is_err());
        let e = h
            .engine
            .sign_in("lock@example.com", PW, &ctx())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "account_unavailable");
        // A wrong password on a locked account still says only "invalid credentials".
        let e = h
            .engine
            .sign_in("lock@example.com", "wrong password!!", &ctx())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_credentials");
        h.engine
            .set_customer_status(&h.admin, id, c.version, CustomerStatus::Active, None)
            .await
            .unwrap();
        h.engine
            .sign_in("lock@example.com", PW, &ctx())
            .await
            .unwrap();
        h.engine.close().await;
    }
}

#[tokio::test]
async fn staff_api_sessions_expire_and_end_with_removal() {
    for h in backends().await {
        h.engine
            .add_staff(
                &h.admin,
                "api@staff.example",
                "Api",
                Role::Security,
                "api staff passphrase",
            )
            .await
            .unwrap();
        assert!(matches!(
            h.engine
                .staff_session_create("api@staff.example", "wrong", None, "127.0.0.1")
                .await,
            Err(Error::InvalidCredentials)
        ));
        let (token, who, _) = h
            .engine
            .staff_session_create(
                "API@staff.example",
                "api staff passphrase",
                None,
                "127.0.0.1",
            )
            .await
            .unwrap();
        assert_eq!(who.role(), Role::Security);
        assert_eq!(
            h.engine.staff_from_token(&token).await.unwrap().id(),
            who.id()
        );
        h.clock.advance(chrono::Duration::minutes(14));
        h.engine.staff_from_token(&token).await.unwrap(); // use extends the idle timeout
        h.clock.advance(chrono::Duration::minutes(14));
        h.engine.staff_from_token(&token).await.unwrap();
        h.clock.advance(chrono::Duration::minutes(16));
        assert!(matches!(
            h.engine.staff_from_token(&token).await,
            Err(Error::InvalidSession)
        ));
        let (token, _, _) = h
            .engine
            .staff_session_create(
                "api@staff.example",
                "api staff passphrase",
                None,
                "127.0.0.1",
            )
            .await
            .unwrap();
        h.engine.staff_sign_out(&token).await.unwrap();
        assert!(h.engine.staff_from_token(&token).await.is_err());
        let (token, _, _) = h
            .engine
            .staff_session_create(
                "api@staff.example",
                "api staff passphrase",
                None,
                "127.0.0.1",
            )
            .await
            .unwrap();
        h.engine.remove_staff(&h.admin, who.id()).await.unwrap();
        assert!(
            h.engine.staff_from_token(&token).await.is_err(),
            "{}",
            h.name
        );
        assert!(h.engine.staff_from_token("garbage").await.is_err());
        h.engine.close().await;
    }
}

/// Admin and security staff must use an authenticator app: until it is set up nothing is
/// allowed but setting it up; once it is, the password alone only gets as far as asking for
/// the code; wrong and replayed codes are failed sign-ins; an admin resets a lost one with a
/// reason, audited. Support may go without.
#[tokio::test]
async fn admin_and_security_staff_must_use_an_authenticator() {
    use vestibule_engine::{StaffChannel, StaffFactor};
    for h in backends().await {
        let e = &h.engine;
        e.add_staff(&h.admin, "sec@staff.example", "Sec", Role::Security, PW)
            .await
            .unwrap();
        e.add_staff(&h.admin, "sup@staff.example", "Sup", Role::Support, PW)
            .await
            .unwrap();
        let sup = e
            .staff_sign_in("sup@staff.example", PW, None)
            .await
            .unwrap();
        assert_eq!(sup.factor(), StaffFactor::NotRequired);
        e.search_customers(&sup, "a", None, 5).await.unwrap();

        // Not set up: refused everything until it is.
        let sec = e
            .staff_sign_in("sec@staff.example", PW, None)
            .await
            .unwrap();
        assert_eq!(sec.factor(), StaffFactor::EnrolmentNeeded);
        assert!(matches!(
            e.search_customers(&sec, "a", None, 5).await,
            Err(Error::AuthenticatorRequired)
        ));
        let (_, api_sec, _) = e
            .staff_session_create("sec@staff.example", PW, None, "127.0.0.1")
            .await
            .unwrap();
        assert_eq!(api_sec.factor(), StaffFactor::EnrolmentNeeded);
        let en = e.begin_staff_authenticator(&sec).await.unwrap();
        assert!(en.uri.starts_with("otpauth://totp/"), "{}", en.uri);
        let now = h.clock.now().timestamp();
        assert!(matches!(
            e.confirm_staff_authenticator(&sec, "000000").await,
            Err(Error::InvalidInput { field: "code", .. })
        ));
        let code = super::factors::totp_code(&en.secret, now);
        let sec = e.confirm_staff_authenticator(&sec, &code).await.unwrap();
        assert_eq!(sec.factor(), StaffFactor::Verified);
        e.search_customers(&sec, "a", None, 5).await.unwrap();
        // A second one cannot be started over the first.
        assert!(e.begin_staff_authenticator(&sec).await.is_err());

        // Set up: the password alone stops at the code, and acts on nothing.
        let half = e
            .staff_sign_in("sec@staff.example", PW, None)
            .await
            .unwrap();
        assert_eq!(half.factor(), StaffFactor::CodeNeeded);
        assert!(matches!(
            e.search_customers(&half, "a", None, 5).await,
            Err(Error::SecondFactorRequired)
        ));
        assert!(matches!(
            e.begin_staff_authenticator(&half).await,
            Err(Error::SecondFactorRequired)
        ));
        assert!(matches!(
            e.staff_session_create("sec@staff.example", PW, None, "127.0.0.1")
                .await,
            Err(Error::SecondFactorRequired)
        ));
        // The code used to set it up is spent (same time step): refused, recorded.
        assert!(matches!(
            e.staff_second_factor(&half, &code, StaffChannel::Api, "127.0.0.1")
                .await,
            Err(Error::InvalidInput { field: "code", .. })
        ));
        h.clock.advance(chrono::Duration::seconds(30));
        let next = super::factors::totp_code(&en.secret, h.clock.now().timestamp());
        let (token, full, _) = e
            .staff_session_create("sec@staff.example", PW, Some(&next), "127.0.0.1")
            .await
            .unwrap();
        assert_eq!(full.factor(), StaffFactor::Verified);
        assert_eq!(
            e.staff_from_token(&token).await.unwrap().factor(),
            StaffFactor::Verified
        );
        // The same code again (replay within its 30 s): refused.
        assert!(matches!(
            e.staff_sign_in("sec@staff.example", PW, Some(&next)).await,
            Err(Error::InvalidInput { field: "code", .. })
        ));
        // (An UPDATE that changes nothing counts the rows.)
        let attempts = e
            .execute_unchecked(
                "UPDATE staff_sign_in_attempts SET reason = reason WHERE reason = 'wrong_code' AND outcome = 'failure'",
            )
            .await
            .unwrap();
        assert_eq!(attempts, 2);

        // Lost phone: an admin resets it with a reason; not their own; audited.
        assert!(matches!(
            e.reset_staff_authenticator(&h.admin, full.id(), " ").await,
            Err(Error::InvalidInput {
                field: "reason",
                ..
            })
        ));
        assert!(matches!(
            e.reset_staff_authenticator(&sup, full.id(), "lost phone")
                .await,
            Err(Error::Forbidden(_))
        ));
        assert!(
            e.reset_staff_authenticator(&h.admin, h.admin.id(), "lost phone")
                .await
                .is_err()
        );
        let listed = e.list_staff(&h.admin).await.unwrap();
        assert!(
            listed
                .iter()
                .find(|m| m.id == full.id())
                .unwrap()
                .authenticator
        );
        e.reset_staff_authenticator(&h.admin, full.id(), "ticket 42: lost phone")
            .await
            .unwrap();
        let listed = e.list_staff(&h.admin).await.unwrap();
        assert!(
            !listed
                .iter()
                .find(|m| m.id == full.id())
                .unwrap()
                .authenticator
        );
        assert_eq!(
            e.staff_from_token(&token).await.unwrap().factor(),
            StaffFactor::EnrolmentNeeded
        );
        let log = e.audit_log(&h.admin, 0, 1000).await.unwrap();
        let reset = log
            .iter()
            .find(|a| a.action == "staff.authenticator_reset")
            .unwrap();
        assert_eq!(reset.reason.as_deref(), Some("ticket 42: lost phone"));
        assert!(log.iter().any(|a| a.action == "staff.authenticator_added"));
        let left = e
            .execute_unchecked("UPDATE staff_authenticators SET status = status")
            .await
            .unwrap();
        assert_eq!(left, 1, "only the admin's own is left");
        h.engine.close().await;
    }
}
