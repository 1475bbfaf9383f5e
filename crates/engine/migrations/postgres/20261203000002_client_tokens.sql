-- Access tokens of the client_credentials grant: they name a client, never a customer, so
-- they live apart from oidc_tokens (userinfo cannot answer for them). Stored as SHA-256.
CREATE TABLE client_tokens (
    token_hash  BYTEA PRIMARY KEY,
    client_id   TEXT NOT NULL,
    created_us  BIGINT NOT NULL,
    expires_us  BIGINT NOT NULL,
    revoked_us  BIGINT
);
CREATE INDEX client_tokens_expiry ON client_tokens(expires_us);
