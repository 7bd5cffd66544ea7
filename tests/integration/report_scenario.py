"""A store with a known history for the entitle-report tests.

`build_golden_store` starts from a real `entitled init` data directory and
writes licenses, hosts, leases and a correctly hash-chained audit log into
its SQLite store through Python's sqlite3, on a timeline fixed to the second
(T0 = 2026-01-01T00:00:00Z). The numbers the reports must show for it are
worked out by hand in test_report.py.
"""
import hashlib
import json
import pathlib
import sqlite3
import subprocess

GENESIS = "0" * 64
T0 = 1767225600  # 2026-01-01T00:00:00Z
HOUR = 3600
DAY = 86400


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash, seq, ts, kind, actor, subject, detail) -> str:
    body = {"seq": seq, "ts": ts, "kind": kind, "actor": actor, "subject": subject, "detail": detail}
    return hashlib.sha256((prev_hash + "\n" + canonical(body)).encode("utf-8")).hexdigest()


class AuditWriter:
    """Appends events with correct seq, prev_hash and hash."""

    def __init__(self, con):
        self.con = con
        row = con.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
        self.seq, self.prev = row if row else (0, GENESIS)

    def append(self, ts_ms, kind, subject, detail, actor="tokadmin"):
        self.seq += 1
        h = event_hash(self.prev, self.seq, ts_ms, kind, actor, subject, detail)
        self.con.execute(
            "INSERT INTO audit_events (seq, ts, kind, actor, subject, detail, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.seq, ts_ms, kind, actor, subject, canonical(detail), self.prev, h))
        self.prev = h
        return self.seq


# Entitlements: (license, id, feature, model, count, not_before, not_after, overage_allow, percent)
ENTITLEMENTS = [
    ("L0", "old", "vWS", "concurrent", 4, None, None, 0, 0),
    ("L1", "e1", "vWS", "concurrent", 2, None, None, 1, 50),
    ("L1", "e2", "vPC", "per_device", 1, None, None, 0, 0),
    ("L1", "e3", "vApps", "subscription", None, T0 - DAY, T0 + 365 * DAY, 0, 0),
    ("L2", "s1", "vCS", "subscription", 5, T0 - 30 * DAY, T0 + 4 * HOUR + 10 * DAY, 0, 0),
]
LICENSES = [  # jti, sub, imported_at, state, ended_at
    ("L0", "Old Customer", T0 - 10 * DAY, "withdrawn", T0 - 5 * DAY),
    ("L1", "Example Customer Ltd", T0 - 2 * DAY, "active", None),
    ("L2", "Example Customer Ltd", T0 - 2 * DAY + 1, "active", None),
]
HOSTS = [  # id, name, region, removed
    ("h1", "gpu-a", "eu-west", False),
    ("h2", "gpu-b", "eu-west", False),
    ("h3", "gpu-c", "us-east", False),
    ("h4", "gpu-old", "eu-west", True),
]
# Leases: id, entitlement, host, gpu, issued (offset from T0), end offset or None
# (still active), expires offset, how it ended.
LEASES = [
    ("lI", "L1/e3", "h1", "G9", 100, 100, 3700, "released"),
    ("lA", "L1/e1", "h1", "G1", 600, 4200, 4200, "released"),
    ("lB", "L1/e1", "h1", "G1", 1800, 2400, 5400, "released"),
    ("lC", "L1/e1", "h2", "G2", 2000, 2100, 5600, "released"),
    ("lF", "L1/e2", "h1", "G1", 3600, 7200, 7200, "released"),
    ("lG", "L1/e2", "h1", "G1", 5000, 6000, 8600, "released"),
    ("lD", "L1/e1", "h2", "G3", 5400, 9000, 9000, "expired"),
    ("lH", "L1/e2", "h2", "G2", 6500, 6800, 10100, "released"),
    ("lJ", "L1/e3", "h2", "G3", 7200, 10800, 10800, "released"),
    ("lE", "L1/e1", "h1", "G1", 12000, None, 15600, None),
]


def _lease_detail(lease, extra=None):
    lid, ent, host, gpu, issued, end, expires, how = lease
    d = {"lease": lid, "host": host, "feature": {"L1/e1": "vWS", "L1/e2": "vPC", "L1/e3": "vApps"}[ent],
         "entitlement": ent, "gpu": gpu, "vgpu": f"v-{lid}", "issued_at": T0 + issued,
         "expires_at": T0 + expires}
    d.update(extra or {})
    return d


def build_golden_store(entitled_bin: str, data_dir: pathlib.Path) -> pathlib.Path:
    subprocess.run([entitled_bin, "init", "--data", str(data_dir)], check=True,
                   capture_output=True, timeout=60)
    db = data_dir / "entitle.db"
    con = sqlite3.connect(db)
    try:
        with con:
            _fill(con)
    finally:
        con.close()
    return db


def _fill(con):
    for jti, sub, imported, state, ended in LICENSES:
        con.execute(
            "INSERT INTO licenses (jti, iss, sub, iat, kid, supersedes, compact, sha256, imported_at, "
            "state, ended_at, superseded_by) VALUES (?, 'Acme GPU Inc.', ?, ?, 'acme', NULL, 'x.y.z', "
            "?, ?, ?, ?, NULL)",
            (jti, sub, imported - 100, hashlib.sha256(jti.encode()).hexdigest(), imported, state, ended))
    for ordinal, (jti, eid, feature, model, count, nb, na, allow, pct) in enumerate(ENTITLEMENTS):
        con.execute(
            "INSERT INTO entitlements (license_jti, id, feature, model, count, not_before, not_after, "
            "regions, devices, overage_allow, overage_limit_percent, max_lease_seconds, peak, ordinal, "
            "in_use) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, NULL, 0, ?, 0)",
            (jti, eid, feature, model, count, nb, na, allow, pct, ordinal))
    for hid, name, region, removed in HOSTS:
        con.execute("INSERT INTO tokens (id, role, name, hash, created_at) VALUES (?, 'host', ?, ?, ?)",
                    (f"tok{hid}", f"host {name}", "0" * 64, T0 - DAY))
        con.execute("INSERT INTO hosts (id, name, region, token_id, created_at, removed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (hid, name, region, f"tok{hid}", T0 - DAY, T0 - DAY + 500 if removed else None))
    for lid, ent, host, gpu, issued, end, expires, how in LEASES:
        jti, eid = ent.split("/")
        con.execute(
            "INSERT INTO leases (id, host_id, request_id, request_hash, license_jti, entitlement_id, "
            "feature, gpu_uuid, gpu_model, vgpu_id, vgpu_profile, overage, issued_at, expires_at, "
            "renewed_at, ended_at, end_reason, kid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?, ?, "
            "?, NULL, ?, ?, 'k1')",
            (lid, host, f"req-{lid}", "0" * 64, jti, eid,
             {"e1": "vWS", "e2": "vPC", "e3": "vApps"}[eid], gpu, f"v-{lid}",
             1 if lid == "lC" else 0, T0 + issued, T0 + expires,
             None if end is None else T0 + end, how))

    audit = AuditWriter(con)
    ms = lambda offset: (T0 + offset) * 1000  # noqa: E731
    audit.append(ms(-10 * DAY), "license_imported", "L0",
                 {"entitlements": ["old"], "iss": "Acme GPU Inc.", "jti": "L0", "sha256": "aa", "sub": "Old Customer"})
    audit.append(ms(-5 * DAY), "license_withdrawn", "L0", {"jti": "L0", "sub": "Old Customer"})
    audit.append(ms(-2 * DAY), "license_imported", "L1",
                 {"entitlements": ["e1", "e2", "e3"], "iss": "Acme GPU Inc.", "jti": "L1", "sha256": "bb",
                  "sub": "Example Customer Ltd"})
    audit.append(ms(-2 * DAY + 1), "license_imported", "L2",
                 {"entitlements": ["s1"], "iss": "Acme GPU Inc.", "jti": "L2", "sha256": "cc",
                  "sub": "Example Customer Ltd"})
    for i, (hid, name, region, removed) in enumerate(HOSTS):
        audit.append(ms(-DAY) + i, "host_added", hid, {"host": hid, "name": name, "region": region})
    audit.append(ms(-DAY + 500), "host_removed", "h4",
                 {"host": "h4", "leases_ended": 0, "name": "gpu-old", "region": "eu-west"})
    audit.append(ms(-100), "auth_failed", "127.0.0.1", {"previous_window_failures": 0}, actor="system")

    by_id = {l[0]: l for l in LEASES}

    def grant(lid, offset, extra=None):
        audit.append(ms(offset), "lease_granted", lid,
                     _lease_detail(by_id[lid], {"region": "eu-west", "overage": False, "in_use": 1, **(extra or {})}),
                     actor=f"tok{by_id[lid][2]}")

    def end(lid, offset, kind="lease_released", reason="released"):
        lease = by_id[lid]
        audit.append(ms(offset), kind, lid,
                     _lease_detail(lease, {"reason": reason, "ended_at": T0 + lease[5]}),
                     actor="system" if kind == "lease_expired" else f"tok{lease[2]}")

    grant("lI", 100)
    end("lI", 100)
    grant("lA", 600)
    grant("lB", 1800, {"in_use": 2})
    grant("lC", 2000, {"in_use": 3, "overage": True})
    audit.append(ms(2000), "overage_granted", "lC",
                 _lease_detail(by_id["lC"], {"region": "eu-west", "overage": True, "in_use": 3, "count": 2,
                                             "limit": 3}), actor="tokh2")
    audit.append(ms(2050), "oversubscription_denied", "h2",
                 {"host": "h2", "region": "eu-west", "feature": "vWS", "gpu": "G4", "vgpu": "v-x",
                  "request_id": "req-x",
                  "entitlements": [{"entitlement": "L1/e1", "in_use": 3, "count": 2, "limit": 3}]},
                 actor="tokh2")
    end("lC", 2100)
    end("lB", 2400)
    audit.append(ms(3000), "region_denied", "h3",
                 {"host": "h3", "region": "us-east", "feature": "vWS", "gpu": "G7", "vgpu": "v-y",
                  "request_id": "req-y"}, actor="tokh3")
    grant("lF", 3600)
    end("lA", 4200)
    grant("lG", 5000)
    grant("lD", 5400)
    end("lG", 6000)
    grant("lH", 6500, {"in_use": 2})
    end("lH", 6800)
    end("lF", 7200)
    grant("lJ", 7200)
    audit.append(ms(8000), "auth_failed", "127.0.0.1", {"previous_window_failures": 3}, actor="system")
    end("lD", 9001, kind="lease_expired", reason="expired")
    end("lJ", 10800)
    audit.append(ms(11000), "clock_rollback", "server",
                 {"behind_ms": 120000, "now_ms": ms(11000), "recorded_ms": ms(11000) + 120000}, actor="system")
    grant("lE", 12000)
