//! The audit log: reads and changes recorded with before/after, the chain verifies, and
//! tampering (edit, delete, truncate) is detected.

use super::*;
use vestibule_engine::{CustomerStatus, Error};

const PW: &str = "lantern orchard violet";

#[tokio::test]
async fn reads_and_changes_are_audited_with_diffs() {
    for h in backends().await {
        let id = verified_customer(&h, "aud@example.com", PW).await;
        let c = h
            .engine
            .get_customer(&h.admin, id, Some("ticket 1234"))
            .await
            .unwrap();
        h.engine
            .set_customer_status(
                &h.admin,
                id,
                c.version,
                CustomerStatus::Locked,
                Some("suspicious"),
            )
            .await
            .unwrap();
        let trail = h.engine.customer_audit(&h.admin, id, 50).await.unwrap();
        let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
        assert!(actions.contains(&"customer.registered"), "{actions:?}");
        assert!(actions.contains(&"customer.email_verified"));
        let viewed = trail
            .iter()
            .find(|e| e.action == "customer.viewed" && e.reason.as_deref() == Some("ticket 1234"))
            .unwrap();
        assert_eq!(viewed.actor, format!("staff:{}", h.admin.id()));
        let locked = &trail[0];
        assert_eq!(locked.action, "customer.locked");
        assert_eq!(locked.reason.as_deref(), Some("suspicious"));
        assert_eq!(
            locked.diff,
            serde_json::json!({"status": ["active", "locked"]})
        );
        let report = h.engine.verify_audit(&h.admin).await.unwrap();
        assert!(report.entries >= 5);
        h.engine.close().await;
    }
}

#[tokio::test]
async fn edited_entry_is_detected() {
    for h in backends().await {
        let id = verified_customer(&h, "t1@example.com", PW).await;
        h.engine.get_customer(&h.admin, id, None).await.unwrap();
        h.engine.verify_audit(&h.admin).await.unwrap();
        h.engine
            .execute_unchecked("UPDATE audit_log SET actor = 'staff:someone-else' WHERE action = 'customer.viewed'")
            .await
            .unwrap();
        match h.engine.verify_audit(&h.admin).await {
            Err(Error::AuditTampered(_)) => {}
            other => panic!("{}: edit not detected: {other:?}", h.name),
        }
        h.engine.close().await;
    }
}

#[tokio::test]
async fn deleted_entry_is_detected() {
    for h in backends().await {
        let id = verified_customer(&h, "t2@example.com", PW).await;
        h.engine.get_customer(&h.admin, id, None).await.unwrap();
        h.engine.get_customer(&h.admin, id, None).await.unwrap();
        h.engine
            .execute_unchecked("DELETE FROM audit_log WHERE seq = (SELECT min(seq) FROM audit_log WHERE action = 'customer.viewed')")
            .await
            .unwrap();
        assert!(
            matches!(
                h.engine.verify_audit(&h.admin).await,
                Err(Error::AuditTampered(_))
            ),
            "{}",
            h.name
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn truncated_tail_is_detected() {
    for h in backends().await {
        let id = verified_customer(&h, "t3@example.com", PW).await;
        h.engine.get_customer(&h.admin, id, None).await.unwrap();
        h.engine
            .execute_unchecked("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
            .await
            .unwrap();
        assert!(
            matches!(
                h.engine.verify_audit(&h.admin).await,
                Err(Error::AuditTampered(_))
            ),
            "{}",
            h.name
        );
        h.engine.close().await;
    }
}

#[tokio::test]
async fn outbox_delivers_to_files_and_retries_failures() {
    for h in backends().await {
        verified_customer(&h, "mail@example.com", PW).await;
        let dir = tempfile::tempdir().unwrap();
        // A relay that refuses connections: every message fails and is rescheduled.
        let broken = vestibule_engine::Mailer::smtp("smtp://127.0.0.1:9").unwrap();
        let (sent, failed) = h.engine.deliver_outbox(&broken).await.unwrap();
        assert_eq!((sent, failed), (0, 1), "{}", h.name);
        let m = &h.engine.outbox(&h.admin, 10).await.unwrap()[0];
        assert_eq!(m.attempts, 1);
        assert!(m.last_error.is_some());
        // Not due yet: nothing is retried before the backoff passes.
        let files = vestibule_engine::Mailer::files(dir.path()).unwrap();
        assert_eq!(h.engine.deliver_outbox(&files).await.unwrap(), (0, 0));
        h.clock.advance(chrono::Duration::minutes(6));
        assert_eq!(h.engine.deliver_outbox(&files).await.unwrap(), (1, 0));
        let eml: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(eml.len(), 1);
        let text = std::fs::read_to_string(eml[0].as_ref().unwrap().path()).unwrap();
        assert!(text.contains("To: mail@example.com"));
        assert!(text.contains("Subject: Confirm your email address"));
        let m = &h.engine.outbox(&h.admin, 10).await.unwrap()[0];
        assert!(m.sent_at.is_some() && m.last_error.is_none());
        assert_eq!(h.engine.deliver_outbox(&files).await.unwrap(), (0, 0));
        h.engine.close().await;
    }
}
