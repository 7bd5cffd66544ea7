"""The 20-line verifier printed in docs/audit.md works as written against a
real server, and notices a tampered copy."""
import pathlib
import re
import sqlite3
import subprocess
import sys

import pytest


def doc_script():
    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    m = re.search(r"```python\n(.*?)```", doc, re.S)
    assert m, "docs/audit.md must contain the verifier"
    return m.group(1)


def test_the_documented_script_is_at_most_20_lines():
    lines = [l for l in doc_script().splitlines() if l.strip()]
    assert len(lines) <= 20


def test_the_documented_script_verifies_a_live_chain(server, admin_token, data_dir, tmp_path):
    # A few events of several kinds: tokens, a rejected license, a failed login.
    for i in range(3):
        assert server.request("POST", "/v1/tokens", {"role": "auditor", "name": f"a{i}"},
                              token=admin_token).status == 201
    assert server.request("POST", "/v1/licenses", "not a license", token=admin_token).status == 422
    assert server.request("GET", "/v1/tokens", token="x" * 59).status == 401
    script = tmp_path / "verify.py"
    script.write_text(doc_script())
    token_file = tmp_path / "t"
    token_file.write_text(admin_token)
    r = subprocess.run([sys.executable, str(script), server.url, str(token_file), str(data_dir / "tls.crt")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    events = server.request("GET", "/v1/audit", token=admin_token).json()["events"]
    assert len(events) >= 5
    assert r.stdout.strip() == f"intact: {len(events)} events, head {events[-1]['hash']}"


def test_the_documented_script_finds_an_edited_event(data_dir, admin_token, tmp_path):
    from entitle_testlib import EntitledServer
    s = EntitledServer(data_dir).start()
    for i in range(3):
        assert s.request("POST", "/v1/tokens", {"role": "auditor", "name": f"a{i}"}, token=admin_token).status == 201
    assert s.stop() == 0
    db = sqlite3.connect(data_dir / "entitle.db")
    # The table refuses edits; an attacker with the file drops the trigger first.
    with pytest.raises(sqlite3.DatabaseError):
        db.execute("UPDATE audit_events SET actor = 'someone' WHERE seq = 2")
    db.execute("DROP TRIGGER audit_events_append_only_update")
    db.execute("UPDATE audit_events SET detail = '{\"id\":\"forged\"}' WHERE seq = 2")
    db.commit()
    db.close()
    s = EntitledServer(data_dir).start()
    try:
        script = tmp_path / "verify.py"
        script.write_text(doc_script())
        token_file = tmp_path / "t"
        token_file.write_text(admin_token)
        r = subprocess.run([sys.executable, str(script), s.url, str(token_file), str(data_dir / "tls.crt")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "broken at seq 2" in r.stderr
    finally:
        s.stop()
