-- Staff sessions for the admin API and remote consoles: opaque tokens stored as SHA-256,
-- short idle and absolute lifetimes.
CREATE TABLE staff_sessions (
    id                  TEXT PRIMARY KEY,
    staff_id            TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    token_hash          BYTEA NOT NULL UNIQUE,
    created_us          BIGINT NOT NULL,
    last_seen_us        BIGINT NOT NULL,
    idle_expires_us     BIGINT NOT NULL,
    absolute_expires_us BIGINT NOT NULL,
    revoked_us          BIGINT,
    version             BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX staff_sessions_staff ON staff_sessions(staff_id);
