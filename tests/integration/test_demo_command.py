"""The README's run command (tools/demo), with binaries already built: it
serves with a demo license imported, a demo host added and a lease checked
out, runs again keeping what it made, and stops cleanly on Ctrl-C."""
import os
import pathlib
import signal
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_demo(demo_dir, timeout=60):
    env = dict(os.environ, ENTITLE_DEMO_DIR=str(demo_dir), ENTITLE_LISTEN="127.0.0.1:0")
    proc = subprocess.Popen([str(ROOT / "tools" / "demo")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Entitle is running at"):
            break
    # Ctrl-C reaches the whole foreground process group.
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    return proc.returncode, lines + rest.splitlines()


def test_the_demo_serves_a_license_a_host_and_a_lease_and_runs_again(tmp_path):
    demo = tmp_path / "demo"
    code, out = run_demo(demo)
    text = "\n".join(out)
    assert code == 0, text
    assert any(l.startswith("listening on https://127.0.0.1:") for l in out), text
    assert "imported demo-license-1 (3 entitlements)" in text
    lease_lines = [l for l in out if l.startswith("demo host checked out lease l_")]
    assert len(lease_lines) == 1, text
    for secret in ("data/admin.token", "issuer/demo-issuer.key", "demo-host.json", "data/lease-signing.key"):
        assert (demo / secret).stat().st_mode & 0o077 == 0, secret

    code, out = run_demo(demo)
    text = "\n".join(out)
    assert code == 0, text
    assert "already imported demo-license-1" in text
    assert any(l.startswith("demo host checked out lease l_") for l in out), text
