"""Crash safety of checkouts: a real `entitled` under concurrent checkout load
is killed with SIGKILL at random moments, again and again, on one data
directory. Every checkout answered 201 must survive, seat counts must stay
consistent, the store must pass integrity_check and the audit chain must
recompute from its first event. Requests left without an answer by a kill are
retried with their request_id after the restart and settle to exactly one lease.

Run with `pytest -s` to see the figures.
"""
import http.client
import os
import random
import sqlite3
import ssl
import threading
import time

from entitle_testlib import EntitledServer
from lease_helpers import (ISSUER_KID, Issuer, LeaseEnv, assert_chain_intact, checkout_body,
                           copy_store, entitlement, events_from_db)

KILLS = 10
WORKERS = 4
COUNT = 100000
BUDGET_SECONDS = 60


def check_store(db, acknowledged, retried):
    """Checks a copy of the store taken while the server was dead."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = dict(con.execute("SELECT id, ended_at FROM leases").fetchall())
        lost = [lid for lid in acknowledged if lid not in rows]
        ended = [lid for lid in acknowledged if lid in rows and rows[lid] is not None]
        assert ended == [], f"acknowledged leases ended by a crash: {ended[:5]}"
        for (host_id, request_id) in retried:
            n = con.execute("SELECT count(*) FROM leases WHERE host_id = ? AND request_id = ?",
                            (host_id, request_id)).fetchone()[0]
            assert n == 1, f"retried request {request_id} of {host_id} left {n} leases"
        for jti, eid, count, in_use, peak in con.execute(
                "SELECT license_jti, id, count, in_use, peak FROM entitlements"):
            active = con.execute("SELECT count(*) FROM leases WHERE license_jti = ? AND entitlement_id = ? "
                                 "AND ended_at IS NULL", (jti, eid)).fetchone()[0]
            assert count is None or in_use <= count, (jti, eid, in_use, count)
            assert in_use == active, f"{jti}/{eid}: in_use {in_use} but {active} active leases"
            assert peak >= in_use
    finally:
        con.close()
    events = events_from_db(db)
    assert_chain_intact(events)
    granted = {e["subject"] for e in events if e["kind"] == "lease_granted"}
    assert not [lid for lid in acknowledged if lid not in granted], "acknowledged lease without lease_granted"
    assert len(granted) == len(rows), "every stored lease has exactly one lease_granted event"
    return lost, len(rows), len(events)


def test_sigkill_under_concurrent_checkout_load_loses_no_acknowledged_lease(data_dir, tmp_path):
    started = time.monotonic()
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    issuer = Issuer.generate(ISSUER_KID)
    issuer.trust(data_dir)
    env = LeaseEnv(data_dir, issuer).start()
    try:
        jti = env.import_license([entitlement("bulk", count=COUNT)])
        hosts = [env.add_host(name=f"crash-{n}") for n in range(WORKERS)]

        acknowledged = {}       # lease id -> (host id, request id)
        ever_retried = []       # (host id, request id)
        in_flight_committed = 0  # unanswered requests the store had already committed
        kills = 0
        pending = []            # (host, body) left without an answer by the last kill
        problems = []
        lock = threading.Lock()
        lost_total = 0

        for cycle in range(KILLS):
            # Requests the last kill left unanswered: retry with the same request_id.
            for host, body in pending:
                first = env.checkout(host, body=body)
                assert first.status in (200, 201), first
                again = env.checkout(host, body=body)
                assert again.json()["lease_id"] == first.json()["lease_id"]
                acknowledged[first.json()["lease_id"]] = (host.id, body["request_id"])
                ever_retried.append((host.id, body["request_id"]))
            pending = []

            server = env.server
            stop = threading.Event()
            unanswered = []

            def worker(n, server=server, stop=stop, unanswered=unanswered, cycle=cycle):
                host = hosts[n]
                conn = server.connection(timeout=10)
                try:
                    for i in range(100000):
                        if stop.is_set():
                            return
                        body = checkout_body(request_id=f"c{cycle}-w{n}-{i}", gpu=f"GPU-{n}",
                                             vgpu=f"vm-{cycle}-{n}-{i}")
                        try:
                            r = server.request("POST", "/v1/leases", body, token=host.token, conn=conn)
                        except (http.client.HTTPException, OSError, ssl.SSLError):
                            with lock:
                                unanswered.append((host, body))
                            return   # the server is gone
                        with lock:
                            if r.status == 201:
                                acknowledged[r.json()["lease_id"]] = (host.id, body["request_id"])
                            else:
                                problems.append((r.status, r.body[:200]))
                finally:
                    conn.close()

            threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(WORKERS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 1.5))
            server.kill()   # SIGKILL
            kills += 1
            stop.set()
            for t in threads:
                t.join(timeout=15)
            assert not any(t.is_alive() for t in threads), "a worker hung after the kill"
            assert problems == [], problems[:5]

            db = copy_store(data_dir, tmp_path / f"copy-{cycle}")
            lost, stored, n_events = check_store(db, acknowledged, ever_retried)
            lost_total += len(lost)
            assert lost == [], f"kill {kills}: acknowledged leases missing from the store: {lost[:5]}"
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                for host, body in unanswered:
                    if con.execute("SELECT 1 FROM leases WHERE host_id = ? AND request_id = ?",
                                   (host.id, body["request_id"])).fetchone():
                        in_flight_committed += 1
            finally:
                con.close()
            pending = unanswered

            env.server = EntitledServer(data_dir)
            env.server.start()

        # After the last restart: settle what the last kill left, then look through the API.
        for host, body in pending:
            r = env.checkout(host, body=body)
            assert r.status in (200, 201), r
            acknowledged[r.json()["lease_id"]] = (host.id, body["request_id"])
            ever_retried.append((host.id, body["request_id"]))
        listed = {l["lease_id"] for l in env.leases()}   # admin: every active lease
        api_lost = [lid for lid in acknowledged if lid not in listed]
        ent = env.entitlements()[f"{jti}/bulk"]
        assert ent["in_use"] == len(listed) <= COUNT
        env.stop()

        db = copy_store(data_dir, tmp_path / "copy-final")
        lost, stored, n_events = check_store(db, acknowledged, ever_retried)
        lost_total += len(lost) + len(api_lost)
        elapsed = time.monotonic() - started
        print(f"\ncrash test (seed {seed}): kills={kills} acknowledged={len(acknowledged)} "
              f"stored_leases={stored} audit_events={n_events} unanswered_retried={len(ever_retried)} "
              f"(already committed before the kill: {in_flight_committed}) lost={lost_total} "
              f"elapsed={elapsed:.1f}s")
        assert kills >= 10
        assert lost_total == 0
        assert api_lost == []
        assert len(acknowledged) > kills, "the load produced almost no checkouts"
        assert elapsed < BUDGET_SECONDS + 30
    finally:
        env.server.kill()
