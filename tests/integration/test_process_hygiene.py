"""Process hygiene: the TLS certificate reloads on SIGHUP without dropping
open connections, the server refuses to serve as root unless told, and it
writes no core file (keys and tokens live in its memory)."""
import os
import signal
import ssl
import subprocess
import time

import pytest

from entitle_testlib import EntitledServer, entitled_bin


def make_cert(tmp_path, name):
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return crt, key


def context_trusting(crt):
    return ssl.create_default_context(cafile=str(crt))


def handshake_ok(server, crt) -> bool:
    import http.client
    c = http.client.HTTPSConnection(server.host, server.port, context=context_trusting(crt), timeout=5)
    try:
        return server.request("GET", "/healthz", conn=c).status == 200
    except ssl.SSLCertVerificationError:
        return False
    finally:
        c.close()


def wait_for_log(server, needle, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(needle in line for line in server.stderr_lines):
            return True
        time.sleep(0.05)
    return False


def test_sighup_reloads_the_certificate_and_keeps_open_connections(data_dir, tmp_path):
    old_crt = tmp_path / "old.crt"
    old_crt.write_bytes((data_dir / "tls.crt").read_bytes())
    s = EntitledServer(data_dir).start()
    try:
        import http.client
        kept = http.client.HTTPSConnection(s.host, s.port, context=context_trusting(old_crt), timeout=5)
        assert s.request("GET", "/healthz", conn=kept).status == 200

        new_crt, new_key = make_cert(tmp_path, "renewed")
        (data_dir / "tls.crt").write_bytes(new_crt.read_bytes())
        (data_dir / "tls.key").write_bytes(new_key.read_bytes())
        s.proc.send_signal(signal.SIGHUP)
        assert wait_for_log(s, "event=tls_reloaded"), s.stderr_lines[-5:]

        assert handshake_ok(s, new_crt), "a new connection did not get the renewed certificate"
        assert not handshake_ok(s, old_crt), "a new connection still got the old certificate"
        # The connection opened before the reload goes on with its session.
        assert s.request("GET", "/healthz", conn=kept).status == 200
        kept.close()
    finally:
        assert s.stop() == 0


def test_a_broken_certificate_on_sighup_keeps_the_previous_one(data_dir, tmp_path):
    crt = tmp_path / "served.crt"
    crt.write_bytes((data_dir / "tls.crt").read_bytes())
    s = EntitledServer(data_dir).start()
    try:
        (data_dir / "tls.crt").write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        s.proc.send_signal(signal.SIGHUP)
        assert wait_for_log(s, "event=tls_reload_failed"), s.stderr_lines[-5:]
        assert handshake_ok(s, crt)
        assert s.proc.poll() is None
    finally:
        assert s.stop() == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs to run as root to see the refusal")
def test_serving_as_root_is_refused_unless_allowed(data_dir):
    env = {k: v for k, v in os.environ.items() if k != "ENTITLE_ALLOW_ROOT"}
    r = subprocess.run([entitled_bin(), "serve", "--data", str(data_dir), "--listen", "127.0.0.1:0"],
                       env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert "refusing to serve as root" in r.stderr and "--allow-root" in r.stderr
    # --allow-root (or ENTITLE_ALLOW_ROOT=1, which the other tests use) serves.
    s = EntitledServer(data_dir, ["--allow-root"])
    s_env = os.environ.pop("ENTITLE_ALLOW_ROOT", None)
    try:
        s.start()
        assert s.request("GET", "/healthz").status == 200
    finally:
        if s_env is not None:
            os.environ["ENTITLE_ALLOW_ROOT"] = s_env
        s.stop()


def proc_status(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return line.split()[1]
    return None


def core_limit(pid):
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max core file size"):
            return line.split()[4]  # soft limit
    return None


def test_the_server_writes_no_core_file_unless_asked(data_dir):
    s = EntitledServer(data_dir).start()
    try:
        assert core_limit(s.proc.pid) == "0"
        with open(f"/proc/{s.proc.pid}/stat") as f:
            assert f.read()  # still readable by its owner for monitoring
    finally:
        s.stop()
    s = EntitledServer(data_dir, ["--allow-core-dumps"]).start()
    try:
        assert core_limit(s.proc.pid) != "0" or core_limit(os.getpid()) == "0"
    finally:
        s.stop()


def test_no_token_appears_in_logs_metrics_or_error_messages(data_dir, admin_token):
    s = EntitledServer(data_dir).start()
    try:
        made = s.request("POST", "/v1/tokens", {"role": "auditor", "name": "x"}, token=admin_token).json()["token"]
        host = s.request("POST", "/v1/hosts", {"name": "h1", "region": "eu-west"}, token=admin_token)
        assert host.status == 201, host
        host_token = host.json()["host_token"]
        almost = admin_token[:-1] + ("A" if admin_token[-1] != "A" else "B")
        answers = [s.request("GET", "/v1/tokens", token=t) for t in (almost, made, host_token, "x" * 59)]
        answers.append(s.request("GET", "/v1/nope", token=admin_token))
        answers.append(s.request("POST", "/v1/leases", b"{not json", token=host_token))
        metrics = s.request("GET", "/metrics").body
    finally:
        s.stop()
    secrets_ = [admin_token, made, host_token, almost]
    secret_parts = [t[16:] for t in secrets_]  # the part after the public id
    texts = {"log": "\n".join(s.stderr_lines), "metrics": metrics,
             "errors": "\n".join(a.body for a in answers)}
    for where, text in texts.items():
        for part in secret_parts:
            assert part not in text, f"a token secret appears in the {where}"
    assert any(admin_token[:16] in line for line in s.stderr_lines)  # ids are logged, which is the point
