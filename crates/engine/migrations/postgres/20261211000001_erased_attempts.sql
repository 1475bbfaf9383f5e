-- An erased customer's sign-in attempts stay (counts over time still add up) with every
-- identifying value blanked: customer NULL, address, IP, network and user agent ''. Blank
-- values are never looked up, so the indexes on those columns leave them out: blanking a
-- value then only removes the row's entry. Indexed, the 10,000 attempts of one customer
-- would each be inserted again into one shared "blank" run ordered by time, a page apart.
-- Queries on an address, IP, network or user agent say `<> ''` beside their `=` so the
-- planner may use these indexes; a customer or ASN comparison implies NOT NULL by itself.
DROP INDEX attempts_customer;
CREATE INDEX attempts_customer ON sign_in_attempts(customer_id, at_us) WHERE customer_id IS NOT NULL;
DROP INDEX attempts_email;
CREATE INDEX attempts_email ON sign_in_attempts(email_key, at_us) WHERE email_key <> '';
DROP INDEX attempts_success;
CREATE INDEX attempts_success ON sign_in_attempts(customer_id, at_us, ip)
    WHERE outcome = 'success' AND customer_id IS NOT NULL;
DROP INDEX attempts_failed_ip;
CREATE INDEX attempts_failed_ip ON sign_in_attempts(ip, at_us, email_key, reason)
    WHERE outcome = 'failure' AND ip <> '';
DROP INDEX attempts_failed_network;
CREATE INDEX attempts_failed_network ON sign_in_attempts(network, at_us, email_key, reason)
    WHERE outcome = 'failure' AND network <> '';
DROP INDEX attempts_failed_agent;
CREATE INDEX attempts_failed_agent ON sign_in_attempts(user_agent, at_us, email_key)
    WHERE outcome = 'failure' AND user_agent <> '';
DROP INDEX attempts_review_ip;
CREATE INDEX attempts_review_ip ON sign_in_attempts(ip, seq) WHERE review = 1 AND ip <> '';
DROP INDEX attempts_review_network;
CREATE INDEX attempts_review_network ON sign_in_attempts(network, seq) WHERE review = 1 AND network <> '';
