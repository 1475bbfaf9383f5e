//! The hosted pages' shared machinery: the language of a page (`ui_locales`, then the
//! customer's locale, then `Accept-Language`; English and German Fluent catalogues in
//! `locales/`), the organisation's branding around every page (`templates/layout.html`), and
//! the answer itself — rendered by askama (escaped by default), with a strict Content
//! Security Policy: one first-party script (passkeys, `assets/passkey.js`) and the one inline
//! stylesheet, each allowed by its hash, fetches only to this server, forms only to
//! this server and, on pages that continue an OpenID Connect request, to that client's
//! redirect origin (browsers apply `form-action` to the redirect after a post).
//!
//! Each page family lives in its own module and renders its own templates.

pub(crate) mod account;
pub(crate) mod details;
pub(crate) mod email;
pub(crate) mod hosted;
pub(crate) mod passkeys;
pub(crate) mod preferences;
pub(crate) mod profile;
pub(crate) mod signin;
pub(crate) mod social;

use crate::AppState;
use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fluent_templates::{Loader, static_loader};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use unic_langid::{LanguageIdentifier, langid};
use vestibule_engine::Branding;

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en-US",
        // Plain text into HTML-escaped templates: no Unicode isolation marks around arguments.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The languages the pages are written in, the first being the fallback.
const AVAILABLE: [LanguageIdentifier; 2] = [langid!("en-US"), langid!("de")];

const PAGE_CSS: &str = include_str!("../../assets/pages.css");
/// The pages' one script (WebAuthn), inlined where passkeys are offered.
pub(crate) const PASSKEY_JS: &str = include_str!("../../assets/passkey.js");

/// `'sha256-…'` of the passkey script, for the policy.
fn script_source() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(PASSKEY_JS))))
}

/// The language for a page: the first of `ui_locales` (OIDC), the customer's own locale,
/// and the browser's `Accept-Language` that we have a catalogue for.
pub(crate) fn negotiate(
    ui_locales: Option<&str>,
    customer_locale: Option<&str>,
    accept_language: Option<&str>,
) -> LanguageIdentifier {
    let mut wanted: Vec<LanguageIdentifier> = Vec::new();
    for list in [ui_locales, customer_locale].into_iter().flatten() {
        wanted.extend(
            list.split([' ', ','])
                .filter_map(|t| t.trim().parse::<LanguageIdentifier>().ok()),
        );
    }
    if let Some(a) = accept_language {
        wanted.extend(fluent_langneg::accepted_languages::parse(a));
    }
    let [fallback, ..] = &AVAILABLE;
    fluent_langneg::negotiate_languages(
        &wanted,
        &AVAILABLE,
        Some(fallback),
        fluent_langneg::NegotiationStrategy::Lookup,
    )
    .first()
    .map_or_else(|| fallback.clone(), |l| (*l).clone())
}

/// What every page has around its content: language, branding and the stylesheet.
pub(crate) struct Chrome {
    pub lang: String,
    langid: LanguageIdentifier,
    pub brand: Branding,
    pub style: String,
}

impl Chrome {
    /// The passkey script, for a template's `<script>` (allowed by its hash).
    pub fn passkey_js(&self) -> &'static str {
        PASSKEY_JS
    }

    /// A message of the page's language.
    pub fn t(&self, id: &str) -> String {
        LOCALES.lookup(&self.langid, id)
    }

    /// A message with one text argument.
    pub fn t1(&self, id: &str, name: &str, value: &str) -> String {
        let args: HashMap<Cow<'static, str>, fluent_templates::fluent_bundle::FluentValue> =
            HashMap::from([(Cow::Owned(name.to_owned()), value.to_owned().into())]);
        LOCALES.lookup_with_args(&self.langid, id, &args)
    }

    /// A message with several text arguments.
    pub fn targs(&self, id: &str, args: &[(&str, &str)]) -> String {
        let args: HashMap<Cow<'static, str>, fluent_templates::fluent_bundle::FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Owned((*k).to_owned()), (*v).to_owned().into()))
            .collect();
        LOCALES.lookup_with_args(&self.langid, id, &args)
    }

    /// A message with one number argument (plural rules apply).
    pub fn tn(&self, id: &str, name: &str, value: impl std::borrow::Borrow<u64>) -> String {
        let args: HashMap<Cow<'static, str>, fluent_templates::fluent_bundle::FluentValue> =
            HashMap::from([(Cow::Owned(name.to_owned()), (*value.borrow()).into())]);
        LOCALES.lookup_with_args(&self.langid, id, &args)
    }
}

/// The chrome for a request: its language and the organisation's current branding.
pub(crate) async fn chrome(
    s: &AppState,
    headers: &HeaderMap,
    ui_locales: Option<&str>,
    customer_locale: Option<&str>,
) -> Chrome {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let langid = negotiate(ui_locales, customer_locale, accept);
    let brand = match s.engine.branding().await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "reading the branding failed; using the defaults");
            Branding::default()
        }
    };
    let style = format!(":root{{--accent:{}}}\n{PAGE_CSS}", brand.accent);
    Chrome {
        lang: langid.to_string(),
        langid,
        brand,
        style,
    }
}

/// Render a page with its status and a policy allowing its forms to post to this server and
/// to `form_origins`.
pub(crate) fn render(
    status: StatusCode,
    c: &Chrome,
    page: &impl Template,
    form_origins: &[&str],
) -> Response {
    let html = match page.render() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response();
        }
    };
    let hash = STANDARD.encode(Sha256::digest(c.style.as_bytes()));
    let mut forms = String::from("'self'");
    for o in form_origins {
        // Origins come from registered redirect URIs; keep only what a source may hold.
        if o.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ":/.-[]".contains(ch))
        {
            forms.push(' ');
            forms.push_str(o);
        }
    }
    let csp = format!(
        "default-src 'none'; script-src {script}; connect-src 'self'; style-src 'sha256-{hash}'; \
         img-src 'self'; form-action {forms}; frame-ancestors 'none'; base-uri 'none'",
        script = script_source()
    );
    let mut r = (status, Html(html)).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    // `same-origin`, not the API's `no-referrer`: under `no-referrer` browsers send
    // `Origin: null` with a form post, and the forms' CSRF check needs the real origin. Other
    // sites still learn nothing (no referrer leaves this origin).
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

const FORM_COOKIE: &str = "__Host-vestibule_form";
const DEV_FORM_COOKIE: &str = "vestibule_form";

fn form_cookie_name(s: &AppState) -> &'static str {
    if s.config.insecure_dev_cookies {
        DEV_FORM_COOKIE
    } else {
        FORM_COOKIE
    }
}

/// A CSRF token for a page's forms, and the `SameSite=Strict` cookie it must match. The
/// browser's token is kept while it has one, so pages open in several tabs all still post.
/// When a page with a sign-in form is made, for its `shown` field.
pub(crate) fn shown_now(s: &AppState) -> i64 {
    s.engine.now().timestamp_millis()
}

/// How long a sign-in form took from being shown to being sent, from its `shown` field:
/// nothing when the field is missing, not a time, in the future or over a day old (a bot
/// that posts without loading the page has none; one that loads it and posts at once shows).
pub(crate) fn form_ms(s: &AppState, shown: Option<&str>) -> Option<u64> {
    let shown: i64 = shown?.trim().parse().ok()?;
    let ms = shown_now(s).checked_sub(shown)?;
    u64::try_from(ms).ok().filter(|ms| *ms <= 86_400_000)
}

pub(crate) fn form_token(s: &AppState, jar: CookieJar) -> (CookieJar, String) {
    if let Some(c) = jar.get(form_cookie_name(s))
        && c.value().len() == 64
        && c.value().chars().all(|ch| ch.is_ascii_hexdigit())
    {
        let token = c.value().to_owned();
        return (jar, token);
    }
    let token = crate::customer::new_csrf();
    let mut c = Cookie::new(form_cookie_name(s), token.clone());
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(!s.config.insecure_dev_cookies);
    (jar.add(c), token)
}

/// Whether a posted form is our own: its token matches the page's cookie and a browser's
/// `Origin`, when sent, is this server.
pub(crate) fn form_is_ours(
    s: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
    token: &str,
) -> bool {
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| o == crate::origin_of(&s.config.public_url));
    let cookie_ok = jar.get(form_cookie_name(s)).is_some_and(|c| {
        !c.value().is_empty()
            && crate::customer::constant_eq(c.value().as_bytes(), token.as_bytes())
    });
    origin_ok && cookie_ok
}

/// The page for a form that failed the CSRF check.
pub(crate) fn form_refused(c: &Chrome) -> Response {
    message(
        StatusCode::FORBIDDEN,
        c,
        c.t("error-csrf-title"),
        Some(c.t("error-csrf")),
        vec![],
    )
}

/// A form that carries the page's CSRF token.
pub(crate) trait PostedForm: serde::de::DeserializeOwned + Send {
    fn csrf(&self) -> &str;
}

/// A form post to a hosted page, checked: the form parsed (otherwise a 400 page) and its
/// CSRF token matching this browser's (otherwise a 403 page), with the page chrome.
pub(crate) struct PageForm<T> {
    pub c: Chrome,
    pub jar: CookieJar,
    pub headers: HeaderMap,
    pub form: T,
}

impl<T: PostedForm> axum::extract::FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let jar = CookieJar::from_headers(&headers);
        let c = chrome(s, &headers, None, None).await;
        let form = match axum::extract::Form::<T>::from_request(req, s).await {
            Ok(axum::extract::Form(f)) => f,
            Err(_) => {
                return Err(message(
                    StatusCode::BAD_REQUEST,
                    &c,
                    c.t("error-form-title"),
                    Some(c.t("error-form")),
                    vec![],
                ));
            }
        };
        if !form_is_ours(s, &jar, &headers, form.csrf()) {
            return Err(form_refused(&c));
        }
        Ok(Self {
            c,
            jar,
            headers,
            form,
        })
    }
}

/// A page with a heading, an optional alert and some paragraphs (errors, confirmations).
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct Message<'a> {
    pub c: &'a Chrome,
    pub title: String,
    pub alert: Option<String>,
    pub paragraphs: Vec<String>,
    /// Where to go on (path, text).
    pub links: Vec<(std::borrow::Cow<'static, str>, String)>,
}

pub(crate) fn message(
    status: StatusCode,
    c: &Chrome,
    title: String,
    alert: Option<String>,
    paragraphs: Vec<String>,
) -> Response {
    render(
        status,
        c,
        &Message {
            c,
            title,
            alert,
            paragraphs,
            links: vec![],
        },
        &[],
    )
}

/// A message page that offers the way on.
pub(crate) fn message_links(
    status: StatusCode,
    c: &Chrome,
    title: String,
    paragraphs: Vec<String>,
    links: Vec<(impl Into<Cow<'static, str>>, String)>,
) -> Response {
    render(
        status,
        c,
        &Message {
            c,
            title,
            alert: None,
            paragraphs,
            links: links.into_iter().map(|(h, t)| (h.into(), t)).collect(),
        },
        &[],
    )
}

/// The organisation's logo, as uploaded by an admin (shown on every hosted page).
#[utoipa::path(get, path = "/branding/logo", tag = "pages",
    responses((status = 200, description = "The logo (PNG, JPEG or SVG)", content_type = "image/*", body = Vec<u8>),
        (status = 404, description = "No logo is set")))]
pub(crate) async fn logo(axum::extract::State(s): axum::extract::State<AppState>) -> Response {
    let logo = s.engine.branding().await.ok().and_then(|b| b.logo);
    let Some(logo) = logo else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(bytes) = STANDARD.decode(logo.base64.as_bytes()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut r = bytes.into_response();
    if let Ok(v) = HeaderValue::from_str(&logo.content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    // Public and small; an SVG opened on its own still runs no script (the default CSP).
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// A flow's browser binding as a cookie: HttpOnly, whole site, `__Host-` prefixed and Secure
/// unless the server runs with development cookies; `max_age` 0 removes it.
pub(crate) fn binding_cookie(
    s: &AppState,
    names: (&'static str, &'static str),
    same_site: SameSite,
    value: String,
    max_age: i64,
) -> Cookie<'static> {
    let name = if s.config.insecure_dev_cookies {
        names.1
    } else {
        names.0
    };
    let mut c = Cookie::new(name, value);
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(same_site);
    c.set_secure(!s.config.insecure_dev_cookies);
    c.set_max_age(time::Duration::seconds(max_age));
    c
}

/// The value of a flow's binding cookie, if the browser has one.
pub(crate) fn binding_of(
    s: &AppState,
    jar: &CookieJar,
    names: (&'static str, &'static str),
) -> Option<String> {
    let name = if s.config.insecure_dev_cookies {
        names.1
    } else {
        names.0
    };
    jar.get(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::negotiate;

    /// Every message the pages ask for exists in every catalogue, and the catalogues have
    /// the same messages (a missing one would show its key to a customer).
    #[test]
    fn every_message_exists_in_every_language() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let keys_of = |lang: &str| -> std::collections::BTreeSet<String> {
            std::fs::read_to_string(root.join(format!("locales/{lang}/pages.ftl")))
                .unwrap()
                .lines()
                .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_owned()))
                .collect()
        };
        let en = keys_of("en-US");
        assert_eq!(en, keys_of("de"), "the same messages in English and German");
        let mut used = std::collections::BTreeSet::new();
        let mut sources: Vec<String> = vec![];
        for dir in ["templates", "src", "src/pages"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    sources.push(std::fs::read_to_string(p).unwrap());
                }
            }
        }
        for text in &sources {
            for call in [".t(\"", ".t1(\"", ".tn(\"", ".targs(\""] {
                for (i, _) in text.match_indices(call) {
                    let rest = &text[i + call.len()..];
                    if let Some(end) = rest.find('"') {
                        let key = &rest[..end];
                        if !key.is_empty()
                            && key.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                        {
                            used.insert(key.to_owned());
                        }
                    }
                }
            }
        }
        let missing: Vec<_> = used.difference(&en).collect();
        assert!(
            missing.is_empty(),
            "messages used but not written: {missing:?}"
        );
        assert!(used.len() > 60, "the scan found the calls ({})", used.len());
    }

    #[test]
    fn languages_are_negotiated_in_order() {
        assert_eq!(negotiate(None, None, None).to_string(), "en-US");
        assert_eq!(
            negotiate(None, None, Some("de-DE,de;q=0.9,en;q=0.5")).to_string(),
            "de"
        );
        assert_eq!(negotiate(Some("de"), None, Some("en-US")).to_string(), "de");
        assert_eq!(negotiate(None, Some("de-AT"), Some("en")).to_string(), "de");
        assert_eq!(
            negotiate(Some("fr"), None, Some("fr-FR")).to_string(),
            "en-US"
        );
        assert_eq!(negotiate(None, None, Some("en-GB")).to_string(), "en-US");
        assert_eq!(
            negotiate(Some("en"), None, Some("de-DE")).to_string(),
            "en-US"
        );
    }
}
