"""Interoperability of our EdDSA JWS code with an independent implementation.

PyJWT (with python-cryptography's Ed25519) signs and verifies tokens that our
C++ code verifies and signs, through the tests/tools/jws_tool helper. Keys are
made at run time in pytest's tmp_path; none are committed.
"""

import base64
import json
import os
import subprocess
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

TYP = "entitle-license+jws"
KID = "interop-key-1"


def _tool() -> Path:
    bin_dir = os.environ.get("ENTITLE_BIN_DIR")
    if not bin_dir:
        pytest.fail("ENTITLE_BIN_DIR is not set (run through ctest)")
    tool = Path(bin_dir) / "jws_tool"
    if not tool.is_file():
        pytest.fail(f"{tool} does not exist; build the jws_tool target first")
    return tool


def run_tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(_tool()), *map(str, args)], capture_output=True, timeout=60, check=False
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def python_keypair(directory: Path, name: str):
    """A fresh Ed25519 key from python-cryptography, written as PEM files."""
    key = Ed25519PrivateKey.generate()
    priv = directory / f"{name}.key.pem"
    pub = directory / f"{name}.pub.pem"
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, priv, pub


def our_keypair(directory: Path):
    priv = directory / "ours.key.pem"
    pub = directory / "ours.pub.pem"
    result = run_tool("keygen", priv, pub)
    assert result.returncode == 0, result.stderr.decode()
    return priv, pub


def our_verify(directory: Path, pub: Path, compact: str, typ: str = TYP):
    token_file = directory / "token.jws"
    token_file.write_text(compact, encoding="ascii")
    return run_tool("verify", pub, typ, token_file)


def our_sign(directory: Path, priv: Path, payload: bytes) -> str:
    payload_file = directory / "payload.bin"
    payload_file.write_bytes(payload)
    result = run_tool("sign", priv, TYP, KID, payload_file)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode("ascii").rstrip("\n")


CLAIMS = {"licence": "L-0001", "product": "entitle-demo", "seats": 5}


def test_our_verify_accepts_a_pyjwt_eddsa_token(tmp_path):
    key, _, pub = python_keypair(tmp_path, "py")
    token = jwt.encode(CLAIMS, key, algorithm="EdDSA", headers={"typ": TYP, "kid": KID})

    result = our_verify(tmp_path, pub, token)

    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout) == CLAIMS


def test_pyjwt_accepts_a_token_we_signed(tmp_path):
    priv, pub = our_keypair(tmp_path)
    payload = json.dumps(CLAIMS).encode()

    token = our_sign(tmp_path, priv, payload)

    public_key = serialization.load_pem_public_key(pub.read_bytes())
    assert jwt.decode(token, public_key, algorithms=["EdDSA"]) == CLAIMS
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "typ": TYP, "kid": KID}
    # PyJWT's lower-level JWS API checks the exact payload bytes as well.
    assert jwt.api_jws.decode(token, public_key, algorithms=["EdDSA"]) == payload


def test_our_pem_files_load_in_python_cryptography(tmp_path):
    priv, pub = our_keypair(tmp_path)
    private_key = serialization.load_pem_private_key(priv.read_bytes(), password=None)
    public_key = serialization.load_pem_public_key(pub.read_bytes())
    assert isinstance(private_key, Ed25519PrivateKey)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert private_key.public_key().public_bytes(*raw) == public_key.public_bytes(*raw)


def test_we_sign_with_a_python_made_key_and_pyjwt_verifies(tmp_path):
    key, priv, _ = python_keypair(tmp_path, "py")

    token = our_sign(tmp_path, priv, json.dumps(CLAIMS).encode())

    assert jwt.decode(token, key.public_key(), algorithms=["EdDSA"]) == CLAIMS


def test_our_verify_rejects_a_token_forged_with_another_key(tmp_path):
    _, _, trusted_pub = python_keypair(tmp_path, "trusted")
    forger, _, _ = python_keypair(tmp_path, "forger")
    forged = jwt.encode(CLAIMS, forger, algorithm="EdDSA", headers={"typ": TYP, "kid": KID})

    result = our_verify(tmp_path, trusted_pub, forged)

    assert result.returncode == 1
    assert result.stdout == b""
    assert b"signature does not verify" in result.stderr


def test_our_verify_rejects_a_pyjwt_token_with_a_changed_payload(tmp_path):
    key, _, pub = python_keypair(tmp_path, "py")
    token = jwt.encode(CLAIMS, key, algorithm="EdDSA", headers={"typ": TYP, "kid": KID})
    header, _, signature = token.split(".")
    tampered = ".".join([header, b64url(json.dumps({**CLAIMS, "seats": 500}).encode()), signature])

    result = our_verify(tmp_path, pub, tampered)

    assert result.returncode == 1
    assert b"signature does not verify" in result.stderr


def test_our_verify_rejects_pyjwt_tokens_with_other_algorithms(tmp_path):
    _, _, pub = python_keypair(tmp_path, "py")
    headers = {"typ": TYP, "kid": KID}
    for token in (
        jwt.encode(CLAIMS, None, algorithm="none", headers=headers),
        jwt.encode(CLAIMS, "a shared secret of sufficient length!", algorithm="HS256", headers=headers),
    ):
        result = our_verify(tmp_path, pub, token)
        assert result.returncode == 1, token
        assert b"unsupported alg" in result.stderr or b"segment is empty" in result.stderr


def test_our_verify_rejects_pyjwt_default_typ_and_missing_kid(tmp_path):
    key, _, pub = python_keypair(tmp_path, "py")

    default_typ = jwt.encode(CLAIMS, key, algorithm="EdDSA", headers={"kid": KID})
    result = our_verify(tmp_path, pub, default_typ)
    assert result.returncode == 1
    assert b'typ "JWT"' in result.stderr

    no_kid = jwt.encode(CLAIMS, key, algorithm="EdDSA", headers={"typ": TYP})
    result = our_verify(tmp_path, pub, no_kid)
    assert result.returncode == 1
    assert b'no "kid"' in result.stderr


def test_our_verify_rejects_a_valid_token_with_a_trailing_newline(tmp_path):
    key, _, pub = python_keypair(tmp_path, "py")
    token = jwt.encode(CLAIMS, key, algorithm="EdDSA", headers={"typ": TYP, "kid": KID})

    assert our_verify(tmp_path, pub, token).returncode == 0
    result = our_verify(tmp_path, pub, token + "\n")
    assert result.returncode == 1
    assert b"whitespace" in result.stderr
