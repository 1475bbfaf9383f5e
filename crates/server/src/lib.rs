//! Vestibule's HTTP server: the engine over HTTP. It owns routing, the HTTP shape of
//! requests and responses, cookies, CSRF and security headers — and no business rules: every
//! handler extracts its input, calls one engine method and converts the result.
//!
//! - `/v1/…` — the customer API (registration, verification, sign-in/out, password reset and
//!   change, email change, own sessions and profile). Browsers authenticate with a
//!   `__Host-` session cookie (plus a CSRF token for writes), apps with a bearer token.
//! - `/admin/v1/…` — the staff API (bearer tokens from staff credentials), every call
//!   permission-checked and audited by the engine.
//! - `/healthz`, `/readyz` — liveness and readiness; `/metrics` — Prometheus metrics.

mod admin;
pub mod conn;
mod consent;
mod customer;
mod device;
pub mod error;
mod http;
mod metrics;
mod oidc;
mod openapi;
mod pages;
mod privacy;
mod tls;
pub mod upstream;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use std::net::SocketAddr;
use std::sync::Arc;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vestibule_engine::Engine;

/// How the server presents itself.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The public base URL (issuer), e.g. `https://id.shop.example`. Empty: the scheme and
    /// address [`serve`] actually binds.
    pub public_url: String,
    /// Origins allowed to make cookie-authenticated writes (the public URL's origin is always allowed).
    pub allowed_origins: Vec<String>,
    /// Development only, on loopback: cookies without `Secure` and the `__Host-` prefix, so a
    /// browser keeps them over plain http://localhost.
    pub insecure_dev_cookies: bool,
    /// Per-IP limit on credential endpoints (sign-in, registration, resets, staff sign-in):
    /// a burst of this many requests…
    pub ip_burst: u32,
    /// …then one more every this many milliseconds.
    pub ip_replenish_ms: u64,
    /// Serve HTTPS with this certificate chain and private key (PEM files); `None` serves
    /// plain HTTP for a TLS-terminating proxy in front.
    pub tls: Option<TlsFiles>,
    /// Connection cap and timeouts (see [`conn`]).
    pub limits: conn::Limits,
}

/// PEM files for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl ServerConfig {
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into(),
            allowed_origins: vec![],
            insecure_dev_cookies: false,
            ip_burst: 30,
            ip_replenish_ms: 1_000,
            tls: None,
            limits: conn::Limits::default(),
        }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let public = origin_of(&self.public_url);
        origin == public || self.allowed_origins.iter().any(|o| o == origin)
    }
}

/// `scheme://host[:port]` of a URL.
pub(crate) fn origin_of(url: &str) -> &str {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let end = rest.find('/').map_or(url.len(), |j| i + 3 + j);
            &url[..end]
        }
        None => url,
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub engine: Engine,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<metrics::Metrics>,
    pub openapi: openapi::Document,
    /// The HTTP client for upstream sign-in providers (social sign-in).
    pub upstream: Arc<Result<upstream::Upstream, String>>,
}

/// Largest request body accepted (JSON documents here are small).
const MAX_BODY: usize = 64 * 1024;

/// The whole application.
pub fn router(engine: Engine, config: ServerConfig) -> Router {
    let limiter = GovernorConfigBuilder::default()
        .per_millisecond(config.ip_replenish_ms.max(1))
        .burst_size(config.ip_burst.max(1))
        .finish()
        .map(Arc::new);
    let state = AppState {
        engine,
        config: Arc::new(config),
        metrics: Arc::new(metrics::Metrics::new()),
        openapi: openapi::Document::default(),
        upstream: Arc::new(upstream::Upstream::new()),
    };
    let mut credentials = customer::credential_routes()
        .merge(admin::credential_routes())
        .merge(oidc::credential_routes())
        .merge(pages::hosted::credential_routes())
        .merge(pages::account::credential_routes())
        .merge(pages::passkeys::credential_routes())
        .merge(pages::email::credential_routes())
        .merge(pages::social::credential_routes())
        .merge(pages::profile::credential_routes())
        .merge(privacy::credential_routes());
    if let Some(limiter) = limiter {
        // Forget idle addresses now and then so the table stays small.
        let table = limiter.limiter().clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                table.retain_recent();
            }
        });
        credentials = credentials
            .route_layer(GovernorLayer::new(limiter).error_handler(http::too_many_requests));
    }
    let (routes, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(http::healthz))
        .routes(routes!(http::readyz))
        .routes(routes!(metrics::render))
        .routes(routes!(openapi::document))
        .merge(credentials)
        .merge(customer::routes())
        .merge(consent::customer_routes())
        .merge(oidc::routes())
        .routes(routes!(pages::logo))
        .merge(pages::hosted::routes())
        .merge(pages::account::routes())
        .merge(pages::passkeys::routes())
        .merge(pages::preferences::routes())
        .merge(pages::email::routes())
        .merge(pages::social::routes())
        .merge(pages::profile::routes())
        .merge(pages::details::routes())
        .nest(
            "/admin/v1",
            admin::routes()
                .merge(consent::admin_routes())
                .merge(privacy::admin_routes()),
        )
        .split_for_parts();
    let _ = state
        .openapi
        .0
        .set(doc.to_json().expect("the OpenAPI document serialises"));
    routes
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::observe,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            device::give,
        ))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // One structured log line per request: method, path, status, latency. Paths carry
        // customer ids at most, never tokens (those travel in headers and bodies).
        .layer(
            TraceLayer::new_for_http()
                // The path only: query strings can hold search terms (personal data).
                .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        // A declared body larger than any we accept is refused before a byte of it is read.
        .layer(axum::middleware::from_fn(refuse_oversized_bodies))
        .layer(axum::middleware::map_response(
            |mut resp: axum::response::Response| async move {
                add_security_headers(resp.headers_mut());
                resp
            },
        ))
}

/// Headers on every answer, including the ones made outside the router (the connection
/// layer's timeouts and its replacements for hyper's own error answers). The CSP is a default
/// that pages with their own policy (the sign-in page) keep.
pub(crate) const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    // API responses carry personal data and tokens: never cache them.
    ("cache-control", "no-store"),
];

pub(crate) fn add_security_headers(h: &mut axum::http::HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        let name = header::HeaderName::from_static(name);
        // Pages keep their own policies; the logo its cache lifetime.
        if (name == header::CONTENT_SECURITY_POLICY
            || name == header::CACHE_CONTROL
            || name == header::REFERRER_POLICY)
            && h.contains_key(&name)
        {
            continue;
        }
        h.insert(name, HeaderValue::from_static(value));
    }
}

async fn refuse_oversized_bodies(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        let mut resp = error::ApiError::Http(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are at most {} KiB", MAX_BODY / 1024),
        )
        .into_response();
        // The unread body is not drained: the connection ends with this answer.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    next.run(req).await
}

/// Serve until `shutdown` resolves, then finish in-flight requests. Calls `on_bound` with
/// the bound address first (useful with port 0).
pub async fn serve(
    engine: Engine,
    config: ServerConfig,
    listen: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = match &config.tls {
        Some(files) => Some(tls::load(files)?),
        None => None,
    };
    let mut config = config;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    if config.public_url.is_empty() {
        // No issuer given: the address actually bound (port 0 becomes the real port), so
        // the advertised issuer and the CSRF origin are the ones clients use.
        let scheme = if tls.is_some() { "https" } else { "http" };
        config.public_url = format!("{scheme}://{bound}");
    }
    on_bound(bound);
    let limits = config.limits.clone();
    let app = router(engine, config);
    conn::run(
        listener,
        app,
        tls.map(tokio_rustls::TlsAcceptor::from),
        limits,
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://id.shop.example/path?x"),
            "https://id.shop.example"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
