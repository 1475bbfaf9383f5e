-- The customer front door (issue 11), first part.

-- Where a client may send the browser after RP-initiated logout, registered apart from its
-- login redirect URIs (RP-Initiated Logout 1.0 §3.1). JSON array of URLs.
ALTER TABLE oidc_clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';

-- How each session was authenticated (space-separated RFC 8176 amr values: pwd, otp, hwk,
-- swk, mfa, user, email) and when it last was (sign-in, step-up): the basis of the ID
-- token's amr/acr/auth_time and of "recent authentication" for sensitive changes.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE sessions ADD COLUMN auth_us INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET auth_us = created_us;

-- A customer's second factors: TOTP authenticators (and passkeys, later). A TOTP secret is
-- sealed (AES-256-GCM under a per-secret key wrapped by the store's factor key) and never in
-- the clear in a row; last_step is the last accepted RFC 6238 time step (each accepted once).
CREATE TABLE customer_factors (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,                 -- totp
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,                 -- pending (enrolment not confirmed) | active
    sealed       BLOB NOT NULL,
    last_step    INTEGER NOT NULL DEFAULT 0,
    created_us   INTEGER NOT NULL,
    last_used_us INTEGER,
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX customer_factors_customer ON customer_factors(customer_id, status);

-- Recovery codes: ten per customer, shown once, stored as keyed SHA-256, single use.
CREATE TABLE recovery_codes (
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    code_hash   BLOB NOT NULL,
    created_us  INTEGER NOT NULL,
    used_us     INTEGER,
    PRIMARY KEY (customer_id, code_hash)
);

-- A sign-in whose password was right and whose second factor is still owed. The token (as
-- SHA-256) lives in the browser for a few minutes; a few wrong codes end it.
CREATE TABLE sign_in_challenges (
    token_hash  BLOB PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    email_key   TEXT NOT NULL,
    amr         TEXT NOT NULL,                  -- what was proven so far (pwd)
    created_us  INTEGER NOT NULL,
    expires_us  INTEGER NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0
);

-- What the sign-in behind a code or token proved (RFC 8176 amr, space-separated): the ID
-- token's amr and acr say what actually happened.
ALTER TABLE oidc_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE oidc_tokens ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
