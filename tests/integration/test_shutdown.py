"""SIGTERM/SIGINT: stop accepting, finish in-flight requests, exit 0."""
import signal
import socket
import sqlite3
import time

import pytest

from entitle_testlib import EntitledServer


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_finishes_a_request_in_flight_and_exits_0(data_dir, admin_token, sig):
    s = EntitledServer(data_dir).start()
    ctx = s.tls_context()
    body = b'{"role":"auditor","name":"in flight"}'
    raw = socket.create_connection((s.host, s.port), timeout=10)
    tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    head = (f"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin_token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    tls.sendall(head + body[:10])   # the request is now being read
    time.sleep(0.3)
    s.proc.send_signal(sig)
    time.sleep(0.3)
    assert s.proc.poll() is None, "the server must wait for the request in flight"
    tls.sendall(body[10:])
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    tls.close()
    assert data.startswith(b"HTTP/1.1 201"), data
    assert b"connection: close" in data.lower()
    assert s.proc.wait(timeout=20) == 0
    # The acknowledged write survived the shutdown.
    db = sqlite3.connect(data_dir / "entitle.db")
    assert db.execute("SELECT count(*) FROM tokens WHERE name = 'in flight'").fetchone()[0] == 1


def test_shutdown_closes_idle_keep_alive_connections(server):
    conn = server.connection()
    assert server.request("GET", "/healthz", conn=conn).status == 200
    start = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - start < 10
    conn.close()


def test_new_connections_are_refused_after_shutdown(data_dir):
    s = EntitledServer(data_dir).start()
    assert s.stop() == 0
    with pytest.raises(OSError):
        socket.create_connection((s.host, s.port), timeout=2).close()


def test_a_request_that_never_finishes_is_dropped_after_the_drain_timeout(data_dir, admin_token):
    # Two I/O threads, one stuck connection on each (they are placed in turn):
    # the drain gives up after --drain-timeout-ms, stops every thread and the
    # process still exits cleanly, with what was acknowledged before intact.
    s = EntitledServer(data_dir, ["--threads", "2", "--drain-timeout-ms", "500"]).start()
    r = s.request("POST", "/v1/tokens", {"role": "auditor", "name": "before"}, token=admin_token)
    assert r.status == 201, r.body
    ctx = s.tls_context()
    stuck = []
    for _ in range(2):
        raw = socket.create_connection((s.host, s.port), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        stuck.append(tls)
    time.sleep(0.3)  # both requests are being read
    start = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=20) == 0
    assert time.monotonic() - start < 10
    for _ in range(40):  # the log is read by a background thread
        if any("event=drain_timeout" in line for line in s.stderr_lines):
            break
        time.sleep(0.05)
    assert any("event=drain_timeout" in line for line in s.stderr_lines), s.stderr_lines[-5:]
    for tls in stuck:
        tls.close()
    db = sqlite3.connect(data_dir / "entitle.db")
    assert db.execute("SELECT count(*) FROM tokens WHERE name = 'before'").fetchone()[0] == 1
