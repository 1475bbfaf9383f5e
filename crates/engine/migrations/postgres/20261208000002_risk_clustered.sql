-- The address of a customer's last success comes from its index alone (scoring reads it on
-- every sign-in). (SQLite also keeps the known devices and networks in primary-key order;
-- PostgreSQL's primary-key index already finds one customer's rows together.)
DROP INDEX attempts_success;
CREATE INDEX attempts_success ON sign_in_attempts(customer_id, at_us, ip) WHERE outcome = 'success';
