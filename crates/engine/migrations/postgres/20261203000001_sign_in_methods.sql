-- Passkeys (WebAuthn). The credential id is unique across the store (an authenticator's key
-- belongs to one account); `passkey` is webauthn-rs's record of it (public key, counter,
-- backup flags: nothing secret). A counter that went backwards sets flagged_us.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    passkey       TEXT NOT NULL,
    created_us    BIGINT NOT NULL,
    last_used_us  BIGINT,
    flagged_us    BIGINT,
    version       BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX passkeys_customer ON passkeys(customer_id);

-- The server's half of an unfinished WebAuthn ceremony: five minutes, single use, its token
-- stored as SHA-256. customer_id is set for registration (the signed-in customer) and empty
-- for a username-less sign-in.
CREATE TABLE webauthn_ceremonies (
    token_hash  BYTEA PRIMARY KEY,
    kind        TEXT NOT NULL,                  -- register | authenticate
    customer_id TEXT REFERENCES customers(id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    expires_us  BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies(expires_us);

-- "Email me a sign-in code": one row per asking browser (keyed by its binding's SHA-256),
-- ten minutes, single use. The code is stored as SHA-256 over the binding's digest and the
-- code, the link as its token's SHA-256.
CREATE TABLE email_sign_ins (
    binding_hash BYTEA PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    code_hash    BYTEA NOT NULL,
    link_hash    BYTEA NOT NULL,
    created_us   BIGINT NOT NULL,
    expires_us   BIGINT NOT NULL,
    failures     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX email_sign_ins_expiry ON email_sign_ins(expires_us);
