-- Vestibule engine foundation (PostgreSQL).
-- Conventions shared with the PostgreSQL schema so one engine implementation serves both:
-- ids are UUIDv7 as text; times are UTC microseconds since the Unix epoch (BIGINT, suffix _us);
-- flags are 0/1 integers; JSON is text; every mutable row has `version` for optimistic concurrency.

CREATE TABLE customers (
    seq             BIGSERIAL PRIMARY KEY,          -- keyset order
    id              TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL,                -- as typed (trimmed)
    email_key       TEXT COLLATE "C" NOT NULL UNIQUE, -- normalised lookup key (NFKC, lower-cased); byte order for prefix ranges
    email_verified  BIGINT NOT NULL DEFAULT 0,
    phone           TEXT,                         -- E.164
    display_name    TEXT NOT NULL DEFAULT '',
    name_key        TEXT COLLATE "C" NOT NULL DEFAULT '', -- display_name lower-cased (NFKC) for prefix search
    locale          TEXT NOT NULL DEFAULT 'en',
    attributes      TEXT NOT NULL DEFAULT '{}',   -- custom attributes (progressive profiling)
    status          TEXT NOT NULL DEFAULT 'active', -- active | locked | disabled | erased
    tier            TEXT NOT NULL DEFAULT 'standard',
    roles           TEXT NOT NULL DEFAULT '[]',
    password_hash   TEXT,                         -- argon2id PHC string
    mfa_enabled     BIGINT NOT NULL DEFAULT 0,
    created_us      BIGINT NOT NULL,
    updated_us      BIGINT NOT NULL,
    last_sign_in_us BIGINT,
    version         BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX customers_name_key ON customers(name_key, seq);
CREATE INDEX customers_created ON customers(created_us);

-- Search: trigram index (pg_trgm) over email, name and phone digits, kept in step by the
-- generated column.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE customers ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    email_key || ' ' || name_key || ' ' || replace(coalesce(phone, ''), '+', '')
) STORED;
CREATE INDEX customers_search ON customers USING gin (search_text gin_trgm_ops);

CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    customer_id        TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    token_hash         BYTEA NOT NULL UNIQUE,      -- SHA-256 of the opaque token; the token itself is never stored
    created_us         BIGINT NOT NULL,
    last_seen_us       BIGINT NOT NULL,
    idle_expires_us    BIGINT NOT NULL,
    absolute_expires_us BIGINT NOT NULL,
    ip                 TEXT NOT NULL DEFAULT '',
    user_agent         TEXT NOT NULL DEFAULT '',
    device             TEXT NOT NULL DEFAULT '',
    revoked_us         BIGINT,
    version            BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX sessions_customer ON sessions(customer_id);

-- Single-use tokens for email verification, password reset and email change.
CREATE TABLE tokens (
    token_hash   BYTEA PRIMARY KEY,                -- SHA-256 only
    kind         TEXT NOT NULL,                   -- verify_email | reset_password | change_email
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,                   -- the address the token was sent to (new address for change_email)
    created_us   BIGINT NOT NULL,
    expires_us   BIGINT NOT NULL,
    used_us      BIGINT,
    version      BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX tokens_customer ON tokens(customer_id, kind);

-- Every sign-in attempt, successful or not: the risk engine and analytics build on this table.
CREATE TABLE sign_in_attempts (
    seq          BIGSERIAL PRIMARY KEY,
    at_us        BIGINT NOT NULL,
    email_key    TEXT NOT NULL,                   -- what was tried (normalised)
    customer_id  TEXT,                            -- known customer, if any
    outcome      TEXT NOT NULL,                   -- success | failure
    reason       TEXT NOT NULL,                   -- ok | unknown_account | wrong_password | locked | disabled | rate_limited ...
    method       TEXT NOT NULL,                   -- password | ...
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attempts_customer ON sign_in_attempts(customer_id, at_us);
CREATE INDEX attempts_email ON sign_in_attempts(email_key, at_us);
CREATE INDEX attempts_at ON sign_in_attempts(at_us);

CREATE TABLE staff (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL,                  -- support | security | privacy | admin
    password_hash TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'active', -- active | removed
    created_us    BIGINT NOT NULL,
    updated_us    BIGINT NOT NULL,
    version       BIGINT NOT NULL DEFAULT 1
);

-- Append-only, hash-chained: hash = SHA-256(prev_hash || canonical entry). Never updated or deleted.
CREATE TABLE audit_log (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    at_us      BIGINT NOT NULL,
    actor      TEXT NOT NULL,                     -- staff:<id> | customer:<id> | system
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,                     -- customer:<id> | staff:<id> | ...
    reason     TEXT,
    diff       TEXT NOT NULL DEFAULT '{}',        -- {field: [before, after]}
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_target ON audit_log(target, seq);

-- Emails to send, written in the same transaction as the change that causes them.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    created_us      BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_us BIGINT NOT NULL,
    sent_us         BIGINT,
    last_error      TEXT,
    version         BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX outbox_due ON outbox(sent_us, next_attempt_us);

CREATE TABLE settings (
    key      TEXT PRIMARY KEY,
    value    TEXT NOT NULL,
    version  BIGINT NOT NULL DEFAULT 1
);
