-- Retention may delete consent records that are no longer in force and older than the
-- horizon the retention run writes (settings key retention.consent_horizon_us) in the same
-- transaction; everything else about the ledger stays append-only.
CREATE OR REPLACE FUNCTION consent_ledger_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.at_us < coalesce(
               (SELECT CAST(value AS BIGINT) FROM settings WHERE key = 'retention.consent_horizon_us'),
               -9223372036854775807)
           AND NOT EXISTS (SELECT 1 FROM consent_state s WHERE s.ledger_seq = OLD.seq) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'the consent ledger is append-only';
    END IF;
    IF NEW.seq IS DISTINCT FROM OLD.seq OR NEW.id IS DISTINCT FROM OLD.id
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
CREATE INDEX consent_ledger_at ON consent_ledger(at_us);
CREATE INDEX sessions_last_seen ON sessions(last_seen_us);
CREATE INDEX customers_last_active ON customers(email_verified, created_us);
