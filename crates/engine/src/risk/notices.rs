//! Telling customers about security changes to their account: a password changed or reset,
//! a second factor or passkey added or removed (by them or by support), new recovery codes,
//! a sign-in provider connected or disconnected. Each is noticed where it is audited — an
//! audit entry with one of these actions on a customer queues the email in the same
//! transaction — so no flow that changes one can forget to tell the customer. (An email
//! address change has its own email, to the old address.)

use crate::Engine;
use crate::error::Result;
use crate::outbox::enqueue;
use crate::storage::Tx;

/// The outbox kind of a security-change email.
pub(crate) const SECURITY_CHANGE_EMAIL: &str = "security_change";

/// What changed, in words, for each audited action that customers are told about.
fn change(action: &str) -> Option<&'static str> {
    Some(match action {
        "customer.password_changed" => "Your password was changed.",
        "customer.password_reset" => "Your password was reset with a link sent to this address.",
        "customer.factor_added" => {
            "A second sign-in step (an authenticator app or a passkey) was added to your account."
        }
        "customer.factor_removed" => "A second sign-in step was removed from your account.",
        "customer.recovery_codes_regenerated" => {
            "New recovery codes were made for your account; the old ones no longer work."
        }
        "customer.social_linked" => {
            "A sign-in with another provider was connected to your account."
        }
        "customer.social_unlinked" => {
            "A sign-in with another provider was disconnected from your account."
        }
        _ => return None,
    })
}

impl Engine {
    /// Queue the security-change email for an audited action on `target` (`customer:<id>`),
    /// when the action is one customers are told about.
    pub(crate) async fn notice_security_change(
        &self,
        tx: &mut Tx,
        action: &str,
        target: &str,
    ) -> Result<()> {
        let (Some(what), Some(id)) = (change(action), target.strip_prefix("customer:")) else {
            return Ok(());
        };
        let Ok(id) = uuid::Uuid::parse_str(id) else {
            return Ok(());
        };
        let Some(email) = crate::accounts::record::email_of(&mut **tx, id).await? else {
            return Ok(());
        };
        let when = self.now().format("%Y-%m-%d %H:%M UTC");
        enqueue(
            tx,
            self,
            SECURITY_CHANGE_EMAIL,
            &email,
            "A security change to your account",
            &format!(
                "{what} ({when})\n\n\
                 If this was you, there is nothing to do.\n\n\
                 If it was not, reset your password now at {}/account and contact support: \
                 someone else may be using your account.\n",
                self.config.public_url
            ),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::change;

    #[test]
    fn only_security_changes_are_noticed() {
        assert!(change("customer.password_changed").is_some());
        assert!(change("customer.factor_removed").is_some());
        assert!(change("customer.viewed").is_none());
        assert!(
            change("customer.email_changed").is_none(),
            "it has its own email"
        );
    }
}
