-- Retention may delete consent records that are no longer in force and older than the
-- horizon the retention run writes (settings key retention.consent_horizon_us) in the same
-- transaction; everything else about the ledger stays append-only.
DROP TRIGGER consent_ledger_no_delete;
CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON consent_ledger
WHEN OLD.at_us >= coalesce(
        (SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'retention.consent_horizon_us'),
        -9223372036854775807)
  OR EXISTS (SELECT 1 FROM consent_state s WHERE s.ledger_seq = OLD.seq)
BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END;
CREATE INDEX consent_ledger_at ON consent_ledger(at_us);
CREATE INDEX sessions_last_seen ON sessions(last_seen_us);
CREATE INDEX customers_last_active ON customers(email_verified, created_us);
