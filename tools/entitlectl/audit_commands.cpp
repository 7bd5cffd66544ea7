// entitlectl audit tail (contract sections 4 and 5: GET /v1/audit).
#include <fmt/format.h>

#include <iostream>
#include <limits>
#include <memory>
#include <optional>

#include "common/json_fields.hpp"
#include "common/text_output.hpp"
#include "entitlectl/commands.hpp"

namespace entitle::ctl {

namespace {

using nlohmann::json;
using tools::text_field;

struct TailOptions {
    std::optional<std::int64_t> after;
    std::optional<std::int64_t> limit;
};

// seq, time, kind, actor, subject, detail: one line per event.
std::string event_line(const json& e) {
    const auto ts = tools::int_field(e, "ts");
    const std::string when = ts ? tools::format_utc_millis(*ts) : text_field(e, "ts");
    const auto& detail = tools::field(e, "detail");
    std::string subject = text_field(e, "subject");
    if (subject.empty()) subject = "-";
    return tools::terminal_safe(fmt::format("{} {} {} {} {} {}", text_field(e, "seq"), when,
                                            text_field(e, "kind"), text_field(e, "actor"), subject,
                                            detail.is_null() ? "{}" : tools::compact_json(detail)));
}

Outcome<> tail(ApiSession& session, const TailOptions& options) {
    std::string target = "/v1/audit";
    char sep = '?';
    if (options.after) {
        target += fmt::format("{}after={}", sep, *options.after);
        sep = '&';
    }
    if (options.limit) target += fmt::format("{}limit={}", sep, *options.limit);
    auto answer = session.call_json("GET", target);
    if (!answer) return std::unexpected(answer.error());
    if (session.json_output()) {
        print_json(*answer);
        return {};
    }
    const auto& events = tools::field(*answer, "events");
    if (!events.is_array())
        return failed("the server's answer to GET /v1/audit has no \"events\" list");
    for (const auto& e : events) std::cout << event_line(e) << '\n';
    if (const auto& next = tools::field(*answer, "next"); !next.is_null()) {
        std::cerr << fmt::format("entitlectl: more events follow: audit tail --after {}\n",
                                 tools::terminal_safe(tools::text_field(*answer, "next")));
    }
    return {};
}

}  // namespace

void add_audit_commands(CLI::App& app, CommandSet& commands) {
    auto* group = app.add_subcommand("audit", "read the audit log");
    group->require_subcommand(1);

    auto options = std::make_shared<TailOptions>();
    auto* cmd = group->add_subcommand("tail", "print audit events in order, one per line");
    cmd->add_option("--after", options->after, "print events after this seq (exclusive)")
        ->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
    cmd->add_option("--limit", options->limit, "at most this many events (server default 1000)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{10'000}));
    commands.add(cmd, [options](ApiSession& s) { return tail(s, *options); });
}

}  // namespace entitle::ctl
