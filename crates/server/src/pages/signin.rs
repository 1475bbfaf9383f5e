//! The sign-in pages, shared by the OpenID Connect authorization flow and the hosted
//! sign-in: the password page (`templates/signin.html`), the second-factor page
//! (`templates/factor.html`) with the challenge kept in an HttpOnly, `SameSite=Strict` cookie
//! (bound to this browser, never in a URL or a form), and the wording of why a sign-in failed.

use super::Chrome;
use crate::AppState;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use vestibule_engine::{ChallengeKind, Error, FactorProof};

#[derive(Template)]
#[template(path = "signin.html")]
pub(crate) struct SignInPage<'a> {
    pub c: &'a Chrome,
    /// Where the form posts.
    pub action: &'static str,
    /// Where a passkey's answer posts.
    pub passkey_action: &'static str,
    /// The "create an account" link (carrying the authorization request, for a client).
    pub signup_href: String,
    /// "Email me a sign-in code" (carrying where to go afterwards, for a client).
    pub email_href: String,
    /// The client the customer signs in to, when there is one.
    pub client: Option<String>,
    /// The authorization request's parameters, carried through the form.
    pub params: String,
    pub csrf: String,
    pub email: String,
    pub error: Option<String>,
    /// "Continue with …" buttons: (href, provider label).
    pub providers: Vec<(String, String)>,
    /// When the page was made (milliseconds since the epoch, engine clock): sent back with
    /// the form, so the risk engine knows how long it took to fill in.
    pub shown: i64,
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

/// The second-factor page.
#[derive(Template)]
#[template(path = "factor.html")]
pub(crate) struct FactorPage<'a> {
    pub c: &'a Chrome,
    pub action: &'static str,
    pub params: String,
    pub csrf: String,
    /// A recovery code instead of the app's code.
    pub recovery: bool,
    /// An emailed risk check rather than the account's second factor.
    pub emailed: bool,
    /// The field's error (empty: none).
    pub error: String,
    /// The same page for the other method.
    pub switch_href: String,
}

const CHALLENGE_COOKIE: &str = "__Host-vestibule_challenge";
const DEV_CHALLENGE_COOKIE: &str = "vestibule_challenge";

fn challenge_cookie_name(s: &AppState) -> &'static str {
    if s.config.insecure_dev_cookies {
        DEV_CHALLENGE_COOKIE
    } else {
        CHALLENGE_COOKIE
    }
}

/// Keep a sign-in challenge in the browser for its few minutes. An emailed risk check is
/// marked `email.` so its page asks for the emailed code (the engine checks the kind again).
pub(crate) fn keep_challenge(
    s: &AppState,
    jar: CookieJar,
    ch: vestibule_engine::Challenge,
) -> CookieJar {
    let value = match ch.kind {
        ChallengeKind::EmailCode => format!("{EMAILED}{}", ch.token),
        ChallengeKind::SecondFactor => ch.token,
    };
    let mut c = Cookie::new(challenge_cookie_name(s), value);
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(!s.config.insecure_dev_cookies);
    c.set_max_age(time::Duration::seconds(
        vestibule_engine::CHALLENGE_TTL.num_seconds(),
    ));
    jar.add(c)
}

const EMAILED: &str = "email.";

/// The browser's sign-in challenge token, if it has one.
pub(crate) fn challenge(s: &AppState, jar: &CookieJar) -> Option<String> {
    jar.get(challenge_cookie_name(s))
        .map(|c| {
            let v = c.value();
            v.strip_prefix(EMAILED).unwrap_or(v).to_owned()
        })
        .filter(|v| !v.is_empty())
}

/// The browser's challenge is an emailed risk check (not the account's second factor).
pub(crate) fn is_emailed(s: &AppState, jar: &CookieJar) -> bool {
    jar.get(challenge_cookie_name(s))
        .is_some_and(|c| c.value().starts_with(EMAILED))
}

/// Forget the challenge (finished or ended).
pub(crate) fn drop_challenge(s: &AppState, jar: CookieJar) -> CookieJar {
    let mut c = Cookie::new(challenge_cookie_name(s), "");
    c.set_path("/");
    c.set_max_age(time::Duration::seconds(0));
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(!s.config.insecure_dev_cookies);
    jar.add(c)
}

/// The posted second factor.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct FactorForm {
    /// The authorization request's parameters (empty for the hosted sign-in).
    #[serde(default)]
    pub params: String,
    pub csrf: String,
    /// `totp`, `recovery_code` or `email_code`.
    pub method: String,
    pub code: String,
}

impl FactorForm {
    pub(crate) fn proof(&self) -> FactorProof {
        match self.method.as_str() {
            "recovery_code" => FactorProof::RecoveryCode(self.code.clone()),
            "email_code" => FactorProof::EmailCode(self.code.clone()),
            _ => FactorProof::Totp(self.code.clone()),
        }
    }
}

/// Render the second-factor page. `base` is the page's own path (with `?params=` when it
/// carries an authorization request) for the link to the other method.
#[allow(clippy::too_many_arguments)]
pub(crate) fn factor_page(
    s: &AppState,
    c: &Chrome,
    jar: CookieJar,
    action: &'static str,
    params: &str,
    recovery: bool,
    error: Option<String>,
    form_origins: &[&str],
) -> Response {
    let (jar, csrf) = super::form_token(s, jar);
    let mut switch = url::form_urlencoded::Serializer::new(String::new());
    if !params.is_empty() {
        switch.append_pair("params", params);
    }
    if !recovery {
        switch.append_pair("method", "recovery_code");
    }
    let query = switch.finish();
    let switch_href = if query.is_empty() {
        action.to_owned()
    } else {
        format!("{action}?{query}")
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let emailed = is_emailed(s, &jar);
    let page = FactorPage {
        c,
        action,
        params: params.to_owned(),
        csrf,
        recovery: recovery && !emailed,
        emailed,
        error: error.unwrap_or_default(),
        switch_href,
    };
    (jar, super::render(status, c, &page, form_origins)).into_response()
}

/// Why a second factor (or an emailed check's code) was not accepted, for the page.
pub(crate) fn factor_error(c: &Chrome, e: &Error, emailed: bool) -> String {
    match e {
        Error::InvalidInput { .. } if emailed => c.t("error-emailed-code"),
        Error::InvalidInput { .. } => c.t("error-code"),
        Error::InvalidSession => c.t("error-challenge-ended"),
        other => error_message(c, other),
    }
}

impl super::PostedForm for FactorForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
