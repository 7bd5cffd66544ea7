"""The crash loop: a real `entitled` on one data directory, under mixed load from
several clients, killed with SIGKILL at a random moment, again and again.

Host clients check out, renew and release leases; an admin client imports new
licenses (fresh `jti`, signed by a test issuer), supersedes a license that
live leases hold, and adds hosts. Every change the server acknowledged is
written down. After each kill a copy of the store (taken while the server is
dead) must hold every acknowledged change, pass `PRAGMA integrity_check`, keep
`in_use` within each entitlement's limit (overage included) and equal to its
active leases, and carry an audit chain that recomputes from its first event,
with one event for each grant, end, import and host. After each restart the
API must agree with that copy. Requests a kill left without an answer are then
retried as a client would: a checkout with its `request_id` settles to exactly
one lease, a release to `204`, an import to `201` or `200`, a host add to one
host of that name.

Used by test_crash.py (a short run in CI) and tools/crash-loop (long runs).
"""
import collections
import http.client
import random
import sqlite3
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field

from entitle_testlib import EntitledServer, entitled_bin
from lease_helpers import (ISSUER_KID, Issuer, LeaseEnv, assert_chain_intact, checkout_body, copy_store,
                           entitlement, events_from_db, license_claims, unique)

KINDS = ("checkout", "renew", "release", "import", "supersede", "host_add")
END_KINDS = ("lease_released", "lease_expired", "lease_ended")

BULK_SEATS = 1_000_000
CHAIN_OVERAGE_PERCENT = 50
MAX_HELD = 12               # leases one host client holds before it only renews and releases
OPS_PER_CYCLE = 100_000     # per client; the kill ends a cycle long before
ADMIN_PAUSE = (0.01, 0.08)  # seconds between admin requests, so licenses and hosts stay a minority
TRANSPORT_ERRORS = (http.client.HTTPException, OSError, ssl.SSLError)


class CrashLoopFailure(AssertionError):
    def __init__(self, summary, problems):
        self.summary = summary
        self.problems = problems
        super().__init__(f"{summary.line()}\n" + "\n".join(problems[:20]))


@dataclass
class LeaseFact:
    host_id: str
    request_id: str
    expires_at: int
    release_tried: bool = False
    release_acked: bool = False
    ended_by_server: bool = False   # a renew answered 410


@dataclass
class Ledger:
    """What the server acknowledged, and what the kills left unanswered."""
    leases: dict = field(default_factory=dict)      # lease id -> LeaseFact
    licenses: dict = field(default_factory=dict)    # jti -> jti it supersedes (or None)
    hosts: dict = field(default_factory=dict)       # host id -> name
    acked: collections.Counter = field(default_factory=collections.Counter)
    refused: collections.Counter = field(default_factory=collections.Counter)
    throttled: collections.Counter = field(default_factory=collections.Counter)
    unanswered: collections.Counter = field(default_factory=collections.Counter)
    committed_unanswered: collections.Counter = field(default_factory=collections.Counter)
    retried_checkouts: list = field(default_factory=list)   # (host id, request id)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Summary:
    seed: int
    kills: int = 0
    ledger: Ledger = field(default_factory=Ledger)
    lost: int = 0
    stored_leases: int = 0
    audit_events: int = 0
    elapsed: float = 0.0
    lost_by_kind: dict = field(default_factory=dict)

    def line(self) -> str:
        acked = " ".join(f"{k}={self.ledger.acked[k]}" for k in KINDS)
        return (f"crash loop (seed {self.seed}): kills={self.kills} acknowledged: {acked} "
                f"unanswered_retried={sum(self.ledger.unanswered.values())} "
                f"(committed before the kill: {sum(self.ledger.committed_unanswered.values())}) "
                f"lost={self.lost} elapsed={self.elapsed:.1f}s")

    def table(self) -> str:
        rows = [f"{'operation':<10} {'acknowledged':>12} {'refused':>8} {'throttled':>9} {'unanswered':>10} "
                f"{'committed':>9} {'lost':>5}"]
        for k in KINDS:
            rows.append(f"{k:<10} {self.ledger.acked[k]:>12} {self.ledger.refused[k]:>8} "
                        f"{self.ledger.throttled[k]:>9} "
                        f"{self.ledger.unanswered[k]:>10} {self.ledger.committed_unanswered[k]:>9} "
                        f"{self.lost_by_kind.get(k, 0):>5}")
        rows.append(f"kills {self.kills}, seed {self.seed}, stored leases {self.stored_leases}, "
                    f"audit events {self.audit_events}, lost {self.lost}, {self.elapsed:.1f} s")
        return "\n".join(rows)


def init_data_dir(path):
    subprocess.run([entitled_bin(), "init", "--data", str(path)], check=True, capture_output=True, timeout=60)
    return path


def throttled(r, kind, ledger, stop):
    """A `429 rate_limited` answer (the server's request rate limits): nothing was
    done; wait as told, as a client would, and go on."""
    if r.status != 429:
        return False
    with ledger.lock:
        ledger.throttled[kind] += 1
    stop.wait(min(float(r.header("Retry-After") or 1), 2.0))
    return True


class HostClient:
    """One host: checks out, renews and releases its own leases over one connection."""

    def __init__(self, n, host):
        self.n = n
        self.host = host
        self.held = []   # its active lease ids, as far as it knows

    def run_cycle(self, server, ledger, stop, rng, cycle, pending, problems):
        conn = server.connection(timeout=10)
        try:
            for i in range(OPS_PER_CYCLE):
                if stop.is_set():
                    return
                op = self._pick(rng)
                try:
                    if op == "checkout":
                        feature = rng.choices(("vWS", "vApps", "gaming"), (6, 3, 1))[0]
                        body = checkout_body(request_id=f"c{cycle}-h{self.n}-{i}", feature=feature,
                                             gpu=f"GPU-{self.n}-{i % 8}", vgpu=f"vm-{cycle}-{self.n}-{i}")
                        pending_op = ("checkout", self, body)
                        r = server.request("POST", "/v1/leases", body, token=self.host.token, conn=conn)
                        if not throttled(r, "checkout", ledger, stop):
                            self._checkout_answer(r, body, ledger, problems)
                    elif op == "renew":
                        lid = rng.choice(self.held)
                        pending_op = ("renew", self, lid)
                        r = server.request("POST", f"/v1/leases/{lid}/renew", token=self.host.token, conn=conn)
                        if not throttled(r, "renew", ledger, stop):
                            self._renew_answer(r, lid, ledger, problems)
                    else:
                        lid = self.held.pop(rng.randrange(len(self.held)))
                        with ledger.lock:
                            ledger.leases[lid].release_tried = True
                        pending_op = ("release", self, lid)
                        r = server.request("DELETE", f"/v1/leases/{lid}", token=self.host.token, conn=conn)
                        if throttled(r, "release", ledger, stop):
                            with ledger.lock:
                                ledger.leases[lid].release_tried = False
                            self.held.append(lid)
                        else:
                            self._release_answer(r, lid, ledger, problems)
                except TRANSPORT_ERRORS:
                    pending.append(pending_op)
                    return   # the server is gone
        finally:
            conn.close()

    def _pick(self, rng):
        if not self.held:
            return "checkout"
        if len(self.held) >= MAX_HELD:
            return rng.choice(("renew", "release", "release"))
        return rng.choices(("checkout", "renew", "release"), (5, 3, 2))[0]

    def _checkout_answer(self, r, body, ledger, problems, retry=False):
        with ledger.lock:
            if r.status == 201 or (retry and r.status == 200):
                lease = r.json()
                ledger.leases[lease["lease_id"]] = LeaseFact(self.host.id, body["request_id"], lease["expires_at"])
                ledger.acked["checkout"] += 1
                self.held.append(lease["lease_id"])
                return lease["lease_id"]
            if r.status == 409 and r.json()["error"]["code"] == "oversubscribed":
                ledger.refused["checkout"] += 1
                return None
            problems.append(f"checkout {body['request_id']}: {r}")
            return None

    def _renew_answer(self, r, lid, ledger, problems):
        with ledger.lock:
            fact = ledger.leases[lid]
            if r.status == 200:
                fact.expires_at = max(fact.expires_at, r.json()["expires_at"])
                ledger.acked["renew"] += 1
            elif r.status == 410:
                # A supersede found no free seat for it (or it expired): the store check wants that reason.
                fact.ended_by_server = True
                ledger.refused["renew"] += 1
                if lid in self.held:
                    self.held.remove(lid)
            else:
                problems.append(f"renew {lid}: {r}")

    def _release_answer(self, r, lid, ledger, problems):
        with ledger.lock:
            if r.status == 204:
                ledger.leases[lid].release_acked = True
                ledger.acked["release"] += 1
            else:
                problems.append(f"release {lid}: {r}")


class AdminClient:
    """Imports licenses (some superseding the chain that `vApps` leases hold) and adds hosts."""

    def __init__(self, env, chain_head):
        self.env = env
        self.chain_head = chain_head

    def gaming_license(self):
        jti = unique("gaming")
        return jti, None, self.env.issuer.sign(license_claims(jti, [entitlement("seats", feature="gaming",
                                                                                  count=2)]))

    def chain_license(self, rng):
        """The next license of the `vApps` chain: a seat count that may shrink below
        what is in use, so a supersede both moves leases and ends some."""
        jti = unique("apps")
        ent = entitlement("apps", feature="vApps", count=rng.randint(3, 12),
                          overage={"policy": "allow", "limit_percent": CHAIN_OVERAGE_PERCENT})
        return jti, self.chain_head, self.env.issuer.sign(license_claims(jti, [ent], supersedes=self.chain_head))

    def run_cycle(self, server, ledger, stop, rng, pending, problems):
        conn = server.connection(timeout=10)
        try:
            for _ in range(OPS_PER_CYCLE):
                if stop.wait(rng.uniform(*ADMIN_PAUSE)):
                    return
                op = rng.choices(("import", "supersede", "host_add"), (3, 3, 4))[0]
                try:
                    if op == "host_add":
                        name = unique("crash-host")
                        pending_op = ("host_add", name)
                        r = server.request("POST", "/v1/hosts", {"name": name, "region": "eu-west"},
                                           token=self.env.admin, conn=conn)
                        if not throttled(r, "host_add", ledger, stop):
                            self.host_answer(r, name, ledger, problems)
                    else:
                        jti, supersedes, text = self.gaming_license() if op == "import" else self.chain_license(rng)
                        pending_op = ("import", jti, supersedes, text)
                        r = server.request("POST", "/v1/licenses", text.encode(), token=self.env.admin, conn=conn)
                        if not throttled(r, "supersede" if supersedes else "import", ledger, stop):
                            self.import_answer(r, jti, supersedes, ledger, problems)
                except TRANSPORT_ERRORS:
                    pending.append(pending_op)
                    return
        finally:
            conn.close()

    def import_answer(self, r, jti, supersedes, ledger, problems, retry=False):
        with ledger.lock:
            if r.status == 201 or (retry and r.status == 200):
                ledger.licenses[jti] = supersedes
                ledger.acked["supersede" if supersedes else "import"] += 1
                if supersedes:
                    self.chain_head = jti
            else:
                problems.append(f"import {jti}: {r}")

    def host_answer(self, r, name, ledger, problems):
        with ledger.lock:
            if r.status == 201:
                ledger.hosts[r.json()["host_id"]] = name
                ledger.acked["host_add"] += 1
            else:
                problems.append(f"host add {name}: {r}")


# --------------------------------------------------------------------------- checks

def entitlement_limit(count, overage_allow, limit_percent):
    if count is None:
        return None
    return count * (100 + limit_percent) // 100 if overage_allow else count


def check_store(db, ledger):
    """Checks a copy of the store taken while the server was dead.
    Returns (lost acknowledged changes, other violations, facts for the API check)."""
    lost, bad = [], []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            bad.append(f"integrity_check: {integrity[:5]}")
        leases = {r[0]: r[1:] for r in con.execute(
            "SELECT id, host_id, request_id, expires_at, ended_at, end_reason, license_jti, entitlement_id "
            "FROM leases")}
        licenses = {r[0]: r[1:] for r in con.execute("SELECT jti, state, superseded_by FROM licenses")}
        hosts = {r[0]: r[1:] for r in con.execute("SELECT id, name, removed_at FROM hosts")}
        entitlements = {}
        for jti, eid, count, allow, pct, in_use, peak in con.execute(
                "SELECT license_jti, id, count, overage_allow, overage_limit_percent, in_use, peak FROM entitlements"):
            entitlements[f"{jti}/{eid}"] = in_use
            active = con.execute("SELECT count(*) FROM leases WHERE license_jti = ? AND entitlement_id = ? "
                                 "AND ended_at IS NULL", (jti, eid)).fetchone()[0]
            limit = entitlement_limit(count, allow, pct)
            if limit is not None and in_use > limit:
                bad.append(f"{jti}/{eid}: in_use {in_use} over its limit {limit}")
            if in_use != active:
                bad.append(f"{jti}/{eid}: in_use {in_use} but {active} active leases")
            if peak < in_use:
                bad.append(f"{jti}/{eid}: peak {peak} below in_use {in_use}")
        for host_id, request_id in ledger.retried_checkouts:
            n = con.execute("SELECT count(*) FROM leases WHERE host_id = ? AND request_id = ?",
                            (host_id, request_id)).fetchone()[0]
            if n != 1:
                bad.append(f"retried checkout {request_id} of {host_id} left {n} leases")
    finally:
        con.close()

    now = time.time()

    def server_may_end(end_reason, expires_at):
        # A supersede without a free seat, or (in runs longer than a lease) its expiry.
        return end_reason == "superseded" or (end_reason == "expired" and expires_at <= now)

    for lid, fact in ledger.leases.items():
        row = leases.get(lid)
        if row is None:
            lost.append(("checkout", f"lease {lid} missing"))
            continue
        _, _, expires_at, ended_at, end_reason, _, _ = row
        if expires_at < fact.expires_at:
            lost.append(("renew", f"lease {lid}: expires_at {expires_at}, acknowledged {fact.expires_at}"))
        if fact.release_acked and ended_at is None:
            lost.append(("release", f"lease {lid} released (204) but active"))
        if ended_at is not None and not fact.release_tried and not server_may_end(end_reason, expires_at):
            lost.append(("checkout", f"lease {lid} ended ({end_reason}) without a release"))
        if fact.ended_by_server and not server_may_end(end_reason, expires_at):
            bad.append(f"lease {lid}: renew answered 410 but it ended as {end_reason}")
    for jti, supersedes in ledger.licenses.items():
        if jti not in licenses:
            lost.append(("supersede" if supersedes else "import", f"license {jti} missing"))
        elif supersedes and licenses.get(supersedes, (None, None))[1] != jti:
            lost.append(("supersede", f"license {supersedes} not superseded by {jti}: {licenses.get(supersedes)}"))
    for host_id, name in ledger.hosts.items():
        row = hosts.get(host_id)
        if row is None or row[0] != name or row[1] is not None:
            lost.append(("host_add", f"host {host_id} ({name}): {row}"))

    events = events_from_db(db)
    try:
        assert_chain_intact(events)
    except AssertionError as e:
        bad.append(f"audit chain: {e}")
    by_kind = collections.defaultdict(collections.Counter)
    for e in events:
        by_kind[e["kind"]][e["subject"]] += 1
    granted = by_kind["lease_granted"]
    ends = collections.Counter()
    for k in END_KINDS:
        ends.update(by_kind[k])
    if set(granted) != set(leases) or any(n != 1 for n in granted.values()):
        bad.append(f"lease_granted events ({sum(granted.values())}) do not match stored leases ({len(leases)})")
    for lid, row in leases.items():
        want = 0 if row[3] is None else 1
        if ends[lid] != want:
            bad.append(f"lease {lid} (ended_at {row[3]}) has {ends[lid]} end events")
            break
    for jti in licenses:
        if by_kind["license_imported"][jti] < 1:
            bad.append(f"license {jti} without license_imported")
    for host_id in hosts:
        if by_kind["host_added"][host_id] != 1:
            bad.append(f"host {host_id} with {by_kind['host_added'][host_id]} host_added events")
    facts = {"active": {lid for lid, row in leases.items() if row[3] is None},
             "entitlements": entitlements, "licenses": {j: r[0] for j, r in licenses.items()},
             "hosts": set(hosts), "leases": leases, "events": events}
    return lost, bad, facts


def check_api(env, facts):
    """After a restart, before any new load: the API shows what the store copy holds."""
    bad = []
    # In runs longer than a lease the sweeper may end a lease between the copy and
    # this look; then the API may show fewer active leases than the copy, never others.
    soon = time.time() + 5
    lapsing = any(facts["leases"][lid][2] <= soon for lid in facts["active"])
    listed = env.leases()
    active = {l["lease_id"] for l in listed}
    if active != facts["active"] and not (lapsing and active <= facts["active"]):
        bad.append(f"API active leases differ from the store: {len(active)} vs {len(facts['active'])}, "
                   f"e.g. {sorted(active ^ facts['active'])[:3]}")
    per_ent = collections.Counter(l["entitlement"] for l in listed)
    for key, e in env.entitlements().items():
        if e["in_use"] != facts["entitlements"].get(key) and not lapsing:
            bad.append(f"API {key}: in_use {e['in_use']}, store {facts['entitlements'].get(key)}")
        if e["in_use"] != per_ent[key]:
            bad.append(f"API {key}: in_use {e['in_use']} but {per_ent[key]} listed leases")
    licenses = {l["jti"]: l["state"] for l in env.list_all("/v1/licenses", "licenses")}
    if licenses != facts["licenses"]:
        bad.append("API licenses differ from the store")
    hosts = {h["id"] for h in env.list_all("/v1/hosts", "hosts")}
    if hosts != facts["hosts"]:
        bad.append(f"API hosts differ from the store: {len(hosts)} vs {len(facts['hosts'])}")
    events = facts["events"]
    if events:
        tail = env.get(f"/v1/audit?after={len(events) - 1}&limit=10")["events"]
        if not tail or tail[0]["hash"] != events[-1]["hash"]:
            bad.append(f"API audit head differs from the store at seq {len(events)}")
    return bad


def classify_unanswered(db, pending, ledger):
    """Counts the unanswered requests the store had committed anyway (they are
    retried all the same); returns what they created: host ids by name and
    lease request ids."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    created = {"hosts": {}, "checkouts": set()}
    try:
        for op in pending:
            kind = op[0]
            committed = False
            if kind == "checkout":
                committed = con.execute("SELECT 1 FROM leases WHERE host_id = ? AND request_id = ?",
                                        (op[1].host.id, op[2]["request_id"])).fetchone() is not None
                if committed:
                    created["checkouts"].add((op[1].host.id, op[2]["request_id"]))
            elif kind == "release":
                committed = con.execute("SELECT 1 FROM leases WHERE id = ? AND ended_at IS NOT NULL",
                                        (op[2],)).fetchone() is not None
            elif kind == "import":
                committed = con.execute("SELECT 1 FROM licenses WHERE jti = ?", (op[1],)).fetchone() is not None
                kind = "supersede" if op[2] else "import"
            elif kind == "host_add":
                row = con.execute("SELECT id FROM hosts WHERE name = ? AND removed_at IS NULL",
                                  (op[1],)).fetchone()
                committed = row is not None
                if row:
                    created["hosts"][op[1]] = row[0]
            ledger.unanswered[kind] += 1
            ledger.committed_unanswered[kind] += int(committed)
    finally:
        con.close()
    return created


def settle(env, admin, pending, created, ledger):
    """Retries what the last kill left unanswered, the way a client would."""
    problems = []
    server = env.server
    for op in pending:
        kind = op[0]
        if kind == "checkout":
            client, body = op[1], op[2]
            key = (client.host.id, body["request_id"])
            first = server.request("POST", "/v1/leases", body, token=client.host.token)
            if first.status == 410 and key in created["checkouts"]:
                # Granted before the kill, then ended by a supersede: no token for a lease without a seat.
                ledger.retried_checkouts.append(key)
                continue
            lid = client._checkout_answer(first, body, ledger, problems, retry=True)
            if lid is None:
                if key in created["checkouts"]:
                    problems.append(f"checkout retry {body['request_id']} refused, yet granted before the kill")
                continue   # refused as oversubscribed: nothing had been granted
            again = server.request("POST", "/v1/leases", body, token=client.host.token)
            if again.status not in (200, 201) or again.json()["lease_id"] != lid:
                problems.append(f"checkout retry {body['request_id']} gave another answer: {again}")
            ledger.retried_checkouts.append(key)
        elif kind == "renew":
            client, lid = op[1], op[2]
            client._renew_answer(server.request("POST", f"/v1/leases/{lid}/renew", token=client.host.token),
                                 lid, ledger, problems)
        elif kind == "release":
            client, lid = op[1], op[2]
            client._release_answer(server.request("DELETE", f"/v1/leases/{lid}", token=client.host.token),
                                   lid, ledger, problems)
        elif kind == "import":
            _, jti, supersedes, text = op
            r = server.request("POST", "/v1/licenses", text.encode(), token=env.admin)
            admin.import_answer(r, jti, supersedes, ledger, problems, retry=True)
        elif kind == "host_add":
            name = op[1]
            r = server.request("POST", "/v1/hosts", {"name": name, "region": "eu-west"}, token=env.admin)
            if r.status == 409 and name in created["hosts"]:
                with ledger.lock:
                    ledger.hosts[created["hosts"][name]] = name
                    ledger.acked["host_add"] += 1
            else:
                admin.host_answer(r, name, ledger, problems)
    return problems


# --------------------------------------------------------------------------- the loop

def run(data_dir, work_dir, kills, seed, host_clients=4, kill_window=(0.2, 1.5), log=None):
    """Runs `kills` kill-and-restart cycles on an initialised `data_dir`; raises
    CrashLoopFailure on the first cycle that loses or breaks anything."""
    started = time.monotonic()
    rng = random.Random(seed)
    summary = Summary(seed=seed)
    ledger = summary.ledger
    issuer = Issuer.generate(ISSUER_KID)
    issuer.trust(data_dir)
    env = LeaseEnv(data_dir, issuer).start()

    def fail(problems, lost=()):
        summary.lost += len(lost)
        for kind, _ in lost:
            summary.lost_by_kind[kind] = summary.lost_by_kind.get(kind, 0) + 1
        summary.elapsed = time.monotonic() - started
        raise CrashLoopFailure(summary, [m for _, m in lost] + list(problems))

    try:
        for jti, ents in ((unique("bulk"), [entitlement("bulk", count=BULK_SEATS)]),
                          (unique("gaming"), [entitlement("seats", feature="gaming", count=2)])):
            env.import_license(ents, jti=jti)
            ledger.licenses[jti] = None
        chain = unique("apps")
        env.import_license([entitlement("apps", feature="vApps", count=6,
                                        overage={"policy": "allow", "limit_percent": CHAIN_OVERAGE_PERCENT})],
                           jti=chain)
        ledger.licenses[chain] = None
        admin = AdminClient(env, chain)
        clients = [HostClient(n, env.add_host(name=f"crash-client-{n}")) for n in range(host_clients)]
        for c in clients:
            ledger.hosts[c.host.id] = c.host.name

        pending = []
        for cycle in range(kills):
            server = env.server
            stop = threading.Event()
            problems = []
            threads = [threading.Thread(target=c.run_cycle, daemon=True,
                                        args=(server, ledger, stop, random.Random(rng.random()), cycle,
                                              pending, problems)) for c in clients]
            threads.append(threading.Thread(target=admin.run_cycle, daemon=True,
                                            args=(server, ledger, stop, random.Random(rng.random()),
                                                  pending, problems)))
            for t in threads:
                t.start()
            time.sleep(rng.uniform(*kill_window))
            server.kill()   # SIGKILL
            summary.kills += 1
            stop.set()
            for t in threads:
                t.join(timeout=15)
            if any(t.is_alive() for t in threads):
                fail(["a client hung after the kill"])
            if problems:
                fail(problems)

            db = copy_store(data_dir, work_dir / "copy")
            lost, bad, facts = check_store(db, ledger)
            if lost or bad:
                fail(bad, lost)
            created = classify_unanswered(db, pending, ledger)
            summary.stored_leases, summary.audit_events = len(facts["leases"]), len(facts["events"])

            env.server = EntitledServer(data_dir)
            env.server.start()
            bad = check_api(env, facts)
            bad += settle(env, admin, pending, created, ledger)
            if bad:
                fail(bad)
            pending = []
            summary.elapsed = time.monotonic() - started
            if log:
                log(f"kill {summary.kills}: {summary.line()}")

        # The last retries, seen through the API, then a clean stop and a final look at the store.
        events = env.audit()
        assert_chain_intact(events)
        env.stop()
        db = copy_store(data_dir, work_dir / "copy")
        lost, bad, facts = check_store(db, ledger)
        if lost or bad:
            fail(bad, lost)
        if len(facts["events"]) != len(events):
            fail([f"the API showed {len(events)} audit events, the store holds {len(facts['events'])}"])
        summary.stored_leases, summary.audit_events = len(facts["leases"]), len(facts["events"])
        summary.elapsed = time.monotonic() - started
        return summary
    finally:
        env.server.kill()
