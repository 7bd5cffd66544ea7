"""The HTTP surface every later endpoint stands on: public routes, the error
shape, authentication and roles, limits and TLS."""
import base64
import hashlib
import json
import re
import socket
import ssl

import pytest


def error_of(resp):
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    return body["error"]["code"]


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_healthz_answers_ok_without_a_token(server):
    r = server.request("GET", "/healthz")
    assert r.status == 200
    assert r.json() == {"status": "ok"}


def test_keys_is_a_jwks_of_ed25519_keys_named_by_thumbprint(server):
    r = server.request("GET", "/v1/keys")
    assert r.status == 200
    assert r.header("Content-Type").startswith("application/json")
    keys = r.json()["keys"]
    assert len(keys) == 1
    k = keys[0]
    assert k["kty"] == "OKP" and k["crv"] == "Ed25519"
    assert len(b64url_decode(k["x"])) == 32
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": k["x"]}, separators=(",", ":"),
                           sort_keys=True)
    thumb = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")
    assert k["kid"] == thumb.decode()


def test_keys_match_the_lease_signing_key_on_disk(server, data_dir):
    from cryptography.hazmat.primitives import serialization
    pem = (data_dir / "lease-signing.key").read_bytes()
    priv = serialization.load_pem_private_key(pem, password=None)
    raw = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = server.request("GET", "/v1/keys").json()["keys"][0]["x"]
    assert b64url_decode(x) == raw


def test_metrics_count_requests_by_route_and_status(server):
    server.request("GET", "/healthz")
    server.request("GET", "/nowhere")
    r = server.request("GET", "/metrics")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain")
    text = r.body
    assert re.search(r'^entitle_http_requests_total\{route="/healthz",method="GET",status="200"\} 1$',
                     text, re.M)
    assert re.search(r'^entitle_http_requests_total\{route="unmatched",method="GET",status="404"\} 1$',
                     text, re.M)
    assert '# TYPE entitle_http_request_duration_seconds histogram' in text
    assert re.search(r'^entitle_http_request_duration_seconds_bucket\{route="/healthz",method="GET",le="\+Inf"\} 1$',
                     text, re.M)
    assert re.search(r"^entitle_http_open_connections \d+$", text, re.M)
    assert re.search(r"^entitle_store_commits_total \d+$", text, re.M)


def test_unknown_route_is_a_json_404(server):
    r = server.request("GET", "/v1/nothing-here")
    assert r.status == 404
    assert error_of(r) == "not_found"


def test_wrong_method_is_a_json_405_with_allow(server):
    r = server.request("PUT", "/healthz")
    assert r.status == 405
    assert error_of(r) == "method_not_allowed"
    assert r.header("Allow") == "GET"


@pytest.mark.parametrize("auth", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-token",
                                  "Bearer " + "A" * 59, "Bearer " + "A" * 58 + "=="])
def test_missing_malformed_or_unknown_tokens_get_401(server, auth):
    headers = {"Authorization": auth} if auth is not None else {}
    r = server.request("GET", "/v1/tokens", headers=headers)
    assert r.status == 401
    assert error_of(r) == "unauthorized"
    assert r.header("WWW-Authenticate") == "Bearer"


def test_a_token_with_one_character_changed_is_refused(server, admin_token):
    flipped = admin_token[:-1] + ("A" if admin_token[-1] != "A" else "B")
    assert server.request("GET", "/v1/tokens", token=flipped).status == 401
    assert server.request("GET", "/v1/tokens", token=admin_token).status == 200


def test_admin_creates_lists_and_revokes_tokens(server, admin_token):
    r = server.request("POST", "/v1/tokens", {"role": "auditor", "name": "acme audit"}, token=admin_token)
    assert r.status == 201, r
    created = r.json()
    assert created["role"] == "auditor" and created["name"] == "acme audit"
    auditor = created["token"]
    listing = server.request("GET", "/v1/tokens", token=admin_token)
    assert listing.status == 200
    ids = {t["id"]: t for t in listing.json()["tokens"]}
    assert created["id"] in ids and ids[created["id"]]["revoked_at"] is None
    # The secret is shown once and never again, nor its hash.
    assert auditor not in listing.body and admin_token not in listing.body
    assert "hash" not in listing.body

    # An auditor cannot do admin work.
    r = server.request("GET", "/v1/tokens", token=auditor)
    assert r.status == 403 and error_of(r) == "forbidden"

    # Revocation takes effect on the next request.
    assert server.request("DELETE", f"/v1/tokens/{created['id']}", token=admin_token).status == 204
    r = server.request("GET", "/v1/tokens", token=auditor)
    assert r.status == 401
    assert server.request("DELETE", "/v1/tokens/doesnotexist", token=admin_token).status == 404


@pytest.mark.parametrize("body,fragment", [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1,2]", "JSON object"),
    ('{"role":"host"}', "role"),
    ('{"role":"root"}', "role"),
    ('{"name":"x"}', "role"),
    ('{"role":"auditor","name":5}', "name"),
])
def test_malformed_bodies_get_400_and_store_nothing(server, admin_token, body, fragment):
    before = len(server.request("GET", "/v1/tokens", token=admin_token).json()["tokens"])
    r = server.request("POST", "/v1/tokens", body, token=admin_token,
                       headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert error_of(r) == "invalid_request"
    assert fragment in r.json()["error"]["message"]
    after = len(server.request("GET", "/v1/tokens", token=admin_token).json()["tokens"])
    assert after == before


def test_an_oversized_body_gets_413_and_the_server_keeps_serving(server, admin_token):
    big = json.dumps({"role": "auditor", "name": "x" * (70 * 1024)})
    r = server.request("POST", "/v1/tokens", big, token=admin_token,
                       headers={"Content-Type": "application/json"})
    assert r.status == 413
    assert error_of(r) == "payload_too_large"
    assert server.request("GET", "/healthz").status == 200


def test_an_oversized_header_gets_413(server):
    r = server.request("GET", "/healthz", headers={"X-Big": "y" * (20 * 1024)})
    assert r.status == 413
    assert error_of(r) == "payload_too_large"


def test_tls_1_3_is_negotiated_and_1_1_refused(server):
    ctx = server.tls_context()
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() == "TLSv1.3"
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this Python's OpenSSL cannot even offer TLS 1.1")
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            old.wrap_socket(raw, server_hostname="127.0.0.1")


def test_plain_http_is_not_served(server):
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = raw.recv(4096)
    assert b"200 OK" not in data


def test_keep_alive_serves_many_requests_on_one_connection(server):
    conn = server.connection()
    try:
        for _ in range(20):
            assert server.request("GET", "/healthz", conn=conn).status == 200
    finally:
        conn.close()


def test_logs_name_token_ids_but_never_tokens(server, admin_token):
    server.request("GET", "/v1/tokens", token=admin_token)
    server.request("GET", "/v1/tokens", token=admin_token + "x")
    server.stop()
    log = "\n".join(server.stderr_lines)
    assert "route=/v1/tokens status=200" in log
    assert admin_token not in log
    assert re.search(r"route=/v1/tokens status=200 .*token_id=[A-Za-z0-9_-]{16}", log)


def test_every_answer_carries_a_date_header_close_to_now(server):
    import email.utils
    import time
    for path in ("/healthz", "/v1/nothing"):
        r = server.request("GET", path)
        stamp = email.utils.parsedate_to_datetime(r.header("Date")).timestamp()
        assert abs(stamp - time.time()) < 5


def test_every_answer_forbids_plain_http_and_content_sniffing(server):
    for path in ("/healthz", "/v1/nothing", "/v1/keys"):
        r = server.request("GET", path)
        assert r.header("Strict-Transport-Security") == "max-age=31536000"
        assert r.header("X-Content-Type-Options") == "nosniff"
