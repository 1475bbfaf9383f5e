-- The OpenID Connect provider's state. Everything a client holds is stored only as SHA-256
-- (codes, access and refresh tokens); signing keys are generated here and rotated, and
-- retired keys stay published until tokens they signed have expired.
ALTER TABLE oidc_clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256'; -- RS256 | EdDSA

CREATE TABLE oidc_keys (
    kid         TEXT PRIMARY KEY,              -- RFC 7638 thumbprint of the public key
    alg         TEXT NOT NULL,                 -- RS256 | EdDSA
    private_der BLOB NOT NULL,                -- PKCS#1 (RSA) / PKCS#8 (Ed25519)
    public_jwk  TEXT NOT NULL,                 -- JSON
    created_us  INTEGER NOT NULL,
    retired_us  INTEGER,                          -- stopped signing
    expires_us  INTEGER                           -- dropped from the JWKS after this
);

CREATE TABLE oidc_codes (
    code_hash      BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT NOT NULL,
    auth_time_us   INTEGER NOT NULL,
    created_us     INTEGER NOT NULL,
    expires_us     INTEGER NOT NULL,
    used_us        INTEGER
);

CREATE TABLE oidc_tokens (
    token_hash  BLOB PRIMARY KEY,
    kind        TEXT NOT NULL,                 -- access | refresh
    family_id   TEXT NOT NULL,                 -- one per authorization; refresh rotation stays in it
    client_id   TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    scope       TEXT NOT NULL,
    nonce       TEXT,
    auth_time_us INTEGER NOT NULL,
    code_hash   BLOB,                         -- the code it came from (reuse revokes)
    created_us  INTEGER NOT NULL,
    expires_us  INTEGER NOT NULL,
    used_us     INTEGER,                          -- a refresh token that was rotated
    revoked_us  INTEGER
);
CREATE INDEX oidc_tokens_family ON oidc_tokens(family_id);
CREATE INDEX oidc_tokens_code ON oidc_tokens(code_hash);
