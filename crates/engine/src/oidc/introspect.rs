//! Tokens for the business's back ends and resource servers: the `client_credentials` grant
//! (RFC 6749 §4.4) and token introspection (RFC 7662).
//!
//! A client-credentials token names the *client* (`sub` = its client id) and no customer: it
//! lives in `client_tokens`, apart from customers' tokens, so userinfo never answers for it.
//! Only confidential clients get one, and it carries no scope (resource servers authorise it
//! by its client id). Introspection takes a confidential client's credentials: any access
//! token may be inspected (resource servers are registered clients of their own), a refresh
//! token only by the client it was issued to; everything else is `{"active": false}`.

use super::{ACCESS_TOKEN_TTL, ClientAuth, TokenResponse, oauth};
use crate::Engine;
use crate::accounts::record::{CUSTOMER_COLUMNS, CustomerStatus, row_to_customer};
use crate::credentials::tokens;
use crate::error::Result;
use crate::time::to_us;
use serde::Serialize;
use sqlx::Row;

/// An introspection answer (RFC 7662 §2.2).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The customer's id, or for a client-credentials token the client's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// When the customer authenticated, and how (`acr`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The customer's tier and roles, when the token's scope includes `roles`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

impl Engine {
    /// The `client_credentials` grant: an access token for the client itself.
    pub(crate) async fn client_credentials(
        &self,
        client: &super::clients::OidcClient,
        auth: &ClientAuth,
    ) -> Result<TokenResponse> {
        if client.public || auth.client_secret.is_none() {
            return Err(oauth(
                "unauthorized_client",
                "only confidential clients may use client_credentials",
            ));
        }
        let now = self.now();
        let (token, digest) = tokens::new_token(self.entropy.as_ref());
        let mut tx = self.store.begin().await?;
        sqlx::query("DELETE FROM client_tokens WHERE expires_us < $1")
            .bind(to_us(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO client_tokens (token_hash, client_id, created_us, expires_us) VALUES ($1, $2, $3, $4)",
        )
        .bind(digest)
        .bind(&client.id)
        .bind(to_us(now))
        .bind(to_us(now + ACCESS_TOKEN_TTL))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_TTL.num_seconds(),
            scope: String::new(),
            id_token: None,
            refresh_token: None,
        })
    }

    /// The client a live client-credentials access token was issued to (a business's back
    /// end calling an API that serves such clients, like the consent decision); anything
    /// else is `InvalidToken`.
    pub async fn client_of_access_token(&self, token: &str) -> Result<String> {
        if token.is_empty() || token.len() > 256 {
            return Err(crate::error::Error::InvalidToken);
        }
        sqlx::query_scalar(
            "SELECT client_id FROM client_tokens WHERE token_hash = $1 AND revoked_us IS NULL AND expires_us > $2",
        )
        .bind(tokens::digest(token))
        .bind(to_us(self.now()))
        .fetch_optional(self.store.reader())
        .await?
        .ok_or(crate::error::Error::InvalidToken)
    }

    /// RFC 7662 introspection, for a confidential client (a resource server).
    pub async fn introspect(
        &self,
        issuer: &str,
        auth: &ClientAuth,
        token: &str,
    ) -> Result<Introspection> {
        let caller = self.token_client(auth).await?;
        if caller.public || auth.client_secret.is_none() {
            return Err(oauth(
                "invalid_client",
                "introspection needs a confidential client's credentials",
            ));
        }
        let inactive = Introspection::default();
        if token.is_empty() || token.len() > 256 {
            return Ok(inactive);
        }
        let digest = tokens::digest(token);
        let now = to_us(self.now());
        if let Some(r) = sqlx::query(
            "SELECT client_id, created_us, expires_us FROM client_tokens \
             WHERE token_hash = $1 AND revoked_us IS NULL AND expires_us > $2",
        )
        .bind(&digest)
        .bind(now)
        .fetch_optional(self.store.reader())
        .await?
        {
            let client: String = r.try_get("client_id")?;
            return Ok(Introspection {
                active: true,
                scope: Some(String::new()),
                sub: Some(client.clone()),
                client_id: Some(client),
                token_type: Some("access_token".into()),
                exp: Some(r.try_get::<i64, _>("expires_us")? / 1_000_000),
                iat: Some(r.try_get::<i64, _>("created_us")? / 1_000_000),
                iss: Some(issuer.to_owned()),
                ..inactive
            });
        }
        let Some(r) = sqlx::query(
            "SELECT kind, client_id, customer_id, scope, auth_time_us, created_us, expires_us, amr, used_us \
             FROM oidc_tokens WHERE token_hash = $1 AND revoked_us IS NULL AND expires_us > $2",
        )
        .bind(&digest)
        .bind(now)
        .fetch_optional(self.store.reader())
        .await?
        else {
            return Ok(inactive);
        };
        let kind: String = r.try_get("kind")?;
        let owner: String = r.try_get("client_id")?;
        let spent = r.try_get::<Option<i64>, _>("used_us")?.is_some();
        if spent || (kind == "refresh" && owner != caller.id) {
            return Ok(inactive);
        }
        let customer: String = r.try_get("customer_id")?;
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&customer)
            .fetch_optional(self.store.reader())
            .await?
        else {
            return Ok(inactive);
        };
        let c = row_to_customer(&row)?;
        if c.status != CustomerStatus::Active {
            return Ok(inactive);
        }
        let scope: String = r.try_get("scope")?;
        let with_roles = scope.split(' ').any(|s| s == "roles");
        let amr: String = r.try_get("amr")?;
        Ok(Introspection {
            active: true,
            client_id: Some(owner),
            sub: Some(customer),
            token_type: Some(if kind == "refresh" {
                "refresh_token".into()
            } else {
                "access_token".into()
            }),
            exp: Some(r.try_get::<i64, _>("expires_us")? / 1_000_000),
            iat: Some(r.try_get::<i64, _>("created_us")? / 1_000_000),
            iss: Some(issuer.to_owned()),
            auth_time: Some(r.try_get::<i64, _>("auth_time_us")? / 1_000_000),
            acr: Some(super::acr_for(&amr).to_owned()),
            tier: with_roles.then(|| c.tier.clone()),
            roles: with_roles.then(|| c.roles.clone()),
            scope: Some(scope),
        })
    }
}
