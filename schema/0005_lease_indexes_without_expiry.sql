-- Entitle store, version 5: renewals touch one index.

-- A renewal moves a lease's expires_at. Every index holding expires_at had
-- an entry rewritten by it, each on a page of its own; with a million active
-- leases those pages are scattered, and the renewals of a busy server
-- spent most of their time there. Only leases_active_by_expiry keeps the
-- expiry now (the sweeper's order, and the expired leases a checkout
-- reclaims); the other two are keyed without it.

-- The leases of an entitlement (supersession, withdrawal, usage figures).
DROP INDEX leases_active_by_entitlement;
CREATE INDEX leases_active_by_entitlement ON leases (license_jti, entitlement_id) WHERE ended_at IS NULL;

-- The signing keys of live leases: changes only when a lease is taken,
-- ended, or renewed under a new signing key.
DROP INDEX leases_active_by_kid;
CREATE INDEX leases_active_by_kid ON leases (kid) WHERE ended_at IS NULL;
