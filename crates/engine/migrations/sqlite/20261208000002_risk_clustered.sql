-- Scoring reads a customer's known devices and networks on every sign-in. Kept in primary-key
-- order (WITHOUT ROWID), one customer's rows share a page and come without a second lookup
-- into the table; the address of the last success comes from its index alone. On a vault
-- with 10M recorded attempts each page not in SQLite's cache costs ~0.1 ms to read and
-- decrypt, and these were three of the seven a cold customer's scoring read.
CREATE TABLE risk_devices_clustered (
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    device      TEXT NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    first_us    INTEGER NOT NULL,
    last_us     INTEGER NOT NULL,
    trusted_us  INTEGER,
    PRIMARY KEY (customer_id, device)
) WITHOUT ROWID;
INSERT INTO risk_devices_clustered (customer_id, device, label, first_us, last_us, trusted_us)
    SELECT customer_id, device, label, first_us, last_us, trusted_us FROM risk_devices;
DROP TABLE risk_devices;
ALTER TABLE risk_devices_clustered RENAME TO risk_devices;

CREATE TABLE risk_networks_clustered (
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    network     TEXT NOT NULL,
    country     TEXT,
    first_us    INTEGER NOT NULL,
    last_us     INTEGER NOT NULL,
    trusted_us  INTEGER,
    PRIMARY KEY (customer_id, network)
) WITHOUT ROWID;
INSERT INTO risk_networks_clustered (customer_id, network, country, first_us, last_us, trusted_us)
    SELECT customer_id, network, country, first_us, last_us, trusted_us FROM risk_networks;
DROP TABLE risk_networks;
ALTER TABLE risk_networks_clustered RENAME TO risk_networks;

DROP INDEX attempts_success;
CREATE INDEX attempts_success ON sign_in_attempts(customer_id, at_us, ip) WHERE outcome = 'success';
