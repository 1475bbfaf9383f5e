-- OpenID Connect relying parties registered by admins. Confidential clients have a secret,
-- stored only as SHA-256 (it is 256 random bits, so a slow hash adds nothing); public
-- clients (SPAs, native apps) have none and must use PKCE. Redirect URIs are matched
-- exactly; allowed_origins is the CORS allow-list for browser calls from this client.
CREATE TABLE oidc_clients (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    secret_hash     BLOB,
    public          INTEGER NOT NULL DEFAULT 0,
    redirect_uris   TEXT NOT NULL,              -- JSON array of strings
    allowed_origins TEXT NOT NULL DEFAULT '[]', -- JSON array of origins
    status          TEXT NOT NULL DEFAULT 'active', -- active | removed
    created_us      INTEGER NOT NULL,
    updated_us      INTEGER NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1
);
