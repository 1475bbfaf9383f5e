-- Erasure (GDPR Art. 17): the tombstone, the event for connected systems, and audit entries
-- whose personal values can be removed without breaking the hash chain. See the SQLite
-- migration of the same name.

CREATE TABLE erasures (
    customer_id  TEXT PRIMARY KEY,
    erased_us    BIGINT NOT NULL,
    requested_by TEXT NOT NULL,
    reason       TEXT,
    kept         TEXT NOT NULL
);

CREATE TABLE erasure_events (
    seq          BIGSERIAL PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    erased_us    BIGINT NOT NULL,
    delivered_us BIGINT
);

ALTER TABLE audit_log ADD COLUMN body_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN redacted_us BIGINT;
CREATE INDEX audit_actor ON audit_log(actor, seq);
