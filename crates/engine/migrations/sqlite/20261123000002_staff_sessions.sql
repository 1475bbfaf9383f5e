-- Staff sessions for the admin API and remote consoles: opaque tokens stored as SHA-256,
-- short idle and absolute lifetimes.
CREATE TABLE staff_sessions (
    id                  TEXT PRIMARY KEY,
    staff_id            TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    token_hash          BLOB NOT NULL UNIQUE,
    created_us          INTEGER NOT NULL,
    last_seen_us        INTEGER NOT NULL,
    idle_expires_us     INTEGER NOT NULL,
    absolute_expires_us INTEGER NOT NULL,
    revoked_us          INTEGER,
    version             INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX staff_sessions_staff ON staff_sessions(staff_id);
