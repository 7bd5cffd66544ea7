#!/usr/bin/env python3
"""A first, rough checkout -> release throughput loop against a fresh
`entitled` on 127.0.0.1 (Python clients, keep-alive TLS connections).

It prints figures and never passes or fails on them. Python's client side is
itself a bottleneck; the C++ load generator of the benchmark suite measures
the server properly.

  ENTITLE_BIN_DIR=build/bin python3 bench/checkout_loop.py [--threads 8] [--seconds 10]
"""
import argparse
import http.client
import json
import os
import pathlib
import re
import statistics
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

import subprocess  # noqa: E402

from entitle_testlib import EntitledServer, entitled_bin  # noqa: E402
from license_factory import Issuer, entitlement, license_claims  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    os.environ.setdefault("ENTITLE_BIN_DIR", str(HERE.parent / "build" / "bin"))

    with tempfile.TemporaryDirectory() as tmp:
        data = pathlib.Path(tmp) / "data"
        subprocess.run([entitled_bin(), "init", "--data", str(data)], check=True, capture_output=True)
        issuer = Issuer.generate("bench-issuer")
        issuer.trust(data)
        server = EntitledServer(data, ["--no-request-log"]).start()
        admin = (data / "admin.token").read_text().strip()
        lic = issuer.sign(license_claims("bench-1", [entitlement("seats", count=1_000_000)]))
        assert server.request("POST", "/v1/licenses", lic, token=admin).status == 201
        hosts = []
        for i in range(args.threads):
            r = server.request("POST", "/v1/hosts", {"name": f"bench-{i}", "region": "eu-west"}, token=admin)
            hosts.append(r.json()["host_token"])

        latencies, errors = [], []
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds

        def worker(i):
            conn = server.connection(timeout=30)
            mine, n = [], 0
            while time.monotonic() < deadline and n < 1_000_000:
                n += 1
                t0 = time.perf_counter()
                r = server.request("POST", "/v1/leases",
                                   {"request_id": f"t{i}-{n}", "feature": "vWS", "gpu": {"uuid": f"G{i}"},
                                    "vgpu": {"id": f"v{i}-{n}"}}, token=hosts[i], conn=conn)
                t1 = time.perf_counter()
                if r.status != 201:
                    errors.append(r.status)
                    continue
                d = server.request("DELETE", f"/v1/leases/{r.json()['lease_id']}", token=hosts[i], conn=conn)
                t2 = time.perf_counter()
                if d.status != 204:
                    errors.append(d.status)
                mine += [t1 - t0, t2 - t1]
            conn.close()
            with lock:
                latencies.extend(mine)

        before = metrics(server)
        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        after = metrics(server)
        server.stop()

    n = len(latencies)
    lat = sorted(latencies)
    commits = after["entitle_store_commits_total"] - before["entitle_store_commits_total"]
    units = after["entitle_store_write_units_total"] - before["entitle_store_write_units_total"]
    print(f"threads={args.threads} seconds={elapsed:.1f}")
    print(f"durable writes (checkout+release) per second: {n / elapsed:.0f}  ({n} requests, errors {len(errors)})")
    if n:
        print(f"latency ms: p50 {1000 * lat[n // 2]:.2f}  p99 {1000 * lat[min(n - 1, int(n * 0.99))]:.2f}  "
              f"mean {1000 * statistics.mean(lat):.2f}")
    print(f"fsyncs (commits) per second: {commits / elapsed:.0f}; average group-commit batch: "
          f"{(units / commits) if commits else 0:.2f}")


def metrics(server):
    text = server.request("GET", "/metrics").body
    out = {}
    for name in ("entitle_store_commits_total", "entitle_store_write_units_total"):
        m = re.search(rf"^{name} (\d+)$", text, re.M)
        out[name] = int(m.group(1)) if m else 0
    return out


if __name__ == "__main__":
    main()
