-- Adaptive security: every sign-in attempt keeps where it came from (the device as a hashed
-- key, the /24 or /48 network, the GeoIP country) and what the risk policy made of it (score,
-- decision, the triggered signals with their evidence, whether the decision was enforced and
-- under which policy version). NULL score: recorded before scoring existed.
ALTER TABLE sign_in_attempts ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE sign_in_attempts ADD COLUMN network TEXT NOT NULL DEFAULT '';
ALTER TABLE sign_in_attempts ADD COLUMN country TEXT;
ALTER TABLE sign_in_attempts ADD COLUMN score BIGINT;
ALTER TABLE sign_in_attempts ADD COLUMN decision TEXT;          -- allow | challenge | deny
ALTER TABLE sign_in_attempts ADD COLUMN enforced BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sign_in_attempts ADD COLUMN signals TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sign_in_attempts ADD COLUMN policy_version BIGINT;
-- 1: belongs in the analysts' review queue (challenged, denied, or scored at or above the
-- policy's review threshold when it was recorded).
ALTER TABLE sign_in_attempts ADD COLUMN review BIGINT NOT NULL DEFAULT 0;
CREATE INDEX attempts_review ON sign_in_attempts(score, at_us) WHERE review = 1;
CREATE INDEX attempts_ip ON sign_in_attempts(ip, at_us);
CREATE INDEX attempts_network ON sign_in_attempts(network, at_us);
CREATE INDEX attempts_user_agent ON sign_in_attempts(user_agent, at_us);
CREATE INDEX attempts_success ON sign_in_attempts(customer_id, at_us) WHERE outcome = 'success';

-- What each customer has signed in from: devices and networks, first and last seen, and when
-- an analyst trusted one. "Known" means signed in from successfully before, or trusted.
CREATE TABLE risk_devices (
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    device      TEXT NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    first_us    BIGINT NOT NULL,
    last_us     BIGINT NOT NULL,
    trusted_us  BIGINT,
    PRIMARY KEY (customer_id, device)
);
CREATE TABLE risk_networks (
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    network     TEXT NOT NULL,
    country     TEXT,
    first_us    BIGINT NOT NULL,
    last_us     BIGINT NOT NULL,
    trusted_us  BIGINT,
    PRIMARY KEY (customer_id, network)
);

-- Addresses and ranges refused for a while: by an analyst, or automatically by the throttle.
CREATE TABLE ip_blocks (
    id          TEXT PRIMARY KEY,
    network     TEXT NOT NULL,                  -- 203.0.113.0/24, 2001:db8::/48 or one address /32 /128
    reason      TEXT NOT NULL,
    created_us  BIGINT NOT NULL,
    expires_us  BIGINT NOT NULL,
    created_by  TEXT NOT NULL                   -- staff:<id> | system
);
CREATE INDEX ip_blocks_expires ON ip_blocks(expires_us);

-- A risk challenge for a customer without a second factor is a code emailed to them: its
-- digest (bound to the challenge token) is kept here. NULL: the account's own second factor.
ALTER TABLE sign_in_challenges ADD COLUMN code_hash BYTEA;
-- The attempt whose risk decision opened the challenge (NULL: an ordinary second factor).
ALTER TABLE sign_in_challenges ADD COLUMN attempt_seq BIGINT;
-- A provider account to connect once the challenge is met (connecting it with the password
-- alone would let a password thief attach their own provider account): JSON
-- {provider, subject, email}.
ALTER TABLE sign_in_challenges ADD COLUMN pending_link TEXT;

-- The analysts' work on the review queue: one row per reviewed (or assigned) attempt.
CREATE TABLE risk_reviews (
    attempt_seq BIGINT PRIMARY KEY,            -- sign_in_attempts.seq
    status      TEXT NOT NULL,                  -- open | legitimate | fraud
    assignee    TEXT,                           -- staff id
    note        TEXT NOT NULL DEFAULT '',
    decided_by  TEXT,                           -- staff:<id>
    decided_us  BIGINT,
    actions     TEXT NOT NULL DEFAULT '{}'      -- what a fraud decision did (lock, revoke, reset, block)
);
