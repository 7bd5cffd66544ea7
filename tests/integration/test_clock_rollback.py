"""`clock_rollback`: the server notices its wall clock is behind the latest
time its store recorded, writes one event per episode, keeps serving reads,
renewals and releases, and pauses new grants until the clock catches up or an
admin acknowledges the time (docs/leases.md, "Clock rollback")."""
import sqlite3
import time

from entitle_testlib import EntitledServer
from lease_helpers import ISSUER_KID, Issuer, LeaseEnv, entitlement, expect_error


def events(server, token, kind):
    evs = server.request("GET", "/v1/audit?limit=10000", token=token).json()["events"]
    return [e for e in evs if e["kind"] == kind]


def test_a_clock_behind_the_recorded_time_is_audited_once(data_dir, admin_token):
    future_ms = int(time.time() * 1000) + 3600 * 1000
    db = sqlite3.connect(data_dir / "entitle.db")
    db.execute("INSERT INTO meta (key, value) VALUES ('clock_high_water_ms', ?)", (str(future_ms),))
    db.commit()
    db.close()
    s = EntitledServer(data_dir).start()
    try:
        deadline = time.monotonic() + 10
        found = []
        while time.monotonic() < deadline and not found:
            time.sleep(0.3)
            found = events(s, admin_token, "clock_rollback")
        assert len(found) == 1, found
        detail = found[0]["detail"]
        assert detail["recorded_ms"] == future_ms
        assert 3500 * 1000 < detail["behind_ms"] <= 3600 * 1000
        time.sleep(2.5)  # more sweeps while still behind: no further events
        assert len(events(s, admin_token, "clock_rollback")) == 1
        assert s.request("GET", "/healthz").status == 200
    finally:
        s.stop()


def test_a_clock_moving_forward_is_not_reported(server, admin_token):
    time.sleep(2.5)
    assert events(server, admin_token, "clock_rollback") == []


def set_recorded_time(data_dir, ms):
    db = sqlite3.connect(data_dir / "entitle.db")
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock_high_water_ms', ?)", (str(ms),))
    db.commit()
    db.close()


def test_a_rolled_back_clock_pauses_new_grants_until_an_admin_acknowledges(data_dir):
    issuer = Issuer.generate(ISSUER_KID)
    issuer.trust(data_dir)
    env = LeaseEnv(data_dir, issuer).start()
    env.import_license([entitlement("clock-e", "vWS", "concurrent", count=10)])
    host = env.add_host()
    held = env.grant(host)
    auditor = env.new_token("auditor")
    env.stop()

    set_recorded_time(data_dir, int(time.time() * 1000) + 3600 * 1000)
    env.restart()
    try:
        r = env.checkout(host)
        expect_error(r, 503, "unavailable")
        assert "clock" in r.json()["error"]["message"]
        assert int(r.header("Retry-After")) > 0
        # Seats already held go on: renew and release do not add a seat.
        assert env.renew(host, held["lease_id"]).status == 200
        clock = env.request("GET", "/v1/clock", token=auditor).json()
        assert clock["grants_paused"] is True
        assert 3500 * 1000 < clock["behind_ms"] <= 3600 * 1000
        # Only an admin may accept the time.
        expect_error(env.request("POST", "/v1/clock/acknowledge", token=auditor), 403, "forbidden")
        expect_error(env.request("POST", "/v1/clock/acknowledge", token=host.token), 403, "forbidden")
        r = env.request("POST", "/v1/clock/acknowledge", token=env.admin)
        assert r.status == 200, r
        assert r.json()["grants_paused"] is False
        assert r.json()["previous_recorded"] > r.json()["now"] + 3500
        assert env.checkout(host).status == 201
        acks = [e for e in events(env.server, env.admin, "clock_rollback") if "acknowledged_by" in e["detail"]]
        assert len(acks) == 1 and acks[0]["detail"]["acknowledged_by"] == env.admin[:16]
        # The acknowledged time is the new mark: it holds across a restart.
        env.restart()
        assert env.checkout(host).status == 201
    finally:
        env.stop()


def test_a_step_back_within_the_tolerance_flag_does_not_pause_grants(data_dir):
    issuer = Issuer.generate(ISSUER_KID)
    issuer.trust(data_dir)
    set_recorded_time(data_dir, int(time.time() * 1000) + 20 * 1000)
    env = LeaseEnv(data_dir, issuer, ["--clock-rollback-tolerance-ms", "60000"]).start()
    try:
        env.import_license([entitlement("clock-t", "vWS", "concurrent", count=10)])
        host = env.add_host()
        assert env.checkout(host).status == 201
        time.sleep(1.5)  # a sweep observes the clock
        assert events(env.server, env.admin, "clock_rollback") == []
    finally:
        env.stop()
