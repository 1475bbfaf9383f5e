-- Vestibule engine foundation (SQLite / SQLCipher vault).
-- Conventions shared with the PostgreSQL schema so one engine implementation serves both:
-- ids are UUIDv7 as text; times are UTC microseconds since the Unix epoch (BIGINT, suffix _us);
-- flags are 0/1 integers; JSON is text; every mutable row has `version` for optimistic concurrency.

CREATE TABLE customers (
    seq             INTEGER PRIMARY KEY,          -- stable rowid: FTS content_rowid and keyset order
    id              TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL,                -- as typed (trimmed)
    email_key       TEXT NOT NULL UNIQUE,         -- normalised lookup key (NFKC, lower-cased)
    email_verified  INTEGER NOT NULL DEFAULT 0,
    phone           TEXT,                         -- E.164
    display_name    TEXT NOT NULL DEFAULT '',
    name_key        TEXT NOT NULL DEFAULT '',     -- display_name lower-cased (NFKC) for prefix search
    locale          TEXT NOT NULL DEFAULT 'en',
    attributes      TEXT NOT NULL DEFAULT '{}',   -- custom attributes (progressive profiling)
    status          TEXT NOT NULL DEFAULT 'active', -- active | locked | disabled | erased
    tier            TEXT NOT NULL DEFAULT 'standard',
    roles           TEXT NOT NULL DEFAULT '[]',
    password_hash   TEXT,                         -- argon2id PHC string
    mfa_enabled     INTEGER NOT NULL DEFAULT 0,
    created_us      INTEGER NOT NULL,
    updated_us      INTEGER NOT NULL,
    last_sign_in_us INTEGER,
    version         INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX customers_name_key ON customers(name_key, seq);
CREATE INDEX customers_created ON customers(created_us);

-- Search: trigram indexes kept in step by triggers. Phone digits have their own index: digit
-- trigrams are dense, and keeping them apart from the email digits keeps both lists short.
CREATE VIRTUAL TABLE customer_search USING fts5(
    email, display_name,
    content='', contentless_delete=1, tokenize='trigram'
);
CREATE VIRTUAL TABLE customer_phone_search USING fts5(
    phone_digits,
    content='', contentless_delete=1, tokenize='trigram'
);
CREATE TRIGGER customers_search_ins AFTER INSERT ON customers BEGIN
    INSERT INTO customer_search(rowid, email, display_name) VALUES (new.seq, new.email_key, new.name_key);
    INSERT INTO customer_phone_search(rowid, phone_digits)
        SELECT new.seq, replace(new.phone, '+', '') WHERE new.phone IS NOT NULL;
END;
CREATE TRIGGER customers_search_del AFTER DELETE ON customers BEGIN
    DELETE FROM customer_search WHERE rowid = old.seq;
    DELETE FROM customer_phone_search WHERE rowid = old.seq;
END;
CREATE TRIGGER customers_search_upd AFTER UPDATE OF email_key, name_key ON customers BEGIN
    DELETE FROM customer_search WHERE rowid = old.seq;
    INSERT INTO customer_search(rowid, email, display_name) VALUES (new.seq, new.email_key, new.name_key);
END;
CREATE TRIGGER customers_phone_search_upd AFTER UPDATE OF phone ON customers BEGIN
    DELETE FROM customer_phone_search WHERE rowid = old.seq;
    INSERT INTO customer_phone_search(rowid, phone_digits)
        SELECT new.seq, replace(new.phone, '+', '') WHERE new.phone IS NOT NULL;
END;

CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    customer_id        TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    token_hash         BLOB NOT NULL UNIQUE,      -- SHA-256 of the opaque token; the token itself is never stored
    created_us         INTEGER NOT NULL,
    last_seen_us       INTEGER NOT NULL,
    idle_expires_us    INTEGER NOT NULL,
    absolute_expires_us INTEGER NOT NULL,
    ip                 TEXT NOT NULL DEFAULT '',
    user_agent         TEXT NOT NULL DEFAULT '',
    device             TEXT NOT NULL DEFAULT '',
    revoked_us         INTEGER,
    version            INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX sessions_customer ON sessions(customer_id);

-- Single-use tokens for email verification, password reset and email change.
CREATE TABLE tokens (
    token_hash   BLOB PRIMARY KEY,                -- SHA-256 only
    kind         TEXT NOT NULL,                   -- verify_email | reset_password | change_email
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,                   -- the address the token was sent to (new address for change_email)
    created_us   INTEGER NOT NULL,
    expires_us   INTEGER NOT NULL,
    used_us      INTEGER,
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX tokens_customer ON tokens(customer_id, kind);

-- Every sign-in attempt, successful or not: the risk engine and analytics build on this table.
CREATE TABLE sign_in_attempts (
    seq          INTEGER PRIMARY KEY,
    at_us        INTEGER NOT NULL,
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
    created_us    INTEGER NOT NULL,
    updated_us    INTEGER NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1
);

-- Append-only, hash-chained: hash = SHA-256(prev_hash || canonical entry). Never updated or deleted.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    at_us      INTEGER NOT NULL,
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
    created_us      INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_us INTEGER NOT NULL,
    sent_us         INTEGER,
    last_error      TEXT,
    version         INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX outbox_due ON outbox(sent_us, next_attempt_us);

CREATE TABLE settings (
    key      TEXT PRIMARY KEY,
    value    TEXT NOT NULL,
    version  INTEGER NOT NULL DEFAULT 1
);
