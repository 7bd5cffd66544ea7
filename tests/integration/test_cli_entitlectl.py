"""entitlectl and entitle-issue against a real entitled over TLS (contract
section 6): what scripts rely on, exit codes (0 done, 1 refused or not
reached, 2 usage), and license files that an independent JOSE library
(PyJWT) verifies.

The tests in TestNeedsLicenseAndAuditApi need POST/GET/DELETE /v1/licenses
and GET /v1/audit (contract section 4); deselect them with
`-k "not NeedsLicenseAndAuditApi"` on a server that lacks those endpoints.
"""
import json
import os
import pathlib
import re
import socket
import stat
import subprocess
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from entitle_testlib import EntitledServer, bin_dir, entitled_bin, init_with_certificate_for

ISSUER_KID = "acme-2026"
SOURCE_DIR = pathlib.Path(os.environ.get("ENTITLE_SOURCE_DIR",
                                         pathlib.Path(__file__).resolve().parents[2]))


def clean_env(**extra):
    """The environment without any ENTITLE_* setting that could stand in for a flag."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ENTITLE_") or k == "ENTITLE_BIN_DIR"}
    env.update(extra)
    return env


def run(args, env=None, timeout=60):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=env or clean_env())


def ctl(server, *args, token_file=None, ca=None, url=None, env=None, timeout=60):
    """entitlectl with the global flags pointing at `server` (admin token by default)."""
    token_file = token_file or server.data_dir / "admin.token"
    ca = ca or server.data_dir / "tls.crt"
    return run([bin_dir() / "entitlectl", "--server", url or server.url,
                "--token-file", token_file, "--ca", ca, *args], env=env, timeout=timeout)


def issue(*args):
    return run([bin_dir() / "entitle-issue", *args])


def write_token(tmp_path, name, token):
    path = tmp_path / name
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def license_claims(jti="lic-001", **overrides):
    claims = {
        "jti": jti, "iss": "Acme", "sub": "Contoso", "iat": 1767225600,
        "entitlements": [
            {"id": "e1", "feature": "vWS", "model": "concurrent", "count": 10,
             "regions": ["eu-*"]},
            {"id": "e2", "feature": "vPC", "model": "subscription",
             "not_before": 1767225600, "not_after": 4102444800},
        ],
    }
    claims.update(overrides)
    return claims


def keygen(directory, kid=ISSUER_KID):
    r = issue("keygen", "--out", directory, "--kid", kid)
    assert r.returncode == 0, r.stderr
    return pathlib.Path(directory) / f"{kid}.key", pathlib.Path(directory) / f"{kid}.pem"


def sign(tmp_path, key, claims, kid=ISSUER_KID, name="license"):
    claims_file = tmp_path / f"{name}.json"
    claims_file.write_text(json.dumps(claims))
    r = issue("sign", "--key", key, "--kid", kid, claims_file)
    assert r.returncode == 0, r.stderr
    out = tmp_path / f"{name}.jwt"
    out.write_text(r.stdout)
    return out


# --- tokens -----------------------------------------------------------------

def test_token_create_prints_only_a_token_that_works(server, tmp_path):
    r = ctl(server, "token", "create", "--role", "admin", "--name", "ci")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert re.fullmatch(r"[A-Za-z0-9._~+/=-]+\n", r.stdout), r.stdout
    new_admin = write_token(tmp_path, "new-admin.token", r.stdout.strip())
    used = ctl(server, "token", "list", token_file=new_admin)
    assert used.returncode == 0, used.stderr


def test_an_auditor_token_is_refused_admin_work_with_the_servers_error(server, tmp_path):
    r = ctl(server, "token", "create", "--role", "auditor")
    assert r.returncode == 0, r.stderr
    auditor = write_token(tmp_path, "auditor.token", r.stdout.strip())
    refused = ctl(server, "token", "list", token_file=auditor)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.startswith("entitlectl: forbidden: "), refused.stderr


def test_token_create_json_prints_the_whole_answer(server):
    r = ctl(server, "--json", "token", "create", "--role", "auditor", "--name", "reader")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["role"] == "auditor" and answer["token"] and answer["id"]


def test_token_list_never_shows_a_token(server, admin_token):
    secrets = [admin_token]
    for role in ("admin", "auditor"):
        r = ctl(server, "token", "create", "--role", role, "--name", f"{role}-label")
        assert r.returncode == 0, r.stderr
        secrets.append(r.stdout.strip())
    table = ctl(server, "token", "list")
    as_json = ctl(server, "--json", "token", "list")
    assert table.returncode == 0 and as_json.returncode == 0
    header = table.stdout.splitlines()[0].split()
    assert header == ["ID", "ROLE", "NAME", "CREATED", "LAST_USED", "REVOKED"]
    assert "admin-label" in table.stdout and "auditor-label" in table.stdout
    tokens = json.loads(as_json.stdout)["tokens"]
    assert len(tokens) >= 3
    for t in tokens:
        assert "token" not in t
    for output in (table.stdout, table.stderr, as_json.stdout, as_json.stderr):
        for secret in secrets:
            assert secret not in output


def test_token_revoke_takes_effect_at_once(server, tmp_path):
    created = json.loads(ctl(server, "--json", "token", "create", "--role", "admin").stdout)
    victim = write_token(tmp_path, "victim.token", created["token"])
    assert ctl(server, "token", "list", token_file=victim).returncode == 0

    r = ctl(server, "token", "revoke", created["id"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"revoked {created['id']}\n"

    after = ctl(server, "token", "list", token_file=victim)
    assert after.returncode == 1
    assert after.stderr.startswith("entitlectl: unauthorized: "), after.stderr
    listed = {t["id"]: t for t in json.loads(ctl(server, "--json", "token", "list").stdout)["tokens"]}
    assert listed[created["id"]]["revoked_at"] is not None
    row = next(line for line in ctl(server, "token", "list").stdout.splitlines()
               if line.startswith(created["id"]))
    assert not row.rstrip().endswith("-")  # the REVOKED column shows a time


def test_revoking_an_unknown_token_prints_the_servers_error(server):
    r = ctl(server, "token", "revoke", "no-such-token")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("entitlectl: not_found: "), r.stderr


# --- connection, TLS and usage ----------------------------------------------

def test_a_server_certificate_from_another_ca_is_refused(server, tmp_path):
    other = tmp_path / "other"
    subprocess.run([entitled_bin(), "init", "--data", str(other)], check=True,
                   capture_output=True, timeout=60)
    r = ctl(server, "token", "list", ca=other / "tls.crt")
    assert r.returncode == 1
    assert r.stdout == ""
    assert "TLS" in r.stderr and "does not verify" in r.stderr, r.stderr


def test_a_certificate_for_another_name_is_refused_by_name(tmp_path):
    """The certificate chains to the CA given (it is that CA) but names only
    other.example: by host name the message says whose name is missing, by
    address the check that failed."""
    data, cert = init_with_certificate_for(tmp_path, "other.example")
    named = EntitledServer(data).start()
    try:
        r = ctl(named, "token", "list", ca=cert, url=f"https://localhost:{named.port}")
        assert r.returncode == 1 and r.stdout == "", r
        assert "the server certificate is not valid for 'localhost'" in r.stderr, r.stderr
        r = ctl(named, "token", "list", ca=cert, url=f"https://127.0.0.1:{named.port}")
        assert r.returncode == 1 and r.stdout == "", r
        assert f"does not verify against {cert}" in r.stderr and "IP address mismatch" in r.stderr, r.stderr
    finally:
        named.stop()


def test_the_host_name_localhost_is_verified_against_the_certificate(server):
    r = ctl(server, "token", "list", url=f"https://localhost:{server.port}")
    assert r.returncode == 0, r.stderr


def test_missing_server_is_a_usage_error(server):
    r = run([bin_dir() / "entitlectl", "--token-file", server.data_dir / "admin.token",
             "--ca", server.data_dir / "tls.crt", "token", "list"])
    assert r.returncode == 2
    assert "--server" in r.stderr


@pytest.mark.parametrize("url, says", [
    ("http://127.0.0.1:8443", "only https:// URLs are supported"),
    ("https://127.0.0.1:0", "the port must be a number from 1 to 65535"),
    ("https://[::1", "unterminated '['"),
    ("https://admin@127.0.0.1", "user information is not allowed"),
])
def test_a_bad_server_url_is_a_usage_error_naming_the_url(server, url, says):
    # The host config's server_url rules (one parser), named as the option.
    r = ctl(server, "token", "list", url=url)
    assert r.returncode == 2, r.stderr
    assert f"server URL '{url}': {says}" in r.stderr, r.stderr


def test_settings_can_come_from_the_environment(server):
    env = clean_env(ENTITLE_SERVER=server.url,
                    ENTITLE_TOKEN_FILE=str(server.data_dir / "admin.token"),
                    ENTITLE_CA=str(server.data_dir / "tls.crt"))
    r = run([bin_dir() / "entitlectl", "token", "list"], env=env)
    assert r.returncode == 0, r.stderr


def test_missing_token_file_and_ca_are_usage_errors(server, tmp_path):
    r = ctl(server, "token", "list", token_file=tmp_path / "absent.token")
    assert r.returncode == 2 and "token file" in r.stderr
    r = ctl(server, "token", "list", ca=tmp_path / "absent.crt")
    assert r.returncode == 2 and "CA" in r.stderr


@pytest.mark.parametrize("args", [
    ["token", "create", "--role", "host"],
    ["token"],
    ["no-such-command"],
    ["token", "list", "--no-such-flag"],
])
def test_bad_command_lines_exit_2(server, args):
    r = ctl(server, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)


def test_an_unreachable_server_exits_1_with_a_clear_message(server):
    port = closed_port()
    r = ctl(server, "token", "list", url=f"https://127.0.0.1:{port}")
    assert r.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in r.stderr, r.stderr


def test_a_server_that_never_answers_times_out(server):
    with socket.socket() as silent:  # accepts TCP (the kernel does), never speaks TLS
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        r = ctl(server, "--timeout-ms", "300", "token", "list", url=f"https://127.0.0.1:{port}")
        assert time.monotonic() - started < 10
    assert r.returncode == 1
    assert "longer than 300 ms" in r.stderr, r.stderr


# --- entitle-issue -----------------------------------------------------------

def test_keygen_writes_a_0600_private_key_and_a_public_pem(tmp_path):
    r = issue("keygen", "--out", tmp_path / "keys", "--kid", ISSUER_KID)
    assert r.returncode == 0, r.stderr
    key = tmp_path / "keys" / f"{ISSUER_KID}.key"
    pem = tmp_path / "keys" / f"{ISSUER_KID}.pem"
    assert r.stdout.split() == [str(key), str(pem)]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pem.stat().st_mode) == 0o644
    priv = serialization.load_pem_private_key(key.read_bytes(), password=None)
    pub = serialization.load_pem_public_key(pem.read_bytes())
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert priv.public_key().public_bytes(*raw) == pub.public_bytes(*raw)


def test_keygen_refuses_to_overwrite_a_key(tmp_path):
    key, _ = keygen(tmp_path / "keys")
    before = key.read_bytes()
    r = issue("keygen", "--out", tmp_path / "keys", "--kid", ISSUER_KID)
    assert r.returncode == 1
    assert "exists" in r.stderr
    assert key.read_bytes() == before


def test_keygen_refuses_a_kid_that_is_not_a_plain_file_name(tmp_path):
    r = issue("keygen", "--out", tmp_path / "keys", "--kid", "../escape")
    assert r.returncode == 1
    assert not (tmp_path / "escape.key").exists()


def test_sign_output_verifies_with_pyjwt_and_has_the_license_header(tmp_path):
    key, pem = keygen(tmp_path / "keys")
    claims = license_claims()
    token = sign(tmp_path, key, claims).read_text()
    assert token.endswith("\n") and token.count(".") == 2
    token = token.strip()
    assert jwt.get_unverified_header(token) == {
        "alg": "EdDSA", "typ": "entitle-license+jwt", "kid": ISSUER_KID}
    public_key = serialization.load_pem_public_key(pem.read_bytes())
    assert jwt.decode(token, public_key, algorithms=["EdDSA"]) == claims


def test_sign_iat_now_sets_the_signing_time(tmp_path):
    key, pem = keygen(tmp_path / "keys")
    claims_file = tmp_path / "claims.json"
    claims_file.write_text(json.dumps(license_claims(iat=1)))
    before = int(time.time())
    r = issue("sign", "--key", key, "--kid", ISSUER_KID, "--iat-now", claims_file)
    assert r.returncode == 0, r.stderr
    decoded = jwt.decode(r.stdout.strip(), serialization.load_pem_public_key(pem.read_bytes()),
                         algorithms=["EdDSA"])
    assert before <= decoded["iat"] <= int(time.time()) + 1


@pytest.mark.parametrize("change, named", [
    (lambda c: c["entitlements"][0].update(count=0), "count"),
    (lambda c: c.update(entitlements=[]), "entitlements"),
    (lambda c: c.pop("jti"), "jti"),
])
def test_sign_refuses_invalid_claims(tmp_path, change, named):
    key, _ = keygen(tmp_path / "keys")
    claims = license_claims()
    change(claims)
    claims_file = tmp_path / "claims.json"
    claims_file.write_text(json.dumps(claims))
    r = issue("sign", "--key", key, "--kid", ISSUER_KID, claims_file)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("entitle-issue: ") and named in r.stderr, r.stderr


def test_the_tools_wrapper_runs_the_built_binary(tmp_path):
    wrapper = SOURCE_DIR / "tools" / "entitle-issue"
    r = run([wrapper, "keygen", "--out", tmp_path / "keys", "--kid", "wrapped"],
            env=clean_env(ENTITLE_BIN_DIR=str(bin_dir())))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "keys" / "wrapped.key").exists()


# --- licenses and audit (need POST/GET/DELETE /v1/licenses and GET /v1/audit) --

@pytest.fixture
def issuer_key(data_dir, tmp_path):
    """An issuer key pair whose public half the server trusts (in DATA/issuers/)."""
    key, pem = keygen(tmp_path / "vendor")
    (data_dir / "issuers" / pem.name).write_bytes(pem.read_bytes())
    return key


@pytest.fixture
def licensed_server(data_dir, issuer_key):
    s = EntitledServer(data_dir)
    s.start()
    yield s
    s.stop()


class TestNeedsLicenseAndAuditApi:
    def test_license_import_then_reimport(self, licensed_server, issuer_key, tmp_path):
        lic = sign(tmp_path, issuer_key, license_claims())
        r = ctl(licensed_server, "license", "import", lic)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "imported lic-001 (2 entitlements)\n"
        again = ctl(licensed_server, "license", "import", lic)
        assert again.returncode == 0, again.stderr
        assert again.stdout == "already imported lic-001\n"

    def test_license_import_of_an_untrusted_license_is_refused(self, licensed_server, tmp_path):
        stranger, _ = keygen(tmp_path / "stranger", kid="stranger")
        lic = sign(tmp_path, stranger, license_claims(), kid="stranger")
        r = ctl(licensed_server, "license", "import", lic)
        assert r.returncode == 1
        assert r.stderr.startswith("entitlectl: invalid_license: "), r.stderr

    def test_license_import_of_a_missing_file_is_a_usage_error(self, licensed_server, tmp_path):
        r = ctl(licensed_server, "license", "import", tmp_path / "absent.jwt")
        assert r.returncode == 2

    def test_license_list_and_show(self, licensed_server, issuer_key, tmp_path):
        lic = sign(tmp_path, issuer_key, license_claims())
        assert ctl(licensed_server, "license", "import", lic).returncode == 0

        listed = ctl(licensed_server, "license", "list")
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split() == ["JTI", "ISSUER", "CUSTOMER", "ENTITLEMENTS", "STATE"]
        assert lines[1].split()[:4] == ["lic-001", "Acme", "Contoso", "2"]

        as_json = json.loads(ctl(licensed_server, "--json", "license", "list").stdout)
        assert [l["jti"] for l in as_json["licenses"]] == ["lic-001"]

        shown = ctl(licensed_server, "license", "show", "lic-001")
        assert shown.returncode == 0, shown.stderr
        rows = shown.stdout.splitlines()
        header = next(i for i, line in enumerate(rows) if line.startswith("ID "))
        assert rows[header].split() == ["ID", "FEATURE", "MODEL", "COUNT", "IN_USE", "WINDOW",
                                        "REGIONS"]
        e1 = rows[header + 1].split()
        assert e1[:5] == ["e1", "vWS", "concurrent", "10", "0"] and e1[-1] == "eu-*"
        e2 = rows[header + 2].split()
        assert e2[:4] == ["e2", "vPC", "subscription", "unlimited"] and e2[-1] == "any"

    def test_license_show_of_an_unknown_jti_is_not_found(self, licensed_server):
        r = ctl(licensed_server, "license", "show", "no-such-license")
        assert r.returncode == 1
        assert r.stderr.startswith("entitlectl: not_found: "), r.stderr

    def test_license_withdraw(self, licensed_server, issuer_key, tmp_path):
        lic = sign(tmp_path, issuer_key, license_claims())
        assert ctl(licensed_server, "license", "import", lic).returncode == 0
        r = ctl(licensed_server, "license", "withdraw", "lic-001")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "withdrew lic-001\n"
        shown = json.loads(ctl(licensed_server, "--json", "license", "list").stdout)
        assert all(l.get("state") != "active" for l in shown["licenses"]
                   if l["jti"] == "lic-001")
        unknown = ctl(licensed_server, "license", "withdraw", "no-such-license")
        assert unknown.returncode == 1
        assert unknown.stderr.startswith("entitlectl: not_found: "), unknown.stderr

    def test_audit_tail_prints_one_line_per_event(self, licensed_server, issuer_key, tmp_path):
        lic = sign(tmp_path, issuer_key, license_claims())
        assert ctl(licensed_server, "license", "import", lic).returncode == 0
        assert ctl(licensed_server, "license", "withdraw", "lic-001").returncode == 0

        events = json.loads(ctl(licensed_server, "--json", "audit", "tail").stdout)["events"]
        kinds = [e["kind"] for e in events]
        assert "license_imported" in kinds and "license_withdrawn" in kinds

        r = ctl(licensed_server, "audit", "tail")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert len(lines) == len(events)
        for line, e in zip(lines, events):
            seq, when, kind, actor, subject, detail = line.split(" ", 5)
            assert int(seq) == e["seq"] and kind == e["kind"] and actor == e["actor"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", when)
            assert json.loads(detail) == e["detail"]
        imported = next(line for line in lines if " license_imported " in line)
        assert " lic-001 " in imported

        first = events[0]["seq"]
        page = ctl(licensed_server, "audit", "tail", "--after", str(first), "--limit", "1")
        assert page.returncode == 0, page.stderr
        assert [int(line.split()[0]) for line in page.stdout.splitlines()] == [first + 1]


# --- hosts and backup (POST/GET/DELETE /v1/hosts, GET /v1/backup) -----------

SQLITE_MAGIC = b"SQLite format 3\x00"


def audit_head(server):
    """(seq, hash) of the newest audit event, over the API."""
    after, last = 0, (0, "0" * 64)
    for _ in range(1000):
        r = server.request("GET", f"/v1/audit?after={after}&limit=10000",
                           token=(server.data_dir / "admin.token").read_text().strip())
        assert r.status == 200, r
        page = r.json()
        if page["events"]:
            last = (page["events"][-1]["seq"], page["events"][-1]["hash"])
        if page.get("next") is None:
            return last
        after = page["next"]
    pytest.fail("audit paging did not end")


@pytest.fixture
def outdir(tmp_path):
    """An empty directory for the files the commands write (tmp_path holds the data dir)."""
    d = tmp_path / "out"
    d.mkdir()
    return d


def host_ids(server):
    listed = ctl(server, "--json", "host", "list")
    assert listed.returncode == 0, listed.stderr
    return {h["id"]: h for h in json.loads(listed.stdout)["hosts"]}


def test_host_add_writes_a_0600_config_file_and_prints_only_the_host_id(server, outdir):
    out = outdir / "gpu-01.json"
    r = ctl(server, "host", "add", "gpu-01", "--region", "eu-west", "--out", out)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    config = json.loads(out.read_text())
    assert set(config) >= {"server_url", "ca_pem", "host_id", "host_token", "lease_keys"}
    assert r.stdout == config["host_id"] + "\n"
    assert config["host_token"] not in r.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert config["ca_pem"] == (server.data_dir / "tls.crt").read_text()
    assert config["server_url"] == server.url
    assert config["lease_keys"]["keys"]
    # The token in the file is the host's: it may list its own leases.
    listed = server.request("GET", "/v1/leases", token=config["host_token"])
    assert listed.status == 200, listed
    # No temporary file is left beside it.
    assert [p.name for p in outdir.iterdir()] == ["gpu-01.json"]
    hosts = host_ids(server)
    assert hosts[config["host_id"]]["name"] == "gpu-01"
    assert hosts[config["host_id"]]["region"] == "eu-west"


def test_host_add_json_never_prints_the_host_token(server, outdir):
    out = outdir / "h.json"
    r = ctl(server, "--json", "host", "add", "gpu-02", "--region", "us-east", "--out", out)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    token = json.loads(out.read_text())["host_token"]
    assert "host_token" not in shown and token not in r.stdout
    assert shown["host_id"] == json.loads(out.read_text())["host_id"]


def test_host_add_refuses_an_existing_file_before_creating_the_host(server, outdir):
    out = outdir / "taken.json"
    out.write_text("keep me")
    r = ctl(server, "host", "add", "gpu-03", "--region", "eu-west", "--out", out)
    assert r.returncode == 2, r.stderr
    assert "exists" in r.stderr
    assert out.read_text() == "keep me"
    assert all(h["name"] != "gpu-03" for h in host_ids(server).values())
    forced = ctl(server, "host", "add", "gpu-03", "--region", "eu-west", "--out", out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(out.read_text())["host_id"] == forced.stdout.strip()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_host_add_to_a_missing_directory_fails_before_creating_the_host(server, outdir):
    r = ctl(server, "host", "add", "gpu-04", "--region", "eu-west",
            "--out", outdir / "no-such-dir" / "h.json")
    assert r.returncode == 2, r.stderr
    assert "no-such-dir" in r.stderr
    assert all(h["name"] != "gpu-04" for h in host_ids(server).values())


def test_host_add_with_a_taken_name_is_a_conflict_and_writes_nothing(server, outdir):
    assert ctl(server, "host", "add", "gpu-05", "--region", "eu-west",
               "--out", outdir / "a.json").returncode == 0
    r = ctl(server, "host", "add", "gpu-05", "--region", "eu-west", "--out", outdir / "b.json")
    assert r.returncode == 1
    assert r.stderr.startswith("entitlectl: conflict: "), r.stderr
    assert not (outdir / "b.json").exists()
    assert sorted(p.name for p in outdir.iterdir()) == ["a.json"]


@pytest.mark.parametrize("region", ["", "eu west", "x" * 65])
def test_host_add_with_a_bad_region_is_refused_by_the_server(server, outdir, region):
    r = ctl(server, "host", "add", "gpu-06", "--region", region, "--out", outdir / "h.json")
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("entitlectl: invalid_request: "), r.stderr
    assert not (outdir / "h.json").exists()


def test_host_list_shows_id_name_region_created(server, outdir):
    ids = []
    for name, region in (("gpu-a", "eu-west"), ("gpu-b", "us-east")):
        r = ctl(server, "host", "add", name, "--region", region, "--out", outdir / f"{name}.json")
        assert r.returncode == 0, r.stderr
        ids.append(r.stdout.strip())
    r = ctl(server, "host", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "REGION", "CREATED"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[ids[0]][1:3] == ["gpu-a", "eu-west"]
    assert rows[ids[1]][1:3] == ["gpu-b", "us-east"]
    for row in rows.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[3]), row


def test_host_list_with_no_hosts(server):
    r = ctl(server, "host", "list")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "no hosts\n"


def test_host_remove_revokes_the_host(server, outdir):
    out = outdir / "h.json"
    host_id = ctl(server, "host", "add", "gpu-r", "--region", "eu-west", "--out", out).stdout.strip()
    token = json.loads(out.read_text())["host_token"]
    r = ctl(server, "host", "remove", host_id)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"removed {host_id}\n"
    assert host_id not in host_ids(server)
    assert server.request("GET", "/v1/leases", token=token).status == 401
    shown = ctl(server, "host", "list", "--removed")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].split() == ["ID", "NAME", "REGION", "CREATED", "REMOVED"]
    row = next(line.split() for line in shown.stdout.splitlines() if line.startswith(host_id))
    assert row[-1] != "-"
    unknown = ctl(server, "host", "remove", "h_no_such_host")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("entitlectl: not_found: "), unknown.stderr


def test_host_add_needs_region_and_out(server, outdir):
    assert ctl(server, "host", "add", "gpu-x", "--out", outdir / "h.json").returncode == 2
    assert ctl(server, "host", "add", "gpu-x", "--region", "eu-west").returncode == 2
    assert not (outdir / "h.json").exists()


def test_backup_writes_a_0600_sqlite_copy_with_the_current_audit_head(server, outdir):
    import sqlite3
    for i in range(3):  # a few audited changes to copy
        assert ctl(server, "host", "add", f"gpu-{i}", "--region", "eu-west",
                   "--out", outdir / f"h{i}.json").returncode == 0
    out = outdir / "backup.db"
    r = ctl(server, "backup", "--out", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"wrote {out} ({out.stat().st_size} bytes)\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes()[:16] == SQLITE_MAGIC
    con = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x456e7469
        head = con.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
        hosts = con.execute("SELECT count(*) FROM hosts").fetchone()[0]
    finally:
        con.close()
    assert head == audit_head(server)
    assert hosts == 3
    assert sorted(p.name for p in outdir.iterdir()) == ["backup.db", "h0.json", "h1.json", "h2.json"]


def test_backup_refuses_to_overwrite_unless_forced(server, outdir):
    out = outdir / "backup.db"
    out.write_bytes(b"older backup")
    r = ctl(server, "backup", "--out", out)
    assert r.returncode == 2
    assert "exists" in r.stderr
    assert out.read_bytes() == b"older backup"
    forced = ctl(server, "backup", "--out", out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert out.read_bytes()[:16] == SQLITE_MAGIC


def test_backup_needs_an_admin_token(server, outdir):
    created = ctl(server, "token", "create", "--role", "auditor")
    auditor = write_token(outdir, "auditor.token", created.stdout.strip())
    out = outdir / "backup.db"
    r = ctl(server, "backup", "--out", out, token_file=auditor)
    assert r.returncode == 1
    assert r.stderr.startswith("entitlectl: forbidden: "), r.stderr
    assert not out.exists()
    assert [p.name for p in outdir.iterdir()] == ["auditor.token"]
