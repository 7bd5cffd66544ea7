"""Crash safety under mixed load: a real `entitled` serving checkouts, renewals
and releases from several hosts, and license imports, supersedes and host adds
from an admin, is killed with SIGKILL at random moments, again and again, on
one data directory. After every kill each acknowledged change must be in the
store and, after the restart, visible through the API; seat counts stay within
their limits and equal the active leases; the store passes integrity_check; the
audit chain recomputes from its first event. Requests a kill left unanswered
are retried and settle: a checkout with its request_id to exactly one lease, a
release to 204. The loop lives in crash_loop.py, shared with tools/crash-loop
for longer runs.

Run with `pytest -s` to see the figures.
"""
import os

import crash_loop

KILLS = 20
HOST_CLIENTS = 4


def test_sigkill_under_mixed_load_loses_no_acknowledged_change(data_dir, tmp_path):
    seed = int(os.environ.get("ENTITLE_CRASH_SEED", "0")) or int.from_bytes(os.urandom(4), "big")
    summary = crash_loop.run(data_dir, tmp_path, kills=KILLS, seed=seed, host_clients=HOST_CLIENTS)
    print("\n" + summary.line())
    assert summary.kills == KILLS
    assert summary.lost == 0
    for kind in crash_loop.KINDS:
        assert summary.ledger.acked[kind] > 0, f"the load acknowledged no {kind}: {summary.line()}"
