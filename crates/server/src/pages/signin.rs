//! The sign-in page (`templates/signin.html`), shared by the OpenID Connect authorization
//! flow and the hosted sign-in, and the wording of why a sign-in failed.

use super::Chrome;
use askama::Template;
use vestibule_engine::Error;

#[derive(Template)]
#[template(path = "signin.html")]
pub(crate) struct SignInPage<'a> {
    pub c: &'a Chrome,
    /// Where the form posts.
    pub action: &'static str,
    /// The client the customer signs in to, when there is one.
    pub client: Option<String>,
    /// The authorization request's parameters, carried through the form.
    pub params: String,
    pub csrf: String,
    pub email: String,
    pub error: Option<String>,
}

/// What to tell the customer when signing in failed, in the page's language. Never says
/// whether the account exists.
pub(crate) fn error_message(c: &Chrome, e: &Error) -> String {
    match e {
        Error::InvalidCredentials => c.t("error-credentials"),
        Error::RateLimited(wait) => c.tn(
            "error-rate-limited",
            "minutes",
            wait.as_secs().div_ceil(60).max(1),
        ),
        Error::Overloaded(_) => c.t("error-busy"),
        Error::AccountUnavailable(_) => c.t("error-unavailable"),
        Error::InvalidInput { .. } => c.t("error-credentials"),
        _ => c.t("error-generic"),
    }
}
