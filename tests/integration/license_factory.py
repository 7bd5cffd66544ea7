"""License files for tests (contract section 1), made the way a vendor would.

Issuer keys are Ed25519 pairs generated at run time (written under pytest's
tmp_path when a directory is given); nothing secret is committed. Good files
are signed with PyJWT, an independent JOSE implementation; `sign_raw` builds
files byte by byte for the hostile cases PyJWT refuses to produce.
"""
import base64
import json
import pathlib
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

LICENSE_TYP = "entitle-license+jwt"

# Marks a field to leave out: entitlement("e1", feature=OMIT) has no "feature".
OMIT = object()

DAY = 86400


def now() -> int:
    return int(time.time())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _drop_omitted(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not OMIT}


def entitlement(eid, feature="vWS", model="concurrent", count=10, **fields) -> dict:
    """One entitlement; extra keyword fields (regions, devices, not_before, ...)
    are added as given, OMIT drops a field."""
    return _drop_omitted({"id": eid, "feature": feature, "model": model, "count": count, **fields})


def window(start_offset=-DAY, end_offset=365 * DAY, at=None) -> dict:
    """not_before/not_after relative to `at` (default: now)."""
    t = now() if at is None else at
    return {"not_before": t + start_offset, "not_after": t + end_offset}


def license_claims(jti, entitlements=None, iss="Acme GPU Inc.", sub="Example Customer Ltd",
                   iat=None, **extra) -> dict:
    """License claims; `extra` adds claims such as supersedes, OMIT drops one."""
    if entitlements is None:
        entitlements = [entitlement("seats")]
    claims = {"jti": jti, "iss": iss, "sub": sub, "iat": now() if iat is None else iat,
              "entitlements": entitlements, **extra}
    return _drop_omitted(claims)


class Issuer:
    """A vendor's signing key; `kid` names its public key in DATA/issuers/."""

    def __init__(self, kid: str, key: Ed25519PrivateKey):
        self.kid = kid
        self.key = key

    @classmethod
    def generate(cls, kid: str, directory: pathlib.Path | None = None) -> "Issuer":
        issuer = cls(kid, Ed25519PrivateKey.generate())
        if directory is not None:
            directory = pathlib.Path(directory)
            directory.mkdir(parents=True, exist_ok=True)
            private = directory / f"{kid}.key.pem"
            private.write_bytes(issuer.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            private.chmod(0o600)
            (directory / f"{kid}.pub.pem").write_bytes(issuer.public_pem())
        return issuer

    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM, the trust-store format."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def trust_file(self, data_dir) -> pathlib.Path:
        return pathlib.Path(data_dir) / "issuers" / f"{self.kid}.pem"

    def trust(self, data_dir) -> pathlib.Path:
        """Puts the public key into the server's trust store (DATA/issuers/<kid>.pem)."""
        path = self.trust_file(data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.public_pem())
        return path

    def sign(self, claims: dict, kid: str | None = None, typ: str = LICENSE_TYP) -> str:
        """The license file as PyJWT writes it (JWS compact, EdDSA)."""
        return jwt.encode(claims, self.key, algorithm="EdDSA",
                          headers={"typ": typ, "kid": self.kid if kid is None else kid})

    def header(self, **fields) -> dict:
        """A correct license header; keyword fields replace or (OMIT) drop members."""
        return _drop_omitted({"alg": "EdDSA", "typ": LICENSE_TYP, "kid": self.kid, **fields})

    def sign_raw(self, header, payload) -> str:
        """JWS compact from exact bytes: `header`/`payload` may be dicts or lists
        (serialised compactly), str or bytes (used as is). Signed with this key."""
        def as_bytes(v):
            if isinstance(v, (dict, list)):
                return json.dumps(v, separators=(",", ":")).encode()
            if isinstance(v, str):
                return v.encode()
            return v
        signing_input = b64url(as_bytes(header)) + "." + b64url(as_bytes(payload))
        return signing_input + "." + b64url(self.key.sign(signing_input.encode("ascii")))


def segments(token: str) -> list[str]:
    return token.split(".")


def replace_segment(token: str, index: int, segment: str) -> str:
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)


def claims_of(token: str) -> dict:
    """The payload of a compact JWS, unverified."""
    return json.loads(b64url_decode(token.split(".")[1]))
