"""`entitled rotate-key`: new leases are signed with the new key, and the
retired key stays published while a lease it signed is active."""
import subprocess

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from entitle_testlib import entitled_bin
from lease_helpers import ISSUER_KID, Issuer, LeaseEnv, b64url_decode
from license_factory import entitlement


@pytest.fixture
def issuer():
    return Issuer.generate(ISSUER_KID)


def kids(env):
    return [k["kid"] for k in env.get("/v1/keys")["keys"]]


def verify(token, env):
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in env.get("/v1/keys")["keys"] if k["kid"] == kid)
    key = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    return jwt.decode(token, key, algorithms=["EdDSA"])


def test_rotation_keeps_live_tokens_verifiable_and_signs_new_ones_with_the_new_key(data_dir, issuer):
    issuer.trust(data_dir)
    env = LeaseEnv(data_dir, issuer).start()
    try:
        env.import_license([entitlement("seats", count=10)])
        host = env.add_host()
        old = env.grant(host)
        old_kid = jwt.get_unverified_header(old["token"])["kid"]
        assert kids(env) == [old_kid]
        env.stop()
        r = subprocess.run([entitled_bin(), "rotate-key", "--data", str(data_dir)], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert old_kid in r.stdout
        assert (data_dir / "retired-lease-keys" / f"{old_kid}.key").stat().st_mode & 0o077 == 0
        env.start()
        published = kids(env)
        assert old_kid in published and len(published) == 2
        new_kid = next(k for k in published if k != old_kid)
        assert verify(old["token"], env)["jti"] == old["lease_id"]
        fresh = env.grant(host)
        assert jwt.get_unverified_header(fresh["token"])["kid"] == new_kid
        assert verify(fresh["token"], env)["jti"] == fresh["lease_id"]
        # Renewal re-signs the old lease with the new key; once no live lease
        # uses the old key, a restart stops publishing it.
        renewed = env.renew(host, old["lease_id"])
        assert renewed.status == 200
        assert jwt.get_unverified_header(renewed.json()["token"])["kid"] == new_kid
        env.restart()
        assert kids(env) == [new_kid]
    finally:
        env.stop()
