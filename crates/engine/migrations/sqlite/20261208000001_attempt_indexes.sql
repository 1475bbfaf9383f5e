-- Scoring reads the failures from one address, network or user agent, and the analysts'
-- queue filters its items by address or network. Indexes over every attempt on those columns
-- grew with all traffic (most of it successful) and made each recorded attempt — and a bulk
-- load of history — pay for entries nothing reads. Failures-only indexes that carry what the
-- velocity and throttle counts read (the account tried, why it failed) answer those counts
-- from the index alone; the queue's filters get indexes over its own items.
DROP INDEX attempts_ip;
DROP INDEX attempts_network;
DROP INDEX attempts_user_agent;
CREATE INDEX attempts_failed_ip ON sign_in_attempts(ip, at_us, email_key, reason) WHERE outcome = 'failure';
CREATE INDEX attempts_failed_network ON sign_in_attempts(network, at_us, email_key, reason) WHERE outcome = 'failure';
CREATE INDEX attempts_failed_agent ON sign_in_attempts(user_agent, at_us, email_key) WHERE outcome = 'failure';
CREATE INDEX attempts_review_ip ON sign_in_attempts(ip, seq) WHERE review = 1;
CREATE INDEX attempts_review_network ON sign_in_attempts(network, seq) WHERE review = 1;

-- The network operator (autonomous system number) GeoIP gives the address, when an ASN
-- database is configured: credential stuffing spread over many ranges of one hosting
-- provider still fails from one ASN.
ALTER TABLE sign_in_attempts ADD COLUMN asn INTEGER;
CREATE INDEX attempts_failed_asn ON sign_in_attempts(asn, at_us, email_key) WHERE outcome = 'failure' AND asn IS NOT NULL;
