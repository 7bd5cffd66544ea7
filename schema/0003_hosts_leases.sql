-- Entitle store, version 3: hosts and leases.

-- GPU hosts. Each has one bearer token of role 'host' (tokens.id).
CREATE TABLE hosts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    region     TEXT NOT NULL,
    token_id   TEXT NOT NULL UNIQUE REFERENCES tokens (id),
    created_at INTEGER NOT NULL,
    removed_at INTEGER
) STRICT;
CREATE UNIQUE INDEX hosts_active_name ON hosts (name) WHERE removed_at IS NULL;

-- Leases, active and ended (ended ones stay for reports and idempotent retries).
-- Times are Unix seconds except issued_ms/ended_ms.
CREATE TABLE leases (
    id             TEXT PRIMARY KEY,
    host_id        TEXT NOT NULL REFERENCES hosts (id),
    request_id     TEXT NOT NULL,
    request_hash   TEXT NOT NULL,   -- SHA-256 of the canonical checkout body
    license_jti    TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    feature        TEXT NOT NULL,
    gpu_uuid       TEXT NOT NULL,
    gpu_model      TEXT,
    vgpu_id        TEXT NOT NULL,
    vgpu_profile   TEXT,
    overage        INTEGER NOT NULL DEFAULT 0,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    renewed_at     INTEGER,
    ended_at       INTEGER,
    end_reason     TEXT,
    kid            TEXT NOT NULL     -- lease-signing key that signs its tokens
) STRICT;
CREATE UNIQUE INDEX leases_by_request ON leases (host_id, request_id);
CREATE INDEX leases_active_by_entitlement ON leases (license_jti, entitlement_id, expires_at)
    WHERE ended_at IS NULL;
CREATE INDEX leases_active_by_expiry ON leases (expires_at) WHERE ended_at IS NULL;
CREATE INDEX leases_active_by_host ON leases (host_id) WHERE ended_at IS NULL;

-- Seats held per entitlement: for per_device one per GPU holding at least
-- one active lease; for concurrent and subscription, one per active lease
-- (entitlements.in_use is the count, kept in the same transaction).
ALTER TABLE entitlements ADD COLUMN in_use INTEGER NOT NULL DEFAULT 0;

CREATE TABLE device_seats (
    license_jti    TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    gpu_uuid       TEXT NOT NULL,
    leases         INTEGER NOT NULL,
    PRIMARY KEY (license_jti, entitlement_id, gpu_uuid)
) STRICT, WITHOUT ROWID;
