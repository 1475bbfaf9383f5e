-- Erasure (GDPR Art. 17). A customer's row and everything hanging off it is deleted or
-- anonymised in one transaction; what stays is a minimal tombstone saying when, at whose
-- request, what was kept and under which legal basis, and an event for connected systems.

CREATE TABLE erasures (
    customer_id  TEXT PRIMARY KEY,                 -- the erased customer's (random) id
    erased_us    INTEGER NOT NULL,
    requested_by TEXT NOT NULL,                    -- customer:<id> (self-service) | staff:<id>
    reason       TEXT,                             -- staff: why (a ticket reference)
    kept         TEXT NOT NULL                     -- JSON: {table: {rows, basis}}
) WITHOUT ROWID;

-- Erasure events for connected systems (webhooks, sync), oldest first; delivered_us is set
-- by whatever delivers them.
CREATE TABLE erasure_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id  TEXT NOT NULL,
    erased_us    INTEGER NOT NULL,
    delivered_us INTEGER
);

-- Audit entries can lose their personal values without breaking the chain: an entry's hash
-- covers the digest of its reason and diff (body_digest), not the text. Entries written
-- before this migration keep body_digest = '' and the whole-text hash.
ALTER TABLE audit_log ADD COLUMN body_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN redacted_us INTEGER;
CREATE INDEX audit_actor ON audit_log(actor, seq);

-- Deleting a search row removes its terms from the index at once (instead of marking the
-- row deleted until segments are merged), so an erased address leaves no trigrams behind.
INSERT INTO customer_search(customer_search, rank) VALUES ('secure-delete', 1);
INSERT INTO customer_phone_search(customer_phone_search, rank) VALUES ('secure-delete', 1);
