"""`clock_rollback`: the server notices its wall clock is behind the latest
time its store recorded, writes one event per episode, and keeps serving."""
import sqlite3
import time

from entitle_testlib import EntitledServer


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
