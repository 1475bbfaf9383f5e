//! Social sign-in: customers signing in with an account at an upstream OpenID Connect
//! provider the organisation trusts (another Vestibule, Google, Microsoft, …).
//!
//! - `providers`: the providers admins configure (issuer, client id, sealed client secret,
//!   scopes, button label), audited; read back for the sign-in page's buttons.
//! - `flow`: leaving for a provider and coming back — discovery, PKCE S256, `state` and
//!   `nonce` (all three derived from a browser-bound secret, so the store holds nothing that
//!   finishes a flow), the code exchanged for an ID token whose signature, issuer, audience,
//!   expiry and nonce are checked; then a known link signs in, a new verified address makes an
//!   account, and an address that already has an account is linked only after its password
//!   is given — never silently.
//! - `links`: the links, listed and removed by their customer or by support (with a reason).
//!
//! The engine has no HTTP client: the adapter passes one in as a [`Fetch`].

pub(crate) mod flow;
pub(crate) mod links;
pub(crate) mod providers;

use crate::error::{Error, Result};
use std::future::Future;

/// The HTTP the engine needs to talk to a provider, given by the adapter (the server has one
/// with timeouts and TLS certificate checks). Errors are short descriptions for the log and
/// the operator, never shown to customers verbatim.
pub trait Fetch: Send + Sync {
    /// GET a JSON document, with a bearer token when one is given.
    fn get_json(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> impl Future<Output = std::result::Result<serde_json::Value, String>> + Send;

    /// POST a form with HTTP Basic client authentication; the status and the JSON answer
    /// (OAuth errors are JSON too).
    fn post_form(
        &self,
        url: &str,
        basic: (&str, &str),
        form: &[(&str, &str)],
    ) -> impl Future<Output = std::result::Result<(u16, serde_json::Value), String>> + Send;
}

/// An issuer or endpoint address the engine will talk to: `https`, or `http` only to this
/// machine (a provider on loopback, as in development and the tests).
pub(crate) fn check_endpoint(field: &'static str, raw: &str) -> Result<url::Url> {
    let u = url::Url::parse(raw.trim()).map_err(|_| {
        Error::invalid(
            field,
            "give a full address such as https://accounts.example.com",
        )
    })?;
    let loopback = matches!(u.host(), Some(url::Host::Domain("localhost")))
        || matches!(u.host(), Some(url::Host::Ipv4(a)) if a.is_loopback())
        || matches!(u.host(), Some(url::Host::Ipv6(a)) if a.is_loopback());
    let ok = match u.scheme() {
        "https" => u.host().is_some(),
        "http" => loopback,
        _ => false,
    };
    if !ok || u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err(Error::invalid(
            field,
            "the address must be https (http only for this machine), without a #fragment or credentials",
        ));
    }
    Ok(u)
}
