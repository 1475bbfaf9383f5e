-- Access tokens of the client_credentials grant: they name a client, never a customer, so
-- they live apart from oidc_tokens (userinfo cannot answer for them). Stored as SHA-256.
CREATE TABLE client_tokens (
    token_hash  BLOB PRIMARY KEY,
    client_id   TEXT NOT NULL,
    created_us  INTEGER NOT NULL,
    expires_us  INTEGER NOT NULL,
    revoked_us  INTEGER
);
CREATE INDEX client_tokens_expiry ON client_tokens(expires_us);
