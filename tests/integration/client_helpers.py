"""Helpers for the host-side tests (libentitle, entitle-lease, the libvirt
hook): a server on a fixed 127.0.0.1 port (so that a host configuration file
stays valid across a restart), hosts with their configuration files, and
entitle-lease runs.

Issuer keys are made at run time; nothing secret is committed.
"""
import json
import os
import pathlib
import socket
import subprocess
import threading
import time

from entitle_testlib import EntitledServer, bin_dir, entitled_bin
from lease_helpers import Issuer, LeaseEnv, entitlement, unique  # noqa: F401 (re-exported)

FEATURE = "vWS"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lease_bin() -> str:
    return str(bin_dir() / "entitle-lease")


class PinnedServer(EntitledServer):
    """`entitled serve` on a fixed port, so that it can be restarted where the
    hosts' configuration files point."""

    def __init__(self, data_dir, port, extra_args=()):
        super().__init__(data_dir, extra_args)
        self.pinned_port = port

    def start(self, timeout=20):
        # Bounded: a port just released may be in TIME_WAIT for a moment.
        for attempt in range(20):
            self.stderr_lines = []
            self.proc = subprocess.Popen(
                [entitled_bin(), "serve", "--data", str(self.data_dir),
                 "--listen", f"127.0.0.1:{self.pinned_port}", *self.extra_args],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            threading.Thread(target=self._drain_stderr, daemon=True).start()
            line = self.proc.stdout.readline()
            if line.startswith("listening on "):
                self.url = line.split("listening on ", 1)[1].strip()
                self.host, port = self.url.removeprefix("https://").rsplit(":", 1)
                self.port = int(port)
                return self
            self.proc.wait(timeout=timeout)
            time.sleep(0.25)
        raise RuntimeError("entitled did not start: " + "\n".join(self.stderr_lines))


class ClientEnv(LeaseEnv):
    """A server with a trusted issuer on a pinned port, plus helpers to make
    hosts with configuration files and to run entitle-lease for them."""

    def __init__(self, tmp_path, data_dir, extra_args=()):
        self.tmp_path = pathlib.Path(tmp_path)
        issuer = Issuer.generate("acme-client")
        issuer.trust(data_dir)
        super().__init__(data_dir, issuer, extra_args)
        self.port = free_port()
        self.server = PinnedServer(self.data_dir, self.port, self.server.extra_args)

    def restart(self):
        self.server.stop()
        self.start_again()

    def start_again(self):
        self.server = PinnedServer(self.data_dir, self.port, self.server.extra_args)
        self.server.start()

    def host_config(self, region="eu-west", name=None) -> pathlib.Path:
        """A new host; its configuration file (mode 0600) as `entitlectl host add` writes it."""
        host = self.add_host(region=region, name=name)
        path = self.tmp_path / f"{host.name}.json"
        path.write_text(json.dumps(host.config))
        path.chmod(0o600)
        self.hosts = getattr(self, "hosts", {})
        self.hosts[str(path)] = host
        return path

    def lease(self, config, *args, state_dir=None, stdin=None, timeout=60, env=None):
        """Runs entitle-lease; returns the CompletedProcess (text)."""
        state = state_dir or (pathlib.Path(config).with_suffix(".state"))
        cmd = [lease_bin(), "--config", str(config), "--state-dir", str(state), *args]
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout,
                              env=full_env)

    def host_leases(self, config) -> list:
        host = self.hosts[str(config)]
        return self.leases(host=host.id)


def state_file(config) -> pathlib.Path:
    return pathlib.Path(config).with_suffix(".state") / "leases.json"


def assert_refused(proc, exit_code: int, code: str):
    assert proc.returncode == exit_code, (proc.returncode, proc.stdout, proc.stderr)
    assert f"entitle-lease: {code}: " in proc.stderr, proc.stderr
    assert proc.stdout == "", proc.stdout
