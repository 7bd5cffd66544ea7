"""entitle-report (issue 6, contract sections 5 and 6): usage, compliance and
verify from a store copy (--db) and from a real server's API.

The golden scenario (report_scenario.py) is a store made by a real
`entitled init` holding a hand-written, correctly hash-chained history on a
timeline fixed to the second; the numbers below are worked out by hand from
that timeline and asserted exactly in all four formats.
"""
import csv
import hashlib
import html.parser
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest

import report_scenario as scenario
from entitle_testlib import bin_dir, entitled_bin
from lease_helpers import Issuer, LeaseEnv, entitlement

T0 = scenario.T0
HOUR = scenario.HOUR
RANGE = ["--from", "2026-01-01", "--to", "2026-01-01T04:00:00Z", "--bucket", "hour"]
TO = T0 + 4 * HOUR


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ENTITLE_") or k == "ENTITLE_BIN_DIR"}
    env.update(extra)
    return env


def report(*args, timeout=300):
    return subprocess.run([str(bin_dir() / "entitle-report"), *[str(a) for a in args]],
                          capture_output=True, text=True, timeout=timeout, env=clean_env())


def ok(*args):
    r = report(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """The golden store; tests that tamper with it work on copies."""
    return scenario.build_golden_store(entitled_bin(), tmp_path_factory.mktemp("golden") / "data")


def golden_head(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        con.close()


# --------------------------------------------------------------------------- expected numbers
#
# L1/e1 concurrent, count 2, overage 50% -> limit 3. Seats over the first four hours:
#   [600,1800) 1  [1800,2000) 2  [2000,2100) 3  [2100,2400) 2  [2400,4200) 1
#   [5400,9000) 1 (lD, expired)  [12000,...) 1 (lE, still active)
# L1/e2 per_device, count 1, deny: GPU G1 [3600,7200) (lF, and lG inside it), GPU G2 [6500,6800).
# L1/e3 subscription, unlimited: lI began and ended at 100 (no seat time), lJ [7200,10800).
# L2/s1 subscription, count 5, no leases, not_after ten days after the range.
# L0 was withdrawn five days before the range: not reported.

# (hour, peak, seat_seconds, leases, lease_seconds) per bucket.
EXPECTED_BUCKETS = {
    "L1/e1": [(0, 3, 3700, 3, 3700), (1, 1, 2400, 2, 2400), (2, 1, 1800, 1, 1800), (3, 1, 2400, 1, 2400)],
    "L1/e2": [(0, 0, 0, 0, 0), (1, 2, 3900, 3, 4900), (2, 0, 0, 0, 0), (3, 0, 0, 0, 0)],
    "L1/e3": [(0, 0, 0, 1, 0), (1, 0, 0, 0, 0), (2, 1, 3600, 1, 3600), (3, 0, 0, 0, 0)],
    "L2/s1": [(0, 0, 0, 0, 0), (1, 0, 0, 0, 0), (2, 0, 0, 0, 0), (3, 0, 0, 0, 0)],
}
# count, limit, peak, peak_at, seat_seconds, leases, lease_seconds, average
EXPECTED_TOTALS = {
    "L1/e1": (2, 3, 3, T0 + 2000, 10300, 5, 10300, "0.72"),
    "L1/e2": (1, 1, 2, T0 + 6500, 3900, 3, 4900, "0.27"),
    "L1/e3": (None, None, 1, T0 + 7200, 3600, 2, 3600, "0.25"),
    "L2/s1": (5, 5, 0, None, 0, 0, 0, "0.00"),
}
EXPECTED_MODEL = {"L1/e1": ("vWS", "concurrent"), "L1/e2": ("vPC", "per_device"),
                  "L1/e3": ("vApps", "subscription"), "L2/s1": ("vCS", "subscription")}
EXPECTED_VERDICTS = {"L1/e1": ("within_overage", "within licensed overage", 1, 1),
                     "L1/e2": ("over_limit", "over limit", 0, 0),
                     "L1/e3": ("within_license", "within license", 0, 0),
                     "L2/s1": ("within_license", "within license", 0, 0)}
# seq, kind, subject, entitlements
EXPECTED_EVIDENCE = [(16, "overage_granted", "lC", ["L1/e1"]),
                     (17, "oversubscription_denied", "h2", ["L1/e1"]),
                     (20, "region_denied", "h3", []),
                     (30, "auth_failed", "127.0.0.1", []),
                     (33, "clock_rollback", "server", [])]


def avg2(seat_seconds, seconds):
    return f"{seat_seconds / seconds:.2f}"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def limit_text(v):
    return "unlimited" if v is None else str(v)


# --------------------------------------------------------------------------- usage, four formats

def test_golden_usage_json_is_exact(golden):
    doc = json.loads(ok("--db", golden, "usage", "--format", "json", *RANGE))
    seq, head_hash = golden_head(golden)
    assert doc["report"] == "usage" and doc["schema"] == 1
    assert doc["audit_head"] == {"seq": seq, "hash": head_hash} and seq == 34
    assert (doc["from"], doc["to"], doc["bucket"], doc["bucket_seconds"]) == (T0, TO, "hour", 3600)
    ents = {e["entitlement"]: e for e in doc["entitlements"]}
    assert list(ents) == ["L1/e1", "L1/e2", "L1/e3", "L2/s1"]  # L0/old ended before the range
    for key, buckets in EXPECTED_BUCKETS.items():
        e = ents[key]
        count, limit, peak, peak_at, seat_s, leases, lease_s, _ = EXPECTED_TOTALS[key]
        assert (e["feature"], e["model"]) == EXPECTED_MODEL[key]
        assert (e["count"], e["overage_limit"]) == (count, limit)
        assert (e["peak_in_use"], e["peak_at"], e["seat_seconds"], e["leases"], e["lease_seconds"]) == \
            (peak, peak_at, seat_s, leases, lease_s), key
        assert e["average_in_use"] == round(seat_s / (4 * HOUR), 4)
        assert e["customer"] == "Example Customer Ltd" and e["license_state"] == "active"
        got = [(b["start"], b["end"], b["peak_in_use"], b["seat_seconds"], b["leases"], b["lease_seconds"])
               for b in e["buckets"]]
        want = [(T0 + h * HOUR, T0 + (h + 1) * HOUR, p, s, n, ls) for h, p, s, n, ls in buckets]
        assert got == want, key
        for b in e["buckets"]:
            assert b["in_force"] is True
            assert (b["licensed"], b["limit"]) == (count, limit)
            assert b["average_in_use"] == round(b["seat_seconds"] / HOUR, 4)


def test_golden_usage_table_is_exact(golden):
    out = ok("--db", golden, "usage", *RANGE)
    lines = out.splitlines()
    seq, head_hash = golden_head(golden)
    assert lines[0] == f"Usage report from store copy {golden}"
    assert lines[1] == (f"Range 2026-01-01T00:00:00Z .. 2026-01-01T04:00:00Z by hour; "
                        f"audit head seq {seq} hash {head_hash}")
    assert lines[3].split() == ["ENTITLEMENT", "FEATURE", "MODEL", "BUCKET", "LICENSED", "LIMIT",
                                "PEAK", "AVERAGE", "LEASES", "LEASE_SECONDS"]
    # Aligned: every column starts where its header does.
    starts = [m.start() for m in re.finditer(r"\S+", lines[3])]
    rows = lines[4:]
    for row in rows:
        for s in starts[1:]:
            assert row[s - 1] == " " and row[s] != " ", (row, s)
    want = []
    for key, buckets in EXPECTED_BUCKETS.items():
        count, limit, peak, _, seat_s, leases, lease_s, average = EXPECTED_TOTALS[key]
        feature, model = EXPECTED_MODEL[key]
        for h, p, s, n, ls in buckets:
            want.append([key, feature, model, iso(T0 + h * HOUR), limit_text(count), limit_text(limit),
                         str(p), avg2(s, HOUR), str(n), str(ls)])
        want.append([key, feature, model, "total", limit_text(count), limit_text(limit), str(peak),
                     average, str(leases), str(lease_s)])
    assert [r.split() for r in rows] == want


def test_golden_usage_csv_is_rfc4180_and_exact(golden):
    out = subprocess.run([str(bin_dir() / "entitle-report"), "--db", str(golden), "usage", "--format", "csv",
                          *RANGE], capture_output=True, timeout=60, env=clean_env())
    assert out.returncode == 0, out.stderr
    raw = out.stdout.decode()
    assert raw.endswith("\r\n") and "\n" not in raw.replace("\r\n", "")  # CRLF only
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert rows[0] == ["entitlement", "license", "customer", "feature", "model", "bucket_start",
                       "bucket_end", "in_force", "licensed", "limit", "peak_in_use", "average_in_use",
                       "seat_seconds", "leases", "lease_seconds"]
    want = []
    for key, buckets in EXPECTED_BUCKETS.items():
        count, limit = EXPECTED_TOTALS[key][:2]
        feature, model = EXPECTED_MODEL[key]
        for h, p, s, n, ls in buckets:
            want.append([key, key.split("/")[0], "Example Customer Ltd", feature, model,
                         iso(T0 + h * HOUR), iso(T0 + (h + 1) * HOUR), "true", limit_text(count),
                         limit_text(limit), str(p), avg2(s, HOUR), str(s), str(n), str(ls)])
    assert rows[1:] == want


class _Html(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.cells, self.stack, self.errors = [], [], [], []
        self.in_cell = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "rect", "line", "path", "img", "input"):
            self.stack.append(tag)
        if tag in ("td", "th"):
            self.cells.append("")
            self.in_cell = True

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in ("rect", "line", "path", "meta"):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()
        if tag in ("td", "th"):
            self.in_cell = False

    def handle_data(self, data):
        if self.in_cell:
            self.cells[-1] += data


def parse_html(text):
    p = _Html()
    p.feed(text)
    p.close()
    assert not p.errors, p.errors[:5]
    assert not p.stack, p.stack
    return p


def assert_self_contained(text):
    """No external assets or network: no scripts, links, images, imports or URLs to fetch."""
    lowered = text.lower()
    for needle in ("<script", "<link", "<img", "<iframe", "@import", "url(", "src=", "href="):
        assert needle not in lowered, needle
    # The only URL allowed is the SVG namespace name, which is never fetched.
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


def test_golden_usage_html_is_self_contained_with_a_chart_per_entitlement(golden):
    text = ok("--db", golden, "usage", "--format", "html", *RANGE)
    assert text.startswith("<!DOCTYPE html>")
    assert_self_contained(text)
    p = parse_html(text)
    svgs = [a for t, a in p.tags if t == "svg"]
    assert len(svgs) == 4
    labels = [a["aria-label"] for a in svgs]
    assert labels[0] == "Seats in use of L1/e1 (vWS, concurrent) against 2 licensed and an overage limit of 3"
    assert labels[2].startswith("Seats in use of L1/e3 (vApps, subscription) against unlimited")
    classes = [a.get("class") for t, a in p.tags if t in ("path", "line")]
    assert classes.count("in-use") == 4 and classes.count("licensed") == 3
    assert classes.count("overage-limit") == 1  # only L1/e1 allows overage above its count
    assert "@media print" in text
    # The bucket tables hold the same numbers as the other formats.
    # The first bucket table is L1/e1's: the same numbers as the other formats.
    cells = p.cells
    for h, peak, s, n, ls in EXPECTED_BUCKETS["L1/e1"]:
        i = cells.index(iso(T0 + h * HOUR))
        assert cells[i + 1:i + 7] == ["2", "3", str(peak), avg2(s, HOUR), str(n), str(ls)]


# --------------------------------------------------------------------------- compliance, four formats

def test_golden_compliance_json_is_exact(golden):
    doc = json.loads(ok("--db", golden, "compliance", "--format", "json", *RANGE))
    seq, head_hash = golden_head(golden)
    assert doc["report"] == "compliance" and doc["schema"] == 1
    assert doc["audit_head"] == {"seq": seq, "hash": head_hash}
    assert doc["audit_chain"] == {"intact": True, "events": 34}
    assert (doc["from"], doc["to"]) == (T0, TO)
    ents = {e["entitlement"]: e for e in doc["entitlements"]}
    assert list(ents) == list(EXPECTED_VERDICTS)
    for key, (verdict, _, grants, denials) in EXPECTED_VERDICTS.items():
        count, limit, peak, peak_at = EXPECTED_TOTALS[key][:4]
        e = ents[key]
        assert (e["verdict"], e["overage_grants"], e["denials"]) == (verdict, grants, denials), key
        assert (e["count"], e["overage_limit"], e["peak_in_use"], e["peak_at"]) == (count, limit, peak, peak_at)
    got = [(e["seq"], e["kind"], e["subject"], e["entitlements"]) for e in doc["evidence"]]
    assert got == EXPECTED_EVIDENCE  # the auth_failed before the range is left out
    assert doc["evidence"][1]["detail"]["entitlements"][0] == {"count": 2, "entitlement": "L1/e1",
                                                               "in_use": 3, "limit": 3}
    assert doc["expiring"] == [{"entitlement": "L2/s1", "license": "L2", "customer": "Example Customer Ltd",
                                "feature": "vCS", "not_after": TO + 10 * 86400, "days_left": 10}]
    assert doc["hosts_by_region"] == [
        {"region": "eu-west", "hosts": [{"id": "h1", "name": "gpu-a"}, {"id": "h2", "name": "gpu-b"}]},
        {"region": "us-east", "hosts": [{"id": "h3", "name": "gpu-c"}]}]


def test_golden_compliance_table_is_exact(golden):
    out = ok("--db", golden, "compliance", *RANGE)
    seq, head_hash = golden_head(golden)
    lines = out.splitlines()
    assert lines[1].endswith(f"audit head seq {seq} hash {head_hash}")
    assert lines[2] == "audit chain intact (34 events)"
    i = lines.index("Entitlements")
    assert lines[i + 1].split() == ["ENTITLEMENT", "CUSTOMER", "FEATURE", "MODEL", "COUNT", "LIMIT", "PEAK",
                                    "PEAK_AT", "OVERAGE_GRANTS", "DENIALS", "VERDICT"]
    rows = {}
    for line in lines[i + 2:i + 6]:
        key = line.split()[0]
        rows[key] = line
    for key, (_, text, grants, denials) in EXPECTED_VERDICTS.items():
        count, limit, peak, peak_at = EXPECTED_TOTALS[key][:4]
        cells = rows[key].split()  # the customer name holds two spaces
        assert cells[1:4] == ["Example", "Customer", "Ltd"]
        assert cells[6:10] == [limit_text(count), limit_text(limit), str(peak), iso(peak_at) if peak_at else "-"]
        assert cells[10:12] == [str(grants), str(denials)]
        assert rows[key].endswith("  " + text)
    j = lines.index("Evidence (5 events)")
    assert [int(l.split()[0]) for l in lines[j + 2:j + 7]] == [e[0] for e in EXPECTED_EVIDENCE]
    assert lines[j + 7] == ""
    k = lines.index("Licenses expiring within 30 days")
    assert lines[k + 2].split() == ["L2/s1", "Example", "Customer", "Ltd", "vCS", iso(TO + 10 * 86400), "10"]
    m = lines.index("Hosts by region")
    assert [l.split(None, 2) for l in lines[m + 2:]] == [["eu-west", "2", "gpu-a, gpu-b"],
                                                         ["us-east", "1", "gpu-c"]]


def test_golden_compliance_csv_sections(golden):
    def rows(section):
        r = subprocess.run([str(bin_dir() / "entitle-report"), "--db", str(golden), "compliance",
                            "--format", "csv", "--section", section, *RANGE],
                           capture_output=True, timeout=60, env=clean_env())
        assert r.returncode == 0, r.stderr
        return list(csv.reader(io.StringIO(r.stdout.decode(), newline="")))

    seq, head_hash = golden_head(golden)
    verdicts = rows("verdicts")
    assert verdicts[0] == ["entitlement", "license", "customer", "feature", "model", "count", "overage_limit",
                           "peak_in_use", "peak_at", "overage_grants", "denials", "verdict",
                           "audit_head_seq", "audit_head_hash", "audit_chain_intact"]
    for row in verdicts[1:]:
        key = row[0]
        verdict, _, grants, denials = EXPECTED_VERDICTS[key]
        count, limit, peak, peak_at = EXPECTED_TOTALS[key][:4]
        assert row[5:] == [limit_text(count), limit_text(limit), str(peak), iso(peak_at) if peak_at else "",
                           str(grants), str(denials), verdict, str(seq), head_hash, "true"]
    assert [r[0] for r in verdicts[1:]] == list(EXPECTED_VERDICTS)

    evidence = rows("evidence")
    assert evidence[0] == ["seq", "time", "kind", "actor", "subject", "entitlements", "detail"]
    assert [(int(r[0]), r[2], r[4], r[5].split()) for r in evidence[1:]] == EXPECTED_EVIDENCE
    # A detail holds commas and quotes: RFC 4180 quoting gives it back intact.
    assert json.loads(evidence[2][6])["entitlements"][0]["entitlement"] == "L1/e1"

    assert rows("expiring") == [["entitlement", "license", "customer", "feature", "not_after", "days_left"],
                                ["L2/s1", "L2", "Example Customer Ltd", "vCS", iso(TO + 10 * 86400), "10"]]
    assert rows("hosts") == [["region", "host_id", "host_name"], ["eu-west", "h1", "gpu-a"],
                             ["eu-west", "h2", "gpu-b"], ["us-east", "h3", "gpu-c"]]


def test_golden_compliance_html(golden):
    text = ok("--db", golden, "compliance", "--format", "html", *RANGE)
    assert_self_contained(text)
    p = parse_html(text)
    assert sum(1 for t, _ in p.tags if t == "svg") == 4
    cells = p.cells
    for key, (verdict, words, grants, denials) in EXPECTED_VERDICTS.items():
        i = cells.index(key)
        assert cells[i + 10] == words
        assert cells[i + 8:i + 10] == [str(grants), str(denials)]
    assert ("td", {"class": "verdict-over_limit"}) in p.tags
    seq, head_hash = golden_head(golden)
    assert head_hash in text and "audit chain intact (34 events)" in text
    for seq_, kind, _, _ in EXPECTED_EVIDENCE:
        assert kind in cells and str(seq_) in cells


def test_out_writes_the_report_to_a_file(golden, tmp_path):
    out = tmp_path / "usage.json"
    r = report("--db", golden, "usage", "--format", "json", *RANGE, "--out", out)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert json.loads(out.read_text())["report"] == "usage"


def test_the_default_range_starts_at_the_first_events_bucket(golden):
    doc = json.loads(ok("--db", golden, "usage", "--format", "json"))
    first = T0 - 10 * 86400
    assert doc["from"] == first and doc["bucket"] == "day"
    assert abs(doc["to"] - time.time()) < 120
    assert [e["entitlement"] for e in doc["entitlements"]][0] == "L0/old"  # in force back then


def test_reading_a_store_copy_never_writes_to_it(golden):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in golden.parent.iterdir() if p.is_file()}
    mtime = golden.stat().st_mtime_ns
    for args in (["verify"], ["usage", *RANGE], ["compliance", "--format", "html", *RANGE]):
        report("--db", golden, *args)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in golden.parent.iterdir() if p.is_file()}
    assert after == before  # no -wal or -shm either
    assert golden.stat().st_mtime_ns == mtime


# --------------------------------------------------------------------------- verify

def tampered(golden, tmp_path, change):
    """A copy of the golden store changed by `change(con)` with the append-only triggers dropped."""
    copy = tmp_path / "tampered.db"
    shutil.copyfile(golden, copy)
    con = sqlite3.connect(copy)
    try:
        con.execute("DROP TRIGGER audit_events_append_only_update")
        con.execute("DROP TRIGGER audit_events_append_only_delete")
        change(con)
        con.commit()
    finally:
        con.close()
    return copy


def test_verify_an_intact_chain(golden):
    seq, head_hash = golden_head(golden)
    r = report("--db", golden, "verify")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"intact: 34 events, head seq {seq} hash {head_hash}\n"


def swap(con, a, b):
    con.execute("UPDATE audit_events SET seq = -1 WHERE seq = ?", (a,))
    con.execute("UPDATE audit_events SET seq = ? WHERE seq = ?", (a, b))
    con.execute("UPDATE audit_events SET seq = ? WHERE seq = -1", (b,))


def delete_and_renumber(con, seq):
    con.execute("DELETE FROM audit_events WHERE seq = ?", (seq,))
    last = con.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
    for s in range(seq + 1, last + 1):
        con.execute("UPDATE audit_events SET seq = ? WHERE seq = ?", (s - 1, s))


def append(con, good_hash=False, prev=None):
    seq, head_hash = con.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    prev = prev or head_hash
    ts, detail = (T0 + 20000) * 1000, {"lease": "lZ", "entitlement": "L1/e1"}
    h = scenario.event_hash(prev, seq + 1, ts, "lease_released", "tokh1", "lZ", detail) if good_hash else "f" * 64
    con.execute("INSERT INTO audit_events VALUES (?, ?, 'lease_released', 'tokh1', 'lZ', ?, ?, ?)",
                (seq + 1, ts, scenario.canonical(detail), prev, h))


def rehash(con, seq):
    """Edits an event and recomputes its own hash (but not the next event's prev_hash)."""
    row = con.execute("SELECT ts, kind, actor, subject, detail, prev_hash FROM audit_events WHERE seq = ?",
                      (seq,)).fetchone()
    detail = json.loads(row[4])
    detail["region"] = "forged"
    h = scenario.event_hash(row[5], seq, row[0], row[1], row[2], row[3], detail)
    con.execute("UPDATE audit_events SET detail = ?, hash = ? WHERE seq = ?", (scenario.canonical(detail), h, seq))


@pytest.mark.parametrize("name, change, seq, how", [
    ("edited detail", lambda c: c.execute("UPDATE audit_events SET detail = '{\"host\":\"h9\"}' WHERE seq = 20"),
     20, "edited"),
    ("edited actor", lambda c: c.execute("UPDATE audit_events SET actor = 'someone' WHERE seq = 7"), 7, "edited"),
    ("detail not JSON", lambda c: c.execute("UPDATE audit_events SET detail = 'garbage' WHERE seq = 12"),
     12, "edited"),
    ("deleted", lambda c: c.execute("DELETE FROM audit_events WHERE seq = 20"), 20, "missing"),
    ("deleted and renumbered", lambda c: delete_and_renumber(c, 20), 20, "missing"),
    ("swapped", lambda c: swap(c, 20, 21), 20, "reordered"),
    ("appended with a wrong hash", lambda c: append(c), 35, "edited"),
    ("appended on a wrong predecessor", lambda c: append(c, good_hash=True, prev="a" * 64), 35, "bad_link"),
    ("edited and rehashed", lambda c: rehash(c, 20), 21, "bad_link"),
    ("first event edited", lambda c: c.execute("UPDATE audit_events SET ts = ts + 1 WHERE seq = 1"), 1, "edited"),
])
def test_verify_names_the_first_broken_event_and_how(golden, tmp_path, name, change, seq, how):
    copy = tampered(golden, tmp_path, change)
    r = report("--db", copy, "verify")
    assert r.returncode == 3, (name, r.stdout, r.stderr)
    first = r.stdout.splitlines()[0]
    assert first.startswith(f"broken at seq {seq} ({how}): "), (name, first)
    assert f"the last intact is seq {seq - 1} " in r.stdout.splitlines()[1], r.stdout


def test_verify_says_which_events_were_swapped(golden, tmp_path):
    r = report("--db", tampered(golden, tmp_path, lambda c: swap(c, 20, 21)), "verify")
    assert "the event stored as 20 is event 21, and event 20 is stored as 21" in r.stdout, r.stdout


def test_compliance_on_a_tampered_copy_reports_the_break_and_exits_3(golden, tmp_path):
    copy = tampered(golden, tmp_path, lambda c: c.execute("DELETE FROM audit_events WHERE seq = 20"))
    r = report("--db", copy, "compliance", "--format", "json", *RANGE)
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert doc["audit_chain"]["intact"] is False
    assert (doc["audit_chain"]["broken_seq"], doc["audit_chain"]["problem"]) == (20, "missing")
    assert "broken at seq 20" in r.stderr
    table = report("--db", copy, "compliance", *RANGE)
    assert table.returncode == 3 and "AUDIT CHAIN BROKEN at seq 20 (missing)" in table.stdout


# --------------------------------------------------------------------------- bad input

def test_a_missing_store_is_refused(tmp_path):
    r = report("--db", tmp_path / "absent.db", "usage")
    assert r.returncode == 2
    assert "absent.db" in r.stderr and "No such file" in r.stderr
    assert not (tmp_path / "absent.db").exists()


def test_a_sqlite_file_that_is_not_entitles_is_refused(tmp_path):
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE audit_events (seq INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    for cmd in ("usage", "compliance", "verify"):
        r = report("--db", other, cmd)
        assert r.returncode == 1, r.stderr
        assert "is an SQLite database but not an Entitle store" in r.stderr, r.stderr
    con = sqlite3.connect(other)
    con.execute("PRAGMA application_id = 1164866665")  # the id alone does not make a store
    con.commit()
    con.close()
    r = report("--db", other, "usage")
    assert r.returncode == 1 and "no schema_version table" in r.stderr, r.stderr


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("certainly not a database\n" * 10)
    r = report("--db", junk, "verify")
    assert r.returncode == 1
    assert "is not an SQLite database" in r.stderr, r.stderr


@pytest.mark.parametrize("kind", ["zero bytes", "empty sqlite", "fresh store"])
def test_an_empty_store_is_refused(tmp_path, kind):
    path = tmp_path / "store.db"
    if kind == "zero bytes":
        path.write_bytes(b"")
        expect = "is empty (0 bytes)"
    elif kind == "empty sqlite":
        con = sqlite3.connect(path)
        con.execute("PRAGMA user_version = 1")
        con.commit()
        con.close()
        expect = "is an empty SQLite database"
    else:
        subprocess.run([entitled_bin(), "init", "--data", str(tmp_path / "d")], check=True,
                       capture_output=True, timeout=60)
        path = tmp_path / "d" / "entitle.db"
        expect = "holds no audit events"
    for cmd in ("usage", "compliance", "verify"):
        r = report("--db", path, cmd)
        assert r.returncode == 1, (cmd, r.stderr)
        assert expect in r.stderr, r.stderr


@pytest.mark.parametrize("args, message", [
    (["usage", "--from", "2026-01-02", "--to", "2026-01-01"], "--from (2026-01-02) must be before --to"),
    (["compliance", "--from", "1767225600", "--to", "1767225600"], "must be before --to"),
    (["usage", "--format", "pdf"], "--format"),
    (["compliance", "--format", "xml"], "--format"),
    (["usage", "--bucket", "week"], "--bucket"),
    (["usage", "--from", "yesterday"], "'yesterday' is not a time"),
    (["usage", "--to", "2026-02-30"], "the day does not exist"),
    (["usage", "--head", "3"], "--head needs the API"),
    (["usage", "--server", "https://127.0.0.1:1"], "not both"),
    (["compliance", "--section", "nope", "--format", "csv"], "--section"),
    ([], "A subcommand is required"),
])
def test_bad_command_lines_exit_2(golden, args, message):
    r = report("--db", golden, *args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    assert r.stdout == ""


def test_no_data_source_is_a_usage_error():
    r = report("usage")
    assert r.returncode == 2
    assert "--db FILE" in r.stderr and "--server" in r.stderr


def test_iso_times_with_zones_are_accepted(golden):
    a = json.loads(ok("--db", golden, "usage", "--format", "json", "--from", "2026-01-01T01:00:00+01:00",
                      "--to", str(TO), "--bucket", "hour"))
    assert a["from"] == T0
    b = json.loads(ok("--db", golden, "usage", "--format", "json", "--from", "2026-01-01 00:00",
                      "--to", "2026-01-01T04:00Z", "--bucket", "hour"))
    assert b["entitlements"] == a["entitlements"]


# --------------------------------------------------------------------------- the HTML in a browser

def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.parametrize("kind", ["usage", "compliance"])
def test_the_html_report_renders_a_chart_in_headless_chromium(golden, tmp_path, kind):
    browser = chromium_binary()
    if browser is None:
        pytest.skip("chromium is not installed (tools/install-deps installs Debian's chromium): "
                    "the HTML report could not be rendered")
    try:
        from PIL import Image
    except ImportError:
        pytest.skip("python3-pil is not installed (tools/install-deps installs it): cannot read the screenshot")
    page = tmp_path / f"{kind}.html"
    assert report("--db", golden, kind, "--format", "html", *RANGE, "--out", page).returncode == 0
    shot = tmp_path / f"{kind}.png"
    profile = tempfile.mkdtemp(dir=tmp_path)
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run",
                        f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1200,1800",
                        page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 1800)
    colors = image.getcolors(maxcolors=1 << 22)
    assert colors is not None and len(colors) > 50, "the screenshot is (nearly) blank"
    counts = {c: n for n, c in colors}
    white = counts.get((255, 255, 255), 0)
    assert white < image.size[0] * image.size[1] * 0.97

    def pixels_near(rgb, tolerance=40):
        return sum(n for c, n in counts.items() if sum(abs(a - b) for a, b in zip(c, rgb)) <= tolerance)

    # The chart itself: the in-use outline (#08519c), the licensed line
    # (#238b45) and the dashed overage limit (#d94801) all reach the screen.
    assert pixels_near((0x08, 0x51, 0x9C)) > 500
    assert pixels_near((0x23, 0x8B, 0x45)) > 300
    assert pixels_near((0xD9, 0x48, 0x01)) > 100


# --------------------------------------------------------------------------- a real server: API and backup agree

@pytest.fixture
def live(data_dir, tmp_path):
    issuer = Issuer.generate("acme-report")
    issuer.trust(data_dir)
    env = LeaseEnv(data_dir, issuer).start()
    yield env
    env.stop()


def ctl(env, *args):
    return subprocess.run([str(bin_dir() / "entitlectl"), "--server", env.server.url,
                           "--token-file", str(env.data_dir / "admin.token"),
                           "--ca", str(env.data_dir / "tls.crt"), *[str(a) for a in args]],
                          capture_output=True, text=True, timeout=120, env=clean_env())


def api(env, token_file, *args):
    return report("--server", env.server.url, "--token-file", token_file, "--ca", env.data_dir / "tls.crt", *args)


def comparable(text):
    doc = json.loads(text)
    doc.pop("source")
    doc.pop("generated_at")
    return doc


def run_load(env, hosts, stop, errors, counter):
    """Checkouts, renewals and releases from several hosts until `stop` is set (bounded)."""
    def worker(host, seed):
        held = []
        for i in range(400):
            if stop.is_set():
                break
            try:
                feature = ("vWS", "vPC", "vCS")[(seed + i) % 3]
                r = env.checkout(host, feature=feature, gpu=f"GPU-{seed}-{i % 4}")
                if r.status == 201:
                    held.append(r.json()["lease_id"])
                elif r.status not in (403, 409):
                    errors.append(r)
                if held and i % 3 == 0:
                    env.renew(host, held[0])
                if len(held) > 2:
                    env.release(host.token, held.pop(0))
                counter.append(1)
                time.sleep(0.01)  # spread the load over several seconds
            except Exception as e:  # noqa: BLE001 - reported by the test
                errors.append(e)
                return

    threads = [threading.Thread(target=worker, args=(h, n)) for n, h in enumerate(hosts)]
    for t in threads:
        t.start()
    return threads


def test_a_backup_taken_under_load_reports_the_same_as_the_api_at_its_head(live, tmp_path):
    env = live
    start = int(time.time())
    env.import_license([
        entitlement("c1", feature="vWS", model="concurrent", count=3, regions=["eu-*"],
                    overage={"policy": "allow", "limit_percent": 34}),
        entitlement("p1", feature="vPC", model="per_device", count=2),
        entitlement("s1", feature="vCS", model="subscription", count=4,
                    not_before=start - 86400, not_after=start + 20 * 86400),
    ], jti="LIVE-1")
    hosts = [env.add_host("eu-west"), env.add_host("eu-central"), env.add_host("us-east")]
    auditor = tmp_path / "auditor.token"
    auditor.write_text(env.new_token("auditor") + "\n")
    assert env.request("GET", "/v1/tokens", token="not-a-token" * 4).status == 401  # an auth_failed event

    stop, errors, counter = threading.Event(), [], []
    threads = run_load(env, hosts, stop, errors, counter)
    try:
        # Leases from whole seconds before --to, so that the comparison covers them.
        load_start, deadline = time.monotonic(), time.monotonic() + 60
        while (len(counter) < 30 or time.monotonic() < load_start + 2.5) and time.monotonic() < deadline:
            time.sleep(0.05)
        to = int(time.time())
        backup = tmp_path / "under-load.db"
        b = ctl(env, "backup", "--out", backup)
        assert b.returncode == 0, b.stderr
        time.sleep(0.5)  # the load goes on after the copy
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[:3]

    con = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    head_seq = con.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    assert env.last_seq() > head_seq  # the server went on writing after the copy

    window = ["--from", str(start - 3600), "--to", str(to), "--bucket", "hour"]
    docs = {}
    for kind in ("usage", "compliance"):
        from_db = report("--db", backup, kind, "--format", "json", *window)
        from_api = api(env, auditor, kind, "--format", "json", "--head", head_seq, *window)
        assert from_db.returncode == 0, from_db.stderr
        assert from_api.returncode == 0, from_api.stderr
        a, b = comparable(from_db.stdout), comparable(from_api.stdout)
        assert a["audit_head"]["seq"] == head_seq
        assert a == b, kind
        docs[kind] = a
    # The comparison covered real leases, peaks and evidence.
    assert sum(e["leases"] for e in docs["usage"]["entitlements"]) > 0
    assert max(e["peak_in_use"] for e in docs["usage"]["entitlements"]) > 0
    kinds = {e["kind"] for e in docs["compliance"]["evidence"]}
    assert {"region_denied", "oversubscription_denied", "auth_failed"} <= kinds, kinds

    # The API's verify covers the whole, longer, chain.
    v = api(env, auditor, "verify")
    assert v.returncode == 0, v.stderr
    assert v.stdout.startswith(f"intact: {env.last_seq()} events")

    # Quiet again: a fresh copy and the API agree without --head as well.
    final = tmp_path / "final.db"
    assert ctl(env, "backup", "--out", final).returncode == 0
    to = int(time.time())
    window = ["--from", str(start - 3600), "--to", str(to), "--bucket", "hour"]
    for kind in ("usage", "compliance"):
        a = comparable(report("--db", final, kind, "--format", "json", *window).stdout)
        b = comparable(api(env, auditor, kind, "--format", "json", *window).stdout)
        assert a == b, kind
    same_text = [report("--db", final, "usage", *window).stdout.splitlines()[1:],
                 api(env, auditor, "usage", *window).stdout.splitlines()[1:]]
    assert same_text[0] == same_text[1]


def test_the_api_source_needs_an_auditor_or_admin_token(live, tmp_path):
    host = live.add_host("eu-west")
    token = tmp_path / "host.token"
    token.write_text(host.token)
    r = api(live, token, "verify")
    assert r.returncode == 1
    assert r.stderr.startswith("entitle-report: forbidden: "), r.stderr


def test_head_beyond_the_api_log_is_refused(live, tmp_path):
    live.add_host("eu-west")
    r = api(live, live.data_dir / "admin.token", "usage", "--head", "999999")
    assert r.returncode == 1
    assert "--head 999999 is not in the audit log" in r.stderr, r.stderr


def test_moved_and_ended_leases_report_the_same_from_the_api_and_a_backup(live, tmp_path):
    env = live
    start = int(time.time())
    env.import_license([entitlement("c1", feature="vWS", count=5)], jti="OLD-1")
    env.import_license([entitlement("d1", feature="vPC", count=5)], jti="GONE-1")
    h1, h2 = env.add_host("eu-west"), env.add_host("eu-west")
    for gpu in ("G1", "G2"):
        env.grant(h1, feature="vWS", gpu=gpu)
    env.grant(h2, feature="vWS", gpu="G3")
    env.grant(h2, feature="vPC", gpu="G4")
    time.sleep(1.2)
    # Supersede: the three vWS leases move to NEW-1/c1 (lease_moved).
    env.import_license([entitlement("c1", feature="vWS", count=5)], jti="NEW-1", supersedes="OLD-1")
    time.sleep(1.2)
    env.withdraw("GONE-1")  # ends the vPC lease (lease_ended)
    env.remove_host(h2)     # ends h2's vWS lease (lease_ended)
    time.sleep(1.2)
    backup = tmp_path / "copy.db"
    assert ctl(env, "backup", "--out", backup).returncode == 0
    window = ["--from", str(start - 60), "--to", str(int(time.time())), "--bucket", "hour"]
    token = env.data_dir / "admin.token"
    docs = {}
    for kind in ("usage", "compliance"):
        a = report("--db", backup, kind, "--format", "json", *window)
        b = api(env, token, kind, "--format", "json", *window)
        assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
        docs[kind] = comparable(a.stdout)
        assert docs[kind] == comparable(b.stdout), kind
    ents = {e["entitlement"]: e for e in docs["usage"]["entitlements"]}
    assert (ents["OLD-1/c1"]["leases"], ents["NEW-1/c1"]["leases"], ents["GONE-1/d1"]["leases"]) == (3, 3, 1)
    assert ents["OLD-1/c1"]["license_state"] == "superseded"
    assert ents["GONE-1/d1"]["license_state"] == "withdrawn"
    assert ents["OLD-1/c1"]["peak_in_use"] == 3 and ents["NEW-1/c1"]["peak_in_use"] == 3
    # Each moved lease held OLD-1/c1 from its grant until the move, about a second.
    assert 3 <= ents["OLD-1/c1"]["seat_seconds"] <= 9
    regions = docs["compliance"]["hosts_by_region"]
    assert regions == [{"region": "eu-west", "hosts": [{"id": h1.id, "name": h1.name}]}]
