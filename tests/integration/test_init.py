"""`entitled init` and the checks `entitled serve` makes before it serves."""
import os
import re
import sqlite3
import socket
import stat
import subprocess

import pytest

from entitle_testlib import EntitledServer, entitled_bin


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def run(*args, timeout=30):
    return subprocess.run([entitled_bin(), *args], capture_output=True, text=True, timeout=timeout)


def serve_fails(data_dir, listen="127.0.0.1:0"):
    """Runs serve expecting it to refuse to start; returns its stderr."""
    r = run("serve", "--data", str(data_dir), "--listen", listen, timeout=20)
    assert r.returncode != 0, r
    assert "listening on" not in r.stdout
    return r.stderr


def test_init_creates_the_data_dir_with_private_modes(tmp_path):
    d = tmp_path / "data"
    r = run("init", "--data", str(d))
    assert r.returncode == 0, r.stderr
    assert mode(d) == 0o700
    for secret in ("lease-signing.key", "tls.key", "admin.token"):
        assert mode(d / secret) == 0o600, secret
    assert (d / "tls.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (d / "issuers").is_dir()
    assert (d / "entitle.db").is_file()
    token = (d / "admin.token").read_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{59}", token)
    # The store keeps only a hash of the token, never the token itself.
    db = sqlite3.connect(d / "entitle.db")
    rows = db.execute("SELECT role, hash FROM tokens").fetchall()
    assert [r[0] for r in rows] == ["admin"]
    assert token not in str(rows)
    assert token.encode() not in (d / "entitle.db").read_bytes()
    # Nothing secret is printed.
    assert token not in r.stdout + r.stderr


def test_init_twice_keeps_every_key_and_token(tmp_path):
    d = tmp_path / "data"
    assert run("init", "--data", str(d)).returncode == 0
    files = ("lease-signing.key", "tls.key", "tls.crt", "admin.token")
    before = {f: (d / f).read_bytes() for f in files}
    r = run("init", "--data", str(d))
    assert r.returncode == 0, r.stderr
    assert {f: (d / f).read_bytes() for f in files} == before
    db = sqlite3.connect(d / "entitle.db")
    assert db.execute("SELECT count(*) FROM tokens").fetchone()[0] == 1
    # And the kept token still opens the API.
    s = EntitledServer(d).start()
    try:
        token = (d / "admin.token").read_text().strip()
        assert s.request("GET", "/v1/tokens", token=token).status == 200
    finally:
        assert s.stop() == 0


def test_init_installs_an_operator_certificate(tmp_path):
    key, crt = tmp_path / "op.key", tmp_path / "op.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=op",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    d = tmp_path / "data"
    r = run("init", "--data", str(d), "--tls-cert", str(crt), "--tls-key", str(key))
    assert r.returncode == 0, r.stderr
    assert (d / "tls.crt").read_bytes() == crt.read_bytes()
    assert mode(d / "tls.key") == 0o600
    s = EntitledServer(d).start()
    try:
        assert s.request("GET", "/healthz").status == 200
    finally:
        s.stop()


def test_serve_refuses_a_missing_data_dir(tmp_path):
    err = serve_fails(tmp_path / "nope")
    assert "entitled init" in err


def test_serve_refuses_an_uninitialised_dir(tmp_path):
    (tmp_path / "empty").mkdir(mode=0o700)
    err = serve_fails(tmp_path / "empty")
    assert "entitled init" in err


@pytest.mark.parametrize("secret", ["tls.key", "lease-signing.key", "admin.token"])
def test_serve_refuses_secrets_open_to_group_or_others(data_dir, secret):
    os.chmod(data_dir / secret, 0o640)
    err = serve_fails(data_dir)
    assert secret in err and "chmod 600" in err


def test_serve_refuses_an_unreadable_lease_key(data_dir):
    (data_dir / "lease-signing.key").unlink()
    (data_dir / "lease-signing.key").mkdir()
    err = serve_fails(data_dir)
    assert "lease-signing.key" in err


def test_serve_refuses_a_corrupt_lease_key(data_dir):
    (data_dir / "lease-signing.key").write_text("not a key\n")
    err = serve_fails(data_dir)
    assert "lease-signing.key" in err


def test_serve_refuses_a_store_from_a_newer_version(data_dir):
    db = sqlite3.connect(data_dir / "entitle.db")
    db.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (9999, 'future', 0)")
    db.commit()
    db.close()
    err = serve_fails(data_dir)
    assert "newer" in err and "9999" in err


def test_serve_refuses_a_file_that_is_not_an_entitle_store(data_dir):
    (data_dir / "entitle.db").unlink()
    for suffix in ("-wal", "-shm"):
        p = data_dir / ("entitle.db" + suffix)
        if p.exists():
            p.unlink()
    db = sqlite3.connect(data_dir / "entitle.db")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    err = serve_fails(data_dir)
    assert "not an Entitle store" in err


def test_serve_reports_a_port_in_use(data_dir):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        r = run("serve", "--data", str(data_dir), "--listen", f"127.0.0.1:{port}", timeout=20)
        assert r.returncode != 0
        assert f"127.0.0.1:{port}" in r.stderr and "in use" in r.stderr.lower()
    finally:
        busy.close()


def test_serve_rejects_a_malformed_listen_address(data_dir):
    err = serve_fails(data_dir, listen="127.0.0.1")
    assert "--listen" in err


@pytest.mark.parametrize("url, problem", [
    ("http://license.example.com", "only https://"),
    ("https://", "expected a host name"),
    ("https://license.example.com:70000", "port must be a number"),
    ("https://license example.com", "expected a host name"),
    ("https://[::1", "unterminated"),
])
def test_serve_refuses_a_public_url_hosts_could_not_use(data_dir, url, problem):
    # --public-url is copied into every host config as server_url; libentitle
    # would refuse these, so the server refuses to start instead.
    r = run("serve", "--data", str(data_dir), "--listen", "127.0.0.1:0", "--public-url", url, timeout=20)
    assert r.returncode == 1, r
    assert "listening on" not in r.stdout
    assert f"--public-url '{url}'" in r.stderr and problem in r.stderr, r.stderr


def test_serve_hands_hosts_the_public_url_it_was_given(data_dir):
    # A proxy in front: another name, another port, a path prefix (a trailing
    # slash is tolerated, as libentitle tolerates it).
    url = "https://licenses.example.com:8443/entitle/"
    s = EntitledServer(data_dir, ["--public-url", url]).start()
    try:
        token = (data_dir / "admin.token").read_text().strip()
        r = s.request("POST", "/v1/hosts", {"name": "gpu-01", "region": "eu-west"}, token=token)
        assert r.status == 201, r
        assert r.json()["server_url"] == url
    finally:
        assert s.stop() == 0
