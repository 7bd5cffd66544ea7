// entitle-report: the auditor's command line (contract section 6; issue 6).
// Reads a running server's API (auditor token) or a copy of its store, and
// reports usage, compliance, or whether the audit chain is intact.
//
// Exit codes: 0 done (verify: intact); 1 the data could not be read; 2 usage
// error; 3 the audit chain is broken (verify, compliance).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "common/atomic_file.hpp"
#include "entitle_report/chain_check.hpp"
#include "entitle_report/compliance_model.hpp"
#include "entitle_report/compliance_output.hpp"
#include "entitle_report/report_format.hpp"
#include "entitle_report/report_source.hpp"
#include "entitle_report/report_time.hpp"
#include "entitle_report/usage_model.hpp"
#include "entitle_report/usage_output.hpp"

namespace {

using namespace entitle;
using namespace entitle::report;
using tools::failed;
using tools::kExitFailed;
using tools::kExitOk;
using tools::kExitUsage;
using tools::usage_error;

struct Options {
    std::string db;
    tools::ApiOptions api;
    std::string format = "table";
    std::string from;
    std::string to;
    std::string bucket = "day";
    std::optional<std::int64_t> head;
    std::string section = "verdicts";
    std::string out;
};

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string env_or(const std::string& value, const char* name) {
    if (!value.empty()) return value;
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

Outcome<std::unique_ptr<ReportSource>> open_source(Options& o) {
    if (!o.db.empty()) {
        if (!o.api.server.empty()) {
            return usage_error("give either --db FILE or --server URL, not both");
        }
        return open_store_source(o.db);
    }
    o.api.server = env_or(o.api.server, "ENTITLE_SERVER");
    o.api.token_file = env_or(o.api.token_file, "ENTITLE_TOKEN_FILE");
    o.api.ca_file = env_or(o.api.ca_file, "ENTITLE_CA");
    if (o.api.server.empty()) {
        return usage_error(
            "no data source: give --db FILE (a store copy) or --server URL with --token-file and "
            "--ca");
    }
    return open_api_source(o.api);
}

// --from/--to as given, checked against each other; the defaults need the history.
struct TimeArgs {
    std::optional<std::int64_t> from;
    std::optional<std::int64_t> to;
    std::int64_t bucket_seconds = 86'400;
};

Outcome<TimeArgs> parse_time_args(const Options& o) {
    TimeArgs t;
    if (!o.from.empty()) {
        auto v = parse_report_time(o.from);
        if (!v) return usage_error("--from: " + v.error());
        t.from = *v;
    }
    if (!o.to.empty()) {
        auto v = parse_report_time(o.to);
        if (!v) return usage_error("--to: " + v.error());
        t.to = *v;
    }
    if (t.from && t.to && *t.from >= *t.to) {
        return usage_error(fmt::format("--from ({}) must be before --to ({})", o.from, o.to));
    }
    t.bucket_seconds = bucket_seconds_named(o.bucket).value_or(86'400);
    return t;
}

// Defaults: from the start of the bucket holding the first audit event, to now.
Outcome<ReportRange> resolve_range(const TimeArgs& t, const History& h, std::int64_t now) {
    ReportRange r;
    r.bucket_seconds = t.bucket_seconds;
    r.to = t.to.value_or(now);
    if (t.from) {
        r.from = *t.from;
    } else {
        const std::int64_t first = h.first_event_ms.value_or(h.head.ts_ms) / 1000;
        r.from = first - (first % r.bucket_seconds + r.bucket_seconds) % r.bucket_seconds;
    }
    if (r.from >= r.to) {
        return usage_error(fmt::format(
            "the report range is empty: from {} is not before to {}; give --from and --to", r.from,
            r.to));
    }
    return r;
}

// Writes the report to --out (atomically) or stdout.
Outcome<> emit(const Options& o, const std::string& text) {
    if (o.out.empty()) {
        std::cout << text;
        std::cout.flush();
        if (!std::cout) return failed("cannot write the report to standard output");
        return {};
    }
    auto file = tools::AtomicFile::prepare(o.out, 0644, tools::AtomicFile::Existing::replace);
    if (!file) return usage_error(file.error());
    if (auto done = file->commit(text); !done) return failed(done.error());
    return {};
}

Outcome<int> run_usage(Options& o) {
    auto times = parse_time_args(o);
    if (!times) return std::unexpected(times.error());
    auto source = open_source(o);
    if (!source) return std::unexpected(source.error());
    const std::int64_t now = now_seconds();
    auto history = (*source)->load_history({now, o.head}, {});
    if (!history) return std::unexpected(history.error());
    auto range = resolve_range(*times, *history, now);
    if (!range) return std::unexpected(range.error());
    auto usage = compute_usage(*history, *range);
    if (!usage) return usage_error(usage.error());
    const ReportMeta meta{(*source)->describe(), history->head, *range, o.bucket, now};
    std::ostringstream text;
    write_usage(text, *format_named(o.format), meta, *usage);
    if (auto done = emit(o, text.str()); !done) return std::unexpected(done.error());
    return kExitOk;
}

Outcome<int> run_compliance(Options& o) {
    auto times = parse_time_args(o);
    if (!times) return std::unexpected(times.error());
    auto source = open_source(o);
    if (!source) return std::unexpected(source.error());
    const std::int64_t now = now_seconds();
    ChainCheck chain;
    // Evidence outside --from/--to is not kept; a default bound is known only
    // once the history is, so the range is applied again below.
    EvidenceCollector collector(
        times->from.value_or(std::numeric_limits<std::int64_t>::min() / 1000),
        times->to.value_or(std::numeric_limits<std::int64_t>::max() / 1000));
    auto history = (*source)->load_history({now, o.head}, [&](const AuditEvent& e) {
        chain.feed(e);
        collector.feed(e);
        return true;
    });
    if (!history) return std::unexpected(history.error());
    auto range = resolve_range(*times, *history, now);
    if (!range) return std::unexpected(range.error());
    auto usage = compute_usage(*history, *range);
    if (!usage) return usage_error(usage.error());
    std::vector<Evidence> evidence;
    for (auto& ev : collector.take()) {
        if (ev.ts_ms >= range->from * 1000 && ev.ts_ms < range->to * 1000) {
            evidence.push_back(std::move(ev));
        }
    }
    const auto report = assess_compliance(*history, *usage, std::move(evidence), range->to);
    const auto result = chain.result();
    const ReportMeta meta{(*source)->describe(), history->head, *range, o.bucket, now};
    std::ostringstream text;
    write_compliance(text, *format_named(o.format), *csv_section_named(o.section),
                     {meta, result, report, *usage});
    if (auto done = emit(o, text.str()); !done) return std::unexpected(done.error());
    if (!result.intact) {
        std::cerr << fmt::format("entitle-report: the audit chain is broken at seq {} ({}): {}\n",
                                 result.broken_seq, result.how, result.message);
        return kExitChainBroken;
    }
    return kExitOk;
}

Outcome<int> run_verify(Options& o) {
    auto source = open_source(o);
    if (!source) return std::unexpected(source.error());
    ChainCheck chain;
    std::int64_t seen = 0;
    // Hashing is most of the work and each event's hash depends on that
    // event alone: a second thread hashes one batch while this one reads
    // the next; the chain itself is then checked in order here.
    // Two batches take turns and are refilled in place (`used` of their
    // events are current), so after the first two an event costs no
    // allocation for its copy and no batch is freed on the other thread.
    struct Batch {
        std::vector<AuditEvent> events;
        std::vector<std::optional<std::string>> hashes;
        std::size_t used = 0;
    };
    constexpr std::size_t kBatch = 4096;
    auto hash_all = [](std::unique_ptr<Batch> b) {
        b->hashes.resize(b->used);
        for (std::size_t i = 0; i < b->used; ++i) {
            try {
                b->hashes[i] = audit_event_hash(b->events[i]);
            } catch (const std::exception&) {
                b->hashes[i].reset();  // ChainCheck reports the event as it did unbatched
            }
        }
        return b;
    };
    std::future<std::unique_ptr<Batch>> hashing;
    std::unique_ptr<Batch> spare;
    bool wanted = true;  // false once the chain check has all it needs
    auto feed_batch = [&](const Batch& b) {
        for (std::size_t i = 0; i < b.used && wanted; ++i) wanted = chain.feed(b.events[i], b.hashes[i]);
    };
    auto check_hashed = [&] {
        if (!hashing.valid()) return;
        spare = hashing.get();
        feed_batch(*spare);
    };
    auto reading = std::make_unique<Batch>();
    auto streamed = (*source)->stream_audit([&](const AuditEvent& e) {
        ++seen;
        if (reading->used < reading->events.size()) {
            reading->events[reading->used] = e;  // reuses the strings' buffers
        } else {
            reading->events.push_back(e);
        }
        if (++reading->used < kBatch) return true;
        check_hashed();
        if (!wanted) return false;
        hashing = std::async(std::launch::async, hash_all, std::move(reading));
        reading = spare ? std::move(spare) : std::make_unique<Batch>();
        reading->used = 0;
        return true;
    });
    check_hashed();  // also when reading failed: the thread must be joined before returning
    if (!streamed) return std::unexpected(streamed.error());
    if (wanted) feed_batch(*hash_all(std::move(reading)));
    if (seen == 0) {
        return failed(
            fmt::format("{} holds no audit events: nothing to verify", (*source)->describe()));
    }
    const auto r = chain.result();
    if (r.intact) {
        std::cout << fmt::format("intact: {} events, head seq {} hash {}\n", r.events, r.head_seq,
                                 r.head_hash);
        return kExitOk;
    }
    std::cout << fmt::format("broken at seq {} ({}): {}\n", r.broken_seq, r.how, r.message);
    std::cout << fmt::format("{} events verified before it; the last intact is seq {} hash {}\n",
                             r.events, r.head_seq, r.head_hash);
    return kExitChainBroken;
}

void add_report_options(CLI::App* cmd, Options& o, bool compliance) {
    cmd->add_option("--format", o.format, "table, csv, json or html")
        ->capture_default_str()
        ->check(CLI::IsMember({"table", "csv", "json", "html"}));
    cmd->add_option("--from", o.from,
                    "start of the range: Unix seconds or ISO 8601 (2026-01-31, "
                    "2026-01-31T13:00:00Z); default: the first audit event's bucket");
    cmd->add_option("--to", o.to, "end of the range (exclusive), same forms; default: now");
    cmd->add_option("--bucket", o.bucket, "hour or day")
        ->capture_default_str()
        ->check(CLI::IsMember({"hour", "day"}));
    cmd->add_option("--head", o.head,
                    "report as of this audit seq (API only; to compare with a store copy)")
        ->check(CLI::Range(std::int64_t{1}, std::numeric_limits<std::int64_t>::max()));
    cmd->add_option("--out", o.out, "write the report to this file (atomically) instead of stdout");
    if (compliance) {
        cmd->add_option("--section", o.section,
                        "with --format csv: verdicts, evidence, expiring or hosts")
            ->capture_default_str()
            ->check(CLI::IsMember({"verdicts", "evidence", "expiring", "hosts"}));
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "entitle-report: usage, compliance and audit-chain reports from an Entitle server's API "
        "or a copy of its store"};
    app.set_version_flag("--version", "entitle-report " ENTITLE_VERSION);
    app.require_subcommand(1);
    app.fallthrough();

    Options o;
    app.add_option("--db", o.db,
                   "a copy of the store (entitlectl backup, or a stopped server's entitle.db); "
                   "opened read-only");
    app.add_option("--server", o.api.server, "server URL, https://HOST:PORT (env ENTITLE_SERVER)");
    app.add_option("--token-file", o.api.token_file,
                   "file holding an auditor (or admin) token (env ENTITLE_TOKEN_FILE)");
    app.add_option("--ca", o.api.ca_file,
                   "PEM file the server's certificate must chain to (env ENTITLE_CA)");
    app.add_option("--timeout-ms", o.api.timeout_ms, "deadline for each request")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));

    auto* usage = app.add_subcommand(
        "usage", "seats per entitlement and time bucket: licensed, peak, average, leases");
    add_report_options(usage, o, false);
    auto* compliance = app.add_subcommand(
        "compliance", "a verdict per entitlement with the evidence; verifies the audit chain");
    add_report_options(compliance, o, true);
    auto* verify = app.add_subcommand("verify", "check the whole audit hash chain");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? kExitOk : kExitUsage;
    }

    Outcome<int> done = kExitOk;
    if (usage->parsed()) {
        done = run_usage(o);
    } else if (compliance->parsed()) {
        done = run_compliance(o);
    } else if (verify->parsed()) {
        done = run_verify(o);
    }
    if (!done) {
        std::cerr << "entitle-report: " << done.error().message << '\n';
        return done.error().exit_code;
    }
    return *done;
}
