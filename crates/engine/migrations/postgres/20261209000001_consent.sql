-- Consent: purposes, their published versions (a text per locale; immutable once published),
-- the append-only consent ledger and the answer in force per customer and purpose (see the
-- SQLite migration of the same name for the columns).
CREATE TABLE consent_purposes (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    legal_basis      TEXT NOT NULL,
    data_categories  TEXT NOT NULL DEFAULT '[]',
    retention_days   BIGINT NOT NULL,
    consent_required BIGINT NOT NULL,
    created_us       BIGINT NOT NULL,
    updated_us       BIGINT NOT NULL,
    version          BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE consent_versions (
    purpose_id   TEXT NOT NULL REFERENCES consent_purposes(id),
    version      BIGINT NOT NULL,
    material     BIGINT NOT NULL,
    published_us BIGINT NOT NULL,
    published_by TEXT NOT NULL,
    PRIMARY KEY (purpose_id, version)
);
CREATE TABLE consent_texts (
    purpose_id TEXT NOT NULL,
    version    BIGINT NOT NULL,
    locale     TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (purpose_id, version, locale),
    FOREIGN KEY (purpose_id, version) REFERENCES consent_versions(purpose_id, version)
);
CREATE FUNCTION consent_versions_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'published consent versions are immutable';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_versions_immutable BEFORE UPDATE OR DELETE ON consent_versions
    FOR EACH ROW EXECUTE FUNCTION consent_versions_immutable();
CREATE TRIGGER consent_texts_immutable BEFORE UPDATE OR DELETE ON consent_texts
    FOR EACH ROW EXECUTE FUNCTION consent_versions_immutable();

CREATE TABLE consent_ledger (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    purpose_id  TEXT NOT NULL REFERENCES consent_purposes(id),
    version     BIGINT NOT NULL,
    locale      TEXT NOT NULL,
    granted     BIGINT NOT NULL,
    at_us       BIGINT NOT NULL,
    channel     TEXT NOT NULL,
    client_id   TEXT,
    staff_id    TEXT,
    reason      TEXT,
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    FOREIGN KEY (purpose_id, version) REFERENCES consent_versions(purpose_id, version)
);
CREATE INDEX consent_ledger_customer ON consent_ledger(customer_id, seq);
CREATE FUNCTION consent_ledger_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       OR NEW.seq IS DISTINCT FROM OLD.seq OR NEW.id IS DISTINCT FROM OLD.id
       OR NEW.customer_id IS DISTINCT FROM OLD.customer_id
       OR NEW.purpose_id IS DISTINCT FROM OLD.purpose_id OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.locale IS DISTINCT FROM OLD.locale OR NEW.granted IS DISTINCT FROM OLD.granted
       OR NEW.at_us IS DISTINCT FROM OLD.at_us OR NEW.channel IS DISTINCT FROM OLD.channel
       OR NEW.client_id IS DISTINCT FROM OLD.client_id OR NEW.staff_id IS DISTINCT FROM OLD.staff_id
       OR NEW.reason IS DISTINCT FROM OLD.reason
       OR NOT (NEW.ip = '' OR NEW.ip = OLD.ip)
       OR NOT (NEW.user_agent = '' OR NEW.user_agent = OLD.user_agent) THEN
        RAISE EXCEPTION 'the consent ledger is append-only';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_ledger_append_only BEFORE UPDATE OR DELETE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();

CREATE TABLE consent_state (
    customer_id TEXT NOT NULL,
    purpose_id  TEXT NOT NULL,
    granted     BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    ledger_seq  BIGINT NOT NULL,
    at_us       BIGINT NOT NULL,
    PRIMARY KEY (customer_id, purpose_id)
);
CREATE INDEX consent_state_purpose ON consent_state(purpose_id, granted, version);
