-- The event table and the analytics aggregates; see the SQLite migration of the same name.
-- Here each event also carries the id of the transaction that wrote it: sequence numbers are
-- taken before commit, so a reader cannot use them as a watermark; it reads up to the oldest
-- transaction still open (pg_snapshot_xmin) instead. The id is an xid8 kept as BIGINT (it
-- fits: 64 bits, epoch and counter), so the row reads like every other on both backends.
CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    txid        BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    at_us       BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    customer_id TEXT,
    client      TEXT NOT NULL DEFAULT '',
    method      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    country     TEXT NOT NULL DEFAULT '',
    decision    TEXT NOT NULL DEFAULT '',
    purpose     TEXT NOT NULL DEFAULT '',
    tier        TEXT NOT NULL DEFAULT '',
    mfa         BIGINT NOT NULL DEFAULT 0,
    passkey     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX events_customer ON events(customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX events_txid ON events(txid, seq);

-- The aggregates the analytics module keeps from `events` (see `analytics/`): counters per
-- hour and per day, one distinct-customer sketch (HyperLogLog, 4,096 registers) per day and
-- segment, the funnel's per-customer milestones and their counters by cohort week, and the
-- watermark of what has been counted. A counter or sketch is kept for everything (dim '')
-- and for each single filter dimension (client, country, tier; method is in every key).
CREATE TABLE analytics_counts (
    grain     TEXT NOT NULL,               -- hour | day
    metric    TEXT NOT NULL,               -- registered | verified | sign_in | risk | factor_added | consent
    dim       TEXT NOT NULL,               -- '' | client | country | tier
    value     TEXT NOT NULL,
    bucket_us BIGINT NOT NULL,             -- the hour's or day's start (UTC)
    method    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    reason    TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (grain, metric, dim, value, bucket_us, method, outcome, reason)
);

CREATE TABLE analytics_active (
    segment TEXT NOT NULL,                 -- all | mfa | passkey
    dim     TEXT NOT NULL,                 -- '' | client | method | country | tier
    value   TEXT NOT NULL,
    day_us  BIGINT NOT NULL,
    sketch  BYTEA NOT NULL,
    PRIMARY KEY (segment, dim, value, day_us)
);

-- One row per customer whose registration was counted: the funnel's cohort (the week of
-- registration, Monday 00:00 UTC), the registration's dimensions, and when each later step
-- was first reached. Deleted by erasure.
CREATE TABLE analytics_milestones (
    customer_id      TEXT PRIMARY KEY,
    cohort_us        BIGINT NOT NULL,
    client           TEXT NOT NULL,
    country          TEXT NOT NULL,
    tier             TEXT NOT NULL,
    verified_us      BIGINT,
    first_sign_in_us BIGINT,
    factor_us        BIGINT,
    depth            BIGINT NOT NULL       -- consecutive steps reached: 1 registered … 4 factor
);

CREATE TABLE analytics_funnel (
    dim       TEXT NOT NULL,
    value     TEXT NOT NULL,
    cohort_us BIGINT NOT NULL,
    step      BIGINT NOT NULL,             -- 1 registered, 2 verified, 3 first sign-in, 4 second factor or passkey
    n         BIGINT NOT NULL,
    PRIMARY KEY (dim, value, cohort_us, step)
);

-- What has been counted: events up to `seq` (SQLite, where sequence order is commit order);
-- on PostgreSQL events are counted in (`last_txid`, `seq`) order and only from transactions
-- older than the oldest one still open, so one that commits late is never skipped.
CREATE TABLE analytics_state (
    id         BIGINT PRIMARY KEY,
    seq        BIGINT NOT NULL,
    last_txid  TEXT NOT NULL,
    counted    BIGINT NOT NULL,
    updated_us BIGINT NOT NULL
);
INSERT INTO analytics_state (id, seq, last_txid, counted, updated_us) VALUES (1, 0, '0', 0, 0);

-- Events already recorded before this table existed, oldest first: registrations (and
-- verification, at the registration's time), sign-in attempts, factors and passkeys in use,
-- consent answers. Their tier, factor and passkey flags are the customer's now.
INSERT INTO events (at_us, kind, customer_id, client, method, outcome, reason, country, decision, purpose, tier, mfa, passkey)
SELECT at_us, kind, customer_id, client, method, outcome, reason, country, decision, purpose, tier, mfa, passkey FROM (
    SELECT c.created_us AS at_us, 'registered' AS kind, c.id AS customer_id, '' AS client,
           CASE WHEN c.password_hash IS NULL OR c.password_hash = '' THEN 'social' ELSE 'password' END AS method,
           '' AS outcome, '' AS reason, '' AS country, '' AS decision, '' AS purpose, c.tier AS tier,
           c.mfa_enabled AS mfa, CASE WHEN EXISTS (SELECT 1 FROM passkeys p WHERE p.customer_id = c.id) THEN 1 ELSE 0 END AS passkey,
           0 AS part, 0 AS ord
      FROM customers c
    UNION ALL
    SELECT c.created_us, 'verified', c.id, '', '', '', '', '', '', '', c.tier, c.mfa_enabled,
           CASE WHEN EXISTS (SELECT 1 FROM passkeys p WHERE p.customer_id = c.id) THEN 1 ELSE 0 END, 1, 0
      FROM customers c WHERE c.email_verified = 1
    UNION ALL
    SELECT a.at_us, 'sign_in', a.customer_id, '', a.method, a.outcome, a.reason, COALESCE(a.country, ''),
           COALESCE(a.decision, ''), '', COALESCE(c.tier, ''), COALESCE(c.mfa_enabled, 0),
           CASE WHEN a.customer_id IS NOT NULL AND EXISTS (SELECT 1 FROM passkeys p WHERE p.customer_id = a.customer_id) THEN 1 ELSE 0 END,
           2, a.seq
      FROM sign_in_attempts a LEFT JOIN customers c ON c.id = a.customer_id
    UNION ALL
    SELECT f.created_us, 'factor_added', f.customer_id, '', f.kind, '', '', '', '', '', c.tier, 1,
           CASE WHEN EXISTS (SELECT 1 FROM passkeys p WHERE p.customer_id = c.id) THEN 1 ELSE 0 END, 3, 0
      FROM customer_factors f JOIN customers c ON c.id = f.customer_id WHERE f.status = 'active'
    UNION ALL
    SELECT p.created_us, 'factor_added', p.customer_id, '', 'passkey', '', '', '', '', '', c.tier, c.mfa_enabled, 1, 4, 0
      FROM passkeys p JOIN customers c ON c.id = p.customer_id
    UNION ALL
    SELECT l.at_us, 'consent', l.customer_id, COALESCE(l.client_id, ''), l.channel,
           CASE WHEN l.granted = 1 THEN 'granted' ELSE 'withdrawn' END, '', '', '', l.purpose_id,
           COALESCE(c.tier, ''), COALESCE(c.mfa_enabled, 0), 0, 5, l.seq
      FROM consent_ledger l LEFT JOIN customers c ON c.id = l.customer_id
) backfill
ORDER BY at_us, part, ord;
