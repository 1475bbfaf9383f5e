-- Social sign-in: upstream OpenID Connect providers, the customers' links to them, and the
-- browser-bound flows between leaving for a provider and coming back.

-- Providers admins configure. The client secret is sealed (AES-256-GCM under the factor
-- key, the provider id as associated data), never stored in the clear.
CREATE TABLE upstream_providers (
    id            TEXT PRIMARY KEY,
    label         TEXT NOT NULL,
    issuer        TEXT NOT NULL UNIQUE,
    client_id     TEXT NOT NULL,
    client_secret BYTEA NOT NULL,
    scopes        TEXT NOT NULL,
    created_us    BIGINT NOT NULL
);

-- A customer's account at a provider: its `sub`, once per provider and customer.
CREATE TABLE social_links (
    provider_id  TEXT NOT NULL REFERENCES upstream_providers(id) ON DELETE CASCADE,
    subject      TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    email        TEXT,                            -- the provider's address when linked (shown, never used to match)
    linked_us    BIGINT NOT NULL,
    last_used_us BIGINT,
    PRIMARY KEY (provider_id, subject),
    UNIQUE (customer_id, provider_id)
);

-- A flow: keyed by the SHA-256 of the browser's binding (PKCE verifier, state and nonce are
-- derived from the binding, so nothing here lets anyone finish it). Stage `started` waits
-- for the provider; `prove` waits for the existing account's password before linking.
CREATE TABLE social_flows (
    binding_hash   BYTEA PRIMARY KEY,
    provider_id    TEXT NOT NULL REFERENCES upstream_providers(id) ON DELETE CASCADE,
    intent         TEXT NOT NULL,                 -- sign_in | link
    stage          TEXT NOT NULL,                 -- started | prove
    customer_id    TEXT REFERENCES customers(id) ON DELETE CASCADE,
    return_to      TEXT NOT NULL,
    subject        TEXT,
    upstream_email TEXT,
    created_us     BIGINT NOT NULL,
    expires_us     BIGINT NOT NULL
);
CREATE INDEX social_flows_expiry ON social_flows(expires_us);
