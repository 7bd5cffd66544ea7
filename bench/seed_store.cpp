// entitle-bench-seed: fills a stopped server's store with hosts, active
// leases and audit history for the large benchmark scenarios, through the
// store's own use cases (the same insert_host, checkout_lease and
// release_lease the API calls), many per write unit so a million leases take
// minutes, not hours. Never point it at a data directory that matters: it
// adds hosts and leases that nobody asked for.
//
//   entitle-bench-seed --db DIR/entitle.db --kid KID --hosts 1000 --hosts-out hosts.txt
//   entitle-bench-seed --db DIR/entitle.db --kid KID --hosts-in hosts.txt --leases 1000000
//   --leases-out leases.txt entitle-bench-seed --db DIR/entitle.db --kid KID --hosts-in hosts.txt
//   --cycles 2000000
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/access_token.hpp"
#include "core/checkout.hpp"
#include "crypto/base64url.hpp"
#include "crypto/digest.hpp"
#include "store/audit_log.hpp"
#include "store/host_table.hpp"
#include "store/lease_table.hpp"
#include "store/store.hpp"
#include "store/token_table.hpp"

namespace {

using namespace entitle;

[[noreturn]] void die(const std::string& message) {
    std::cerr << "entitle-bench-seed: " << message << "\n";
    std::exit(1);
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Appends to a file of secrets (host tokens), created 0600.
class SecretAppender {
  public:
    explicit SecretAppender(const std::string& path) {
        if (path.empty()) return;
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd_ < 0) die("cannot write " + path);
    }
    ~SecretAppender() {
        if (fd_ >= 0) ::close(fd_);
    }
    void write(const std::string& text) {
        if (fd_ < 0) return;
        std::size_t off = 0;
        while (off < text.size()) {
            const auto n = ::write(fd_, text.data() + off, text.size() - off);
            if (n <= 0) die("write failed");
            off += static_cast<std::size_t>(n);
        }
    }

  private:
    int fd_ = -1;
};

struct Args {
    std::string db, kid, hosts_in, hosts_out, leases_out, feature = "vWS", region = "eu-west",
                                                          prefix = "seed";
    std::size_t hosts = 0, leases = 0, cycles = 0, batch = 5000;
    std::int64_t lease_seconds = 3600;
};

struct SeedHost {
    store::HostRecord record;
    std::string actor;  // the host's token id
};

std::vector<SeedHost> read_hosts(const std::string& path, const std::string& region) {
    std::ifstream in(path);
    if (!in) die("cannot read " + path);
    std::vector<SeedHost> out;
    std::string id, token;
    while (in >> id >> token) {
        SeedHost h;
        h.record.id = id;
        h.record.region = region;
        h.actor = access_token_id(token).value_or("");
        if (h.actor.empty()) die("not a token in " + path);
        out.push_back(std::move(h));
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    CLI::App app{"entitle-bench-seed: bulk hosts, leases and audit history through the store code"};
    app.add_option("--db", a.db, "the store (DIR/entitle.db) of a stopped server")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--kid", a.kid, "lease-signing key id to record on the leases")->required();
    app.add_option("--hosts", a.hosts, "hosts to add")->check(CLI::Range(0, 10'000'000));
    app.add_option("--hosts-out", a.hosts_out, "append 'host_id token' lines here (0600)");
    app.add_option("--hosts-in", a.hosts_in,
                   "hosts to act for (written by --hosts-out or entitle-bench setup)");
    app.add_option("--leases", a.leases, "active leases to check out, round-robin over the hosts")
        ->check(CLI::Range(0, 100'000'000));
    app.add_option("--leases-out", a.leases_out, "append 'host_index lease_id' lines here");
    app.add_option("--cycles", a.cycles, "checkouts released at once (audit history)")
        ->check(CLI::Range(0, 100'000'000));
    app.add_option("--feature", a.feature);
    app.add_option("--region", a.region);
    app.add_option("--prefix", a.prefix, "host name and request id prefix (unique per seeding)");
    app.add_option("--lease-seconds", a.lease_seconds)->check(CLI::Range(60, 86400 * 365));
    app.add_option("--batch", a.batch, "operations per write unit")
        ->check(CLI::Range(1, 1'000'000));
    CLI11_PARSE(app, argc, argv);

    auto opened = store::Store::open(a.db);
    if (!opened) die(opened.error().message);
    auto& st = **opened;
    const auto started = std::chrono::steady_clock::now();
    // A million leases make a store of several hundred MiB; with SQLite's
    // default 2 MiB page cache every checkout rereads index pages through the
    // kernel. The seeder is a batch job: give its writer 1 GiB of cache.
    if (auto r = st.write_and_wait([](store::Connection& c) -> Result<void> {
            c.exec("PRAGMA cache_size = -1048576");
            return {};
        });
        !r) {
        die(r.error().message);
    }

    std::vector<SeedHost> hosts;
    if (!a.hosts_in.empty()) hosts = read_hosts(a.hosts_in, a.region);
    SecretAppender hosts_out(a.hosts_out);
    for (std::size_t done = 0; done < a.hosts;) {
        const std::size_t n = std::min(a.batch, a.hosts - done);
        std::vector<std::pair<SeedHost, MintedToken>> made;
        for (std::size_t i = 0; i < n; ++i) {
            const auto token = mint_access_token();
            SeedHost h;
            h.record = {"h_" + crypto::base64url_encode(crypto::random_bytes(9)),
                        fmt::format("{}-{}", a.prefix, done + i),
                        a.region,
                        token.id,
                        now_ms() / 1000,
                        std::nullopt};
            h.actor = token.id;
            made.emplace_back(std::move(h), token);
        }
        auto r = st.write_and_wait([&](store::Connection& c) -> Result<void> {
            const auto t = now_ms();
            for (auto& [h, token] : made) {
                store::insert_token(c, {h.record.token_id, Role::host, "host " + h.record.name,
                                        token.hash, t / 1000, std::nullopt, std::nullopt});
                store::insert_host(c, h.record);
                store::append_audit(c, {t,
                                        "host_added",
                                        "system",
                                        h.record.id,
                                        {{"host", h.record.id},
                                         {"name", h.record.name},
                                         {"region", h.record.region}}});
            }
            return {};
        });
        if (!r) die(r.error().message);
        std::string lines;
        for (auto& [h, token] : made) {
            lines += h.record.id + " " + token.secret + "\n";
            hosts.push_back(std::move(h));
        }
        hosts_out.write(lines);
        done += n;
    }
    if ((a.leases || a.cycles) && hosts.empty()) die("leases need hosts: --hosts or --hosts-in");

    // Checkouts (and, for cycles, releases) through the store's use cases.
    SecretAppender leases_out(a.leases_out);
    auto run = [&](std::size_t total, bool release) {
        for (std::size_t done = 0; done < total;) {
            const std::size_t n = std::min(a.batch, total - done);
            std::string lines;
            auto r = st.write_and_wait([&](store::Connection& c) -> Result<void> {
                for (std::size_t i = 0; i < n; ++i) {
                    const std::size_t k = done + i;
                    const std::size_t hi = k % hosts.size();
                    CheckoutRequest req;
                    req.request_id = fmt::format("{}-{}-{}", a.prefix, release ? "c" : "l", k);
                    req.feature = a.feature;
                    req.gpu_uuid = fmt::format("GPU-{}-{}", hi, k / hosts.size() % 64);
                    req.vgpu_id = fmt::format("vm-{}-{}", a.prefix, k);
                    const auto t = now_ms();
                    auto out =
                        store::checkout_lease(c, {hosts[hi].record, req, checkout_fingerprint(req),
                                                  hosts[hi].actor, t, a.lease_seconds, a.kid});
                    if (out.kind != store::CheckoutOutcome::Kind::granted) {
                        return std::unexpected(
                            out.error.value_or(Error{ErrorCode::conflict, "not granted"}));
                    }
                    if (release) {
                        if (auto e = store::release_lease(c, out.lease.id, hosts[hi].record.id,
                                                          hosts[hi].actor, t)) {
                            return std::unexpected(*e);
                        }
                    } else {
                        lines += fmt::format("{} {}\n", hi, out.lease.id);
                    }
                }
                return {};
            });
            if (!r) die("checkout: " + r.error().message);
            leases_out.write(lines);
            done += n;
        }
    };
    run(a.leases, false);
    run(a.cycles, true);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cout << fmt::format(R"({{"hosts_added":{},"leases":{},"cycles":{},"seconds":{:.1f}}})",
                             a.hosts, a.leases, a.cycles, secs)
              << "\n";
    return 0;
}
