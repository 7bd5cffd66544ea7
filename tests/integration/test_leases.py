"""Leases over the HTTP API (contract sections 1-5): seat counting per model,
overage, regions, device locks, subscription windows, expiry, idempotent
request ids, ownership, input validation, the lease token, withdrawal and
supersession with live leases, and a concurrent checkout race.

Licenses are signed with PyJWT by an issuer key made at run time and trusted
by writing its public key to DATA/issuers/ before the server starts.
"""
import http.client
import json
import random
import re
import sqlite3
import ssl
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lease_helpers import (ISSUER_KID, LEASE_TYP, Issuer, LeaseEnv, b64url_decode, checkout_body,
                           entitlement, error_code, error_message, expect_error, replay_active_sets)
from license_factory import DAY, OMIT, b64url, now


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def issuer():
    return Issuer.generate(ISSUER_KID)


@pytest.fixture
def make_env(data_dir, issuer):
    """Starts a server (extra `entitled serve` flags allowed) trusting `issuer`."""
    envs = []

    def make(extra_args=()):
        issuer.trust(data_dir)
        env = LeaseEnv(data_dir, issuer, extra_args).start()
        envs.append(env)
        return env

    yield make
    for e in envs:
        e.stop()


@pytest.fixture
def env(make_env):
    return make_env()


def kinds_of(events, kind):
    return [e for e in events if e["kind"] == kind]


# The sweeper passes about once a second (docs/leases.md). Tests wait this long
# for it: the bound says the sweeper works, not how fast it is; a loaded
# 2-core machine may hold a pass (or the commit behind it) up for seconds.
SWEEP_WAIT = 15.0


def wait_until(t, limit=10.0):
    """Sleeps until wall time `t` (bounded by `limit` seconds)."""
    delay = t - time.time()
    assert delay <= limit, f"would wait {delay:.1f} s"
    if delay > 0:
        time.sleep(delay)


GRANT_FIELDS = {"lease_id", "token", "expires_at", "renew_after", "entitlement"}


# --------------------------------------------------------------------------- 1. concurrent

def test_concurrent_grants_count_leases_then_refuses_oversubscribed_and_a_release_frees_a_seat(env):
    jti = env.import_license([entitlement("seats", model="concurrent", count=3)])
    key = f"{jti}/seats"
    host = env.add_host()
    before = env.last_seq()

    t0 = now()
    grants = [env.grant(host, gpu=f"GPU-{i}") for i in range(3)]
    for g in grants:
        assert GRANT_FIELDS <= set(g), g
        assert g["entitlement"] == key
        assert g["overage"] is False
        assert all(isinstance(g[f], int) for f in ("expires_at", "renew_after"))
        assert t0 + 3600 - 2 <= g["expires_at"] <= now() + 3600 + 1   # default --lease-seconds 3600
        assert t0 <= g["renew_after"] < g["expires_at"]
    assert len({g["lease_id"] for g in grants}) == 3
    assert env.in_use(key) == 3

    refused_body = checkout_body(gpu="GPU-9")
    expect_error(env.checkout(host, body=refused_body), 409, "oversubscribed")
    events = env.audit(before)
    assert [e["subject"] for e in kinds_of(events, "lease_granted")] == [g["lease_id"] for g in grants]
    denied = kinds_of(events, "oversubscription_denied")
    assert len(denied) == 1, denied
    assert denied[0]["subject"] == host.id
    assert denied[0]["detail"]["request_id"] == refused_body["request_id"]
    assert denied[0]["detail"]["feature"] == "vWS"
    assert env.in_use(key) == 3

    # A refusal is not remembered: the same request_id is refused again, not a conflict.
    expect_error(env.checkout(host, body=refused_body), 409, "oversubscribed")

    seq = env.last_seq()
    assert env.release(host.token, grants[0]["lease_id"]).status == 204
    assert env.in_use(key) == 2
    released = kinds_of(env.audit(seq), "lease_released")
    assert [e["subject"] for e in released] == [grants[0]["lease_id"]]
    # Releasing again is 204 and writes nothing more.
    seq = env.last_seq()
    assert env.release(host.token, grants[0]["lease_id"]).status == 204
    assert kinds_of(env.audit(seq), "lease_released") == []

    # The freed seat is taken by the request that was refused before.
    again = env.checkout(host, body=refused_body)
    assert again.status == 201, again
    assert env.in_use(key) == 3
    assert env.entitlements()[key]["peak"] == 3
    held = {l["lease_id"] for l in env.leases(token=host.token)}
    assert held == {grants[1]["lease_id"], grants[2]["lease_id"], again.json()["lease_id"]}


# --------------------------------------------------------------------------- 2. per_device

def test_per_device_counts_gpus_so_two_vgpus_on_one_gpu_take_one_seat_and_a_second_gpu_is_refused(env):
    jti = env.import_license([entitlement("gpus", feature="vPC", model="per_device", count=1)])
    key = f"{jti}/gpus"
    host = env.add_host()
    a = env.grant(host, feature="vPC", gpu="GPU-A", vgpu="vm-1")
    b = env.grant(host, feature="vPC", gpu="GPU-A", vgpu="vm-2")
    assert a["lease_id"] != b["lease_id"]
    assert env.in_use(key) == 1
    expect_error(env.checkout(host, feature="vPC", gpu="GPU-B", vgpu="vm-3"), 409, "oversubscribed")

    # GPU-A keeps its seat while one of its vGPUs still holds a lease.
    assert env.release(host.token, a["lease_id"]).status == 204
    assert env.in_use(key) == 1
    expect_error(env.checkout(host, feature="vPC", gpu="GPU-B", vgpu="vm-3"), 409, "oversubscribed")
    assert env.release(host.token, b["lease_id"]).status == 204
    assert env.in_use(key) == 0
    env.grant(host, feature="vPC", gpu="GPU-B", vgpu="vm-3")
    assert env.in_use(key) == 1


def test_per_device_device_lock_refuses_other_gpus_as_no_entitlement_naming_the_lock(env):
    jti = env.import_license([entitlement("locked", feature="vPC", model="per_device", count=5,
                                          devices=["GPU-LOCK-1", "GPU-LOCK-2"])])
    host = env.add_host()
    env.grant(host, feature="vPC", gpu="GPU-LOCK-1")
    env.grant(host, feature="vPC", gpu="GPU-LOCK-2")
    r = env.checkout(host, feature="vPC", gpu="GPU-ELSEWHERE")
    expect_error(r, 404, "no_entitlement")
    assert "device" in error_message(r).lower(), r
    assert env.in_use(f"{jti}/locked") == 2


# --------------------------------------------------------------------------- 3. overage

def test_overage_allows_up_to_floor_of_count_times_margin_each_audited_then_refuses(env):
    jti = env.import_license([entitlement("seats", count=10,
                                          overage={"policy": "allow", "limit_percent": 20})])
    key = f"{jti}/seats"
    host = env.add_host()
    before = env.last_seq()
    grants = [env.grant(host, gpu=f"GPU-{i}") for i in range(12)]
    assert [g["overage"] for g in grants] == [False] * 10 + [True] * 2
    expect_error(env.checkout(host), 409, "oversubscribed")
    assert env.in_use(key) == 12

    events = env.audit(before)
    over = kinds_of(events, "overage_granted")
    assert [e["subject"] for e in over] == [grants[10]["lease_id"], grants[11]["lease_id"]]
    assert all(e["detail"]["entitlement"] == key for e in over)
    assert len(kinds_of(events, "lease_granted")) == 12
    assert len(kinds_of(events, "oversubscription_denied")) == 1


def test_overage_limit_rounds_down_so_count_1_with_50_percent_gives_one_seat(env):
    jti = env.import_license([entitlement("one", count=1,
                                          overage={"policy": "allow", "limit_percent": 50})])
    host = env.add_host()
    g = env.grant(host)
    assert g["overage"] is False
    expect_error(env.checkout(host), 409, "oversubscribed")
    assert env.in_use(f"{jti}/one") == 1


# --------------------------------------------------------------------------- 4. region

def test_region_prefix_pattern_admits_matching_hosts_and_denies_others_with_an_audit_event(env):
    jti = env.import_license([entitlement("eu", feature="vWS", count=1, regions=["eu-*"])])
    eu = env.add_host(region="eu-west")
    us = env.add_host(region="us-east")
    env.grant(eu)
    before = env.last_seq()
    # Full, yet region comes first: the US host is told region_denied, not oversubscribed.
    body = checkout_body()
    expect_error(env.checkout(us, body=body), 403, "region_denied")
    events = env.audit(before)
    denied = kinds_of(events, "region_denied")
    assert len(denied) == 1, events
    assert denied[0]["subject"] == us.id
    assert denied[0]["detail"]["region"] == "us-east"
    assert denied[0]["detail"]["request_id"] == body["request_id"]
    assert kinds_of(events, "oversubscription_denied") == []
    assert env.in_use(f"{jti}/eu") == 1


def test_a_feature_without_entitlement_is_no_entitlement_even_for_a_host_in_a_wrong_region(env):
    env.import_license([entitlement("eu", feature="vWS", regions=["eu-*"])])
    eu = env.add_host(region="eu-west")
    us = env.add_host(region="us-east")
    before = env.last_seq()
    expect_error(env.checkout(eu, feature="vCS"), 404, "no_entitlement")
    expect_error(env.checkout(us, feature="vCS"), 404, "no_entitlement")
    assert kinds_of(env.audit(before), "region_denied") == []


# --------------------------------------------------------------------------- 5. subscription

def test_subscription_outside_its_window_is_no_entitlement(env):
    t = now()
    env.import_license([
        entitlement("anchor", feature="vWS"),  # keeps the license from being lapsed as a whole
        entitlement("past", feature="vPC", model="subscription", count=5,
                    not_before=t - 2 * DAY, not_after=t - DAY),
        entitlement("future", feature="vApps", model="subscription",
                    not_before=t + DAY, not_after=t + 2 * DAY),
    ])
    host = env.add_host()
    expect_error(env.checkout(host, feature="vPC"), 404, "no_entitlement")
    expect_error(env.checkout(host, feature="vApps"), 404, "no_entitlement")


def test_subscription_lease_never_outlives_the_window_and_the_sweeper_ends_it_with_it(env):
    not_after = int(time.time()) + 4
    jti = env.import_license([
        entitlement("anchor", feature="vWS"),
        entitlement("sub", feature="vPC", model="subscription", count=5,
                    not_before=not_after - DAY, not_after=not_after),
    ])
    key = f"{jti}/sub"
    host = env.add_host()
    g = env.grant(host, feature="vPC")
    assert g["entitlement"] == key
    assert g["expires_at"] <= not_after
    assert jwt.decode(g["token"], options={"verify_signature": False})["exp"] <= not_after
    r = env.renew(host, g["lease_id"])
    assert r.status == 200, r
    assert r.json()["expires_at"] <= not_after

    wait_until(not_after)
    ended = env.wait_for_event(lambda e: e["kind"] == "lease_expired" and e["subject"] == g["lease_id"],
                               timeout=SWEEP_WAIT)
    assert ended is not None, f"no lease_expired within {SWEEP_WAIT} s of the window's end"
    assert ended["actor"] == "system"
    assert ended["detail"]["reason"] == "entitlement_expired"
    assert ended["detail"]["ended_at"] == not_after
    closed = [e for e in env.audit() if e["kind"] == "entitlement_expired"]
    assert [(e["subject"], e["detail"]) for e in closed] == [(key, {"entitlement": key, "leases_ended": 1})]
    assert env.in_use(key) == 0


def test_a_lease_found_lapsed_by_a_late_renewal_or_release_still_ends_with_its_window(env):
    """Whoever finds a lease past the end of its entitlement's window (the
    sweeper, or its host renewing or releasing a moment too late) ends it the
    same way: reason entitlement_expired, and an entitlement_expired event."""
    not_after = int(time.time()) + 3
    jti = env.import_license([
        entitlement("sub", feature="vPC", model="subscription", count=5,
                    not_before=not_after - DAY, not_after=not_after),
    ])
    key = f"{jti}/sub"
    host = env.add_host()
    renewed_late = env.grant(host, feature="vPC")
    released_late = env.grant(host, feature="vPC")
    assert renewed_late["expires_at"] == released_late["expires_at"] == not_after

    wait_until(not_after)
    expect_error(env.renew(host, renewed_late["lease_id"]), 410, "expired")
    assert env.release(host.token, released_late["lease_id"]).status == 204
    # Both answers came after their commits: the events are there, whether the
    # sweeper or the late request ended each lease.
    events = env.audit()
    for g in (renewed_late, released_late):
        ends = [e for e in events if e["subject"] == g["lease_id"] and e["kind"] != "lease_granted"]
        assert [(e["kind"], e["detail"]["reason"], e["detail"]["ended_at"]) for e in ends] == [
            ("lease_expired", "entitlement_expired", not_after)], ends
    closed = [e for e in events if e["kind"] == "entitlement_expired"]
    assert closed and all(e["subject"] == key for e in closed), closed
    assert sum(e["detail"]["leases_ended"] for e in closed) == 2
    assert env.in_use(key) == 0


# --------------------------------------------------------------------------- 6. expiry

def test_an_expired_lease_stops_holding_its_seat_at_once_and_the_sweeper_records_it(env):
    env.import_license([entitlement("short", count=1, max_lease_seconds=2)])
    host = env.add_host()
    first = env.grant(host)
    assert first["expires_at"] <= int(time.time()) + 2
    expect_error(env.checkout(host), 409, "oversubscribed")

    wait_until(first["expires_at"] + 0.05, limit=3)
    second = env.checkout(host)   # no release: the expired lease is reclaimed
    assert second.status == 201, second
    expired = env.wait_for_event(
        lambda e: e["kind"] == "lease_expired" and e["subject"] == first["lease_id"], timeout=SWEEP_WAIT)
    assert expired is not None, f"no lease_expired for the first lease within {SWEEP_WAIT} s"
    assert expired["actor"] == "system"
    assert expired["detail"]["reason"] == "expired"
    expect_error(env.renew(host, first["lease_id"]), 410, "expired")
    assert env.release(host.token, first["lease_id"]).status == 204
    assert [l["lease_id"] for l in env.leases(token=host.token)] in ([second.json()["lease_id"]], [])


def test_the_sweeper_ends_an_expired_lease_and_frees_in_use(env):
    jti = env.import_license([entitlement("short", count=3, max_lease_seconds=2)])
    host = env.add_host()
    g = env.grant(host)
    wait_until(g["expires_at"], limit=3)
    assert env.leases(token=host.token) == []   # past exp, no longer listed
    e = env.wait_for_event(lambda e: e["kind"] == "lease_expired" and e["subject"] == g["lease_id"],
                           timeout=SWEEP_WAIT)
    assert e is not None, f"no lease_expired within {SWEEP_WAIT} s"
    assert e["detail"]["reason"] == "expired"
    assert env.in_use(f"{jti}/short") == 0


# --------------------------------------------------------------------------- 7. idempotency

def test_a_retry_with_the_same_request_id_and_body_returns_the_same_lease_even_after_restart(env):
    jti = env.import_license([entitlement("seats", count=5)])
    key = f"{jti}/seats"
    host = env.add_host()
    body = checkout_body(gpu="GPU-R", gpu_model="A100", vgpu="vm-r", profile="A100-4C")
    first = env.checkout(host, body=body)
    assert first.status == 201, first
    lease = first.json()

    # Same members in another order and spacing are the same body.
    reordered = json.dumps({"vgpu": body["vgpu"], "gpu": body["gpu"], "feature": body["feature"],
                            "request_id": body["request_id"]}, indent=2)
    for raw in (body, reordered):
        again = env.request("POST", "/v1/leases", raw, token=host.token)
        assert again.status in (200, 201), again
        assert again.json()["lease_id"] == lease["lease_id"]
        assert again.json()["token"] == lease["token"]
    assert env.in_use(key) == 1
    assert len(kinds_of(env.audit(), "lease_granted")) == 1

    env.restart()
    after = env.checkout(host, body=body)
    assert after.status in (200, 201), after
    assert after.json()["lease_id"] == lease["lease_id"]
    assert after.json()["token"] == lease["token"]
    assert env.in_use(key) == 1
    assert len(kinds_of(env.audit(), "lease_granted")) == 1

    for change in ({"gpu": {"uuid": "GPU-OTHER", "model": "A100"}},
                   {"vgpu": {"id": "vm-r", "profile": "A100-8C"}},
                   {"feature": "vPC"}):
        expect_error(env.checkout(host, body={**body, **change}), 409, "conflict")
    assert env.in_use(key) == 1

    # request_id is unique per host: another host's same id is its own lease.
    other = env.add_host()
    theirs = env.checkout(other, body=body)
    assert theirs.status == 201, theirs
    assert theirs.json()["lease_id"] != lease["lease_id"]
    assert env.in_use(key) == 2


# --------------------------------------------------------------------------- 8. ownership, bad input

def test_another_host_cannot_renew_or_release_a_lease(env):
    env.import_license([entitlement("seats", count=5)])
    a, b = env.add_host(), env.add_host()
    g = env.grant(a)
    expect_error(env.renew(b, g["lease_id"]), 403, "forbidden")
    expect_error(env.release(b.token, g["lease_id"]), 404, "not_found")
    assert [l["lease_id"] for l in env.leases(token=a.token)] == [g["lease_id"]]
    assert env.leases(token=b.token) == []
    assert env.renew(a, g["lease_id"]).status == 200


def test_unknown_lease_ids_are_not_found_for_renew_and_release(env):
    env.import_license([entitlement("seats", count=5)])
    host = env.add_host()
    expect_error(env.renew(host, "l_doesnotexist"), 404, "not_found")
    expect_error(env.release(host.token, "l_doesnotexist"), 404, "not_found")
    expect_error(env.release(env.admin, "l_doesnotexist"), 404, "not_found")


def test_renew_extends_a_live_lease_and_answers_expired_after_exp(env):
    env.import_license([entitlement("short", count=2, max_lease_seconds=2)])
    host = env.add_host()
    g = env.grant(host)
    r = env.renew(host, g["lease_id"])
    assert r.status == 200, r
    renewed = r.json()
    assert GRANT_FIELDS <= set(renewed)
    assert renewed["lease_id"] == g["lease_id"]
    assert renewed["expires_at"] >= g["expires_at"]
    wait_until(renewed["expires_at"] + 0.05, limit=3)
    expect_error(env.renew(host, g["lease_id"]), 410, "expired")


def test_an_admin_can_release_any_lease_and_an_auditor_cannot(env):
    jti = env.import_license([entitlement("seats", count=5)])
    host = env.add_host()
    g1, g2 = env.grant(host), env.grant(host)
    auditor = env.new_token("auditor")
    assert env.release(auditor, g1["lease_id"]).status == 403
    before = env.last_seq()
    assert env.release(env.admin, g1["lease_id"]).status == 204
    assert [e["subject"] for e in kinds_of(env.audit(before), "lease_released")] == [g1["lease_id"]]
    assert env.in_use(f"{jti}/seats") == 1
    expect_error(env.renew(host, g1["lease_id"]), 410, "expired")
    # The auditor sees every host's active leases.
    assert [l["lease_id"] for l in env.leases(token=auditor)] == [g2["lease_id"]]


BIG = "x" * 10240


@pytest.mark.parametrize("body", [
    pytest.param({}, id="empty-object"),
    pytest.param({"feature": "vWS", "gpu": {"uuid": "G"}, "vgpu": {"id": "v"}}, id="no-request_id"),
    pytest.param({"request_id": "r", "gpu": {"uuid": "G"}, "vgpu": {"id": "v"}}, id="no-feature"),
    pytest.param({"request_id": "r", "feature": "vWS", "vgpu": {"id": "v"}}, id="no-gpu"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": {"uuid": "G"}}, id="no-vgpu"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": {}, "vgpu": {"id": "v"}}, id="no-gpu-uuid"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": {"uuid": "G"}, "vgpu": {}}, id="no-vgpu-id"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": "GPU-0", "vgpu": {"id": "v"}}, id="gpu-string"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": {"uuid": "G"}, "vgpu": "v"}, id="vgpu-string"),
    pytest.param({"request_id": 7, "feature": "vWS", "gpu": {"uuid": "G"}, "vgpu": {"id": "v"}}, id="request_id-number"),
    pytest.param({"request_id": "r", "feature": ["vWS"], "gpu": {"uuid": "G"}, "vgpu": {"id": "v"}}, id="feature-array"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": {"uuid": 5}, "vgpu": {"id": "v"}}, id="gpu-uuid-number"),
    pytest.param({"request_id": "", "feature": "vWS", "gpu": {"uuid": "G"}, "vgpu": {"id": "v"}}, id="request_id-empty"),
    pytest.param({"request_id": BIG, "feature": "vWS", "gpu": {"uuid": "G"}, "vgpu": {"id": "v"}}, id="request_id-10KB"),
    pytest.param({"request_id": "r", "feature": BIG, "gpu": {"uuid": "G"}, "vgpu": {"id": "v"}}, id="feature-10KB"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": {"uuid": BIG}, "vgpu": {"id": "v"}}, id="gpu-uuid-10KB"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": {"uuid": "G"}, "vgpu": {"id": BIG}}, id="vgpu-id-10KB"),
    pytest.param({"request_id": "a\nb", "feature": "vWS", "gpu": {"uuid": "G"}, "vgpu": {"id": "v"}}, id="request_id-control-char"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": {"uuid": "G", "model": 3}, "vgpu": {"id": "v"}}, id="gpu-model-number"),
    pytest.param({"request_id": "r", "feature": "vWS", "gpu": {"uuid": "G"}, "vgpu": {"id": "v", "profile": {}}}, id="vgpu-profile-object"),
    pytest.param({"request_id": "r", "feature": None, "gpu": {"uuid": "G"}, "vgpu": {"id": "v"}}, id="feature-null"),
    pytest.param([], id="array"),
    pytest.param('"a string"', id="string"),
    pytest.param("42", id="number"),
    pytest.param("null", id="null"),
    pytest.param("{\"request_id\":", id="truncated-json"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
])
def test_malformed_checkout_bodies_are_invalid_request_and_take_no_seat(env, body):
    jti = env.import_license([entitlement("seats", count=5)])
    host = env.add_host()
    before = env.last_seq()
    r = env.request("POST", "/v1/leases", body, token=host.token,
                    headers={"Content-Type": "application/json"})
    expect_error(r, 400, "invalid_request")
    assert env.in_use(f"{jti}/seats") == 0
    assert kinds_of(env.audit(before), "lease_granted") == []


def test_an_admin_token_cannot_check_out(env):
    env.import_license([entitlement("seats", count=5)])
    r = env.request("POST", "/v1/leases", checkout_body(), token=env.admin)
    expect_error(r, 403, "forbidden")
    auditor = env.new_token("auditor")
    expect_error(env.request("POST", "/v1/leases", checkout_body(), token=auditor), 403, "forbidden")


def test_a_removed_hosts_token_is_unauthorized_and_its_leases_end(env):
    jti = env.import_license([entitlement("seats", count=5)])
    host = env.add_host()
    g = env.grant(host)
    before = env.last_seq()
    env.remove_host(host)
    expect_error(env.checkout(host), 401, "unauthorized")
    expect_error(env.renew(host, g["lease_id"]), 401, "unauthorized")
    ended = kinds_of(env.audit(before), "lease_ended")
    assert [e["subject"] for e in ended] == [g["lease_id"]]
    assert ended[0]["detail"]["reason"] == "host_removed"
    assert env.in_use(f"{jti}/seats") == 0
    assert env.leases() == []


# --------------------------------------------------------------------------- 9. lease token

def _public_key(jwk):
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519", jwk
    return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))


def _token_nonce_seeds(env):
    """lease id -> the stored seed of its token's nonce (schema/0007), as bytes or None."""
    con = sqlite3.connect(f"file:{env.data_dir / 'entitle.db'}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT id, token_nonce FROM leases").fetchall())
    finally:
        con.close()


def test_every_token_has_its_own_nonce_and_a_retry_after_renewals_and_a_restart_gets_the_last_token_again(env):
    """Tokens are signed with nonces made ahead of time (docs/decisions/0010):
    each checkout and renewal stores a new seed with the lease, every token
    verifies with the published key, no two tokens share a nonce (the first
    half of the signature), and a retried checkout gets back, byte for byte,
    the token the lease's last grant or renewal answered with."""
    jti = env.import_license([entitlement("seats", count=10)])
    host = env.add_host()
    jwks = env.request("GET", "/v1/keys").json()
    bodies, last_token, points = [], {}, []
    seeds_seen = {}
    for i in range(3):
        body = checkout_body(gpu=f"GPU-N{i}", vgpu=f"vm-n{i}")
        g = env.grant(host, body=body)
        bodies.append(body)
        last_token[g["lease_id"]] = g["token"]
        points.append(b64url_decode(g["token"].split(".")[2])[:32])
        seeds_seen.setdefault(g["lease_id"], []).append(_token_nonce_seeds(env)[g["lease_id"]])
        for _ in range(2):
            time.sleep(1.05)  # a renewal in another second: another iat, another token
            r = env.renew(host, g["lease_id"])
            assert r.status == 200, r
            last_token[g["lease_id"]] = r.json()["token"]
            points.append(b64url_decode(r.json()["token"].split(".")[2])[:32])
            seeds_seen[g["lease_id"]].append(_token_nonce_seeds(env)[g["lease_id"]])
    for token in last_token.values():
        kid = jwt.get_unverified_header(token)["kid"]
        jwk = [k for k in jwks["keys"] if k["kid"] == kid][0]
        jwt.decode(token, _public_key(jwk), algorithms=["EdDSA"], leeway=5)
    assert len(set(points)) == len(points) == 9
    for lease_id, seeds in seeds_seen.items():
        assert all(isinstance(s, bytes) and len(s) == 16 for s in seeds), seeds
        assert len(set(seeds)) == 3, f"{lease_id}: a renewal kept the seed"

    for attempt in ("retry", "after restart"):
        if attempt == "after restart":
            env.restart()
        for body in bodies:
            again = env.checkout(host, body=body)
            assert again.status in (200, 201), (attempt, again)
            assert again.json()["token"] == last_token[again.json()["lease_id"]], attempt
    assert env.in_use(f"{jti}/seats") == 3  # retries took no seat

    # /metrics counts the nonces taken since the restart: three retries, each took one.
    body = env.request("GET", "/metrics").body
    made = dict(re.findall(r'^entitle_token_nonces_total\{made="(\w+)"\} (\d+)$', body, re.M))
    assert set(made) == {"ahead", "on_demand"}, body
    assert int(made["ahead"]) + int(made["on_demand"]) == 3, made


def test_the_lease_token_verifies_with_the_published_key_and_carries_the_contract_claims(env):
    jti = env.import_license([entitlement("seats", count=5)])
    host = env.add_host()
    t0 = int(time.time())
    g = env.grant(host, feature="vWS", gpu="GPU-TOK", vgpu="vm-tok")
    token = g["token"]

    r = env.request("GET", "/v1/keys")   # no token needed
    assert r.status == 200, r
    jwks = r.json()
    assert jwks == host.config["lease_keys"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["typ"] == LEASE_TYP
    matching = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert len(matching) == 1, (header, jwks)

    for source in (jwks, host.config["lease_keys"]):
        jwk = [k for k in source["keys"] if k["kid"] == header["kid"]][0]
        claims = jwt.decode(token, _public_key(jwk), algorithms=["EdDSA"], leeway=5)
        assert claims["iss"] == env.server_id()
        assert claims["sub"] == host.id
        assert claims["jti"] == g["lease_id"]
        assert claims["feature"] == "vWS"
        assert claims["ent"] == f"{jti}/seats" == g["entitlement"]
        assert claims["gpu"] == "GPU-TOK"
        assert claims["vgpu"] == "vm-tok"
        assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
        assert t0 <= claims["iat"] <= int(time.time())
        assert claims["exp"] == g["expires_at"]

    # Any changed byte breaks it.
    h, p, s = token.split(".")
    forged = json.loads(b64url_decode(p))
    forged["exp"] += 86400
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{h}.{b64url(json.dumps(forged).encode())}.{s}", _public_key(matching[0]),
                   algorithms=["EdDSA"])

    # A renewed token is signed the same way and carries the new exp.
    r = env.renew(host, g["lease_id"])
    assert r.status == 200, r
    claims = jwt.decode(r.json()["token"], _public_key(matching[0]), algorithms=["EdDSA"], leeway=5)
    assert claims["jti"] == g["lease_id"] and claims["exp"] == r.json()["expires_at"]


# --------------------------------------------------------------------------- 10. withdraw, supersede

def test_withdrawing_a_license_ends_its_live_leases(env):
    jti = env.import_license([entitlement("seats", count=5)])
    a, b = env.add_host(), env.add_host()
    grants = [env.grant(a), env.grant(a), env.grant(b)]
    ids = {g["lease_id"] for g in grants}
    before = env.last_seq()
    env.withdraw(jti)
    events = env.audit(before)
    assert len(kinds_of(events, "license_withdrawn")) == 1
    ended = kinds_of(events, "lease_ended")
    assert {e["subject"] for e in ended} == ids
    assert all(e["detail"]["reason"] == "license_withdrawn" for e in ended)

    assert env.leases() == []
    assert env.leases(token=a.token) == []
    lic = env.get(f"/v1/licenses/{jti}")
    assert [e["in_use"] for e in lic["entitlements"]] == [0]
    assert env.entitlements().get(f"{jti}/seats", {"in_use": 0})["in_use"] == 0
    expect_error(env.renew(a, grants[0]["lease_id"]), 410, "expired")
    expect_error(env.checkout(a), 404, "no_entitlement")


def test_a_superseding_license_with_room_moves_the_live_leases(env):
    old = env.import_license([entitlement("seats", count=3)])
    host = env.add_host()
    grants = [env.grant(host) for _ in range(3)]
    ids = {g["lease_id"] for g in grants}
    before = env.last_seq()
    new = env.import_license([entitlement("seats", count=5)], supersedes=old)
    events = env.audit(before)
    moved = kinds_of(events, "lease_moved")
    assert {e["subject"] for e in moved} == ids
    assert kinds_of(events, "lease_ended") == []

    listed = env.leases()
    assert {l["lease_id"] for l in listed} == ids
    assert {l["entitlement"] for l in listed} == {f"{new}/seats"}
    assert env.in_use(f"{new}/seats") == 3
    r = env.renew(host, grants[0]["lease_id"])
    assert r.status == 200, r
    assert r.json()["entitlement"] == f"{new}/seats"
    assert jwt.decode(r.json()["token"], options={"verify_signature": False})["ent"] == f"{new}/seats"
    env.grant(host)
    env.grant(host)
    expect_error(env.checkout(host), 409, "oversubscribed")


def test_a_superseding_license_with_fewer_seats_ends_the_leases_that_do_not_fit(env):
    old = env.import_license([entitlement("seats", count=3)])
    host = env.add_host()
    grants = [env.grant(host) for _ in range(3)]
    before = env.last_seq()
    new = env.import_license([entitlement("seats", count=2)], supersedes=old)
    events = env.audit(before)
    moved = kinds_of(events, "lease_moved")
    ended = kinds_of(events, "lease_ended")
    assert len(moved) == 2 and len(ended) == 1, events
    assert ended[0]["detail"]["reason"] == "superseded"
    assert {e["subject"] for e in moved} | {ended[0]["subject"]} == {g["lease_id"] for g in grants}

    listed = env.leases()
    assert {l["lease_id"] for l in listed} == {e["subject"] for e in moved}
    assert {l["entitlement"] for l in listed} == {f"{new}/seats"}
    assert env.in_use(f"{new}/seats") == 2
    expect_error(env.renew(host, ended[0]["subject"]), 410, "expired")
    expect_error(env.checkout(host), 409, "oversubscribed")


# --------------------------------------------------------------------------- 11. race

RACE_THREADS = 64
RACE_ATTEMPTS = 20
RACE_K = 10
RACE_SECONDS = 30


def test_concurrent_checkouts_from_64_clients_never_hold_more_than_count_seats(env):
    jti = env.import_license([entitlement("seats", count=RACE_K)])
    key = f"{jti}/seats"
    hosts = [env.add_host(name=f"race-{i}") for i in range(RACE_THREADS)]
    server = env.server
    start_seq = env.last_seq()

    lock = threading.Lock()
    stats = {"granted": 0, "refused": 0, "released": 0}
    granted_ids, released_ids, problems = [], [], []
    barrier = threading.Barrier(RACE_THREADS, timeout=30)
    deadline = time.monotonic() + RACE_SECONDS

    def call(conn_box, method, path, body, token):
        """One request on a keep-alive connection; reconnects and retries (same
        body, so checkouts stay idempotent) at most twice."""
        for attempt in range(3):
            try:
                return server.request(method, path, body, token=token, conn=conn_box[0])
            except (http.client.HTTPException, OSError, ssl.SSLError) as exc:
                conn_box[0].close()
                conn_box[0] = server.connection(timeout=20)
                last = exc
        raise last

    def worker(n):
        host = hosts[n]
        rng = random.Random(n)
        conn_box = [server.connection(timeout=20)]
        held = []
        try:
            barrier.wait()
            for i in range(RACE_ATTEMPTS):
                if time.monotonic() > deadline:
                    break
                body = checkout_body(request_id=f"race-{n}-{i}", gpu=f"GPU-{n}", vgpu=f"vm-{n}-{i}")
                r = call(conn_box, "POST", "/v1/leases", body, host.token)
                if r.status == 201:
                    with lock:
                        stats["granted"] += 1
                        granted_ids.append(r.json()["lease_id"])
                    held.append(r.json()["lease_id"])
                elif r.status == 409 and error_code(r) == "oversubscribed":
                    with lock:
                        stats["refused"] += 1
                else:
                    with lock:
                        problems.append(("checkout", r.status, r.body[:200]))
                if held and rng.random() < 0.5:
                    lid = held.pop(rng.randrange(len(held)))
                    r = call(conn_box, "DELETE", f"/v1/leases/{lid}", None, host.token)
                    if r.status == 204:
                        with lock:
                            stats["released"] += 1
                            released_ids.append(lid)
                    else:
                        with lock:
                            problems.append(("release", r.status, r.body[:200]))
        except Exception as exc:  # noqa: BLE001 - reported below
            with lock:
                problems.append(("exception", repr(exc)))
        finally:
            conn_box[0].close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(RACE_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic() + 15))
    assert not any(t.is_alive() for t in threads), "race workers did not finish in time"
    assert problems == [], problems[:5]
    assert stats["refused"] > 0, f"no contention happened: {stats}"

    events = env.audit(start_seq)
    peak, active = replay_active_sets(env.audit())
    assert peak.get(key, 0) <= RACE_K, f"audit replay shows {peak[key]} active leases at once"
    granted_events = [e for e in kinds_of(events, "lease_granted") if e["detail"]["entitlement"] == key]
    assert sorted(e["subject"] for e in granted_events) == sorted(granted_ids)
    assert sorted(e["subject"] for e in kinds_of(events, "lease_released")) == sorted(released_ids)
    assert len(kinds_of(events, "oversubscription_denied")) == stats["refused"]

    ent = env.entitlements()[key]
    assert ent["in_use"] <= RACE_K
    assert ent["peak"] <= RACE_K
    assert stats["granted"] - stats["released"] == ent["in_use"] == len(active.get(key, ()))
    assert len(env.leases()) == ent["in_use"]
    print(f"\nrace: {stats}, audit peak {peak.get(key)}, final in_use {ent['in_use']}")


# --------------------------------------------------------------------------- more: listing, flags, retries

def test_an_auditor_lists_every_active_lease_with_host_and_feature_filters_and_pages(env):
    env.import_license([entitlement("ws", feature="vWS", count=10),
                        entitlement("pc", feature="vPC", count=10)])
    a, b = env.add_host(), env.add_host()
    a_ws = {env.grant(a, feature="vWS")["lease_id"] for _ in range(3)}
    a_pc = {env.grant(a, feature="vPC")["lease_id"]}
    b_ws = {env.grant(b, feature="vWS")["lease_id"] for _ in range(2)}
    auditor = env.new_token("auditor")

    every = env.leases(token=auditor)
    assert {l["lease_id"] for l in every} == a_ws | a_pc | b_ws
    for l in every:
        assert {"lease_id", "host", "feature", "entitlement", "expires_at"} <= set(l), l
    assert {l["lease_id"] for l in env.leases(token=auditor, host=a.id)} == a_ws | a_pc
    assert {l["lease_id"] for l in env.leases(token=auditor, feature="vPC")} == a_pc
    assert {l["lease_id"] for l in env.leases(token=auditor, host=b.id, feature="vWS")} == b_ws
    # A host sees its own only, whatever filter it asks for.
    assert {l["lease_id"] for l in env.leases(token=b.token)} == b_ws
    assert {l["lease_id"] for l in env.leases(token=b.token, host=a.id)} == b_ws

    # Pages of two follow "next" to the same set, without repeats.
    seen, after = [], None
    for _ in range(10):
        page = env.get("/v1/leases?limit=2" + (f"&after={after}" if after else ""), token=auditor)
        assert len(page["leases"]) <= 2
        seen.extend(l["lease_id"] for l in page["leases"])
        after = page.get("next")
        if not after:
            break
    assert sorted(seen) == sorted(a_ws | a_pc | b_ws)


def test_the_same_checkout_sent_concurrently_on_many_connections_yields_one_lease(env):
    jti = env.import_license([entitlement("seats", count=50)])
    host = env.add_host()
    body = checkout_body()
    barrier = threading.Barrier(8, timeout=20)
    answers, lock = [], threading.Lock()

    def send():
        barrier.wait()
        r = env.checkout(host, body=body)
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(answers) == 8
    assert all(r.status in (200, 201) for r in answers), answers
    assert len({r.json()["lease_id"] for r in answers}) == 1
    assert env.in_use(f"{jti}/seats") == 1
    assert len(kinds_of(env.audit(), "lease_granted")) == 1


def test_lease_seconds_flag_sets_the_lease_length_and_max_lease_seconds_caps_it(make_env):
    env = make_env(["--lease-seconds", "30"])
    env.import_license([entitlement("ws", feature="vWS", count=5),
                        entitlement("pc", feature="vPC", count=5, max_lease_seconds=12)])
    host = env.add_host()
    t0 = int(time.time())
    ws = env.grant(host, feature="vWS")
    pc = env.grant(host, feature="vPC")
    t1 = int(time.time())
    assert t0 + 30 <= ws["expires_at"] <= t1 + 30
    assert t0 + 12 <= pc["expires_at"] <= t1 + 12
    assert t0 <= ws["renew_after"] <= ws["expires_at"] - 10


def test_a_lease_seconds_flag_below_ten_is_refused_at_start(data_dir):
    import subprocess
    from entitle_testlib import entitled_bin
    p = subprocess.run([entitled_bin(), "serve", "--data", str(data_dir), "--listen", "127.0.0.1:0",
                        "--lease-seconds", "5"], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "listening on" not in p.stdout


def test_a_subscription_without_count_is_unlimited_inside_its_window(env):
    jti = env.import_license([entitlement("sub", feature="vCS", model="subscription", count=OMIT,
                                          not_before=now() - DAY, not_after=now() + DAY)])
    host = env.add_host()
    for _ in range(25):
        env.grant(host, feature="vCS")
    assert env.in_use(f"{jti}/sub") == 25


def test_a_retry_after_the_lease_ended_is_410_expired_and_takes_no_seat(env):
    jti = env.import_license([entitlement("seats", count=1)])
    host = env.add_host()
    body = checkout_body()
    lease = env.checkout(host, body=body).json()
    assert env.release(host.token, lease["lease_id"]).status == 204
    again = env.checkout(host, body=body)
    assert again.status == 410, again
    assert again.json()["error"]["code"] == "expired"
    assert lease["lease_id"] in again.json()["error"]["message"]
    assert env.in_use(f"{jti}/seats") == 0
    assert env.leases(token=host.token) == []
    # The seat is still free for a new request.
    env.grant(host)


def test_lease_ids_are_opaque_fixed_length_and_sort_in_issue_order(env):
    # A new lease's id begins with its issue time (so it is appended to the
    # key index, not scattered over it) followed by 72 random bits.
    env.import_license([entitlement("ws", feature="vWS", count=20)])
    host = env.add_host()
    ids = []
    for _ in range(5):
        ids.append(env.grant(host, feature="vWS")["lease_id"])
        time.sleep(0.005)  # the time part has millisecond steps
    for lease_id in ids:
        assert re.fullmatch(r"l_[-0-9A-Za-z_]{20}", lease_id), lease_id
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # Random tails: ids issued in one run share at most their time prefix.
    assert len({i[10:] for i in ids}) == len(ids)
    page = env.get("/v1/leases?limit=10", token=env.new_token("auditor"))
    assert [l["lease_id"] for l in page["leases"]] == ids
