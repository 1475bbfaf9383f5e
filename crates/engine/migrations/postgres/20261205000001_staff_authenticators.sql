-- Staff authenticator apps (TOTP). Admin and security staff must have one; the others may.
-- One per staff member. The secret is sealed (AES-256-GCM under the factor key, the staff id
-- as associated data), never stored in the clear; `last_step` is the last accepted time step
-- (each step is accepted once).
CREATE TABLE staff_authenticators (
    staff_id     TEXT PRIMARY KEY REFERENCES staff(id) ON DELETE CASCADE,
    status       TEXT NOT NULL,                   -- pending | active
    sealed       BYTEA NOT NULL,
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_us   BIGINT NOT NULL,
    last_used_us BIGINT,
    version      BIGINT NOT NULL DEFAULT 1
);
