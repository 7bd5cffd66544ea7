-- Entitle store, version 4: the signing keys of active leases, by index.

-- `entitled serve` publishes every retired lease-signing key that still
-- signs an active lease. With this index it finds those keys with one seek
-- per distinct key instead of reading every active lease at start.
CREATE INDEX leases_active_by_kid ON leases (kid, expires_at) WHERE ended_at IS NULL;
