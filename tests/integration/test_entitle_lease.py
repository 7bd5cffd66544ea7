"""entitle-lease (contract section 6) against a real entitled on 127.0.0.1:
checkout/renew/release across processes through the state directory,
documented exit codes per refusal, reconcile, outages, and bad input
(config files, tampered tokens, a server with another certificate)."""
import base64
import json
import os
import pathlib
import signal
import stat
import subprocess
import time

import pytest

from client_helpers import (FEATURE, ClientEnv, EntitledServer, assert_refused, entitlement,
                            lease_bin, state_file)
from entitle_testlib import entitled_bin, init_with_certificate_for

EXIT_OVERSUBSCRIBED = 3
EXIT_REGION_DENIED = 4
EXIT_NO_ENTITLEMENT = 5
EXIT_EXPIRED = 6
EXIT_UNAUTHORIZED = 7
EXIT_NOT_FOUND = 8
EXIT_CONFLICT = 9
EXIT_UNAVAILABLE = 10
EXIT_TLS = 11
EXIT_CONFIG = 12
EXIT_TOKEN_INVALID = 13


@pytest.fixture
def env(tmp_path, data_dir):
    e = ClientEnv(tmp_path, data_dir).start()
    yield e
    e.stop()


def short_env(tmp_path, data_dir, lease_seconds):
    return ClientEnv(tmp_path, data_dir, ["--lease-seconds", str(lease_seconds)]).start()


def checkout(env, config, vgpu, feature=FEATURE, gpu="GPU-0", *extra):
    return env.lease(config, *extra, "checkout", "--feature", feature, "--gpu", gpu, "--vgpu", vgpu)


def lease_id_of(proc) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("l_"), proc.stdout
    return lines[0]


def status_json(env, config, *extra):
    proc = env.lease(config, "--json", *extra, "status")
    return proc.returncode, json.loads(proc.stdout)


# --------------------------------------------------------------------------- the life of a lease

def test_checkout_renew_release_across_separate_processes(env):
    env.import_license([entitlement("seats", count=5)], jti="lic-a")
    config = env.host_config()

    lease = lease_id_of(checkout(env, config, "vgpu-1"))
    assert env.in_use("lic-a/seats") == 1

    # The state file: one JSON file, mode 0600, holding the lease.
    path = state_file(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    held = json.loads(path.read_text())
    assert [l["lease_id"] for l in held["leases"]] == [lease]
    assert held["pending"] == []

    # status (a later process) shows it with time left and a token that verifies.
    code, status = status_json(env, config)
    assert code == 0
    [shown] = status["leases"]
    assert shown["lease_id"] == lease and shown["vgpu"] == "vgpu-1"
    assert shown["token_verified"] is True
    assert 3500 < shown["seconds_left"] <= 3600
    text = env.lease(config, "status")
    assert lease in text.stdout and "valid" in text.stdout

    renewed = env.lease(config, "renew", lease)
    assert renewed.returncode == 0, renewed.stderr
    assert renewed.stdout.startswith(f"{lease} renewed until ")
    [server_lease] = env.host_leases(config)
    assert server_lease["lease_id"] == lease and server_lease["renewed_at"] is not None

    released = env.lease(config, "release", lease)
    assert released.returncode == 0, released.stderr
    assert env.in_use("lic-a/seats") == 0
    assert env.host_leases(config) == []
    assert json.loads(path.read_text())["leases"] == []
    assert "no leases held" in env.lease(config, "status").stdout


def test_a_second_checkout_for_the_same_vgpu_answers_the_lease_it_holds(env):
    env.import_license([entitlement("seats", count=5)], jti="lic-b")
    config = env.host_config()
    first = lease_id_of(checkout(env, config, "vgpu-1"))
    again = lease_id_of(checkout(env, config, "vgpu-1"))
    assert again == first
    assert env.in_use("lic-b/seats") == 1
    # The same vGPU for another feature is a conflict, never a second lease.
    env.import_license([entitlement("pc", feature="vPC", count=5)], jti="lic-b2")
    assert_refused(checkout(env, config, "vgpu-1", "vPC"), EXIT_CONFLICT, "conflict")
    assert env.in_use("lic-b2/pc") == 0


def test_release_by_vgpu_releases_the_lease_of_that_vgpu(env):
    env.import_license([entitlement("seats", count=5)], jti="lic-c")
    config = env.host_config()
    lease_id_of(checkout(env, config, "vgpu-1"))
    lease_id_of(checkout(env, config, "vgpu-2"))
    proc = env.lease(config, "release", "--vgpu", "vgpu-1")
    assert proc.returncode == 0, proc.stderr
    assert "released 1 lease(s) of vGPU vgpu-1" in proc.stdout
    assert [l["vgpu"]["id"] for l in env.host_leases(config)] == ["vgpu-2"]
    # A vGPU with no lease: nothing to do, not an error (the hook runs it blindly).
    proc = env.lease(config, "release", "--vgpu", "vgpu-none")
    assert proc.returncode == 0 and "released 0" in proc.stdout


def test_state_dir_comes_from_the_environment_when_no_flag_is_given(env, tmp_path):
    env.import_license([entitlement("seats", count=5)], jti="lic-d")
    config = env.host_config()
    state = tmp_path / "from-env"
    proc = subprocess.run([lease_bin(), "--config", str(config), "checkout", "--feature", FEATURE,
                           "--gpu", "G", "--vgpu", "v"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ENTITLE_LEASE_STATE_DIR": str(state)})
    lease = lease_id_of(proc)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert json.loads((state / "leases.json").read_text())["leases"][0]["lease_id"] == lease


# --------------------------------------------------------------------------- refusals

def test_each_refusal_has_its_documented_exit_code_and_reason(env):
    env.import_license([entitlement("one", count=1),
                        entitlement("us", feature="vPC", count=5, regions=["us-*"])],
                       jti="lic-r")
    config = env.host_config(region="eu-west")

    lease_id_of(checkout(env, config, "vgpu-1"))
    assert_refused(checkout(env, config, "vgpu-2"), EXIT_OVERSUBSCRIBED, "oversubscribed")
    assert_refused(checkout(env, config, "vgpu-3", "vPC"), EXIT_REGION_DENIED, "region_denied")
    assert_refused(checkout(env, config, "vgpu-4", "vCS"), EXIT_NO_ENTITLEMENT, "no_entitlement")
    assert_refused(env.lease(config, "renew", "l_nosuchlease"), EXIT_NOT_FOUND, "not_found")
    # A refused checkout leaves nothing behind: no lease, no pending request.
    held = json.loads(state_file(config).read_text())
    assert len(held["leases"]) == 1 and held["pending"] == []

    env.remove_host(env.hosts[str(config)])
    assert_refused(checkout(env, config, "vgpu-5"), EXIT_UNAUTHORIZED, "unauthorized")


def test_bad_arguments_are_usage_errors(env):
    config = env.host_config()
    assert env.lease(config, "checkout", "--feature", FEATURE).returncode == 2
    assert env.lease(config, "frobnicate").returncode == 2
    proc = env.lease(config, "checkout", "--feature", FEATURE, "--gpu", "G", "--vgpu", "x" * 300)
    assert_refused(proc, 2, "invalid_argument")


# --------------------------------------------------------------------------- reconcile

def test_reconcile_gives_back_the_seats_of_vgpus_that_are_gone(env):
    env.import_license([entitlement("seats", count=5)], jti="lic-rc")
    config = env.host_config()
    leases = {v: lease_id_of(checkout(env, config, v)) for v in ("vgpu-1", "vgpu-2", "vgpu-3")}
    assert env.in_use("lic-rc/seats") == 3

    proc = env.lease(config, "reconcile", "--vgpu", "vgpu-2")
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == sorted(
        f"released {leases[v]} (vGPU {v})" for v in ("vgpu-1", "vgpu-3"))
    # Two seats came free on the server, and local state agrees.
    assert env.in_use("lic-rc/seats") == 1
    assert [l["lease_id"] for l in env.host_leases(config)] == [leases["vgpu-2"]]
    _, status = status_json(env, config)
    assert [l["lease_id"] for l in status["leases"]] == [leases["vgpu-2"]]

    # The ids may come on stdin (one per line, as `virsh nodedev-list` would print them).
    proc = env.lease(config, "reconcile", stdin="vgpu-2\n")
    assert proc.returncode == 0 and proc.stdout == ""
    assert env.in_use("lic-rc/seats") == 1
    proc = env.lease(config, "reconcile", "--none")
    assert proc.returncode == 0 and leases["vgpu-2"] in proc.stdout
    assert env.in_use("lic-rc/seats") == 0


def test_reconcile_finds_leases_the_local_state_lost(env):
    """A host that crashed and lost its state directory still gives its seats back."""
    env.import_license([entitlement("seats", count=5)], jti="lic-rl")
    config = env.host_config()
    lost = lease_id_of(checkout(env, config, "vgpu-1"))
    state_file(config).unlink()
    proc = env.lease(config, "reconcile", "--vgpu", "vgpu-other")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"released {lost} (vGPU vgpu-1)\n"
    assert env.in_use("lic-rl/seats") == 0


# --------------------------------------------------------------------------- outages

def test_outage_the_lease_verifies_offline_and_renews_after_the_restart(tmp_path, data_dir):
    env = short_env(tmp_path, data_dir, 20)
    try:
        env.import_license([entitlement("seats", count=5)], jti="lic-o")
        config = env.host_config()
        lease = lease_id_of(checkout(env, config, "vgpu-1"))
        env.stop()

        # Server gone: status works offline, the lease has time left and verifies.
        code, status = status_json(env, config)
        assert code == 0
        [shown] = status["leases"]
        assert shown["token_verified"] and 0 < shown["seconds_left"] <= 20
        # Renewal says the server is unreachable (after its retries), nothing is lost.
        proc = env.lease(config, "--attempts", "2", "--timeout-ms", "1000", "renew", lease)
        assert_refused(proc, EXIT_UNAVAILABLE, "unavailable")
        # A hook re-running its checkout for the same vGPU keeps the held lease.
        again = checkout(env, config, "vgpu-1", FEATURE, "GPU-0", "--attempts", "1")
        assert lease_id_of(again) == lease
        assert "server is unreachable" in again.stderr

        env.start_again()
        renewed = env.lease(config, "renew", lease)
        assert renewed.returncode == 0, renewed.stderr
        # No duplicate: one lease on the server, one seat.
        assert [l["lease_id"] for l in env.host_leases(config)] == [lease]
        assert env.in_use("lic-o/seats") == 1
        assert lease_id_of(checkout(env, config, "vgpu-1")) == lease
        assert env.in_use("lic-o/seats") == 1
    finally:
        env.stop()


def test_outage_longer_than_the_lease_ends_it_everywhere(tmp_path, data_dir):
    env = short_env(tmp_path, data_dir, 10)
    try:
        env.import_license([entitlement("seats", count=5)], jti="lic-ol")
        config = env.host_config()
        lease = lease_id_of(checkout(env, config, "vgpu-1"))
        env.stop()
        time.sleep(11)
        code, status = status_json(env, config)
        assert code == EXIT_EXPIRED
        assert status["leases"][0]["seconds_left"] <= 0
        assert "expired" in env.lease(config, "status").stdout

        env.start_again()
        assert_refused(env.lease(config, "renew", lease), EXIT_EXPIRED, "expired")
        # The lapsed lease is gone from the state; a new checkout takes one seat.
        fresh = lease_id_of(checkout(env, config, "vgpu-1"))
        assert fresh != lease
        assert env.in_use("lic-ol/seats") == 1
    finally:
        env.stop()


def test_the_renewer_rides_out_an_outage(tmp_path, data_dir):
    """Timeline (lease 20 s, renew_after 10 s): t0 checkout; t1 server stops;
    t10 the renewer's renewal fails, it retries with backoff and jitter; t12
    the server is back; the renewer renews before t20; at t22 the lease is
    still active on the server, with one seat."""
    env = short_env(tmp_path, data_dir, 20)
    renewer = None
    try:
        env.import_license([entitlement("seats", count=5)], jti="lic-rn")
        config = env.host_config()
        t0 = time.monotonic()
        lease = lease_id_of(checkout(env, config, "vgpu-1"))
        [before] = env.host_leases(config)
        renewer = subprocess.Popen(
            [lease_bin(), "--config", str(config), "--state-dir", str(state_file(config).parent),
             "--timeout-ms", "1000", "renewer"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(max(0.0, t0 + 1 - time.monotonic()))
        env.stop()
        time.sleep(max(0.0, t0 + 12 - time.monotonic()))
        env.start_again()
        time.sleep(max(0.0, t0 + 22 - time.monotonic()))
        [after] = env.host_leases(config)
        assert after["lease_id"] == lease
        assert after["expires_at"] > before["expires_at"]
        assert env.in_use("lic-rn/seats") == 1
        renewer.send_signal(signal.SIGTERM)
        out, err = renewer.communicate(timeout=30)
        assert renewer.returncode == 0, err
        assert "trying again" in err  # it did see the outage
        assert "lost" not in err
    finally:
        if renewer and renewer.poll() is None:
            renewer.kill()
            renewer.wait()
        env.stop()


# --------------------------------------------------------------------------- bad input

def test_missing_or_malformed_config_is_a_config_error(env, tmp_path):
    missing = tmp_path / "missing.json"
    assert_refused(env.lease(missing, "status"), EXIT_CONFIG, "config_error")

    malformed = tmp_path / "malformed.json"
    malformed.write_text("{\"server_url\": ")
    malformed.chmod(0o600)
    proc = env.lease(malformed, "status")
    assert_refused(proc, EXIT_CONFIG, "config_error")
    assert "not valid JSON" in proc.stderr

    good = json.loads(env.host_config().read_text())
    for field, value, says in [("host_token", None, "host_token"),
                               ("server_url", "http://127.0.0.1:1", "only https"),
                               ("lease_keys", {"keys": []}, "no Ed25519 key"),
                               ("ca_pem", "not a certificate", "ca_pem")]:
        broken = dict(good)
        if value is None:
            del broken[field]
        else:
            broken[field] = value
        path = tmp_path / f"broken-{field}.json"
        path.write_text(json.dumps(broken))
        path.chmod(0o600)
        proc = env.lease(path, "status")
        assert_refused(proc, EXIT_CONFIG, "config_error")
        assert says in proc.stderr
        assert good["host_token"] not in proc.stderr


def test_a_config_readable_by_others_works_with_a_warning(env):
    env.import_license([entitlement("seats", count=5)], jti="lic-p")
    config = env.host_config()
    config.chmod(0o644)
    proc = checkout(env, config, "vgpu-1")
    lease_id_of(proc)
    assert "warning: host configuration" in proc.stderr and "chmod 600" in proc.stderr
    config.chmod(0o600)
    assert "warning" not in env.lease(config, "status").stderr


def test_a_tampered_token_in_the_state_fails_offline_verification(env):
    env.import_license([entitlement("seats", count=5)], jti="lic-t")
    config = env.host_config()
    lease_id_of(checkout(env, config, "vgpu-1"))
    path = state_file(config)
    held = json.loads(path.read_text())
    header, payload, signature = held["leases"][0]["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 86400  # a longer lease, forged
    forged = base64.urlsafe_b64encode(
        json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    held["leases"][0]["token"] = ".".join([header, forged, signature])
    path.write_text(json.dumps(held))
    code, status = status_json(env, config)
    assert code == EXIT_TOKEN_INVALID
    assert status["leases"][0]["token_verified"] is False
    assert "INVALID" in env.lease(config, "status").stdout


def test_a_server_with_another_certificate_is_a_tls_error(env, tmp_path):
    env.import_license([entitlement("seats", count=5)], jti="lic-tls")
    config = env.host_config()
    other_data = tmp_path / "other-data"
    subprocess.run([entitled_bin(), "init", "--data", str(other_data)], check=True,
                   capture_output=True, timeout=60)
    other = EntitledServer(other_data).start()
    try:
        cfg = json.loads(config.read_text())
        cfg["server_url"] = other.url  # a server whose certificate the config does not trust
        impostor = tmp_path / "impostor.json"
        impostor.write_text(json.dumps(cfg))
        impostor.chmod(0o600)
        proc = checkout(env, impostor, "vgpu-1")
        assert_refused(proc, EXIT_TLS, "tls_error")
        assert "does not verify against the configuration's ca_pem" in proc.stderr
        assert env.in_use("lic-tls/seats") == 0
    finally:
        other.stop()


def test_a_certificate_for_another_name_is_a_tls_error(env, tmp_path):
    """The certificate chains to ca_pem but names other.example, not 127.0.0.1."""
    other_data, cert = init_with_certificate_for(tmp_path, "other.example")
    other = EntitledServer(other_data).start()
    try:
        cfg = json.loads(env.host_config().read_text())
        cfg["server_url"] = other.url
        cfg["ca_pem"] = cert.read_text()
        path = tmp_path / "named.json"
        path.write_text(json.dumps(cfg))
        path.chmod(0o600)
        proc = checkout(env, path, "vgpu-1")
        assert_refused(proc, EXIT_TLS, "tls_error")
        assert "IP address mismatch" in proc.stderr
    finally:
        other.stop()


def test_a_state_dir_of_another_host_is_refused(env):
    config_a = env.host_config()
    config_b = env.host_config()
    env.import_license([entitlement("seats", count=5)], jti="lic-s")
    lease_id_of(checkout(env, config_a, "vgpu-1"))
    proc = env.lease(config_b, "status", state_dir=state_file(config_a).parent)
    assert_refused(proc, 1, "state_error")
    assert "use another state directory" in proc.stderr
