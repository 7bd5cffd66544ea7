// entitle-bench: the load generator of the benchmark suite (tools/bench runs
// it). It prints figures as JSON and never passes or fails on them.
//
//   setup          import a license, add hosts through the API, keep one real
//                  checkout answer (the ceiling serves a body of its size)
//   load           cycle / contend / renew load, closed or open loop
//   verify-tokens  lease token verification by libentitle, per core
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/https_client.hpp"
#include "common/read_file.hpp"
#include "entitle/entitle.h"
#include "load_generator.hpp"

namespace {

using json = nlohmann::json;
using entitle::bench::HostCredential;
using entitle::bench::LatencyHistogram;
using entitle::bench::LoadOptions;
using entitle::bench::LoadResult;
using entitle::bench::SeededLease;
using entitle::bench::Workload;
using entitle::tools::HttpsClient;
using entitle::tools::HttpsClientOptions;

[[noreturn]] void die(const std::string& message) {
    std::cerr << "entitle-bench: " << message << "\n";
    std::exit(1);
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) die("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// Files holding host tokens are secrets: created 0600 from the start.
void write_secret(const std::string& path, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("cannot write " + path);
    std::size_t off = 0;
    while (off < text.size()) {
        const auto n = ::write(fd, text.data() + off, text.size() - off);
        if (n <= 0) die("cannot write " + path);
        off += static_cast<std::size_t>(n);
    }
    ::close(fd);
}

HttpsClient client_for(const std::string& url, const std::string& ca) {
    auto parsed = entitle::tools::parse_server_url(url);
    if (!parsed) die(parsed.error());
    return HttpsClient(HttpsClientOptions{*parsed, ca});
}

entitle::tools::HttpsResponse call(HttpsClient& c, std::string_view method, std::string_view path,
                                   std::string_view body = {},
                                   std::optional<std::string_view> bearer = {}) {
    auto r = c.request(method, path, body, body.empty() ? "" : "application/json", bearer);
    if (!r) die(fmt::format("{} {}: {}", method, path, r.error().message));
    return *r;
}

// "host_id token" per line.
std::vector<HostCredential> read_hosts(const std::string& path) {
    std::vector<HostCredential> out;
    std::istringstream in(read_text(path));
    HostCredential h;
    while (in >> h.host_id >> h.token) out.push_back(h);
    if (out.empty()) die("no hosts in " + path);
    return out;
}

// "host_index lease_id" per line.
std::vector<SeededLease> read_leases(const std::string& path, std::size_t hosts) {
    std::vector<SeededLease> out;
    std::ifstream in(path);
    if (!in) die("cannot read " + path);
    SeededLease l;
    while (in >> l.host_index >> l.lease_id) {
        if (l.host_index >= hosts)
            die(fmt::format("{}: host index {} past the hosts file", path, l.host_index));
        out.push_back(l);
    }
    return out;
}

json latency_json(const LatencyHistogram& h) {
    auto ms = [](std::uint64_t us) { return static_cast<double>(us) / 1000.0; };
    return {{"count", h.count()},
            {"mean_ms", h.mean() / 1000.0},
            {"p50_ms", ms(h.quantile(0.50))},
            {"p90_ms", ms(h.quantile(0.90))},
            {"p99_ms", ms(h.quantile(0.99))},
            {"p999_ms", ms(h.quantile(0.999))},
            {"max_ms", ms(h.max())}};
}

std::map<std::string, double> store_metrics(HttpsClient& c) {
    const auto r = call(c, "GET", "/metrics");
    std::map<std::string, double> out;
    std::istringstream in(r.body);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("entitle_store_", 0) != 0) continue;
        const auto sp = line.find(' ');
        if (sp == std::string::npos) continue;
        out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    }
    return out;
}

void emit(const json& j, const std::string& out) {
    const auto text = j.dump(2) + "\n";
    if (!out.empty()) {
        std::ofstream f(out);
        f << text;
        if (!f) die("cannot write " + out);
    }
    std::cout << text;
}

// ---- setup ----------------------------------------------------------------

struct SetupArgs {
    std::string url, ca, admin_token_file, license, hosts_out, config_out, sample_out;
    std::size_t hosts = 1000;
    std::size_t threads = 8;
    std::string feature = "vWS";
    std::string prefix = "bench";
    std::string region = "eu-west";
};

int run_setup(const SetupArgs& a) {
    const auto admin = trim(read_text(a.admin_token_file));
    auto c = client_for(a.url, a.ca);
    if (!a.license.empty()) {
        const auto r = call(c, "POST", "/v1/licenses", read_text(a.license), admin);
        if (r.status != 201 && r.status != 200)
            die(fmt::format("license import: {} {}", r.status, r.body));
    }
    std::vector<std::string> lines(a.hosts);
    std::string first_config;
    std::mutex m;
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < std::max<std::size_t>(1, a.threads); ++t) {
        threads.emplace_back([&] {
            auto cc = client_for(a.url, a.ca);
            for (std::size_t i; (i = next.fetch_add(1)) < a.hosts;) {
                const json body = {{"name", fmt::format("{}-{}", a.prefix, i)},
                                   {"region", a.region}};
                const auto r = call(cc, "POST", "/v1/hosts", body.dump(), admin);
                if (r.status != 201) die(fmt::format("add host: {} {}", r.status, r.body));
                const auto cfg = json::parse(r.body);
                lines[i] = cfg.at("host_id").get<std::string>() + " " +
                           cfg.at("host_token").get<std::string>() + "\n";
                if (i == 0) {
                    std::lock_guard lock(m);
                    first_config = r.body;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    std::string all;
    for (const auto& l : lines) all += l;
    if (!a.hosts_out.empty()) write_secret(a.hosts_out, all);
    if (!a.config_out.empty() && !first_config.empty()) write_secret(a.config_out, first_config);
    if (!a.sample_out.empty() && a.hosts > 0) {
        // One real checkout answer: the ceiling serves a body of exactly its size.
        const auto cfg = json::parse(first_config);
        const std::string token = cfg.at("host_token");
        const json req = {{"request_id", "sample"},
                          {"feature", a.feature},
                          {"gpu", {{"uuid", "GPU-SAMPLE"}}},
                          {"vgpu", {{"id", "vm-sample"}}}};
        const auto r = call(c, "POST", "/v1/leases", req.dump(), token);
        if (r.status != 201) die(fmt::format("sample checkout: {} {}", r.status, r.body));
        write_secret(a.sample_out, r.body);
        const auto id = json::parse(r.body).at("lease_id").get<std::string>();
        (void)call(c, "DELETE", "/v1/leases/" + id, {}, token);
    }
    std::cout << json{{"hosts", a.hosts}}.dump() << "\n";
    return 0;
}

// ---- load -------------------------------------------------------------------

struct LoadArgs {
    std::string url, ca, hosts_file, leases_file, workload = "cycle", out, admin_token_file,
                                                  check_entitlement;
    bool metrics = false;
    LoadOptions o;
};

// The contention check: in_use now, and the most seats ever held at once as
// the audit log's lease_granted events recorded it.
json check_entitlement(HttpsClient& c, const std::string& admin, const std::string& key) {
    json out = {{"entitlement", key}};
    const auto ents = json::parse(call(c, "GET", "/v1/entitlements", {}, admin).body);
    for (const auto& e : ents.at("entitlements")) {
        if (e.at("id") == key) {
            out["count"] = e.at("count");
            out["in_use"] = e.at("in_use");
            out["peak"] = e.at("peak");
        }
    }
    std::int64_t after = 0, max_in_use = 0, granted = 0, overage = 0, denied = 0, events = 0;
    for (int page = 0; page < 100'000; ++page) {
        const auto body = json::parse(
            call(c, "GET", fmt::format("/v1/audit?after={}&limit=10000", after), {}, admin).body);
        for (const auto& ev : body.at("events")) {
            ++events;
            const auto& d = ev.value("detail", json::object());
            const std::string kind = ev.value("kind", "");
            if (kind == "oversubscription_denied") ++denied;
            if (!d.is_object() || d.value("entitlement", "") != key) continue;
            if (kind == "lease_granted") {
                ++granted;
                max_in_use = std::max<std::int64_t>(max_in_use, d.value("in_use", 0));
            } else if (kind == "overage_granted") {
                ++overage;
            }
        }
        if (!body.contains("next")) break;
        after = body.at("next").is_string() ? std::stoll(body.at("next").get<std::string>())
                                            : body.at("next").get<std::int64_t>();
    }
    out["audit_events_read"] = events;
    out["audit_lease_granted"] = granted;
    out["audit_overage_granted"] = overage;
    out["audit_oversubscription_denied"] = denied;
    out["audit_max_in_use"] = max_in_use;
    const auto count = out.value("count", json(nullptr));
    out["limit_held"] = count.is_number() && max_in_use <= count.get<std::int64_t>() &&
                        overage == 0 &&
                        out.value("in_use", std::int64_t{-1}) <= count.get<std::int64_t>();
    return out;
}

int run_load_command(LoadArgs& a) {
    auto parsed = entitle::tools::parse_server_url(a.url);
    if (!parsed) die(parsed.error());
    a.o.host = parsed->host;
    a.o.port = parsed->port;
    a.o.ca_file = a.ca;
    if (a.workload == "cycle")
        a.o.workload = Workload::cycle;
    else if (a.workload == "contend")
        a.o.workload = Workload::contend;
    else if (a.workload == "renew")
        a.o.workload = Workload::renew;
    else
        die("workload must be cycle, contend or renew");
    a.o.hosts = read_hosts(a.hosts_file);
    if (a.o.workload == Workload::renew) {
        if (a.leases_file.empty()) die("renew needs --leases-file");
        a.o.leases = read_leases(a.leases_file, a.o.hosts.size());
    }
    auto c = client_for(a.url, a.ca);
    std::map<std::string, double> before, after;
    if (a.metrics) before = store_metrics(c);
    const LoadResult r = entitle::bench::run_load(a.o);
    if (a.metrics) after = store_metrics(c);

    json j = {{"workload", a.workload},
              {"mode", a.o.rate > 0 ? "open" : "closed"},
              {"connections", a.o.connections},
              {"threads", a.o.threads},
              {"seconds", r.elapsed_seconds},
              {"requests", r.requests},
              {"requests_per_second", static_cast<double>(r.requests) / r.elapsed_seconds},
              {"cycles", r.cycles},
              {"cycles_per_second", static_cast<double>(r.cycles) / r.elapsed_seconds},
              {"refused", r.refused},
              {"connects", r.connects},
              {"errors", r.error_count()},
              {"error_kinds", r.errors},
              {"latency", latency_json(r.all)}};
    if (a.o.rate > 0) j["rate"] = a.o.rate;
    if (r.checkout.count()) j["checkout_latency"] = latency_json(r.checkout);
    if (r.release.count()) j["release_latency"] = latency_json(r.release);
    if (r.renew.count()) j["renew_latency"] = latency_json(r.renew);
    if (a.o.workload == Workload::renew) j["leases"] = a.o.leases.size();
    if (a.o.workload == Workload::contend) j["client_max_held"] = r.max_held;
    if (a.metrics) {
        const auto d = [&](const char* k) { return after[k] - before[k]; };
        const double commits = d("entitle_store_commits_total");
        const double units = d("entitle_store_write_units_total");
        // One sync of the WAL covers every commit made before it started.
        const double syncs = d("entitle_store_syncs_total");
        j["store"] = {{"commits", commits},
                      {"units", units},
                      {"syncs", syncs},
                      {"fsyncs_per_second", syncs / r.elapsed_seconds},
                      {"average_batch", commits > 0 ? units / commits : 0.0},
                      {"commit_seconds", d("entitle_store_commit_seconds_total")},
                      {"sync_seconds", d("entitle_store_sync_seconds_total")},
                      {"failed_commits", d("entitle_store_failed_commits_total")}};
    }
    if (!a.check_entitlement.empty()) {
        if (a.admin_token_file.empty()) die("--check-entitlement needs --admin-token-file");
        j["check"] = check_entitlement(c, trim(read_text(a.admin_token_file)), a.check_entitlement);
    }
    emit(j, a.out);
    return 0;
}

// ---- verify-tokens ----------------------------------------------------------

struct VerifyArgs {
    std::string config, feature = "vWS", out;
    double seconds = 3;
    std::uint64_t max = 50'000'000;
};

int run_verify(const VerifyArgs& a) {
    entitle_client* client = nullptr;
    if (entitle_client_open(a.config.c_str(), &client) != ENTITLE_OK)
        die("cannot open " + a.config);
    entitle_lease* lease = nullptr;
    const auto st =
        entitle_checkout(client, a.feature.c_str(), "GPU-VERIFY", "vm-verify", nullptr, &lease);
    if (st != ENTITLE_OK)
        die(fmt::format("checkout: {} {}", entitle_status_str(st), entitle_last_error(client)));
    const std::string token = lease->token;
    const std::string id = lease->lease_id;
    entitle_lease_free(lease);

    // One thread: the figure is tokens per second per core. On a shared
    // machine the thread's CPU time says more than the wall clock, so both
    // are reported.
    auto cpu_seconds = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    };
    std::uint64_t n = 0, bad = 0;
    const double cpu_start = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + std::chrono::duration<double>(a.seconds);
    while (n < a.max) {
        if (entitle_token_verify(client, token.c_str(), nullptr) != ENTITLE_OK) ++bad;
        ++n;
        if ((n & 255) == 0 && std::chrono::steady_clock::now() >= until) break;
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu_start;
    (void)entitle_release(client, id.c_str());
    entitle_client_close(client);
    emit({{"tokens", n},
          {"failed", bad},
          {"seconds", elapsed},
          {"cpu_seconds", cpu},
          {"tokens_per_second_per_core", static_cast<double>(n) / elapsed},
          {"tokens_per_cpu_second", cpu > 0 ? static_cast<double>(n) / cpu : 0.0}},
         a.out);
    return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"entitle-bench: load generator for entitled (prints figures, never judges them)"};
    app.require_subcommand(1);

    SetupArgs s;
    auto* setup = app.add_subcommand("setup", "import a license and add hosts through the API");
    setup->add_option("--url", s.url, "server URL")->required();
    setup->add_option("--ca", s.ca, "CA certificate")->required()->check(CLI::ExistingFile);
    setup->add_option("--admin-token-file", s.admin_token_file)
        ->required()
        ->check(CLI::ExistingFile);
    setup->add_option("--license", s.license, "license file to import first")
        ->check(CLI::ExistingFile);
    setup->add_option("--hosts", s.hosts, "hosts to add")->check(CLI::Range(0, 100000));
    setup->add_option("--threads", s.threads, "parallel API clients")->check(CLI::Range(1, 64));
    setup->add_option("--prefix", s.prefix, "host name prefix");
    setup->add_option("--hosts-out", s.hosts_out, "write 'host_id token' lines here (0600)");
    setup->add_option("--config-out", s.config_out,
                      "write the first host's configuration file here (0600)");
    setup->add_option("--sample-out", s.sample_out, "write one real checkout answer here");
    setup->add_option("--feature", s.feature, "feature of the sample checkout");

    LoadArgs l;
    auto* load = app.add_subcommand("load", "run a workload and print figures as JSON");
    load->add_option("--url", l.url)->required();
    load->add_option("--ca", l.ca)->required()->check(CLI::ExistingFile);
    load->add_option("--hosts-file", l.hosts_file)->required()->check(CLI::ExistingFile);
    load->add_option("--leases-file", l.leases_file, "renew: 'host_index lease_id' lines")
        ->check(CLI::ExistingFile);
    load->add_option("--workload", l.workload, "cycle, contend or renew");
    load->add_option("--feature", l.o.feature);
    load->add_option("--connections", l.o.connections)->check(CLI::Range(1, 20000));
    load->add_option("--threads", l.o.threads, "client I/O threads")->check(CLI::Range(1, 64));
    load->add_option("--seconds", l.o.seconds, "time bound")->check(CLI::Range(0.1, 3600.0));
    load->add_option("--max-requests", l.o.max_requests, "count bound")
        ->check(CLI::Range(1, 1'000'000'000));
    load->add_option("--rate", l.o.rate, "open loop: requests per second (0: closed loop)")
        ->check(CLI::Range(0.0, 1e7));
    load->add_flag("--once", l.o.once, "renew: each lease once, then stop");
    load->add_flag("--metrics", l.metrics,
                   "read the store's counters from /metrics before and after");
    load->add_option("--admin-token-file", l.admin_token_file)->check(CLI::ExistingFile);
    load->add_option("--check-entitlement", l.check_entitlement,
                     "after the run, read in_use and the audit log's peak for this entitlement");
    load->add_option("--out", l.out, "also write the JSON here");

    VerifyArgs v;
    auto* verify =
        app.add_subcommand("verify-tokens", "lease token verification by libentitle, one core");
    verify->add_option("--config", v.config, "host configuration file")
        ->required()
        ->check(CLI::ExistingFile);
    verify->add_option("--feature", v.feature);
    verify->add_option("--seconds", v.seconds)->check(CLI::Range(0.1, 600.0));
    verify->add_option("--max", v.max, "count bound");
    verify->add_option("--out", v.out);

    CLI11_PARSE(app, argc, argv);
    try {
        if (*setup) return run_setup(s);
        if (*load) return run_load_command(l);
        if (*verify) return run_verify(v);
    } catch (const std::exception& e) {
        die(e.what());
    }
    return 2;
}
