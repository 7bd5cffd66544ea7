"""Store faults while serving: the disk fills, fails or turns read-only under
checkout/release load. The server runs on the real SQLite through the
fault-injecting VFS (ENTITLE_STORE_FAULT_FILE, docs/operations.md), armed
from here by writing one word into the control file.

While a fault is armed: writes answer 503 `unavailable` with the contract's
error shape and Retry-After, reads and /healthz keep answering. Once it is
cleared, writes succeed again without a restart. Afterwards the store passes
integrity_check, the audit chain recomputes, every acknowledged write is
there, no 503'd checkout left a lease, and in_use equals the active leases.
"""
import http.client
import sqlite3
import ssl
import threading
import time

import pytest

from lease_helpers import (ISSUER_KID, Issuer, LeaseEnv, assert_chain_intact, checkout_body,
                           entitlement, events_from_db, license_claims, unique)

WORKERS = 2
MAX_ITERATIONS = 20000
BUDGET_SECONDS = 60


def arm(control, word):
    tmp = control.with_suffix(".tmp")
    tmp.write_text(word + "\n")
    tmp.replace(control)


def wait_for(pred, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return False


def assert_unavailable(r):
    assert r.status == 503, r
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == "unavailable", body
    assert "cannot write" in body["error"]["message"], body
    assert r.header("Retry-After") == "1", r.headers


def start_with_fault_file(data_dir, tmp_path, monkeypatch, extra_args=()):
    """A server whose store writes through the fault VFS, its control file
    saying `none`; returns (control file, issuer, started LeaseEnv)."""
    control = tmp_path / "store-fault"
    arm(control, "none")
    monkeypatch.setenv("ENTITLE_STORE_FAULT_FILE", str(control))
    issuer = Issuer.generate(ISSUER_KID)
    issuer.trust(data_dir)
    return control, issuer, LeaseEnv(data_dir, issuer, extra_args).start()


def check_stored(db, granted, released, refused=()):
    """The store file after the server stopped: sound, every acknowledged
    checkout and release in it, no checkout answered 503 left a lease, and
    in_use equals the active leases of each entitlement; the audit chain in
    the file recomputes."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = dict(con.execute("SELECT id, ended_at FROM leases").fetchall())
        assert [lid for lid in granted if lid not in rows] == [], "acknowledged lease missing"
        assert [lid for lid in released if rows[lid] is None] == [], "acknowledged release not stored"
        for host_id, request_id in refused:
            if request_id is None:
                continue
            n = con.execute("SELECT count(*) FROM leases WHERE host_id = ? AND request_id = ?",
                            (host_id, request_id)).fetchone()[0]
            assert n == 0, f"checkout {request_id} answered 503 but left a lease"
        for jti, eid, in_use in con.execute("SELECT license_jti, id, in_use FROM entitlements"):
            active = con.execute("SELECT count(*) FROM leases WHERE license_jti = ? AND entitlement_id = ? "
                                 "AND ended_at IS NULL", (jti, eid)).fetchone()[0]
            assert in_use == active, f"{jti}/{eid}: in_use {in_use} but {active} active leases"
    finally:
        con.close()
    assert_chain_intact(events_from_db(db))


@pytest.mark.parametrize("fault", ["full", "ioerr", "readonly"])
def test_writes_answer_503_while_the_store_cannot_write_and_resume_by_themselves(
        fault, data_dir, tmp_path, monkeypatch):
    started = time.monotonic()
    control, issuer, env = start_with_fault_file(data_dir, tmp_path, monkeypatch)
    try:
        env.import_license([entitlement("bulk", count=100000)])
        hosts = [env.add_host(name=f"fault-{n}") for n in range(WORKERS)]

        lock = threading.Lock()
        granted = {}      # lease id -> (host id, request id), answered 201
        refused = []      # (host id, request id) answered 503
        released = set()  # lease ids answered 204
        unexpected = []
        stop = threading.Event()

        def worker(n):
            host = hosts[n]
            conn = env.server.connection(timeout=10)
            try:
                for i in range(MAX_ITERATIONS):
                    if stop.is_set() or time.monotonic() - started > BUDGET_SECONDS:
                        return
                    body = checkout_body(request_id=f"w{n}-{i}", gpu=f"GPU-{n}", vgpu=f"vm-{n}-{i}")
                    r = env.server.request("POST", "/v1/leases", body, token=host.token, conn=conn)
                    if r.status == 503:
                        assert_unavailable(r)
                        with lock:
                            refused.append((host.id, body["request_id"]))
                        continue
                    if r.status != 201:
                        with lock:
                            unexpected.append(r)
                        return
                    lease_id = r.json()["lease_id"]
                    with lock:
                        granted[lease_id] = (host.id, body["request_id"])
                    r = env.server.request("DELETE", f"/v1/leases/{lease_id}", token=host.token, conn=conn)
                    if r.status == 204:
                        with lock:
                            released.add(lease_id)
                    elif r.status == 503:
                        assert_unavailable(r)
                    else:
                        with lock:
                            unexpected.append(r)
                        return
            except AssertionError as e:
                with lock:
                    unexpected.append(e)
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(WORKERS)]
        for t in threads:
            t.start()
        assert wait_for(lambda: len(granted) >= 20), "no load before the fault"

        arm(control, fault)
        assert wait_for(lambda: len(refused) >= 5), "writes kept succeeding with the fault armed"
        acknowledged_before_clear = None
        # While armed: a direct write, a license import, reads and the health check.
        r = env.checkout(hosts[0], request_id=unique("during"))
        assert_unavailable(r)
        refused.append((hosts[0].id, None))
        text = issuer.sign(license_claims(unique("lic"), [entitlement("late", count=5)]))
        assert_unavailable(env.request("POST", "/v1/licenses", text.encode(), token=env.admin))
        health = env.request("GET", "/healthz")
        assert health.status == 200, health
        assert health.json() == {"status": "degraded", "store_writes": "failing"}
        assert env.request("GET", "/v1/entitlements", token=env.admin).status == 200
        assert env.request("GET", "/v1/audit?limit=5", token=env.admin).status == 200
        metrics = env.request("GET", "/metrics")
        assert "entitle_store_writes_failing 1" in metrics.body

        arm(control, "none")
        with lock:
            acknowledged_before_clear = len(granted)
        assert wait_for(lambda: len(granted) >= acknowledged_before_clear + 20), \
            "writes did not resume after the fault was cleared"
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "a worker hung"
        assert unexpected == [], unexpected[:5]

        assert env.request("GET", "/healthz").json() == {"status": "ok"}
        jti = env.import_license([entitlement("after", count=5)])
        assert jti in {e["license"] for e in env.get("/v1/entitlements")["entitlements"]}
        api_events = env.audit()
        assert_chain_intact(api_events)
    finally:
        env.stop()

    check_stored(data_dir / "entitle.db", granted, released, refused)
    print(f"\n{fault}: {len(granted)} checkouts acknowledged, {len(refused)} answered 503, "
          f"{len(released)} releases acknowledged")


# syncerr: the first sync of the WAL after arming fails. dbsyncerr: only
# syncs of the database file fail, and the server makes its first one when
# the WAL is due to start over (store.hpp: 32,000 frames, a few thousand
# commits of this load), so its workers run until then.
@pytest.mark.parametrize("fault,file_named", [("syncerr", "its log"), ("dbsyncerr", "the database file")])
def test_a_failed_sync_stops_the_server_and_the_restart_keeps_every_acknowledged_write(
        fault, file_named, data_dir, tmp_path, monkeypatch):
    """The disk takes a commit's log frames (or the pages copied back into
    the database file) but fails to sync them (fsync's EIO): the commit
    cannot be undone and may or may not be on the disk, and after a failed
    sync the kernel may drop the pages it could not write, so the server
    stops (fail-stop) instead of answering on top of it. The writes waiting
    for that sync answer 503, the process exits with an error, and the next
    start finds a sound store holding every acknowledged write.
    """
    started = time.monotonic()
    # dbsyncerr: as many connections as it takes to reach the WAL's restart
    # within seconds, and no request-rate limit on the way there.
    workers, extra_args = WORKERS, ()
    if fault == "dbsyncerr":
        workers, extra_args = 8, ("--rate-per-address", "0", "--rate-per-token", "0")
    control, _, env = start_with_fault_file(data_dir, tmp_path, monkeypatch, extra_args)
    lock = threading.Lock()
    granted = {}      # lease id -> request id, answered 201
    released = set()  # lease ids answered 204
    unexpected = []
    stopped_answers = []

    def worker(n, host):
        conn = env.server.connection(timeout=10)
        try:
            for i in range(MAX_ITERATIONS):
                if time.monotonic() - started > BUDGET_SECONDS:
                    return
                body = checkout_body(request_id=f"s{n}-{i}", gpu=f"GPU-{n}", vgpu=f"vm-{n}-{i}")
                r = env.server.request("POST", "/v1/leases", body, token=host.token, conn=conn)
                if r.status == 503:
                    stopped_answers.append(r)
                    return
                if r.status != 201:
                    unexpected.append(r)
                    return
                lease_id = r.json()["lease_id"]
                with lock:
                    granted[lease_id] = body["request_id"]
                r = env.server.request("DELETE", f"/v1/leases/{lease_id}", token=host.token, conn=conn)
                if r.status == 503:
                    stopped_answers.append(r)
                    return
                if r.status != 204:
                    unexpected.append(r)
                    return
                with lock:
                    released.add(lease_id)
        except (OSError, http.client.HTTPException):
            return  # the server went away mid-request: nothing was answered
        finally:
            conn.close()

    try:
        env.import_license([entitlement("bulk", count=100000)])
        hosts = [env.add_host(name=f"sync-{n}") for n in range(workers)]
        threads = [threading.Thread(target=worker, args=(n, hosts[n]), daemon=True) for n in range(workers)]
        for t in threads:
            t.start()
        assert wait_for(lambda: len(granted) >= 20), "no load before the fault"
        arm(control, fault)
        try:
            code = env.server.proc.wait(timeout=BUDGET_SECONDS + 30)
        except Exception:
            pytest.fail(f"entitled kept serving with {fault} armed: {len(granted)} checkouts answered")
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "a worker hung"
    finally:
        env.stop()
    assert code != 0, "a server that stopped on a failed sync must exit with an error"
    log = "\n".join(env.server.stderr_lines)
    assert "event=store_failed" in log, log[-2000:]
    assert f"failed to sync {file_named}" in log, log[-2000:]
    assert unexpected == [], unexpected[:5]
    for r in stopped_answers:
        body = r.json()
        assert body["error"]["code"] == "unavailable", body
        assert "failed to sync" in body["error"]["message"], body

    # The next start recovers from the disk and serves again.
    arm(control, "none")
    env.restart()
    try:
        host = env.add_host(name="after-restart")
        assert env.checkout(host, request_id=unique("after")).status == 201
    finally:
        env.stop()

    check_stored(data_dir / "entitle.db", granted, released)
    print(f"\n{fault}: {len(granted)} checkouts and {len(released)} releases acknowledged before the stop, "
          f"{len(stopped_answers)} answered 503, exit status {code}")
