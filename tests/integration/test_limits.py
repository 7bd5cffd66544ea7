"""Resource limits against hostile clients: request rates per address and per
token (429 `rate_limited` with Retry-After), the per-address connection cap,
and slow (slowloris) connections plus a flood of bad tokens that must not
delay a legitimate host's checkout.

Other loopback addresses (127.0.0.2, 127.0.0.3) stand in for other clients:
Linux routes all of 127.0.0.0/8 to the loopback interface.
"""
import http.client
import re
import resource
import secrets
import socket
import ssl
import statistics
import threading
import time

import pytest

from entitle_testlib import EntitledServer
from lease_helpers import ISSUER_KID, Issuer, LeaseEnv, checkout_body, entitlement, expect_error, unique


def conn_from(server, source, timeout=10):
    return http.client.HTTPSConnection(server.host, server.port, context=server.tls_context(),
                                       timeout=timeout, source_address=(source, 0))


def metric(server, name):
    text = server.request("GET", "/metrics").body
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def audit_events(server, token, kind):
    evs = server.request("GET", "/v1/audit?limit=10000", token=token).json()["events"]
    return [e for e in evs if e["kind"] == kind]


@pytest.fixture
def start(data_dir):
    servers = []

    def go(*args):
        s = EntitledServer(data_dir, list(args)).start()
        servers.append(s)
        return s

    yield go
    for s in servers:
        s.stop()


def test_requests_past_the_per_address_rate_are_refused_429_with_retry_after(start):
    s = start("--rate-per-address", "0.5", "--burst-per-address", "5")
    c = conn_from(s, "127.0.0.2")
    answers = [s.request("GET", "/healthz", conn=c) for _ in range(8)]
    assert [r.status for r in answers[:5]] == [200] * 5
    for r in answers[5:]:
        expect_error(r, 429, "rate_limited")
        assert int(r.header("Retry-After")) >= 1
        assert "127.0.0.2" in r.json()["error"]["message"]
    # The limit is per address: another client is served.
    assert s.request("GET", "/healthz", conn=conn_from(s, "127.0.0.3")).status == 200


def test_requests_past_the_per_token_rate_are_refused_while_other_tokens_are_served(start, admin_token):
    s = start("--rate-per-token", "0.5", "--burst-per-token", "3")
    r = s.request("POST", "/v1/tokens", {"role": "auditor", "name": "reader"}, token=admin_token)
    assert r.status == 201, r
    auditor = r.json()["token"]
    assert s.request("GET", "/v1/tokens", token=admin_token).status == 200
    assert s.request("GET", "/v1/tokens", token=admin_token).status == 200
    r = s.request("GET", "/v1/tokens", token=admin_token)
    expect_error(r, 429, "rate_limited")
    assert int(r.header("Retry-After")) >= 1
    token_id = admin_token[:16]  # the public id part of the token
    assert token_id in r.json()["error"]["message"]
    assert admin_token not in r.body  # the message names the token id, never the token
    # Another token, and the routes that need none, are not affected.
    assert s.request("GET", "/v1/audit?limit=1", token=auditor).status == 200
    assert s.request("GET", "/healthz").status == 200


def test_a_zero_rate_turns_request_limits_off(start, admin_token):
    s = start("--rate-per-token", "0", "--rate-per-address", "0")
    c = s.connection()
    assert all(s.request("GET", "/v1/tokens", token=admin_token, conn=c).status == 200 for _ in range(50))


def open_tls(server, source):
    """A TLS connection from `source` that has answered one request."""
    c = conn_from(server, source, timeout=5)
    r = server.request("GET", "/healthz", conn=c)
    assert r.status == 200
    return c


def refused(server, source) -> bool:
    try:
        open_tls(server, source)
        return False
    except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
        return True


def test_one_address_cannot_hold_more_connections_than_its_cap(start):
    s = start("--max-connections-per-address", "3")
    held = [open_tls(s, "127.0.0.2") for _ in range(3)]
    assert refused(s, "127.0.0.2"), "a fourth connection from the same address was served"
    assert metric(s, "entitle_http_refused_connections_total") >= 1
    # Other addresses are not affected.
    assert s.request("GET", "/healthz", conn=conn_from(s, "127.0.0.1")).status == 200
    # Closing one frees its slot once the server sees the close.
    held.pop().close()
    deadline = time.monotonic() + 10
    while refused(s, "127.0.0.2"):
        assert time.monotonic() < deadline, "the slot of a closed connection was never freed"
        time.sleep(0.1)
    for c in held:
        c.close()


SLOW_CONNECTIONS = 500


def test_slowloris_connections_and_a_bad_token_flood_do_not_delay_a_legitimate_checkout(data_dir, capsys):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * SLOW_CONNECTIONS + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"needs {want} file descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the server inherits it

    issuer = Issuer.generate(ISSUER_KID)
    issuer.trust(data_dir)
    env = LeaseEnv(data_dir, issuer).start()
    s = env.server
    try:
        env.import_license([entitlement("slow-e", "vWS", "concurrent", count=1000)])
        host = env.add_host()

        # Half the slow clients connect and never start TLS; the other half
        # finish the handshake and then send a request header a byte at a time.
        raw, tls = [], []
        ctx = s.tls_context()
        for i in range(SLOW_CONNECTIONS):
            sock = socket.create_connection((s.host, s.port), timeout=10, source_address=("127.0.0.2", 0))
            if i % 2:
                sock = ctx.wrap_socket(sock, server_hostname="localhost")
                sock.sendall(b"POST /v1/leases HTTP/1.1\r\nHost: localhost\r\n")
                tls.append(sock)
            else:
                raw.append(sock)
        stop = threading.Event()

        def dribble():
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                for sock in tls:
                    try:
                        sock.sendall(b"X")
                    except OSError:
                        pass  # the server may drop it after its read timeout: that is the point
                stop.wait(0.5)

        flood_status = {}

        def flood():
            deadline = time.monotonic() + 30
            c = conn_from(s, "127.0.0.3")
            n = 0
            while not stop.is_set() and time.monotonic() < deadline and n < 20_000:
                n += 1
                bad = "Bearer " + secrets.token_urlsafe(44)[:59]
                try:
                    c.request("GET", "/v1/leases", headers={"Authorization": bad})
                    r = c.getresponse()
                    r.read()
                    flood_status[r.status] = flood_status.get(r.status, 0) + 1
                except (OSError, http.client.HTTPException):
                    c.close()
                    c = conn_from(s, "127.0.0.3")

        workers = [threading.Thread(target=dribble), threading.Thread(target=flood)]
        for w in workers:
            w.start()
        try:
            time.sleep(1.0)  # let the flood pass its failure budget
            held = metric(s, "entitle_http_open_connections")
            latencies = []
            for _ in range(20):
                t0 = time.monotonic()
                c = conn_from(s, "127.0.0.1")  # a fresh connection: handshake included
                r = s.request("POST", "/v1/leases", checkout_body(request_id=unique("legit")),
                              token=host.token, conn=c)
                latencies.append(time.monotonic() - t0)
                assert r.status == 201, r
                rel = s.request("DELETE", f"/v1/leases/{r.json()['lease_id']}", token=host.token, conn=c)
                assert rel.status == 204, rel
                c.close()
                time.sleep(0.1)
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=40)
        for sock in raw + tls:
            sock.close()

        assert held >= SLOW_CONNECTIONS, f"the server held only {held} of {SLOW_CONNECTIONS} slow connections"
        # Served while the slow clients are still held (the server drops them
        # only after its 10 s read timeout), not behind them; the bound leaves
        # room for a loaded 2-core machine, the printed figure is the measure.
        assert max(latencies) < 5.0, f"a legitimate checkout took {max(latencies):.3f} s"
        assert flood_status.get(429, 0) > 0, flood_status  # failures past the budget are throttled
        assert set(flood_status) <= {401, 429}, flood_status
        # Audited, but coalesced: one auth_failed event per address and window, not one per request.
        failed = [e for e in audit_events(s, env.admin, "auth_failed") if e["subject"] == "127.0.0.3"]
        assert 1 <= len(failed) <= 2, len(failed)
        with capsys.disabled():
            print(f"\nslowloris: held={int(held)} slow connections, legitimate checkout+handshake "
                  f"median={statistics.median(latencies) * 1000:.1f} ms max={max(latencies) * 1000:.1f} ms, "
                  f"bad-token flood answers={flood_status}, auth_failed events={len(failed)}")
    finally:
        env.stop()
