"""License import, listing, withdrawal and supersession over the HTTP API
(contract sections 1, 4 and 5), with license files signed by PyJWT.

Issuer keys are made at run time (license_factory.py) and trusted by writing
their public key to DATA/issuers/<kid>.pem before the server starts, or by a
SIGHUP afterwards.
"""
import hashlib
import hmac
import http.client
import io
import json
import select
import signal
import socket
import ssl
import subprocess
import threading
import time

import jwt
import pytest

from entitle_testlib import EntitledServer, Response, entitled_bin
from license_factory import (DAY, OMIT, Issuer, b64url, claims_of, entitlement,
                             license_claims, replace_segment, window)

ISSUER_KID = "acme-2026"
GENESIS = "0" * 64
BODY_LIMIT = 64 * 1024


# --------------------------------------------------------------------------- helpers

def error_code(resp) -> str:
    """The code of a contract-shaped error answer {"error":{"code","message"}}."""
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return body["error"]["code"]


def error_message(resp) -> str:
    return resp.json()["error"]["message"]


def import_license(server, token, text, content_type=None) -> Response:
    body = text.encode() if isinstance(text, str) else text
    headers = {"Content-Type": content_type} if content_type else {}
    return server.request("POST", "/v1/licenses", body, token=token, headers=headers)


def get_json(server, token, path):
    r = server.request("GET", path, token=token)
    assert r.status == 200, (path, r)
    return r.json()


def entitlements_by_id(server, token) -> dict:
    ents = get_json(server, token, "/v1/entitlements")["entitlements"]
    by_id = {e["id"]: e for e in ents}
    assert len(by_id) == len(ents), "entitlement ids must be unique"
    return by_id


def license_list(server, token) -> list:
    return get_json(server, token, "/v1/licenses")["licenses"]


def store_snapshot(server, token):
    """What the store shows of licenses, order-independent."""
    lics = sorted(license_list(server, token), key=lambda l: l["jti"])
    ents = sorted(get_json(server, token, "/v1/entitlements")["entitlements"], key=lambda e: e["id"])
    return lics, ents


def audit_events(server, token, after=0, limit=None, max_pages=1000) -> list:
    """Every event after `after`, following "next" (bounded)."""
    events = []
    for _ in range(max_pages):
        path = f"/v1/audit?after={after}" + (f"&limit={limit}" if limit else "")
        page = get_json(server, token, path)
        events.extend(page["events"])
        if "next" not in page or page["next"] is None:
            return events
        assert page["events"], "a page with \"next\" must hold events"
        after = page["next"]
    pytest.fail("audit paging did not end")


def last_seq(server, token) -> int:
    events = audit_events(server, token)
    return events[-1]["seq"] if events else 0


def kinds(events) -> list:
    return [e["kind"] for e in events]


def event_hash(e) -> str:
    canonical = json.dumps({k: e[k] for k in ("actor", "detail", "kind", "seq", "subject", "ts")},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((e["prev_hash"] + "\n" + canonical).encode("utf-8")).hexdigest()


def ids_of(jti, claims) -> set:
    return {f"{jti}/{e['id']}" for e in claims["entitlements"]}


class _Replay:
    """A socket stand-in that lets http.client parse bytes already read."""

    def __init__(self, data):
        self._file = io.BytesIO(data)

    def makefile(self, *args, **kwargs):
        return self._file


def post_large(server, path, body: bytes, token, chunk=16 * 1024, timeout=20) -> Response:
    """POST a body bigger than the server accepts, the way a careful client
    does: stop sending as soon as the server has answered (it may answer 413
    after the headers and close), then read the answer to the end."""
    raw = socket.create_connection((server.host, server.port), timeout=timeout)
    sock = server.tls_context().wrap_socket(raw, server_hostname=server.host)
    received = b""
    try:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                      f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n"
                      "Connection: close\r\n\r\n").encode())
        sent = 0
        deadline = time.monotonic() + timeout
        try:
            while sent < len(body) and time.monotonic() < deadline:
                # Has an answer arrived? (TLS 1.3 session tickets also make the
                # socket readable, so look for application data.)
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    sock.setblocking(False)
                    try:
                        received += sock.recv(65536)
                    except ssl.SSLWantReadError:
                        pass
                    finally:
                        sock.settimeout(timeout)
                    if received:
                        break
                sock.sendall(body[sent:sent + chunk])
                sent += chunk
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the server stopped reading: its answer should be waiting
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError, TimeoutError):
                break
            if not data:
                break
            received += data
    finally:
        sock.close()
    assert received, "the server closed without answering"
    resp = http.client.HTTPResponse(_Replay(received))
    resp.begin()
    return Response(resp.status, resp.getheaders(), resp.read().decode())


def submit(server, token, body: bytes) -> Response:
    if len(body) > BODY_LIMIT:
        return post_large(server, "/v1/licenses", body, token)
    return import_license(server, token, body)


def make_token(server, admin_token, role="auditor") -> tuple[str, str]:
    r = server.request("POST", "/v1/tokens", {"role": role, "name": f"test {role}"}, token=admin_token)
    assert r.status == 201, r
    return r.json()["token"], r.json()["id"]


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def issuer(tmp_path, data_dir):
    """A vendor key made now, trusted by the server (written before it starts)."""
    iss = Issuer.generate(ISSUER_KID, tmp_path / "issuer-keys")
    iss.trust(data_dir)
    return iss


@pytest.fixture
def server(data_dir, issuer):
    """Overrides conftest's `server`: started only after `issuer` is trusted."""
    s = EntitledServer(data_dir)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def signed(issuer):
    """signed(jti, entitlements=None, **claims) -> license file text."""
    def make(jti, entitlements=None, **claims):
        return issuer.sign(license_claims(jti, entitlements, **claims))
    return make


# --------------------------------------------------------------------------- 1. interop

INTEROP_ENTITLEMENTS = [
    entitlement("vws-seats", feature="vWS", model="concurrent", count=25,
                regions=["eu-*", "us-east-1"]),
    entitlement("vpc-gpus", feature="vPC", model="per_device", count=4,
                devices=["GPU-6f1c2d3e-0000-4000-8000-00000000a001"]),
]


def interop_entitlements():
    sub = entitlement("vcs-sub", feature="vCS", model="subscription", count=8,
                      regions=["eu-west-1"], overage={"policy": "allow", "limit_percent": 20},
                      max_lease_seconds=3600, **window(-DAY, 30 * DAY))
    return INTEROP_ENTITLEMENTS + [sub]


def test_pyjwt_signed_license_imports_and_its_entitlements_are_listed(server, admin_token, issuer):
    jti = "LIC-2026-0001"
    ents = interop_entitlements()
    claims = license_claims(jti, ents, iss="Acme GPU Inc.", sub="Contoso Rendering")
    text = jwt.encode(claims, issuer.key, algorithm="EdDSA",
                      headers={"typ": "entitle-license+jwt", "kid": ISSUER_KID})
    assert jwt.get_unverified_header(text) == {"alg": "EdDSA", "typ": "entitle-license+jwt",
                                               "kid": ISSUER_KID}

    r = import_license(server, admin_token, text, content_type="application/jwt")
    assert r.status == 201, r
    assert jti in r.body  # the license summary names it

    lic = get_json(server, admin_token, f"/v1/licenses/{jti}")
    assert lic["jti"] == jti and lic["iss"] == "Acme GPU Inc." and lic["sub"] == "Contoso Rendering"
    shown = {e["id"].removeprefix(f"{jti}/"): e for e in lic["entitlements"]}
    assert set(shown) == {e["id"] for e in ents}
    for e in ents:
        assert shown[e["id"]]["feature"] == e["feature"]
        assert shown[e["id"]]["model"] == e["model"]
        assert shown[e["id"]]["count"] == e["count"]

    assert [l["jti"] for l in license_list(server, admin_token)] == [jti]

    listed = entitlements_by_id(server, admin_token)
    assert set(listed) == {f"{jti}/{e['id']}" for e in ents}
    for e in ents:
        got = listed[f"{jti}/{e['id']}"]
        assert got["feature"] == e["feature"]
        assert got["model"] == e["model"]
        assert got["count"] == e["count"]
        assert got["in_use"] == 0 and got["peak"] == 0
        assert got.get("not_before") == e.get("not_before")
        assert got.get("not_after") == e.get("not_after")
        if "regions" in e:
            assert got["regions"] == e["regions"]
        else:
            assert got.get("regions") in (None, []), "absent regions mean anywhere"

    imported = [ev for ev in audit_events(server, admin_token) if ev["kind"] == "license_imported"]
    assert len(imported) == 1
    assert imported[0]["subject"] == jti


def test_reimporting_the_identical_file_answers_200_and_changes_nothing(server, admin_token, signed):
    text = signed("LIC-SAME", interop_entitlements())
    assert import_license(server, admin_token, text).status == 201
    before = store_snapshot(server, admin_token)
    seq = last_seq(server, admin_token)

    r = import_license(server, admin_token, text, content_type="application/json")
    assert r.status == 200, r
    assert "LIC-SAME" in r.body

    assert store_snapshot(server, admin_token) == before
    assert "license_imported" not in kinds(audit_events(server, admin_token, after=seq))


def test_same_jti_with_other_content_is_a_409_conflict_and_changes_nothing(server, admin_token, issuer):
    first = license_claims("LIC-CONFLICT", [entitlement("seats", count=10)])
    assert import_license(server, admin_token, issuer.sign(first)).status == 201
    before = store_snapshot(server, admin_token)
    seq = last_seq(server, admin_token)

    other = license_claims("LIC-CONFLICT", [entitlement("seats", count=1000)], iat=first["iat"])
    r = import_license(server, admin_token, issuer.sign(other))
    assert r.status == 409, r
    assert error_code(r) == "conflict"

    assert store_snapshot(server, admin_token) == before
    assert entitlements_by_id(server, admin_token)["LIC-CONFLICT/seats"]["count"] == 10
    assert "license_imported" not in kinds(audit_events(server, admin_token, after=seq))


def test_a_trailing_newline_in_the_file_is_accepted(server, admin_token, signed):
    text = signed("LIC-NEWLINE", [entitlement("seats", count=3)]) + "\n"
    r = import_license(server, admin_token, text, content_type="text/plain")
    assert r.status == 201, r
    assert entitlements_by_id(server, admin_token)["LIC-NEWLINE/seats"]["count"] == 3


# --------------------------------------------------------------------------- 2. hostile files

class HostileContext:
    def __init__(self, issuer, rogue, jti):
        self.issuer = issuer    # trusted
        self.rogue = rogue      # not trusted
        self.jti = jti          # unique per case

    def claims(self, entitlements=None, **changes):
        """Good claims with `changes` applied (OMIT drops a claim)."""
        claims = license_claims(self.jti, entitlements)
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not OMIT}

    def good(self, **extra) -> str:
        return self.issuer.sign(self.claims(**extra))


def with_entitlement(**fields):
    """A correctly signed license whose one entitlement has `fields` changed."""
    def build(ctx):
        return ctx.issuer.sign(ctx.claims([entitlement("seats", **fields)])).encode()
    return build


def with_claims(**claims):
    def build(ctx):
        return ctx.issuer.sign(ctx.claims(**claims)).encode()
    return build


def with_entitlements(make):
    def build(ctx):
        return ctx.issuer.sign(ctx.claims(make())).encode()
    return build


def raw_payload(payload: bytes):
    """A correctly signed file (right alg, typ, kid) around arbitrary payload bytes."""
    def build(ctx):
        return ctx.issuer.sign_raw(ctx.issuer.header(), payload).encode()
    return build


def with_header(**fields):
    def build(ctx):
        return ctx.issuer.sign_raw(ctx.issuer.header(**fields), ctx.claims()).encode()
    return build


def truncated_token(ctx):
    token = ctx.good()
    header, payload, _ = token.split(".")
    return (header + "." + payload[:len(payload) // 2]).encode()


def fourth_segment(ctx):
    token = ctx.good()
    return (token + "." + token.split(".")[2]).encode()


def two_segments(ctx):
    header, payload, _ = ctx.good().split(".")
    return (header + "." + payload).encode()


def bad_base64_character(ctx):
    header, payload, sig = ctx.good().split(".")
    mid = len(payload) // 2
    return ".".join([header, payload[:mid] + "!" + payload[mid + 1:], sig]).encode()


def standard_base64_alphabet(ctx):
    """'+' and '/' are base64, not base64url."""
    header, payload, sig = ctx.good().split(".")
    return ".".join([header, payload, sig.replace("-", "+").replace("_", "/")[:-2] + "+/"]).encode()


def padded_signature(ctx):
    token = ctx.good()
    assert len(token.split(".")[2]) % 4 == 2  # 64 bytes -> 86 characters
    return (token + "==").encode()


def whitespace_inside(ctx):
    header, payload, sig = ctx.good().split(".")
    return (header + ".\n" + payload + "." + sig).encode()


def alg_none(ctx):
    return jwt.encode(ctx.claims(), None, algorithm="none",
                      headers={"typ": "entitle-license+jwt", "kid": ctx.issuer.kid}).encode()


def hs256_with_public_key_as_secret(ctx):
    """The classic confusion attack: HMAC keyed with the issuer's public PEM."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "entitle-license+jwt",
                                "kid": ctx.issuer.kid}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(ctx.claims(), separators=(",", ":")).encode())
    mac = hmac.new(ctx.issuer.public_pem(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}".encode()


def signed_by_untrusted_key_under_trusted_kid(ctx):
    return ctx.rogue.sign(ctx.claims(), kid=ctx.issuer.kid).encode()


def unknown_kid(ctx):
    return ctx.rogue.sign(ctx.claims(), kid="no-such-issuer").encode()


def kid_path_traversal(ctx):
    """A kid naming the trusted key's file by a path must not find it."""
    return ctx.issuer.sign(ctx.claims(), kid=f"../issuers/{ctx.issuer.kid}").encode()


def payload_edited_after_signing(ctx):
    token = ctx.good()
    claims = claims_of(token)
    claims["entitlements"][0]["count"] = 100000
    return replace_segment(token, 1, b64url(json.dumps(claims).encode())).encode()


def signature_truncated(ctx):
    token = ctx.good()
    sig = token.split(".")[2]
    return replace_segment(token, 2, sig[:84]).encode()  # 63 bytes, canonical length


def duplicate_entitlement_ids():
    return [entitlement("dup-seat", count=1), entitlement("dup-seat", feature="vPC", count=2)]


def lapsed_entitlements():
    return [entitlement("old", **window(-400 * DAY, -DAY)),
            entitlement("old-sub", model="subscription", count=5, **window(-60 * DAY, -10))]


def payload_not_json(ctx):
    return raw_payload(b'{"jti": "' + ctx.jti.encode() + b'", "entitlements": [')(ctx)


def payload_invalid_utf8(ctx):
    text = json.dumps(ctx.claims(sub="Caf\u00e9 GmbH"), ensure_ascii=False).encode()
    return raw_payload(text.replace("\u00e9".encode(), b"\xe9"))(ctx)  # latin-1, not UTF-8


def nested_arrays(depth):
    def build(ctx):
        return raw_payload(b"[" * depth + b"]" * depth)(ctx)
    return build


def over_body_limit(ctx):
    ents = [entitlement(f"seat-{i:05d}", count=1, regions=["eu-*", "us-*", "ap-*"])
            for i in range(900)]
    token = ctx.issuer.sign(ctx.claims(ents))
    assert len(token) > BODY_LIMIT
    return token.encode()


def empty_body(ctx):
    return b""


UUID = "GPU-6f1c2d3e-0000-4000-8000-00000000b001"
S422 = {(422, "invalid_license")}
TOO_LARGE = {(413, "payload_too_large")}

# (builder, {(status, code)}, message fragments - any one, case-insensitive - or None)
HOSTILE = [
    # JWS framing and encoding
    pytest.param(truncated_token, S422, ("segment", "JWS", "compact", "truncated"), id="truncated-token"),
    pytest.param(fourth_segment, S422, ("segment", "JWS", "compact"), id="four-segments"),
    pytest.param(two_segments, S422, ("segment", "JWS", "compact"), id="two-segments"),
    pytest.param(bad_base64_character, S422, ("base64",), id="bad-base64-character"),
    pytest.param(standard_base64_alphabet, S422, ("base64",), id="standard-base64-alphabet"),
    pytest.param(padded_signature, S422, ("padding", "'='", "base64"), id="base64-padding"),
    pytest.param(whitespace_inside, S422, None, id="newline-inside-token"),
    # header: algorithm, type, key id
    pytest.param(alg_none, S422, ("alg", "none", "signature", "unsigned"), id="alg-none-unsigned"),
    pytest.param(hs256_with_public_key_as_secret, S422, ("alg", "HS256"), id="alg-hs256-pem-as-secret"),
    pytest.param(with_header(alg="RS256"), S422, ("alg", "RS256"), id="alg-rs256"),
    pytest.param(with_header(alg=OMIT), S422, ("alg",), id="alg-missing"),
    pytest.param(with_header(typ="JWT"), S422, ("typ",), id="typ-jwt"),
    pytest.param(with_header(typ=OMIT), S422, ("typ",), id="typ-missing"),
    pytest.param(unknown_kid, S422, ("no-such-issuer",), id="kid-unknown"),
    pytest.param(with_header(kid=OMIT), S422, ("kid",), id="kid-missing"),
    pytest.param(kid_path_traversal, S422, ("trust", "kid", "issuer", "unknown"), id="kid-path-traversal"),
    pytest.param(with_header(crit=["x-entitle-unknown"], **{"x-entitle-unknown": 1}), S422,
                 ("crit",), id="header-crit-unknown-extension"),
    pytest.param(lambda ctx: ctx.issuer.sign_raw(b"{not json", ctx.claims()).encode(), S422,
                 ("header", "JSON"), id="header-not-json"),
    # signature
    pytest.param(signed_by_untrusted_key_under_trusted_kid, S422, ("signature",),
                 id="signed-by-untrusted-key-under-trusted-kid"),
    pytest.param(payload_edited_after_signing, S422, ("signature",), id="payload-edited-after-signing"),
    pytest.param(signature_truncated, S422, ("signature",), id="signature-truncated"),
    # entitlement claims
    pytest.param(with_entitlement(count=0), S422, ("count",), id="count-0"),
    pytest.param(with_entitlement(count=-1), S422, ("count",), id="count-negative"),
    pytest.param(with_entitlement(count=2 ** 63), S422, ("count",), id="count-2pow63"),
    pytest.param(with_entitlement(count="3"), S422, ("count",), id="count-string"),
    pytest.param(with_entitlement(count=1.5), S422, ("count",), id="count-fraction"),
    pytest.param(with_entitlement(count=True), S422, ("count",), id="count-boolean"),
    pytest.param(with_entitlement(count=10 ** 9 + 1), S422, ("count",), id="count-over-1e9"),
    pytest.param(with_entitlement(count=OMIT), S422, ("count",), id="count-missing-on-concurrent"),
    pytest.param(with_entitlements(list), S422, ("entitlements",), id="entitlements-empty"),
    pytest.param(with_entitlements(lambda: {"seats": entitlement("seats")}), S422, ("entitlements",),
                 id="entitlements-not-array"),
    pytest.param(with_entitlements(lambda: ["seats"]), S422, ("entitlements",),
                 id="entitlement-not-object"),
    pytest.param(with_entitlements(duplicate_entitlement_ids), S422, ("duplicate", "dup-seat"),
                 id="duplicate-entitlement-ids"),
    pytest.param(with_entitlement(model="floating"), S422, ("model",), id="model-unknown"),
    pytest.param(with_entitlement(feature=OMIT), S422, ("feature",), id="feature-missing"),
    pytest.param(with_entitlement(**window(2000, 1000)), S422, ("not_before", "not_after", "window"),
                 id="window-inverted"),
    pytest.param(with_entitlement(model="subscription", count=5), S422,
                 ("not_before", "not_after", "window"), id="subscription-without-window"),
    pytest.param(with_entitlements(lapsed_entitlements), S422,
                 ("not_after", "lapsed", "expired", "past"), id="lapsed-license"),
    pytest.param(with_entitlement(devices=[UUID]), S422, ("devices",), id="devices-on-concurrent"),
    pytest.param(with_entitlement(regions="eu-*"), S422, ("regions",), id="regions-not-array"),
    pytest.param(with_entitlement(overage={"policy": "allow", "limit_percent": 1001}), S422,
                 ("limit_percent",), id="overage-limit-1001"),
    pytest.param(with_entitlement(overage={"policy": "allow", "limit_percent": -1}), S422,
                 ("limit_percent",), id="overage-limit-negative"),
    pytest.param(with_entitlement(overage={"policy": "maybe"}), S422, ("policy",), id="overage-policy-maybe"),
    pytest.param(with_entitlement(max_lease_seconds=0), S422, ("max_lease_seconds",),
                 id="max-lease-seconds-0"),
    # license claims
    pytest.param(with_claims(jti=OMIT), S422, ("jti",), id="jti-missing"),
    pytest.param(with_claims(jti=12345), S422, ("jti",), id="jti-not-string"),
    pytest.param(with_claims(sub=OMIT), S422, ("sub",), id="sub-missing"),
    pytest.param(with_claims(iat="1767225600"), S422, ("iat",), id="iat-string"),
    # payload bytes
    pytest.param(payload_not_json, S422, ("JSON",), id="payload-not-json"),
    pytest.param(raw_payload(b'[{"jti":"x"}]'), S422, ("object",), id="payload-json-array"),
    pytest.param(payload_invalid_utf8, S422, ("UTF-8", "UTF8"), id="payload-invalid-utf8"),
    pytest.param(nested_arrays(20000), S422, ("nest", "deep", "depth", "object"),
                 id="payload-deeply-nested-within-body-limit"),
    # body size
    pytest.param(nested_arrays(512 * 1024), TOO_LARGE | S422, None, id="payload-1mib-nested-arrays"),
    pytest.param(over_body_limit, TOO_LARGE, None, id="body-over-64kib"),
    pytest.param(empty_body, S422, None, id="empty-body"),
]


@pytest.fixture(scope="module")
def hostile_env(tmp_path_factory):
    """One server for the whole table (each case checks the store before and
    after), holding one good license so "unchanged" is not trivially empty."""
    base = tmp_path_factory.mktemp("hostile")
    data = base / "data"
    subprocess.run([entitled_bin(), "init", "--data", str(data)], check=True,
                   capture_output=True, timeout=60)
    trusted = Issuer.generate(ISSUER_KID, base / "issuer-keys")
    trusted.trust(data)
    rogue = Issuer.generate("rogue", base / "rogue-keys")
    srv = EntitledServer(data)
    srv.start()
    token = (data / "admin.token").read_text().strip()
    try:
        baseline = trusted.sign(license_claims("LIC-BASELINE", interop_entitlements()))
        r = import_license(srv, token, baseline)
        assert r.status == 201, r
        yield srv, token, trusted, rogue
    finally:
        srv.stop()


@pytest.mark.parametrize("build,expected,fragments", HOSTILE)
def test_hostile_license_file_is_rejected_and_stores_nothing(hostile_env, request, build, expected,
                                                             fragments):
    server, token, trusted, rogue = hostile_env
    ctx = HostileContext(trusted, rogue, f"LIC-HOSTILE-{request.node.callspec.id}")
    body = build(ctx)
    assert isinstance(body, bytes)
    before = store_snapshot(server, token)
    seq = last_seq(server, token)

    r = submit(server, token, body)

    code = error_code(r)
    assert (r.status, code) in expected, (r.status, r.body)
    if fragments is not None:
        message = error_message(r).lower()
        assert any(f.lower() in message for f in fragments), (fragments, error_message(r))

    assert store_snapshot(server, token) == before
    new = audit_events(server, token, after=seq)
    if r.status == 413:
        assert new == [], "a body refused by HTTP never reaches the import"
    else:
        assert new, "the rejection is audited"
        assert new[-1]["kind"] == "license_rejected", kinds(new)
        assert not {"license_imported", "license_withdrawn"} & set(kinds(new))
        assert new[-1]["detail"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_hostile_table_covers_enough_cases():
    assert len(HOSTILE) >= 32
    ids = [p.id for p in HOSTILE]
    assert len(set(ids)) == len(ids)


# --------------------------------------------------------------------------- 3. roles

def test_auditor_cannot_import_or_withdraw_but_can_read(server, admin_token, signed):
    assert import_license(server, admin_token, signed("LIC-KEPT")).status == 201
    auditor, _ = make_token(server, admin_token, "auditor")
    before = store_snapshot(server, admin_token)

    r = import_license(server, auditor, signed("LIC-BY-AUDITOR"))
    assert r.status == 403 and error_code(r) == "forbidden"
    r = server.request("DELETE", "/v1/licenses/LIC-KEPT", token=auditor)
    assert r.status == 403 and error_code(r) == "forbidden"

    assert store_snapshot(server, admin_token) == before
    for path in ("/v1/licenses", "/v1/licenses/LIC-KEPT", "/v1/entitlements", "/v1/audit"):
        assert server.request("GET", path, token=auditor).status == 200, path


def test_license_routes_without_a_token_get_401(server, admin_token, signed):
    assert import_license(server, admin_token, signed("LIC-KEPT")).status == 201
    before = store_snapshot(server, admin_token)
    # Few requests: repeated failures from one address are throttled (429).
    for method, path, body in [("POST", "/v1/licenses", signed("LIC-ANON").encode()),
                               ("DELETE", "/v1/licenses/LIC-KEPT", None),
                               ("GET", "/v1/licenses", None),
                               ("GET", "/v1/entitlements", None)]:
        r = server.request(method, path, body)
        assert r.status == 401, (method, path, r)
        assert error_code(r) == "unauthorized"
    assert store_snapshot(server, admin_token) == before


# --------------------------------------------------------------------------- 4. withdraw

def is_withdrawn(lic) -> bool:
    """The contract leaves open how a withdrawn license is shown, if at all."""
    return ("withdrawn" in (lic.get("state"), lic.get("status")) or lic.get("withdrawn") is True
            or bool(lic.get("withdrawn_at")))


def test_withdrawn_license_leaves_the_entitlements_and_is_audited(server, admin_token, signed):
    a, b = signed("LIC-A", interop_entitlements()), signed("LIC-B", [entitlement("other")])
    assert import_license(server, admin_token, a).status == 201
    assert import_license(server, admin_token, b).status == 201
    seq = last_seq(server, admin_token)

    r = server.request("DELETE", "/v1/licenses/LIC-A", token=admin_token)
    assert r.status in (200, 204), r

    assert set(entitlements_by_id(server, admin_token)) == {"LIC-B/other"}
    remaining = {l["jti"]: l for l in license_list(server, admin_token)}
    assert "LIC-B" in remaining and not is_withdrawn(remaining["LIC-B"])
    assert "LIC-A" not in remaining or is_withdrawn(remaining["LIC-A"])
    r = server.request("GET", "/v1/licenses/LIC-A", token=admin_token)
    assert r.status == 404 or (r.status == 200 and is_withdrawn(r.json())), r

    withdrawn = [e for e in audit_events(server, admin_token, after=seq) if e["kind"] == "license_withdrawn"]
    assert len(withdrawn) == 1
    assert withdrawn[0]["subject"] == "LIC-A"
    token_ids = {t["id"] for t in get_json(server, admin_token, "/v1/tokens")["tokens"]}
    assert withdrawn[0]["actor"] in token_ids, "the actor is the admin token's id"


def test_withdrawing_an_unknown_license_is_404(server, admin_token):
    seq = last_seq(server, admin_token)
    r = server.request("DELETE", "/v1/licenses/LIC-NEVER-SEEN", token=admin_token)
    assert r.status == 404 and error_code(r) == "not_found"
    assert "license_withdrawn" not in kinds(audit_events(server, admin_token, after=seq))


# --------------------------------------------------------------------------- 5. supersede

def test_superseding_license_replaces_the_old_entitlements(server, admin_token, signed):
    a = signed("LIC-OLD", [entitlement("seats", count=10), entitlement("gpus", model="per_device", count=2)])
    b = signed("LIC-NEW", [entitlement("seats-v2", count=20), entitlement("gpus-v2", model="per_device",
                                                                          count=4)],
               supersedes="LIC-OLD")
    assert import_license(server, admin_token, a).status == 201
    assert set(entitlements_by_id(server, admin_token)) == {"LIC-OLD/seats", "LIC-OLD/gpus"}

    r = import_license(server, admin_token, b)
    assert r.status == 201, r

    listed = entitlements_by_id(server, admin_token)
    assert set(listed) == {"LIC-NEW/seats-v2", "LIC-NEW/gpus-v2"}
    assert listed["LIC-NEW/seats-v2"]["count"] == 20


def test_readers_see_old_or_new_entitlements_never_a_mix_during_supersede(server, admin_token, issuer):
    a_claims = license_claims("LIC-GEN1", [entitlement(f"e{i}", count=i + 1) for i in range(8)])
    b_claims = license_claims("LIC-GEN2", [entitlement(f"f{i}", count=i + 1) for i in range(8)],
                              supersedes="LIC-GEN1")
    a_ids, b_ids = frozenset(ids_of("LIC-GEN1", a_claims)), frozenset(ids_of("LIC-GEN2", b_claims))
    assert import_license(server, admin_token, issuer.sign(a_claims)).status == 201
    assert set(entitlements_by_id(server, admin_token)) == a_ids

    done = threading.Event()
    done_at = [None]
    started = [threading.Event() for _ in range(4)]
    seen = [[] for _ in range(4)]
    errors = []
    hard_deadline = time.monotonic() + 60
    # A token per reader: each has its own rate limit, and the admin's stays
    # whole for the import and the checks after it.
    reader_tokens = [make_token(server, admin_token)[0] for _ in range(4)]

    def reader(n):
        conn = server.connection()
        try:
            for _ in range(2000):
                if done.is_set() and time.monotonic() > done_at[0] + 0.5:
                    break
                if time.monotonic() > hard_deadline:
                    break
                try:
                    r = server.request("GET", "/v1/entitlements", token=reader_tokens[n], conn=conn)
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = server.connection()
                    continue
                if r.status == 429:
                    # A reader on a quiet machine can outrun its token's rate
                    # limit: back off as a client would, and keep reading.
                    time.sleep(0.05)
                    continue
                if r.status != 200:
                    errors.append((n, r.status, r.body[:200]))
                else:
                    seen[n].append(frozenset(e["id"] for e in r.json()["entitlements"]))
                started[n].set()
        except Exception as exc:  # reported below, never lost in the thread
            errors.append((n, repr(exc)))
        finally:
            started[n].set()
            conn.close()

    threads = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    try:
        for ev in started:
            assert ev.wait(20), "a reader never got an answer"
        r = import_license(server, admin_token, issuer.sign(b_claims))
    finally:
        done_at[0] = time.monotonic()
        done.set()
        for t in threads:
            t.join(timeout=70)
    assert not any(t.is_alive() for t in threads)
    assert r.status == 201, r
    assert not errors, errors[:5]

    answers = [s for per in seen for s in per]
    assert answers
    bad = [sorted(s) for s in answers if s not in (a_ids, b_ids)]
    assert not bad, f"{len(bad)} of {len(answers)} answers were a mix or empty, e.g. {bad[0]}"
    assert set(entitlements_by_id(server, admin_token)) == b_ids


# --------------------------------------------------------------------------- 6. audit chain

def test_audit_chain_pages_link_and_recompute(server, admin_token, signed):
    c1 = signed("LIC-C1", [entitlement("a")])
    assert import_license(server, admin_token, c1).status == 201
    assert import_license(server, admin_token, signed("LIC-C2", [entitlement("b")])).status == 201
    assert import_license(server, admin_token, "not a license").status == 422
    assert import_license(server, admin_token, signed("LIC-C1", [entitlement("a", count=99)])).status == 409
    assert server.request("DELETE", "/v1/licenses/LIC-C2", token=admin_token).status in (200, 204)
    assert import_license(server, admin_token, c1).status == 200
    # Non-ASCII text in an event must hash as UTF-8, unescaped.
    r = import_license(server, admin_token, signed("LIC-Ä-株式会社", [entitlement("c")],
                                                   sub="Müller & Søn"))
    assert r.status == 201, r
    r = import_license(server, admin_token, signed("LIC-C4", [entitlement("d", count=0)]))
    assert r.status == 422

    paged = audit_events(server, admin_token, after=0, limit=2)
    whole = audit_events(server, admin_token, after=0)
    assert paged == whole
    assert len(paged) >= 6
    assert {"license_imported", "license_rejected", "license_withdrawn"} <= set(kinds(paged))

    t_now_ms = time.time() * 1000
    prev = GENESIS
    for i, e in enumerate(paged, start=1):
        assert {"seq", "ts", "kind", "actor", "subject", "detail", "prev_hash", "hash"} <= set(e), e
        assert e["seq"] == i
        assert isinstance(e["ts"], int) and abs(e["ts"] - t_now_ms) < 3600 * 1000, "ts is Unix ms"
        assert isinstance(e["detail"], dict)
        assert not _has_float(e["detail"]), "numbers in events are integers"
        assert e["prev_hash"] == prev, f"event {i} does not link"
        assert e["hash"] == event_hash(e), f"event {i} hash does not recompute"
        assert e["hash"] == e["hash"].lower() and len(e["hash"]) == 64
        prev = e["hash"]

    # `after` is exclusive, `limit` bounds the page.
    page = get_json(server, admin_token, "/v1/audit?after=3&limit=2")
    assert [e["seq"] for e in page["events"]] == [4, 5]
    assert "next" in page
    assert [e["seq"] for e in get_json(server, admin_token, f"/v1/audit?after={paged[-1]['seq']}")["events"]] == []


def _has_float(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


# --------------------------------------------------------------------------- 7. SIGHUP

def hup_and_retry(server, admin_token, text, timeout=5.0) -> Response:
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    deadline = time.monotonic() + timeout
    while True:
        r = import_license(server, admin_token, text)
        if r.status != 422 or time.monotonic() > deadline:
            return r
        time.sleep(0.25)


def test_sighup_trusts_a_new_issuer_key_and_skips_a_malformed_pem(server, admin_token, data_dir,
                                                                 tmp_path, signed):
    newcomer = Issuer.generate("reseller-2026", tmp_path / "newcomer")
    text = newcomer.sign(license_claims("LIC-RESELLER", [entitlement("seats")]))
    r = import_license(server, admin_token, text)
    assert r.status == 422 and error_code(r) == "invalid_license"

    newcomer.trust(data_dir)
    (data_dir / "issuers" / "broken.pem").write_text(
        "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n")
    (data_dir / "issuers" / "empty.pem").write_bytes(b"")
    r = hup_and_retry(server, admin_token, text)

    assert r.status == 201, r
    assert server.proc.poll() is None, "a malformed .pem must not stop the server"
    assert server.request("GET", "/healthz").status == 200
    # The key trusted from the start is still trusted.
    assert import_license(server, admin_token, signed("LIC-ORIGINAL")).status == 201
    assert {"LIC-RESELLER/seats", "LIC-ORIGINAL/seats"} <= set(entitlements_by_id(server, admin_token))


def test_a_malformed_pem_at_start_is_skipped(data_dir, issuer, admin_token):
    (data_dir / "issuers" / "broken.pem").write_text("garbage\n")
    s = EntitledServer(data_dir)
    s.start()
    try:
        text = issuer.sign(license_claims("LIC-AFTER-BROKEN", [entitlement("seats")]))
        assert import_license(s, admin_token, text).status == 201
    finally:
        s.stop()


def test_sighup_after_removing_an_issuer_key_refuses_its_new_licenses(server, admin_token, data_dir,
                                                                     issuer, signed):
    assert import_license(server, admin_token, signed("LIC-BEFORE-REMOVAL")).status == 201
    issuer.trust_file(data_dir).unlink()
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    r = import_license(server, admin_token, signed("LIC-AFTER-REMOVAL"))
    assert r.status == 422, r
    assert error_code(r) == "invalid_license"
    assert server.proc.poll() is None


# --------------------------------------------------------------------------- 8. auth_failed

def test_failed_authentication_is_audited_but_coalesced(server, admin_token, data_dir):
    bad = admin_token[:-1] + ("A" if admin_token[-1] != "A" else "B")
    answers = []
    conn = server.connection()
    try:
        for _ in range(50):
            answers.append(server.request("GET", "/v1/licenses", token=bad, conn=conn))
    finally:
        conn.close()
    statuses = [r.status for r in answers]
    assert set(statuses) <= {401, 429}, statuses
    assert statuses[0] == 401
    for r in answers:
        assert error_code(r) == ("unauthorized" if r.status == 401 else "rate_limited")
        if r.status == 429:
            assert int(r.header("Retry-After")) >= 1

    # Throttling may hold back this address for a while; a restart reads the
    # same store without it.
    r = server.request("GET", "/v1/audit", token=admin_token)
    reader = server
    if r.status == 429:
        server.stop()
        reader = EntitledServer(data_dir).start()
    try:
        deadline = time.monotonic() + 3
        while True:
            failed = [e for e in audit_events(reader, admin_token) if e["kind"] == "auth_failed"]
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        if reader is not server:
            reader.stop()
    assert 1 <= len(failed) <= 5, len(failed)
    assert bad not in json.dumps(failed), "audit events never hold a token"
