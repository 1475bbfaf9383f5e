//! The OpenAPI 3.1 document served at `/openapi.json`. It is generated from the code: every
//! route is registered through utoipa-axum together with its `#[utoipa::path]` description,
//! and the request and response schemas are the very types the handlers (de)serialise —
//! the engine's wire types derive their schemas behind its `openapi` feature. This module
//! owns the document's frame (info, tags, security schemes) and the error responses shared
//! by many operations.

use crate::AppState;
use crate::error::{ErrorBody, OAuthErrorBody};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use utoipa::openapi::response::{Response as ApiResponse, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vestibule",
        description = "Customer identity and access management: the customer API (/v1), the \
            OpenID Connect provider (/oauth2, /.well-known), the staff API (/admin/v1) and \
            operations endpoints. Errors are JSON `{code, message}`; OAuth endpoints answer \
            RFC 6749 `{error, error_description}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "customer", description = "Customers registering, signing in and managing their own account"),
        (name = "oidc", description = "The OpenID Connect provider"),
        (name = "pages", description = "The hosted pages customers see (HTML) and what they load"),
        (name = "admin", description = "Staff: support, security and administration (remote consoles)"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
    components(schemas(ErrorBody, OAuthErrorBody)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// Names of the security schemes the operations refer to.
pub const CUSTOMER_BEARER: &str = "customer_bearer";
pub const CUSTOMER_COOKIE: &str = "customer_cookie";
pub const STAFF_BEARER: &str = "staff_bearer";
pub const ACCESS_TOKEN: &str = "access_token";

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            CUSTOMER_BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A customer session token (from /v1/sign-in with return_token).",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            CUSTOMER_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-vestibule_session",
                "The browser session cookie; writes also need the csrf cookie's value in \
                 X-CSRF-Token and an allowed Origin.",
            ))),
        );
        c.add_security_scheme(
            STAFF_BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A staff token from POST /admin/v1/sessions."))
                    .build(),
            ),
        );
        c.add_security_scheme(
            ACCESS_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An OAuth 2.0 access token from /oauth2/token."))
                    .build(),
            ),
        );
    }
}

fn error_response(description: &str, retry_after: bool) -> RefOr<ApiResponse> {
    let mut r = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if retry_after {
        r = r.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0))
                        .build(),
                ))
                .description(Some("Seconds to wait before trying again"))
                .build(),
        );
    }
    RefOr::T(r.build())
}

fn responses(list: &[(&str, &str, bool)]) -> BTreeMap<String, RefOr<ApiResponse>> {
    list.iter()
        .map(|(status, d, retry)| ((*status).to_owned(), error_response(d, *retry)))
        .collect()
}

/// What any endpoint taking a JSON body may answer instead of success.
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        responses(&[
            (
                "400",
                "Malformed JSON, a missing or unknown field, or an invalid value",
                false,
            ),
            ("413", "The body is larger than 64 KiB", false),
            ("415", "The body is not application/json", false),
        ])
    }
}

/// Credential endpoints: limited per IP and per account; hashing work is bounded.
pub struct Limited;

impl IntoResponses for Limited {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        responses(&[
            (
                "429",
                "Too many attempts from this address or for this account",
                true,
            ),
            (
                "503",
                "The server is at its hashing capacity; try again shortly",
                true,
            ),
        ])
    }
}

/// Endpoints for a signed-in customer.
pub struct CustomerAuth;

impl IntoResponses for CustomerAuth {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        responses(&[
            ("401", "No valid session (code invalid_session)", false),
            (
                "403",
                "A cookie-authenticated write without the CSRF token or from a foreign Origin \
                 (code csrf), or an account that is locked or disabled",
                false,
            ),
        ])
    }
}

/// Endpoints for signed-in staff.
pub struct StaffAuth;

impl IntoResponses for StaffAuth {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        responses(&[
            ("401", "No valid staff token (code invalid_session)", false),
            (
                "403",
                "The staff member's role does not allow this (code forbidden), or their sign-in is not finished: an admin or security role must set up an authenticator first (code authenticator_required)",
                false,
            ),
        ])
    }
}

/// Endpoints addressing one record by id.
pub struct ById;

impl IntoResponses for ById {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        responses(&[
            (
                "400",
                "The id is not a UUID, or a query parameter is invalid",
                false,
            ),
            ("404", "No such record", false),
        ])
    }
}

/// Query-string endpoints.
pub struct QueryErrors;

impl IntoResponses for QueryErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        responses(&[(
            "400",
            "A query parameter is missing, unknown or invalid",
            false,
        )])
    }
}

/// Writes checked against the record's version (optimistic concurrency).
pub struct Versioned;

impl IntoResponses for Versioned {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        responses(&[(
            "409",
            "The record changed since the given version (code conflict); reload and retry",
            false,
        )])
    }
}

/// The RFC 6749 error responses of the token and revocation endpoints.
pub struct OAuthErrors;

impl IntoResponses for OAuthErrors {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        let body = |d: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(d)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("OAuthErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        BTreeMap::from([
            (
                "400".to_owned(),
                body("invalid_request, invalid_grant, unsupported_grant_type, invalid_scope …"),
            ),
            (
                "401".to_owned(),
                body("invalid_client: unknown client or wrong secret (with WWW-Authenticate)"),
            ),
            ("429".to_owned(), error_response("Too many requests", true)),
        ])
    }
}

/// The document, rendered once when the router is built (it describes the router itself,
/// so it is filled in after the routes are assembled).
#[derive(Clone, Default)]
pub struct Document(pub std::sync::Arc<std::sync::OnceLock<String>>);

/// The OpenAPI 3.1 document describing every endpoint of this server.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn document(State(s): State<AppState>) -> Response {
    let doc = s.openapi.0.get().map_or("{}", String::as_str);
    let mut r = doc.to_owned().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
