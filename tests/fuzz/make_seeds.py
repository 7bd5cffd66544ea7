#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
and the public key the seed licenses are signed with (tests/fuzz/keys/).

The issuer key pair is generated here and its private half is never written:
only the signed seeds and the public key are kept. Rerunning the script
replaces both (the old seeds would no longer verify). The bearer tokens in
the http_request seeds are the fixed, fuzz-only tokens that
fuzz_http_request.cpp puts in its private throwaway store.

    /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import base64
import hashlib
import json
import pathlib
import shutil

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = pathlib.Path(__file__).resolve().parent
KID = "fuzz-issuer"
START = 1_767_225_600  # 2026-01-01, the fuzz target's clock
FAR = 4_102_444_800    # 2100-01-01


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jws(key, header: dict, payload: bytes) -> str:
    signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(payload)
    return signing_input + "." + b64url(key.sign(signing_input.encode()))


def claims(jti, entitlements, **extra) -> dict:
    return {"jti": jti, "iss": "Fuzz Vendor", "sub": "Fuzz Customer", "iat": START, **extra,
            "entitlements": entitlements}


ENTITLEMENTS = [
    {"id": "e1", "feature": "vWS", "model": "concurrent", "count": 2},
    {"id": "e2", "feature": "vPC", "model": "per_device", "count": 1,
     "devices": ["GPU-11111111-2222-3333-4444-555555555555"], "regions": ["eu-*"]},
    {"id": "e3", "feature": "vCS", "model": "subscription", "not_before": START - 86400,
     "not_after": FAR, "overage": {"policy": "allow", "limit_percent": 50}, "max_lease_seconds": 600},
    {"id": "e4", "feature": "gaming", "model": "concurrent", "count": 1000000000,
     "overage": {"policy": "allow", "limit_percent": 1000}, "not_after": FAR},
]

LICENSES = {
    "basic": claims("lic-basic", ENTITLEMENTS[:1]),
    "all_models": claims("lic-all", ENTITLEMENTS),
    "supersedes": claims("lic-next", ENTITLEMENTS[2:], supersedes="lic-basic"),
}


def fixed_token(id12: bytes, fill: bytes) -> str:
    return b64url(id12 + fill * 32)


ADMIN = fixed_token(b"fuzz-admin-1", b"a")
AUDITOR = fixed_token(b"fuzz-audit-1", b"b")
HOST = fixed_token(b"fuzz-host--1", b"c")


def request(method: str, target: str, token=None, body: bytes = b"", ctype="application/json",
            extra=()) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body or method in ("POST", "PUT"):
        lines += [f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_corpus(name: str, seeds: dict):
    d = HERE / "corpus" / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for seed_name, data in seeds.items():
        (d / seed_name).write_bytes(data if isinstance(data, bytes) else data.encode())


def audit_chain(events):
    """Events with their hashes; canonical JSON here equals RFC 8785 for
    the ASCII strings and integers used."""
    prev = "0" * 64
    out = []
    for seq, (kind, actor, subject, detail) in enumerate(events, start=1):
        body = {"seq": seq, "ts": START * 1000 + seq, "kind": kind, "actor": actor,
                "subject": subject, "detail": detail}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        h = hashlib.sha256((prev + "\n" + canonical).encode()).hexdigest()
        out.append({**body, "prev_hash": prev, "hash": h})
        prev = h
    return out


def main():
    key = Ed25519PrivateKey.generate()
    pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    (HERE / "keys").mkdir(exist_ok=True)
    (HERE / "keys" / f"{KID}.pem").write_bytes(pub_pem)

    header = {"alg": "EdDSA", "typ": "entitle-license+jwt", "kid": KID}
    signed = {name: jws(key, header, json.dumps(c).encode()) for name, c in LICENSES.items()}

    # jws: good licenses, a lease-typed token, and near misses.
    good = signed["basic"]
    h, p, s = good.split(".")
    write_corpus("jws", {
        **{f"license_{n}": t for n, t in signed.items()},
        "license_newline": signed["basic"] + "\n",
        "lease_typ": jws(key, {"alg": "EdDSA", "typ": "entitle-lease+jwt", "kid": KID},
                         b'{"iss":"s","sub":"h","jti":"l","exp":1}'),
        "unknown_kid": jws(key, {**header, "kid": "other"}, json.dumps(LICENSES["basic"]).encode()),
        "alg_none": b64url(b'{"alg":"none","typ":"entitle-license+jwt","kid":"fuzz-issuer"}') + "." + p + ".",
        "bad_signature": h + "." + p + "." + s[:-2] + ("AA" if not s.endswith("AA") else "BA"),
        "padded": h + "=." + p + "." + s,
        "crit": jws(key, {**header, "crit": ["exp"]}, b"{}"),
        "dup_member": b64url(b'{"alg":"EdDSA","alg":"EdDSA","typ":"entitle-license+jwt","kid":"k"}') + "." + p + "." + s,
        "bad_claims": jws(key, header, b'{"jti":"x","entitlements":[]}'),
    })

    # license_claims: payload JSON, valid and not.
    write_corpus("license_claims", {
        **{n: json.dumps(c) for n, c in LICENSES.items()},
        "count_string": json.dumps(claims("x", [{"id": "e", "feature": "f", "model": "concurrent", "count": "3"}])),
        "count_zero": json.dumps(claims("x", [{"id": "e", "feature": "f", "model": "concurrent", "count": 0}])),
        "dup_ids": json.dumps(claims("x", [ENTITLEMENTS[0], ENTITLEMENTS[0]])),
        "window_reversed": json.dumps(claims("x", [{**ENTITLEMENTS[2], "not_before": FAR, "not_after": START}])),
        "overage_big": json.dumps(claims("x", [{**ENTITLEMENTS[0], "overage": {"policy": "allow", "limit_percent": 1001}}])),
        "deep": "[" * 40 + "]" * 40,
        "not_object": "[1,2,3]",
        "bad_utf8": b'{"jti":"\xff"}',
    })

    # host_config: the file entitlectl host add writes, and near misses.
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "lease-1",
                      "x": b64url(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                serialization.PublicFormat.Raw))}]}
    ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    config = {"server_url": "https://127.0.0.1:8443", "ca_pem": ca, "host_id": "h-1",
              "host_token": HOST, "lease_keys": jwks}
    write_corpus("host_config", {
        "good": json.dumps(config, indent=2),
        "ipv6": json.dumps({**config, "server_url": "https://[::1]:8443/base/"}),
        "other_kty": json.dumps({**config, "lease_keys": {"keys": [{"kty": "RSA", "n": "x"}] + jwks["keys"]}}),
        "bad_x": json.dumps({**config, "lease_keys": {"keys": [{**jwks["keys"][0], "x": "AAAA"}]}}),
        "http_url": json.dumps({**config, "server_url": "http://example.com"}),
        "token_space": json.dumps({**config, "host_token": "a b"}),
        "missing_keys": json.dumps({k: v for k, v in config.items() if k != "lease_keys"}),
    })

    # audit_verify: an intact chain, broken ones, and a chain to rehash.
    chain = audit_chain([
        ("license_imported", ADMIN[:16], "lic-basic", {"entitlements": 1}),
        ("host_added", ADMIN[:16], "h-1", {"name": "gpu-1", "region": "eu-west"}),
        ("lease_granted", "tok-host", "l-1", {"feature": "vWS", "gpu": "GPU-1", "n": -5}),
        ("lease_released", "tok-host", "l-1", {"unicode": "é\u00e9\U0001F600", "ctrl": "\u0001\n"}),
        ("auth_failed", "system", "192.0.2.1", {"more": 3, "nested": {"b": [1, None, True], "a": {}}}),
    ])
    lines = lambda evs: "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in evs)
    swapped = [chain[0], chain[2], chain[1], *chain[3:]]
    edited = [dict(e) for e in chain]
    edited[2]["detail"] = {"feature": "vPC"}
    write_corpus("audit_verify", {
        "intact": lines(chain),
        "swapped": lines(swapped),
        "missing": lines(chain[:2] + chain[3:]),
        "edited": lines(edited),
        "bad_start": lines([{**chain[0], "prev_hash": "1" * 64}]),
        "rehash": "#rehash\n" + lines(edited),
        "float_detail": lines([{**chain[0], "detail": {"x": 1.5}}]),
    })

    # http_request: one request per route, authenticated with the fixed tokens.
    checkout = {"request_id": "r-1", "feature": "vWS", "gpu": {"uuid": "GPU-11111111-2222-3333-4444-555555555555",
                "model": "A100"}, "vgpu": {"id": "vgpu-1", "profile": "A100-4Q"}}
    seeds = {
        "healthz": request("GET", "/healthz"),
        "keys": request("GET", "/v1/keys"),
        "metrics": request("GET", "/metrics"),
        "import_license": request("POST", "/v1/licenses", ADMIN, signed["all_models"].encode(), "application/jwt"),
        "import_supersedes": request("POST", "/v1/licenses", ADMIN, signed["supersedes"].encode()),
        "list_licenses": request("GET", "/v1/licenses?limit=2&after=a", AUDITOR),
        "get_license": request("GET", "/v1/licenses/lic-all", AUDITOR),
        "delete_license": request("DELETE", "/v1/licenses/lic-basic", ADMIN),
        "add_host": request("POST", "/v1/hosts", ADMIN, b'{"name":"gpu-2","region":"eu-central"}'),
        "list_hosts": request("GET", "/v1/hosts?limit=10", AUDITOR),
        "delete_host": request("DELETE", "/v1/hosts/h-nope", ADMIN),
        "add_token": request("POST", "/v1/tokens", ADMIN, b'{"role":"auditor","name":"ops"}'),
        "list_tokens": request("GET", "/v1/tokens", ADMIN),
        "revoke_token": request("DELETE", "/v1/tokens/AAAAAAAAAAAAAAAA", ADMIN),
        "entitlements": request("GET", "/v1/entitlements", AUDITOR),
        "audit": request("GET", "/v1/audit?after=0&limit=5", AUDITOR),
        "checkout": request("POST", "/v1/leases", HOST, json.dumps(checkout).encode()),
        "renew": request("POST", "/v1/leases/l-x/renew", HOST, b"{}"),
        "release": request("DELETE", "/v1/leases/l-x", HOST),
        "list_leases": request("GET", "/v1/leases?feature=vWS&host=h-fuzz", AUDITOR),
        "no_token": request("GET", "/v1/licenses"),
        "bad_token": request("GET", "/v1/licenses", "x" * 59),
        "wrong_role": request("POST", "/v1/tokens", AUDITOR, b'{"role":"admin"}'),
        "method_not_allowed": request("PATCH", "/v1/leases", HOST),
        "chunked": (f"POST /v1/hosts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"nam\r\n1c\r\ne\":\"gpu-3\",\"region\":\"us-1\"}\r\n0\r\n\r\n").encode(),
        "pipelined": request("GET", "/healthz") + request("GET", "/v1/keys") +
                     request("POST", "/v1/leases", HOST, json.dumps({**checkout, "request_id": "r-2"}).encode()),
        "http10": b"GET /healthz HTTP/1.0\r\n\r\n",
        "bad_json": request("POST", "/v1/hosts", ADMIN, b'{"name":'),
    }
    write_corpus("http_request", seeds)


if __name__ == "__main__":
    main()
