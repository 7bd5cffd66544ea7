// entitle-lease: the host's command line over libentitle (contract section
// 6), for hypervisor hooks and operators. Each run is one process; the
// leases it holds live in a state directory so that a later run (the hook's
// `release end`) renews or releases what an earlier one checked out.
//
// stdout carries results only (the lease id of a checkout, the status
// table); refusals go to stderr as "entitle-lease: <code>: <message>" with
// the exit code of exit_codes.hpp.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <ctime>
#include <entitle/entitle.hpp>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "exit_codes.hpp"

namespace {

using namespace entitle::lease_cli;
using json = nlohmann::json;
namespace ec = entitle::client;

constexpr const char* kDefaultConfig = "/etc/entitle/host.json";
constexpr const char* kDefaultStateDir = "/var/lib/entitle-lease";
constexpr std::size_t kMaxStdinIds = 100'000;

bool g_verbose = false;

void print_log(int level, const char* message, void* /*user_data*/) {
    if (level == ENTITLE_LOG_INFO && !g_verbose) return;
    const char* label = level == ENTITLE_LOG_ERROR     ? "error"
                        : level == ENTITLE_LOG_WARNING ? "warning"
                                                       : "info";
    std::cerr << "entitle-lease: " << label << ": " << message << '\n';
}

std::string env_or(const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : fallback;
}

// Text from the server or a file, safe for a terminal: control characters
// become '?'.
std::string printable(const std::string& text) {
    std::string out = text;
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) c = '?';
    }
    return out;
}

std::string utc(std::int64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::ostringstream out;
    out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
    return out.str();
}

json lease_json(const ec::Lease& l) {
    return {{"lease_id", l.lease_id},
            {"feature", l.feature},
            {"entitlement", l.entitlement},
            {"gpu", l.gpu_uuid},
            {"vgpu", l.vgpu_id},
            {"profile", l.profile ? json(*l.profile) : json(nullptr)},
            {"expires_at", l.expires_at},
            {"renew_after", l.renew_after},
            {"seconds_left", l.seconds_left},
            {"overage", l.overage},
            {"token_verified", l.token_verified}};
}

struct Options {
    std::string config = env_or("ENTITLE_LEASE_CONFIG", kDefaultConfig);
    std::string state_dir = env_or("ENTITLE_LEASE_STATE_DIR", kDefaultStateDir);
    std::int64_t timeout_ms = 10'000;
    int attempts = 5;
    bool json = false;
};

ec::Client open_client(const Options& o) {
    ec::Client client(o.config);
    client.set_timeout_ms(o.timeout_ms);
    client.set_retry(o.attempts, 200, 5'000);
    client.set_state_dir(o.state_dir);
    return client;
}

int run_checkout(const Options& o, const std::string& feature, const std::string& gpu,
                 const std::string& vgpu, const std::string& profile) {
    auto client = open_client(o);
    const auto lease = client.checkout(
        feature, gpu, vgpu, profile.empty() ? std::nullopt : std::optional<std::string>(profile));
    if (o.json) {
        std::cout << lease_json(lease).dump() << '\n';
    } else {
        std::cout << lease.lease_id << '\n';
    }
    return kExitOk;
}

int run_renew(const Options& o, const std::string& lease_id) {
    auto client = open_client(o);
    const auto lease = client.renew(lease_id);
    if (o.json) {
        std::cout << lease_json(lease).dump() << '\n';
    } else {
        std::cout << lease.lease_id << " renewed until " << utc(lease.expires_at) << " ("
                  << lease.seconds_left << " s left)\n";
    }
    return kExitOk;
}

int run_release(const Options& o, const std::string& lease_id, const std::string& vgpu) {
    auto client = open_client(o);
    if (!vgpu.empty()) {
        const auto count = client.release_vgpu(vgpu);
        if (!o.json) std::cout << "released " << count << " lease(s) of vGPU " << vgpu << '\n';
        if (o.json) std::cout << json{{"released", count}}.dump() << '\n';
        return kExitOk;
    }
    client.release(lease_id);
    if (!o.json) std::cout << "released " << lease_id << '\n';
    return kExitOk;
}

// Exit 0 when every held lease verifies offline and has time left, 6 when
// one has lapsed, 13 when a token does not verify. Works without the server.
int run_status(const Options& o) {
    auto client = open_client(o);
    const auto leases = client.held_leases();
    int code = kExitOk;
    for (const auto& l : leases) {
        if (!l.token_verified) {
            code = kExitTokenInvalid;
        } else if (l.seconds_left <= 0 && code == kExitOk) {
            code = kExitExpired;
        }
    }
    if (o.json) {
        json out = {{"host_id", client.host_id()}, {"leases", json::array()}};
        for (const auto& l : leases) out["leases"].push_back(lease_json(l));
        if (const auto skew = client.clock_skew()) out["clock_skew_s"] = *skew;
        std::cout << out.dump() << '\n';
        return code;
    }
    if (leases.empty()) {
        std::cout << "no leases held (host " << printable(client.host_id()) << ")\n";
        return code;
    }
    std::cout << std::left << std::setw(26) << "LEASE" << std::setw(38) << "VGPU" << std::setw(10)
              << "FEATURE" << std::setw(12) << "LEFT" << std::setw(10) << "TOKEN"
              << "EXPIRES (server clock)\n";
    for (const auto& l : leases) {
        const std::string left =
            l.seconds_left > 0 ? std::to_string(l.seconds_left) + "s" : "expired";
        std::cout << std::left << std::setw(26) << printable(l.lease_id) << std::setw(38)
                  << printable(l.vgpu_id) << std::setw(10) << printable(l.feature) << std::setw(12)
                  << left << std::setw(10) << (l.token_verified ? "valid" : "INVALID")
                  << utc(l.expires_at) << '\n';
    }
    return code;
}

int run_reconcile(const Options& o, std::vector<std::string> vgpus, bool from_stdin) {
    if (from_stdin) {
        if (::isatty(STDIN_FILENO) == 1) {
            std::cerr << "entitle-lease: reconcile needs --vgpu ID... or the existing vGPU ids "
                         "on stdin (use --none when no vGPU exists)\n";
            return kExitUsage;
        }
        std::string id;
        // Bounded: at most kMaxStdinIds ids are read.
        while (vgpus.size() < kMaxStdinIds && std::cin >> id) vgpus.push_back(id);
        if (!std::cin.eof()) {
            std::cerr << "entitle-lease: more than " << kMaxStdinIds << " vGPU ids on stdin\n";
            return kExitUsage;
        }
    }
    auto client = open_client(o);
    const auto released = client.reconcile(vgpus);
    if (o.json) {
        json out = {{"released", json::array()}};
        for (const auto& l : released) out["released"].push_back(lease_json(l));
        std::cout << out.dump() << '\n';
    } else {
        for (const auto& l : released) {
            std::cout << "released " << printable(l.lease_id) << " (vGPU " << printable(l.vgpu_id)
                      << ")\n";
        }
    }
    return kExitOk;
}

// Renews every lease of the state directory at its renew_after until SIGTERM
// or SIGINT; leases other runs check out are picked up within 30 s.
int run_renewer(const Options& o) {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    // Blocked before the renewer thread starts, so only sigwait sees them.
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    auto client = open_client(o);
    client.start_renewer([](const std::string& lease_id, const std::string& vgpu, ec::Status why) {
        std::cerr << "entitle-lease: lease " << printable(lease_id) << " of vGPU "
                  << printable(vgpu) << " lost: " << ec::to_string(why) << '\n';
    });
    std::cerr << "entitle-lease: renewer running for host " << printable(client.host_id())
              << " (state " << o.state_dir << ")\n";
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    client.stop_renewer();
    std::cerr << "entitle-lease: renewer stopped\n";
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"entitle-lease: check out, renew and release Entitle vGPU leases for this host"};
    app.set_version_flag("--version", std::string("entitle-lease ") + ec::version());
    app.require_subcommand(1);
    app.fallthrough();

    Options o;
    app.add_option("--config", o.config,
                   "host configuration file from `entitlectl host add` "
                   "(env ENTITLE_LEASE_CONFIG, default /etc/entitle/host.json)");
    app.add_option("--state-dir", o.state_dir,
                   "where held leases are kept between runs (env ENTITLE_LEASE_STATE_DIR, "
                   "default /var/lib/entitle-lease)");
    app.add_option("--timeout-ms", o.timeout_ms, "deadline of one HTTPS exchange")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{100}, std::int64_t{600'000}));
    app.add_option("--attempts", o.attempts,
                   "tries of a request while the server is unreachable (backoff with jitter)")
        ->capture_default_str()
        ->check(CLI::Range(1, 100));
    app.add_flag("--json", o.json, "machine-readable output");
    app.add_flag("--verbose", g_verbose, "also log retries and other details on stderr");

    std::string feature, gpu, vgpu, profile, lease_id, release_vgpu;
    auto* checkout = app.add_subcommand("checkout", "check out a lease; prints its id");
    checkout->add_option("--feature", feature, "licensed feature, e.g. vWS")->required();
    checkout->add_option("--gpu", gpu, "physical GPU UUID")->required();
    checkout->add_option("--vgpu", vgpu, "vGPU (mdev) id")->required();
    checkout->add_option("--profile", profile, "vGPU profile");

    auto* renew = app.add_subcommand("renew", "renew a held lease");
    renew->add_option("ID", lease_id, "lease id")->required();

    auto* release = app.add_subcommand("release", "release a lease (by id or by vGPU)");
    auto* release_id = release->add_option("ID", lease_id, "lease id");
    auto* release_by_vgpu =
        release->add_option("--vgpu", release_vgpu, "release every lease of this vGPU");
    release_id->excludes(release_by_vgpu);
    release->require_option(1);

    auto* status = app.add_subcommand(
        "status", "held leases, time left and whether each token verifies offline");

    std::vector<std::string> keep;
    bool none = false;
    auto* reconcile = app.add_subcommand(
        "reconcile", "release every lease of this host whose vGPU is not among the given ones");
    auto* keep_opt =
        reconcile->add_option("--vgpu", keep, "a vGPU that exists now (repeat); else read stdin");
    reconcile->add_flag("--none", none, "no vGPU exists now: release every lease")
        ->excludes(keep_opt);

    auto* renewer = app.add_subcommand(
        "renewer", "renew the state directory's leases until SIGTERM (a host service)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? kExitOk : kExitUsage;
    }
    entitle_set_log_handler(&print_log, nullptr);

    try {
        int code = kExitFailed;
        if (*checkout) code = run_checkout(o, feature, gpu, vgpu, profile);
        if (*renew) code = run_renew(o, lease_id);
        if (*release) code = run_release(o, lease_id, release_vgpu);
        if (*status) code = run_status(o);
        if (*reconcile) code = run_reconcile(o, keep, keep.empty() && !none);
        if (*renewer) code = run_renewer(o);
        std::cout.flush();
        return std::cout ? code : kExitFailed;
    } catch (const ec::Error& e) {
        std::cerr << "entitle-lease: " << e.code() << ": " << printable(e.what()) << '\n';
        return exit_code_for(static_cast<entitle_status>(e.status()));
    } catch (const std::exception& e) {
        std::cerr << "entitle-lease: " << printable(e.what()) << '\n';
        return kExitFailed;
    }
}
