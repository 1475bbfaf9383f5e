-- Hardening after the external attack review (issue 10).

-- Work whose cost depends on whether an email address has an account (registration, reset
-- requests, email changes). The request only inserts a row here, the same for every address,
-- and is answered; a background worker does the rest and deletes the row in the same
-- transaction, so the work survives a crash and is done exactly once.
CREATE TABLE deferred_work (
    seq        BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL,                  -- register | reset_request | change_email
    payload    TEXT NOT NULL,                  -- JSON; a registration carries the argon2id hash, never the password
    created_us BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    next_us    BIGINT NOT NULL,               -- not before (backoff after a failure)
    last_error TEXT
);
CREATE INDEX deferred_work_due ON deferred_work(next_us, seq);

-- The recipient's normalised address, for the silent per-recipient hourly cap.
ALTER TABLE outbox ADD COLUMN to_key TEXT NOT NULL DEFAULT '';
UPDATE outbox SET to_key = lower(to_addr);
CREATE INDEX outbox_recipient ON outbox(to_key, created_us);

-- UTS #39 confusable skeleton of email_key: look-alike addresses share one. Filled by the
-- engine (it needs Unicode tables) when the store opens; '' until then.
ALTER TABLE customers ADD COLUMN email_skeleton TEXT NOT NULL DEFAULT '';
CREATE INDEX customers_email_skeleton ON customers(email_skeleton);

-- Every staff sign-in attempt (admin API, console vault, CLI): per-account throttling and the
-- burst alert read it.
CREATE TABLE staff_sign_in_attempts (
    seq        BIGSERIAL PRIMARY KEY,
    at_us      BIGINT NOT NULL,
    email_key  TEXT COLLATE "C" NOT NULL,                  -- what was tried (normalised)
    staff_id   TEXT,                           -- known staff member, if any
    outcome    TEXT NOT NULL,                  -- success | failure
    reason     TEXT NOT NULL,                  -- ok | unknown_account | wrong_password | throttled | removed
    channel    TEXT NOT NULL,                  -- api | vault | cli
    ip         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX staff_attempts_email ON staff_sign_in_attempts(email_key, at_us);
CREATE INDEX staff_attempts_at ON staff_sign_in_attempts(at_us);
