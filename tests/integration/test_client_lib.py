"""libentitle against a real entitled on 127.0.0.1: retry safety when an
answer is lost after the server committed, 8 threads sharing one handle, and
a host clock an hour off (faked through the library's clock hook)."""
import json
import subprocess

import pytest

from client_helpers import FEATURE, ClientEnv, entitlement
from entitle_testlib import bin_dir


@pytest.fixture
def env(tmp_path, data_dir):
    e = ClientEnv(tmp_path, data_dir).start()
    yield e
    e.stop()


def lost_answer(config, state, vgpu, lose, attempts):
    proc = subprocess.run([str(bin_dir() / "client_lost_answer"), str(config), str(state), FEATURE,
                           "GPU-0", vgpu, str(lose), str(attempts)],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def lease_granted_events(env, lease_id):
    return [e for e in env.audit() if e["kind"] == "lease_granted" and e["subject"] == lease_id]


def test_a_checkout_retried_after_a_lost_answer_takes_one_seat(env):
    env.import_license([entitlement("seats", count=5)], jti="lic-lost")
    config = env.host_config()
    code, out = lost_answer(config, "-", "vgpu-1", lose=1, attempts=5)
    assert code == 0, out
    # The first answer was lost after the server granted; the retry carried
    # the same request_id and got the same lease back.
    assert out["posts"] == 2
    assert len(set(out["request_ids"])) == 1
    leases = env.host_leases(config)
    assert [l["lease_id"] for l in leases] == [out["lease_id"]]
    assert env.in_use("lic-lost/seats") == 1
    assert len(lease_granted_events(env, out["lease_id"])) == 1


def test_a_checkout_whose_answers_all_got_lost_is_answered_by_the_next_run(env, tmp_path):
    """Every try's answer is lost, so the call fails as unavailable; the
    request_id stays in the state directory and the next process (the hook run
    again) gets the lease the server granted, not a second one."""
    env.import_license([entitlement("seats", count=5)], jti="lic-pend")
    config = env.host_config()
    state = tmp_path / "state"
    code, out = lost_answer(config, state, "vgpu-1", lose=100, attempts=3)
    assert code == 1 and out["status"] == "unavailable", out
    assert out["posts"] == 3 and len(set(out["request_ids"])) == 1
    pending = json.loads((state / "leases.json").read_text())["pending"]
    assert [p["request_id"] for p in pending] == out["request_ids"][:1]
    [granted] = env.host_leases(config)  # the server did grant it, once
    assert env.in_use("lic-pend/seats") == 1

    proc = env.lease(config, "checkout", "--feature", FEATURE, "--gpu", "GPU-0", "--vgpu", "vgpu-1",
                     state_dir=state)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == granted["lease_id"]
    assert env.in_use("lic-pend/seats") == 1
    assert json.loads((state / "leases.json").read_text())["pending"] == []
    assert len(lease_granted_events(env, granted["lease_id"])) == 1


def test_a_pending_checkout_whose_lease_ended_meanwhile_checks_out_anew(env, tmp_path):
    """The server answers the old request_id with 410 once its lease ended (here
    released by an admin): the next run does not fail, it takes a new lease."""
    env.import_license([entitlement("seats", count=5)], jti="lic-stale")
    config = env.host_config()
    state = tmp_path / "state"
    code, _ = lost_answer(config, state, "vgpu-1", lose=100, attempts=2)
    assert code == 1
    [first] = env.host_leases(config)
    assert env.release(env.admin, first["lease_id"]).status == 204
    proc = env.lease(config, "checkout", "--feature", FEATURE, "--gpu", "GPU-0", "--vgpu", "vgpu-1",
                     state_dir=state)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() not in ("", first["lease_id"])
    assert [l["lease_id"] for l in env.host_leases(config)] == [proc.stdout.strip()]
    assert env.in_use("lic-stale/seats") == 1


def test_a_pending_checkout_of_a_vgpu_that_is_gone_is_released_by_reconcile(env, tmp_path):
    env.import_license([entitlement("seats", count=5)], jti="lic-pr")
    config = env.host_config()
    state = tmp_path / "state"
    code, _ = lost_answer(config, state, "vgpu-1", lose=100, attempts=2)
    assert code == 1
    assert env.in_use("lic-pr/seats") == 1
    proc = env.lease(config, "reconcile", "--none", state_dir=state)
    assert proc.returncode == 0, proc.stderr
    assert env.in_use("lic-pr/seats") == 0
    held = json.loads((state / "leases.json").read_text())
    assert held["leases"] == [] and held["pending"] == []


def test_eight_threads_share_one_handle(env):
    env.import_license([entitlement("seats", count=8)], jti="lic-threads")
    config = env.host_config()
    proc = subprocess.run([str(bin_dir() / "client_scenarios"), "threads", str(config), FEATURE,
                           "8", "5"], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary == {"checkouts": 40, "renewals": 40, "releases": 40, "held_after": 0,
                       "errors": 0}
    ent = env.entitlements()["lic-threads/seats"]
    assert ent["in_use"] == 0
    assert 1 <= ent["peak"] <= 8
    granted = [e for e in env.audit() if e["kind"] == "lease_granted"]
    assert len(granted) == 40


def test_a_host_clock_an_hour_off_neither_ends_a_fresh_lease_nor_keeps_an_old_one(tmp_path,
                                                                                  data_dir):
    env = ClientEnv(tmp_path, data_dir, ["--lease-seconds", "60"]).start()
    try:
        env.import_license([entitlement("seats", count=5)], jti="lic-skew")
        config = env.host_config()
        proc = subprocess.run([str(bin_dir() / "client_scenarios"), "skew", str(config), FEATURE,
                               "60"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert env.in_use("lic-skew/seats") == 0
    finally:
        env.stop()


def test_the_lease_token_verifies_with_pyjwt_and_the_config_keys(env):
    """An independent JOSE implementation accepts what the library accepted."""
    import base64

    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    env.import_license([entitlement("seats", count=5)], jti="lic-jwt")
    config = env.host_config()
    proc = env.lease(config, "--json", "checkout", "--feature", FEATURE, "--gpu", "G", "--vgpu", "v")
    assert proc.returncode == 0, proc.stderr
    state = json.loads((config.with_suffix(".state") / "leases.json").read_text())
    token = state["leases"][0]["token"]
    cfg = json.loads(config.read_text())
    [jwk] = cfg["lease_keys"]["keys"]
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    claims = jwt.decode(token, Ed25519PublicKey.from_public_bytes(raw), algorithms=["EdDSA"])
    assert claims["sub"] == cfg["host_id"] and claims["vgpu"] == "v"
    assert claims["jti"] == json.loads(proc.stdout)["lease_id"]
