-- Entitle store, version 6: the request index leads with the request id.

-- A checkout looks its request up by (host, request_id) to answer a retry
-- with the lease it already granted, and adds its key to this index. Keyed
-- by host first, the checkouts of many hosts put their keys on as many
-- different pages, and each one made a commit write a page more: about half
-- of what a commit of many checkouts wrote. Keyed by request id first, the
-- ids libentitle makes (its wall clock, then random bits) land at the end of
-- the index whichever host sends them, and a commit writes a few of its
-- pages. The constraint is the same: a request id is unique per host. Ids of
-- other clients, in any format, cost what they did before.
--
-- No query needs the leases of a host through this index: those of active
-- leases use leases_active_by_host, and hosts are never deleted (the foreign
-- key from leases would then need an index by host).
DROP INDEX leases_by_request;
CREATE UNIQUE INDEX leases_by_request ON leases (request_id, host_id);
