"""Helpers for the lease tests (contract sections 1-5): a running server with a
trusted issuer, hosts, licenses, checkouts and the audit log.

Issuer keys are made at run time (license_factory.Issuer); nothing secret is
committed. Everything talks to 127.0.0.1 only.
"""
import base64
import hashlib
import itertools
import json
import pathlib
import shutil
import sqlite3
import time
import uuid

import pytest

from entitle_testlib import EntitledServer
from license_factory import Issuer, entitlement, license_claims  # noqa: F401 (Issuer, entitlement re-exported)

ISSUER_KID = "acme-leases"
GENESIS = "0" * 64
LEASE_TYP = "entitle-lease+jwt"

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- answers

def error_code(resp) -> str:
    """The code of a contract-shaped error {"error":{"code","message"}}."""
    body = resp.json()
    assert set(body) == {"error"}, resp
    assert set(body["error"]) == {"code", "message"}, resp
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], resp
    return body["error"]["code"]


def error_message(resp) -> str:
    return resp.json()["error"]["message"]


def expect_error(resp, status: int, code: str):
    assert resp.status == status, resp
    assert error_code(resp) == code, resp


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# --------------------------------------------------------------------------- audit chain

def event_hash(e) -> str:
    canonical = json.dumps({k: e[k] for k in ("actor", "detail", "kind", "seq", "subject", "ts")},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((e["prev_hash"] + "\n" + canonical).encode("utf-8")).hexdigest()


def assert_chain_intact(events):
    """seq 1, 2, 3, ... and every hash recomputes from the first event."""
    prev = GENESIS
    for i, e in enumerate(events, start=1):
        assert e["seq"] == i, f"seq gap at {i}: {e['seq']}"
        assert e["prev_hash"] == prev, f"event {i}: prev_hash does not link"
        assert e["hash"] == event_hash(e), f"event {i}: hash does not recompute"
        prev = e["hash"]


def events_from_db(db_path) -> list:
    """The audit log as stored, from a copy of the store (detail parsed)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT seq, ts, kind, actor, subject, detail, prev_hash, hash "
                           "FROM audit_events ORDER BY seq").fetchall()
    finally:
        con.close()
    return [{"seq": r[0], "ts": r[1], "kind": r[2], "actor": r[3], "subject": r[4],
             "detail": json.loads(r[5]), "prev_hash": r[6], "hash": r[7]} for r in rows]


def copy_store(data_dir, dest_dir) -> pathlib.Path:
    """Copies entitle.db and its WAL (not the shm index, which SQLite rebuilds)
    so that checks never touch the server's own files."""
    dest_dir = pathlib.Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    src = pathlib.Path(data_dir) / "entitle.db"
    dst = dest_dir / "entitle.db"
    for suffix in ("", "-wal"):
        s = pathlib.Path(str(src) + suffix)
        d = pathlib.Path(str(dst) + suffix)
        if d.exists():
            d.unlink()
        if s.exists():
            shutil.copyfile(s, d)
    shm = pathlib.Path(str(dst) + "-shm")
    if shm.exists():
        shm.unlink()
    return dst


# --------------------------------------------------------------------------- the environment

class Host:
    def __init__(self, config: dict, name: str, region: str):
        self.config = config
        self.id = config["host_id"]
        self.token = config["host_token"]
        self.name = name
        self.region = region


def checkout_body(request_id=None, feature="vWS", gpu="GPU-0", vgpu=None, gpu_model=None, profile=None) -> dict:
    g = {"uuid": gpu}
    if gpu_model is not None:
        g["model"] = gpu_model
    v = {"id": vgpu if vgpu is not None else unique("vgpu")}
    if profile is not None:
        v["profile"] = profile
    return {"request_id": request_id if request_id is not None else unique("req"),
            "feature": feature, "gpu": g, "vgpu": v}


class LeaseEnv:
    """A started server whose data directory trusts `issuer`."""

    def __init__(self, data_dir, issuer: Issuer, extra_args=()):
        self.data_dir = pathlib.Path(data_dir)
        self.issuer = issuer
        self.admin = (self.data_dir / "admin.token").read_text().strip()
        self.server = EntitledServer(self.data_dir, extra_args)

    # -- life cycle
    def start(self):
        self.server.start()
        return self

    def stop(self):
        return self.server.stop()

    def restart(self):
        self.server.stop()
        self.server = EntitledServer(self.data_dir, self.server.extra_args)
        self.server.start()

    def request(self, *args, **kwargs):
        return self.server.request(*args, **kwargs)

    def get(self, path, token=None):
        r = self.request("GET", path, token=token or self.admin)
        assert r.status == 200, (path, r)
        return r.json()

    # -- licenses
    def import_license(self, entitlements, jti=None, **extra) -> str:
        jti = jti or unique("lic")
        text = self.issuer.sign(license_claims(jti, entitlements, **extra))
        r = self.request("POST", "/v1/licenses", text.encode(), token=self.admin)
        assert r.status in (200, 201), r
        return jti

    def withdraw(self, jti):
        r = self.request("DELETE", f"/v1/licenses/{jti}", token=self.admin)
        assert r.status in (200, 204), r

    def entitlements(self) -> dict:
        ents = self.get("/v1/entitlements")["entitlements"]
        return {e["id"]: e for e in ents}

    def in_use(self, key) -> int:
        return self.entitlements()[key]["in_use"]

    # -- hosts
    def add_host(self, region="eu-west", name=None) -> Host:
        name = name or unique("host")
        r = self.request("POST", "/v1/hosts", {"name": name, "region": region}, token=self.admin)
        assert r.status == 201, r
        return Host(r.json(), name, region)

    def remove_host(self, host: Host):
        r = self.request("DELETE", f"/v1/hosts/{host.id}", token=self.admin)
        assert r.status == 204, r

    def new_token(self, role="auditor") -> str:
        r = self.request("POST", "/v1/tokens", {"role": role, "name": unique(role)}, token=self.admin)
        assert r.status == 201, r
        return r.json()["token"]

    # -- leases
    def checkout(self, host: Host, body=None, **fields):
        return self.request("POST", "/v1/leases", body if body is not None else checkout_body(**fields),
                            token=host.token)

    def grant(self, host: Host, **fields) -> dict:
        r = self.checkout(host, **fields)
        assert r.status == 201, r
        return r.json()

    def renew(self, host: Host, lease_id):
        return self.request("POST", f"/v1/leases/{lease_id}/renew", token=host.token)

    def release(self, token, lease_id):
        return self.request("DELETE", f"/v1/leases/{lease_id}", token=token)

    def leases(self, token=None, **filters) -> list:
        """GET /v1/leases, every page (bounded); filters: host=, feature=."""
        return self.list_all("/v1/leases", "leases", token=token, **filters)

    def list_all(self, path, key, token=None, max_pages=1000, **filters) -> list:
        """Every item of a paged list (`/v1/leases`, `/v1/licenses`, `/v1/hosts`)."""
        out, after = [], None
        for _ in range(max_pages):
            params = dict(filters)
            if after:
                params["after"] = after
            q = "&".join(f"{k}={v}" for k, v in params.items())
            page = self.get(path + (f"?{q}" if q else ""), token=token)
            out.extend(page[key])
            if not page.get("next"):
                return out
            after = page["next"]
        pytest.fail(f"{path} paging did not end")

    # -- audit
    def audit(self, after=0) -> list:
        events = []
        for _ in range(1000):
            page = self.get(f"/v1/audit?after={after}&limit=10000")
            events.extend(page["events"])
            if page.get("next") is None:
                return events
            after = page["next"]
        pytest.fail("audit paging did not end")

    def last_seq(self) -> int:
        events = self.audit()
        return events[-1]["seq"] if events else 0

    def wait_for_event(self, pred, after=0, timeout=5.0, interval=0.1):
        """The first event after `after` matching `pred`, polling up to `timeout` s."""
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / interval) + 2):
            for e in self.audit(after):
                if pred(e):
                    return e
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        return None

    def server_id(self) -> str:
        con = sqlite3.connect(f"file:{self.data_dir / 'entitle.db'}?mode=ro", uri=True)
        try:
            return con.execute("SELECT value FROM meta WHERE key = 'server_id'").fetchone()[0]
        finally:
            con.close()


def replay_active_sets(events):
    """Replays lease events in seq order; returns (max active per entitlement,
    active lease ids per entitlement at the end)."""
    active = {}   # lease id -> entitlement key
    per_ent = {}
    peak = {}
    for e in sorted(events, key=lambda e: e["seq"]):
        kind, d = e["kind"], e["detail"]
        if kind == "lease_granted":
            ent = d["entitlement"]
            assert e["subject"] not in active, f"lease {e['subject']} granted twice"
            active[e["subject"]] = ent
            per_ent.setdefault(ent, set()).add(e["subject"])
            peak[ent] = max(peak.get(ent, 0), len(per_ent[ent]))
        elif kind in ("lease_released", "lease_expired", "lease_ended"):
            lid = e["subject"]
            ent = active.pop(lid, None)
            assert ent is not None, f"{kind} for a lease not active: {lid}"
            per_ent[ent].discard(lid)
        elif kind == "lease_moved":
            lid = e["subject"]
            ent = active.pop(lid, None)
            assert ent is not None, f"lease_moved for a lease not active: {lid}"
            per_ent[ent].discard(lid)
            active[lid] = d["to"]
            per_ent.setdefault(d["to"], set()).add(lid)
            peak[d["to"]] = max(peak.get(d["to"], 0), len(per_ent[d["to"]]))
    return peak, per_ent
