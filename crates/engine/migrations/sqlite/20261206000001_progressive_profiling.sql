-- Progressive profiling: when the customer last skipped the "a few more details" step (the
-- hosted pages do not ask again for a week). The attribute definitions themselves are the
-- `attributes` settings document.
ALTER TABLE customers ADD COLUMN profile_skipped_us INTEGER;
