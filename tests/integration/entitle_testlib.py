"""Helpers for driving a real `entitled` over HTTPS from tests."""
import http.client
import json
import os
import pathlib
import signal
import ssl
import subprocess
import threading
import time

# Test machines and CI run as root; the server refuses root unless told.
os.environ.setdefault("ENTITLE_ALLOW_ROOT", "1")


def bin_dir() -> pathlib.Path:
    return pathlib.Path(os.environ["ENTITLE_BIN_DIR"])


def entitled_bin() -> str:
    return str(bin_dir() / "entitled")


def init_with_certificate_for(tmp_path, dns_name):
    """A data directory initialised with a self-signed certificate that names
    only `dns_name` (neither localhost nor an address): (data dir, cert path)."""
    key, cert = tmp_path / f"{dns_name}.key", tmp_path / f"{dns_name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "2",
                    "-subj", f"/CN={dns_name}", "-addext", f"subjectAltName=DNS:{dns_name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    data = tmp_path / f"{dns_name}-data"
    subprocess.run([entitled_bin(), "init", "--data", str(data), "--tls-cert", str(cert),
                    "--tls-key", str(key)], check=True, capture_output=True, timeout=60)
    return data, cert


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"Response({self.status}, {self.body[:200]!r})"


# What AddressSanitizer, LeakSanitizer and UBSan print when they find a fault
# (`tools/test --sanitize`); a normal build never prints them.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class EntitledServer:
    """One `entitled serve` child process. Stopping or killing it fails the
    test when the server's stderr holds a sanitizer report."""

    # Every server started during the current test, so that a failing test's
    # report can show what they logged (conftest.py).
    started = []

    def __init__(self, data_dir, extra_args=()):
        self.data_dir = pathlib.Path(data_dir)
        self.extra_args = list(extra_args)
        self.proc = None
        self.url = None
        self.stderr_lines = []
        self._drain = None

    def start(self, timeout=20):
        self.proc = subprocess.Popen(
            [entitled_bin(), "serve", "--data", str(self.data_dir),
             "--listen", "127.0.0.1:0", *self.extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        EntitledServer.started.append(self)
        # Collect stderr in the background so the pipe never fills.
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("listening on "):
                self.url = line.split("listening on ", 1)[1].strip()
                host_port = self.url.removeprefix("https://")
                self.host, port = host_port.rsplit(":", 1)
                self.port = int(port)
                return self
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("entitled did not start: " + "\n".join(self.stderr_lines))

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def tls_context(self):
        ctx = ssl.create_default_context(cafile=str(self.data_dir / "tls.crt"))
        return ctx

    def connection(self, timeout=10):
        return http.client.HTTPSConnection(self.host, self.port, context=self.tls_context(),
                                           timeout=timeout)

    def request(self, method, path, body=None, token=None, headers=None, conn=None):
        own = conn is None
        conn = conn or self.connection()
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read().decode())
        finally:
            if own:
                conn.close()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        self.check_sanitizers()
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.check_sanitizers()

    def check_sanitizers(self):
        """After the process ended: its stderr holds no sanitizer report."""
        if self._drain is not None:
            self._drain.join(timeout=10)  # the rest of stderr, up to the end
        if any(m in line for line in self.stderr_lines for m in SANITIZER_MARKERS):
            raise AssertionError("entitled reported a sanitizer error:\n" + "\n".join(self.stderr_lines[-80:]))
