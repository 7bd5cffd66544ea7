-- Entitle store, version 1: server identity and bearer tokens.
-- Applied by the server inside one transaction; never edit once released,
-- add 0002_*.sql instead.

-- Key/value facts about this server (server_id, created_at, ...).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Bearer tokens. Only the SHA-256 of a token is kept (hex); `id` is the
-- public part embedded in the token itself.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    role         TEXT NOT NULL CHECK (role IN ('host', 'auditor', 'admin')),
    name         TEXT,
    hash         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
