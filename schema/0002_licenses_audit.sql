-- Entitle store, version 2: the audit log and imported licenses.

-- The tamper-evident audit log (contract section 5), one column per field.
-- Append-only: the triggers refuse UPDATE and DELETE.
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY,   -- 1, 2, 3, ... (rowid)
    ts        INTEGER NOT NULL,      -- Unix milliseconds
    kind      TEXT NOT NULL,
    actor     TEXT NOT NULL,         -- token id or 'system'
    subject   TEXT NOT NULL,
    detail    TEXT NOT NULL,         -- JSON object
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

-- Imported license files. `compact` is the signed file as imported, so the
-- store can always be re-verified against the issuer's key.
CREATE TABLE licenses (
    jti           TEXT PRIMARY KEY,
    iss           TEXT NOT NULL,
    sub           TEXT NOT NULL,
    iat           INTEGER NOT NULL,
    kid           TEXT NOT NULL,
    supersedes    TEXT,
    compact       TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    imported_at   INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('active', 'superseded', 'withdrawn')),
    ended_at      INTEGER,
    superseded_by TEXT
) STRICT;

-- The entitlements of every license (kept after withdrawal for reports;
-- only those of 'active' licenses grant seats).
CREATE TABLE entitlements (
    license_jti           TEXT NOT NULL REFERENCES licenses (jti),
    id                    TEXT NOT NULL,
    feature               TEXT NOT NULL,
    model                 TEXT NOT NULL CHECK (model IN ('per_device', 'concurrent', 'subscription')),
    count                 INTEGER,
    not_before            INTEGER,
    not_after             INTEGER,
    regions               TEXT,      -- JSON array of patterns, NULL = anywhere
    devices               TEXT,      -- JSON array of GPU UUIDs, NULL = any
    overage_allow         INTEGER NOT NULL,
    overage_limit_percent INTEGER NOT NULL,
    max_lease_seconds     INTEGER,
    peak                  INTEGER NOT NULL DEFAULT 0,
    ordinal               INTEGER NOT NULL,  -- position in the license file
    PRIMARY KEY (license_jti, id)
) STRICT, WITHOUT ROWID;

CREATE INDEX entitlements_by_feature ON entitlements (feature);
