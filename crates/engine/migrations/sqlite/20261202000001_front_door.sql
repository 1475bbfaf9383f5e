-- The customer front door (issue 11), first part.

-- Where a client may send the browser after RP-initiated logout, registered apart from its
-- login redirect URIs (RP-Initiated Logout 1.0 §3.1). JSON array of URLs.
ALTER TABLE oidc_clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
