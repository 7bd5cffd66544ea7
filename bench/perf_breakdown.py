#!/usr/bin/env python3
"""Groups the samples of `perf script` (from `perf record -g` on entitled)
by what the server was doing: TLS, JSON, SQLite, signing, hashing, locking,
HTTP, network, allocation. Each sample goes to the first group, in the
order below, that any frame of its stack matches: the named libraries before
the generic ones, so memory allocation inside nlohmann::json counts as JSON
and a handler's own code, which matches no library, counts as HTTP.
Threads are told apart by their stacks: the store writer (Store::writer_loop)
and the I/O threads (everything else).

  perf script -i perf.data --no-inline | bench/perf_breakdown.py [--hz 999] [--functions 20]
"""
import argparse
import collections
import re
import sys

SEMANTIC = [
    ("signing (Ed25519)", re.compile(r"ed25519|ED25519|x25519|\bfe51_|\bfe_|\bge_|\bsc_reduce|\bsc_muladd|sign_lease_token|DigestSign")),
    ("audit chain (canonical JSON, SHA-256)", re.compile(r"canonical|audit_event_hash|utf16_less|append_string|append_audit")),
    ("SQLite (incl. its pread/pwrite/fsync)", re.compile(r"sqlite3|sqlite")),
    ("JSON (nlohmann)", re.compile(r"nlohmann|basic_json")),
    ("hashing (SHA-256: token check)", re.compile(r"sha256|SHA256|sha512|SHA512")),
    ("kernel: sockets, epoll, wakeups", re.compile(r"kernel\.kallsyms")),
    # OpenSSL's own functions and Asio's TLS engine, not C++ names that merely
    # mention a TLS stream: every handler runs inside the completion of a
    # read on `beast::ssl_stream<...>`, whose frames would otherwise claim it.
    ("TLS in user space (record layer, AES-GCM)",
     re.compile(r"aesni|gcm|GCM|chacha|poly1305|libssl\.so|libcrypto\.so|asio::ssl::detail::engine::"
                r"|(?<![\w:])(?:ssl3_|SSL_|tls1_|tls_|ossl_statem|ssl_|BIO_)")),
    ("HTTP and routes (Beast, router, handlers)", re.compile(r"boost::beast|boost::asio|Router|router|entitle::http")),
]
GENERIC = [
    ("fsync (CPU part)", re.compile(r"fdatasync|fsync|ext4_sync|jbd2|blk_|submit_bio")),
    ("file I/O (kernel: WAL and database pages)", re.compile(r"_copy_to_iter|copy_folio|filemap_|ext4_|vfs_|pwrite|pread|xas_|generic_perform_write")),
    ("locking, waking threads", re.compile(r"pthread_mutex|futex|__lll_lock|pthread_cond|condition_variable|try_to_wake_up")),
    ("network (kernel TCP, epoll)", re.compile(r"tcp_|__sys_send|__sys_recv|sock_|epoll|ip_|__netif|loopback|__x64_sys_write|__x64_sys_read")),
    ("memory allocation", re.compile(r"malloc|_int_free|cfree|operator new|operator delete|free@|__libc_free")),
]


def samples(stream):
    header, frames = None, []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if header is not None:
                yield header, frames
            header, frames = None, []
        elif not line.startswith((" ", "\t")):
            header, frames = line, []
        else:
            parts = line.strip().split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else parts[0])
    if header is not None:
        yield header, frames


def classify(frames):
    for name, rx in SEMANTIC:
        for f in frames:
            if rx.search(f):
                return name
    for name, rx in GENERIC:
        for f in frames:
            if rx.search(f):
                return name
    return "other: " + (frames[0].split("+")[0] if frames else "?")


def function_name(frame):
    """A frame's function without offset, library, template arguments or
    parameters: `entitle::http::Session::write` for any instantiation."""
    name = frame.split("+0x")[0].replace("(anonymous namespace)", "{anonymous}")
    name = re.sub(r"\s+\([^()]*\)$", "", name.strip())  # the library, when perf names it
    while True:
        shorter = re.sub(r"<[^<>]*>|\([^()]*\)", "", name)
        if shorter == name:
            break
        name = shorter
    name = re.sub(r"\s+const$", "", name.replace("[abi:cxx11]", "").strip())
    return name.split(" ")[-1]  # without a template's return type


def entitle_functions(frames):
    """The project's functions on a stack, each once (for inclusive counts)."""
    return {n for n in map(function_name, frames) if n.startswith("entitle::")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hz", type=float, default=0, help="sampling frequency, to print CPU seconds too")
    ap.add_argument("--others", action="store_true", help="list the leaf functions counted as other")
    ap.add_argument("--functions", type=int, default=0, metavar="N",
                    help="also list the N entitle:: functions on most stacks of each thread, inclusively")
    args = ap.parse_args()
    by_thread = collections.defaultdict(collections.Counter)
    functions = collections.defaultdict(collections.Counter)
    for _, frames in samples(sys.stdin):
        thread = "store writer" if any("writer_loop" in f for f in frames) else "I/O threads"
        group = classify(frames)
        by_thread[thread][group] += 1
        by_thread["all"][group] += 1
        functions[thread].update(entitle_functions(frames))
    for thread in ("all", "I/O threads", "store writer"):
        c = by_thread.get(thread)
        if not c:
            continue
        total = sum(c.values())
        secs = f", {total / args.hz:.1f} CPU s" if args.hz else ""
        print(f"{thread}: {total} samples{secs}")
        others = sum(n for name, n in c.items() if name.startswith("other: "))
        groups = [(name, n) for name, n in c.items() if not name.startswith("other: ")] + [("other", others)]
        for name, n in sorted(groups, key=lambda g: -g[1]):
            print(f"  {100 * n / total:5.1f}%  {name}")
        if args.others:
            for name, n in c.most_common():
                if name.startswith("other: ") and n * 200 >= total:
                    print(f"         {100 * n / total:5.1f}%  {name}")
        if args.functions and thread in functions:
            print("  functions on the stack (inclusive, share of these samples):")
            for name, n in functions[thread].most_common(args.functions):
                print(f"         {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
