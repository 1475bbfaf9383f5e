//! The device cookie: a long-lived random identifier the server gives a browser with its
//! first page, so the risk engine can tell a customer's own browser from a new one (the
//! engine keeps only a digest of it). Apps send their own installation id in `X-Device-Id`
//! instead. Neither is a credential: a copied identifier only makes a device look familiar,
//! and the password or other proof is still required.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

const COOKIE: &str = "__Host-vestibule_device";
/// Over plain HTTP in development a `__Host-` cookie is refused by browsers.
const DEV_COOKIE: &str = "vestibule_device";
/// The header an app gives its installation id in.
pub(crate) const HEADER: &str = "x-device-id";
/// Browsers keep a cookie for at most 400 days.
const MAX_AGE_DAYS: i64 = 400;
const MAX_LEN: usize = 128;

fn cookie_name(insecure: bool) -> &'static str {
    if insecure { DEV_COOKIE } else { COOKIE }
}

/// The device's identifier: the device cookie, else the app's header (printable, at most
/// 128 characters).
pub(crate) fn of(headers: &HeaderMap, insecure: bool) -> Option<String> {
    let usable = |v: &str| {
        let v = v.trim();
        (!v.is_empty() && v.len() <= MAX_LEN && v.chars().all(|c| c.is_ascii_graphic()))
            .then(|| v.to_owned())
    };
    CookieJar::from_headers(headers)
        .get(cookie_name(insecure))
        .and_then(|c| usable(c.value()))
        .or_else(|| {
            headers
                .get(HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(usable)
        })
}

/// Give a browser that has none a device cookie with the first page it loads.
pub(crate) async fn give(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let insecure = s.config.insecure_dev_cookies;
    let wants = req.method() == Method::GET && of(req.headers(), insecure).is_none();
    let mut resp = next.run(req).await;
    let page = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if wants && page {
        let mut c = Cookie::new(
            cookie_name(insecure),
            uuid::Uuid::new_v4().simple().to_string(),
        );
        c.set_path("/");
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_secure(!insecure);
        c.set_max_age(time::Duration::days(MAX_AGE_DAYS));
        if let Ok(v) = c.to_string().parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}
