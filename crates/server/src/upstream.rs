//! The HTTP client social sign-in talks to upstream providers with (the engine's
//! [`Fetch`]): TLS through rustls on ring with the Mozilla root set (webpki-roots), no
//! redirects followed, a 5 s connect and 10 s whole-request timeout, and answers cut off past
//! 256 KiB — a provider that hangs or floods cannot hold a sign-in page or the server's
//! memory.

use std::time::Duration;
use vestibule_engine::Fetch;

/// Largest answer read from a provider.
const MAX_ANSWER: usize = 256 * 1024;

/// The server's one upstream client (cheap to clone: reqwest shares its pool).
#[derive(Clone, Debug)]
pub struct Upstream {
    client: reqwest::Client,
}

impl Upstream {
    pub fn new() -> Result<Self, String> {
        // The process's TLS is rustls on ring everywhere (the listener too); make it the
        // default so other clients in the process (reqwest's own default) find it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("Vestibule/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }

    async fn read(resp: reqwest::Response) -> Result<(u16, serde_json::Value), String> {
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
            return Err(format!("answer over {MAX_ANSWER} bytes"));
        }
        let mut resp = resp;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER {
                return Err(format!("answer over {MAX_ANSWER} bytes"));
            }
        }
        let json =
            serde_json::from_slice(&body).map_err(|_| format!("status {status}, not JSON"))?;
        Ok((status, json))
    }
}

impl Fetch for Upstream {
    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<serde_json::Value, String> {
        let mut req = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| format!("GET {url}: {e}"))?;
        match Self::read(resp).await? {
            (200, json) => Ok(json),
            (status, _) => Err(format!("GET {url}: status {status}")),
        }
    }

    async fn post_form(
        &self,
        url: &str,
        basic: (&str, &str),
        form: &[(&str, &str)],
    ) -> Result<(u16, serde_json::Value), String> {
        let resp = self
            .client
            .post(url)
            .basic_auth(basic.0, Some(basic.1))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        Self::read(resp).await
    }
}
