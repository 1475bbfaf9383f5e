-- Consent: the purposes the organisation uses customers' data for, their published versions
-- (a text per locale; immutable once published), the append-only ledger of what each customer
-- was shown and answered, and the answer in force per customer and purpose, kept in the same
-- transaction as the ledger (the decision API reads it).
CREATE TABLE consent_purposes (
    id               TEXT PRIMARY KEY,               -- a-z0-9_: marketing_email
    name             TEXT NOT NULL,
    legal_basis      TEXT NOT NULL,                  -- consent | contract | legal_obligation | vital_interests | public_task | legitimate_interests
    data_categories  TEXT NOT NULL DEFAULT '[]',     -- JSON array of words: ["email", "purchase history"]
    retention_days   INTEGER NOT NULL,
    consent_required INTEGER NOT NULL,               -- 1: data is used for it only with consent
    created_us       INTEGER NOT NULL,
    updated_us       INTEGER NOT NULL,
    version          INTEGER NOT NULL DEFAULT 1      -- optimistic concurrency of the fields above
);

CREATE TABLE consent_versions (
    purpose_id   TEXT NOT NULL REFERENCES consent_purposes(id),
    version      INTEGER NOT NULL,                   -- 1, 2, … per purpose
    material     INTEGER NOT NULL,                   -- 1: consent given to older versions must be asked again
    published_us INTEGER NOT NULL,
    published_by TEXT NOT NULL,                      -- staff:<id>
    PRIMARY KEY (purpose_id, version)
);
CREATE TABLE consent_texts (
    purpose_id TEXT NOT NULL,
    version    INTEGER NOT NULL,
    locale     TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (purpose_id, version, locale),
    FOREIGN KEY (purpose_id, version) REFERENCES consent_versions(purpose_id, version)
);
CREATE TRIGGER consent_versions_no_update BEFORE UPDATE ON consent_versions
BEGIN SELECT RAISE(ABORT, 'published consent versions are immutable'); END;
CREATE TRIGGER consent_versions_no_delete BEFORE DELETE ON consent_versions
BEGIN SELECT RAISE(ABORT, 'published consent versions are immutable'); END;
CREATE TRIGGER consent_texts_no_update BEFORE UPDATE ON consent_texts
BEGIN SELECT RAISE(ABORT, 'published consent versions are immutable'); END;
CREATE TRIGGER consent_texts_no_delete BEFORE DELETE ON consent_texts
BEGIN SELECT RAISE(ABORT, 'published consent versions are immutable'); END;

-- Append-only: no row is deleted, and the only change allowed is blanking the address and
-- user agent (erasure keeps the proof of consent, not the personal data around it). No
-- foreign key to customers: the ledger outlives an erased customer's row.
CREATE TABLE consent_ledger (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,                -- the receipt id
    customer_id TEXT NOT NULL,
    purpose_id  TEXT NOT NULL REFERENCES consent_purposes(id),
    version     INTEGER NOT NULL,                    -- the version shown
    locale      TEXT NOT NULL,                       -- the text shown
    granted     INTEGER NOT NULL,                    -- 1 granted, 0 withdrawn / refused
    at_us       INTEGER NOT NULL,
    channel     TEXT NOT NULL,                       -- sign_up | account_center | api | staff
    client_id   TEXT,                                -- api: the client that recorded it
    staff_id    TEXT,                                -- staff: who, on the customer's behalf
    reason      TEXT,                                -- staff: why (a ticket reference)
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    FOREIGN KEY (purpose_id, version) REFERENCES consent_versions(purpose_id, version)
);
CREATE INDEX consent_ledger_customer ON consent_ledger(customer_id, seq);
CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON consent_ledger
BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END;
CREATE TRIGGER consent_ledger_no_rewrite BEFORE UPDATE ON consent_ledger
WHEN NEW.seq IS NOT OLD.seq OR NEW.id IS NOT OLD.id OR NEW.customer_id IS NOT OLD.customer_id
  OR NEW.purpose_id IS NOT OLD.purpose_id OR NEW.version IS NOT OLD.version
  OR NEW.locale IS NOT OLD.locale OR NEW.granted IS NOT OLD.granted OR NEW.at_us IS NOT OLD.at_us
  OR NEW.channel IS NOT OLD.channel OR NEW.client_id IS NOT OLD.client_id
  OR NEW.staff_id IS NOT OLD.staff_id OR NEW.reason IS NOT OLD.reason
  OR NOT (NEW.ip = '' OR NEW.ip IS OLD.ip) OR NOT (NEW.user_agent = '' OR NEW.user_agent IS OLD.user_agent)
BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END;

-- The answer in force: the customer's latest ledger record per purpose.
CREATE TABLE consent_state (
    customer_id TEXT NOT NULL,
    purpose_id  TEXT NOT NULL,
    granted     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    ledger_seq  INTEGER NOT NULL,
    at_us       INTEGER NOT NULL,
    PRIMARY KEY (customer_id, purpose_id)
) WITHOUT ROWID;
CREATE INDEX consent_state_purpose ON consent_state(purpose_id, granted, version);
