"""Backup and restore (docs/operations.md "Backup and restore"): `entitlectl
backup` while four hosts run checkout/release load, `entitled restore` of
that file into another data directory, a server started on it, and the
restored store verified (audit chain through the API and with entitle-report
--db, every lease acknowledged before the backup started present). A store
of about 70 MB is copied without the server or entitlectl holding the copy
in memory (their peak RSS grows by a small fraction of its size), a reader
that stops reading is dropped after the read timeout, and a copy
left by a server killed mid-backup is removed at its next start. Then the
refusals: a live server on the directory, a store that holds data without
--force, a file that is not SQLite, an SQLite file that is not an Entitle
store, and a store whose audit row was edited (the message names the seq).
"""
import http.client
import json
import os
import pathlib
import shutil
import sqlite3
import ssl
import subprocess
import sys
import threading
import time

import pytest

from entitle_testlib import EntitledServer, bin_dir, entitled_bin
from lease_helpers import (ISSUER_KID, Issuer, LeaseEnv, assert_chain_intact, b64url_decode,
                           checkout_body, entitlement)

WORKERS = 4
MAX_ITERATIONS = 20000
BUDGET_SECONDS = 60


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("ENTITLE_") or k == "ENTITLE_BIN_DIR"}


def run(args, timeout=120):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env=clean_env())


def init(path):
    r = run([entitled_bin(), "init", "--data", path])
    assert r.returncode == 0, r.stderr
    return pathlib.Path(path)


def restore(data, backup, *extra):
    return run([entitled_bin(), "restore", "--data", data, "--from", backup, *extra])


def backup(server, out):
    return run([bin_dir() / "entitlectl", "--server", server.url, "--token-file",
                server.data_dir / "admin.token", "--ca", server.data_dir / "tls.crt",
                "backup", "--out", out])


@pytest.fixture
def loaded(data_dir):
    """A server with a license, hosts and some leases, stopped afterwards."""
    issuer = Issuer.generate(ISSUER_KID)
    issuer.trust(data_dir)
    env = LeaseEnv(data_dir, issuer).start()
    env.import_license([entitlement("bulk", count=100000)])
    env.hosts = [env.add_host(name=f"backup-{n}") for n in range(WORKERS)]
    yield env
    env.stop()


def test_backup_under_load_then_restore_into_a_fresh_directory(loaded, tmp_path):
    env = loaded
    started = time.monotonic()
    lock = threading.Lock()
    granted = {}  # lease id -> time acknowledged
    released = {}
    problems = []
    stop = threading.Event()

    def worker(n):
        host = env.hosts[n]
        conn = env.server.connection(timeout=10)
        try:
            for i in range(MAX_ITERATIONS):
                if stop.is_set() or time.monotonic() - started > BUDGET_SECONDS:
                    return
                body = checkout_body(request_id=f"b{n}-{i}", gpu=f"GPU-{n}", vgpu=f"vm-{n}-{i}")
                r = env.server.request("POST", "/v1/leases", body, token=host.token, conn=conn)
                if r.status != 201:
                    with lock:
                        problems.append(r)
                    return
                lease_id = r.json()["lease_id"]
                with lock:
                    granted[lease_id] = time.monotonic()
                if i % 2:  # half of them stay active
                    r = env.server.request("DELETE", f"/v1/leases/{lease_id}", token=host.token, conn=conn)
                    if r.status != 204:
                        with lock:
                            problems.append(r)
                        return
                    with lock:
                        released[lease_id] = time.monotonic()
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for _ in range(400):
        if len(granted) >= 100 or time.monotonic() - started > 20:
            break
        time.sleep(0.05)
    backup_started = time.monotonic()
    out = tmp_path / "entitle-backup.db"
    b = backup(env.server, out)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert problems == [], problems[:5]
    assert b.returncode == 0, b.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    before = {lid for lid, t in granted.items() if t < backup_started}
    ended_before = {lid for lid, t in released.items() if t < backup_started}
    assert len(before) >= 1
    # No backup temp file is left in the data directory.
    assert [p.name for p in env.data_dir.iterdir() if p.name.startswith(".backup-")] == []

    fresh = init(tmp_path / "restored")
    r = restore(fresh, out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "chain intact" in r.stdout
    assert oct((fresh / "entitle.db").stat().st_mode & 0o777) == "0o600"
    # The fresh store had nothing recorded: it is replaced, and kept aside all the same.
    assert len(list(fresh.glob("entitle.db.*.bak"))) == 1

    report = run([bin_dir() / "entitle-report", "--db", fresh / "entitle.db", "verify"])
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("intact: "), report.stdout

    # The restored store carries the original server's tokens: `entitled init`
    # registers this directory's admin token in it.
    assert run([entitled_bin(), "init", "--data", fresh]).returncode == 0
    shutil.copytree(env.data_dir / "issuers", fresh / "issuers", dirs_exist_ok=True)
    server = EntitledServer(fresh).start()
    try:
        token = (fresh / "admin.token").read_text().strip()
        health = server.request("GET", "/healthz")
        assert health.status == 200, health
        events = []
        after = 0
        for _ in range(1000):
            page = server.request("GET", f"/v1/audit?after={after}&limit=10000", token=token).json()
            events.extend(page["events"])
            if page.get("next") is None:
                break
            after = page["next"]
        assert_chain_intact(events)
        granted_events = {e["subject"] for e in events if e["kind"] == "lease_granted"}
        assert sorted(before - granted_events) == [], "a lease acknowledged before the backup is missing"
    finally:
        server.stop()
    con = sqlite3.connect(f"file:{fresh / 'entitle.db'}?mode=ro", uri=True)
    try:
        rows = dict(con.execute("SELECT id, ended_at FROM leases").fetchall())
    finally:
        con.close()
    assert sorted(before - set(rows)) == []
    assert [lid for lid in ended_before if rows[lid] is None] == [], "a release before the backup is missing"
    print(f"\nbackup of {out.stat().st_size} bytes under load: {len(granted)} checkouts, "
          f"{len(before)} before the backup started")


SEED_CYCLES = 60000  # checkouts released at once: about 70 MB of ended leases and audit events

# Runs a command and reports its peak RSS (KiB) as the last line of stderr.
# A child's ru_maxrss counts the memory of the process it was forked from, so
# entitlectl is started from this small interpreter, not from pytest's.
MAXRSS_RUNNER = ("import resource, subprocess, sys\n"
                 "code = subprocess.run(sys.argv[1:]).returncode\n"
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
                 "sys.exit(code)\n")


def peak_rss_bytes(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def measured_backup(server, out):
    """entitlectl backup, with the growth of the server's peak RSS and entitlectl's own peak RSS."""
    before = peak_rss_bytes(server.proc.pid)
    r = run([sys.executable, "-c", MAXRSS_RUNNER, bin_dir() / "entitlectl", "--server", server.url,
             "--token-file", server.data_dir / "admin.token", "--ca", server.data_dir / "tls.crt",
             "backup", "--out", out], timeout=300)
    assert r.returncode == 0, r.stderr
    return r, peak_rss_bytes(server.proc.pid) - before, int(r.stderr.split()[-1]) * 1024


def test_a_large_backup_is_streamed_not_held_in_memory_and_a_stalled_reader_is_dropped(loaded, tmp_path, monkeypatch):
    env = loaded
    # Under AddressSanitizer freed memory is held back (quarantined) instead of
    # reused, which would count every TLS record buffer; without it the
    # measure is the same as in a normal build. Other builds ignore this.
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0")
    env.restart()
    # The baseline: the same backup of the store while it is small.
    _, _, small_ctl_peak = measured_backup(env.server, tmp_path / "small.db")

    host = env.hosts[0]
    kid = json.loads(b64url_decode(env.grant(host)["token"].split(".")[0]))["kid"]
    env.stop()
    hosts = tmp_path / "hosts.txt"
    hosts.write_text(f"{host.id} {host.token}\n")
    hosts.chmod(0o600)
    seeded = run([bin_dir() / "entitle-bench-seed", "--db", env.data_dir / "entitle.db", "--kid", kid,
                  "--hosts-in", hosts, "--cycles", SEED_CYCLES, "--prefix", "big"], timeout=600)
    assert seeded.returncode == 0, seeded.stderr
    con = sqlite3.connect(f"file:{env.data_dir / 'entitle.db'}?mode=ro", uri=True)
    try:
        events = con.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    finally:
        con.close()
    assert events >= 2 * SEED_CYCLES
    env.server = EntitledServer(env.data_dir).start()
    assert (env.data_dir / "entitle.db").stat().st_size > 48 << 20

    out = tmp_path / "big.db"
    r, server_growth, ctl_peak = measured_backup(env.server, out)

    # The copy is whole and intact.
    copied = out.stat().st_size
    assert f"wrote {out} ({copied} bytes)" in r.stdout
    con = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        assert con.execute("SELECT count(*) FROM audit_events").fetchone()[0] == events
    finally:
        con.close()
    assert out.stat().st_mode & 0o777 == 0o600
    assert list(env.data_dir.glob(".backup-*")) == []  # the server's temporary copy is gone
    # Neither side held it in memory: held whole, the answer alone would
    # raise each peak by the size of the copy.
    assert server_growth < copied // 4, (server_growth, copied)
    assert ctl_peak - small_ctl_peak < copied // 4, (ctl_peak, small_ctl_peak, copied)
    print(f"\nbackup of {copied} bytes: server peak RSS +{server_growth >> 20} MiB, "
          f"entitlectl peak RSS {ctl_peak >> 20} MiB ({small_ctl_peak >> 20} MiB for a small store)")

    # A reader that stops reading is dropped after the read timeout (per
    # piece), and its copy of the store goes with it; the server serves on.
    env.server.stop()
    env.server = EntitledServer(env.data_dir, ["--read-timeout-ms", "1000"]).start()
    conn = env.server.connection(timeout=30)
    conn.putrequest("GET", "/v1/backup")
    conn.putheader("Authorization", f"Bearer {env.admin}")
    conn.endheaders()
    answer = conn.getresponse()
    assert answer.status == 200 and int(answer.getheader("Content-Length")) == copied
    assert answer.read(100).startswith(b"SQLite format 3\0")

    def open_copies():
        fds = pathlib.Path(f"/proc/{env.server.proc.pid}/fd")
        return [t for t in (os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()) if ".backup-" in t]

    assert open_copies(), "the copy is open while it is being sent"
    stalled = time.monotonic()
    deadline = stalled + 60
    while open_copies() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert open_copies() == [], "a reader that stopped reading still holds the server's copy"
    got = 100
    with pytest.raises((http.client.IncompleteRead, ConnectionError, ssl.SSLError)):
        while True:  # what the socket buffers still held, then the end
            piece = answer.read(1 << 20)
            got += len(piece)
            if not piece:
                raise http.client.IncompleteRead(b"", copied - got)
    assert got < copied
    print(f"a reader stalled after 100 bytes: dropped within {time.monotonic() - stalled:.1f} s, "
          f"{got} of {copied} bytes had reached it")
    conn.close()
    assert env.request("GET", "/healthz").status == 200
    assert list(env.data_dir.glob(".backup-*")) == []


def test_a_copy_left_by_a_server_killed_mid_backup_is_removed_at_the_next_start(loaded, tmp_path):
    env = loaded
    env.server.kill()  # as a crash during a backup would
    left = env.data_dir / f".backup-{env.server.proc.pid}-0.db"
    shutil.copyfile(env.data_dir / "entitle.db", left)
    journal = env.data_dir / f".backup-{env.server.proc.pid}-0.db-journal"
    journal.write_bytes(b"\0" * 512)
    env.server = EntitledServer(env.data_dir).start()
    assert not left.exists() and not journal.exists()
    assert (env.data_dir / "entitle.db").exists()
    assert env.request("GET", "/healthz").status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(left.name in line for line in env.server.stderr_lines):
        time.sleep(0.05)
    assert any("event=leftover_copy_removed" in line and left.name in line
               for line in env.server.stderr_lines), env.server.stderr_lines


def test_restore_is_refused_while_a_server_runs_on_the_directory(loaded, tmp_path):
    out = tmp_path / "b.db"
    assert backup(loaded.server, out).returncode == 0
    before = (loaded.data_dir / "entitle.db").stat().st_ino
    r = restore(loaded.data_dir, out, "--force")
    assert r.returncode != 0
    assert "in use by a running entitled" in r.stderr, r.stderr
    assert (loaded.data_dir / "entitle.db").stat().st_ino == before
    # The same lock keeps a second server off the directory.
    second = run([entitled_bin(), "serve", "--data", loaded.data_dir, "--listen", "127.0.0.1:0", "--allow-root"],
                 timeout=60)
    assert second.returncode != 0
    assert "in use by a running entitled" in second.stderr, second.stderr


def test_restore_over_a_store_with_data_needs_force_and_keeps_the_old_one(loaded, tmp_path):
    out = tmp_path / "b.db"
    assert backup(loaded.server, out).returncode == 0
    loaded.stop()
    r = restore(loaded.data_dir, out)
    assert r.returncode != 0
    assert "--force" in r.stderr and "audit events" in r.stderr, r.stderr
    r = restore(loaded.data_dir, out, "--force")
    assert r.returncode == 0, r.stderr
    kept = list(loaded.data_dir.glob("entitle.db.*.bak"))
    assert len(kept) == 1
    con = sqlite3.connect(f"file:{kept[0]}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()
    loaded.server = EntitledServer(loaded.data_dir).start()
    assert loaded.request("GET", "/healthz").status == 200


def test_restore_refuses_files_that_are_not_an_intact_entitle_store(loaded, tmp_path):
    out = tmp_path / "b.db"
    assert backup(loaded.server, out).returncode == 0
    target = init(tmp_path / "target")
    original = (target / "entitle.db").read_bytes()

    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    r = restore(target, text)
    assert r.returncode != 0 and "is not an SQLite database" in r.stderr, r.stderr

    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    r = restore(target, foreign)
    assert r.returncode != 0 and "not an Entitle store" in r.stderr, r.stderr

    edited = tmp_path / "edited.db"
    shutil.copyfile(out, edited)
    con = sqlite3.connect(edited)
    con.execute("DROP TRIGGER audit_events_append_only_update")
    seq = con.execute("SELECT max(seq) FROM audit_events").fetchone()[0] // 2 + 1
    con.execute("UPDATE audit_events SET subject = subject || '-edited' WHERE seq = ?", (seq,))
    con.commit()
    con.close()
    r = restore(target, edited, "--force")
    assert r.returncode != 0
    assert f"audit chain is broken at seq {seq}" in r.stderr, r.stderr

    r = restore(target, tmp_path / "missing.db")
    assert r.returncode != 0 and "missing.db" in r.stderr, r.stderr

    # Nothing was installed, nothing left behind.
    assert (target / "entitle.db").read_bytes() == original
    assert sorted(p.name for p in target.iterdir() if p.name.startswith(".entitle.db.restore")) == []
    assert list(target.glob("entitle.db.*.bak")) == []
