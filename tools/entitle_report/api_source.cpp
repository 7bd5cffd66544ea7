// --server/--token-file/--ca: the history rebuilt from the audit log
// (GET /v1/audit, paged) with the licenses (GET /v1/licenses) and the current
// expiry of active leases (GET /v1/leases). Needs an auditor (or admin) token.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "common/json_fields.hpp"
#include "common/text_output.hpp"
#include "entitle_report/audit_replay.hpp"
#include "entitle_report/report_source.hpp"

namespace entitle::report {

namespace {

using nlohmann::json;
using tools::failed;

constexpr std::int64_t kPageSize = 10'000;      // the API's maximum
constexpr std::int64_t kMaxPages = 10'000'000;  // a guard against a log that never ends

std::optional<std::int64_t> opt_int(const json& obj, std::string_view key) {
    return tools::int_field(obj, key);
}

std::vector<std::string> string_list(const json& v) {
    std::vector<std::string> out;
    if (!v.is_array()) return out;
    for (const auto& s : v) {
        if (s.is_string()) out.push_back(s.get<std::string>());
    }
    return out;
}

// An event as GET /v1/audit answers it; nullopt when a field is missing or
// of the wrong type.
std::optional<AuditEvent> event_from_json(const json& j) {
    if (!j.is_object()) return std::nullopt;
    const auto seq = opt_int(j, "seq");
    const auto ts = opt_int(j, "ts");
    const auto& kind = tools::field(j, "kind");
    const auto& actor = tools::field(j, "actor");
    const auto& subject = tools::field(j, "subject");
    const auto& prev = tools::field(j, "prev_hash");
    const auto& hash = tools::field(j, "hash");
    if (!seq || !ts || !kind.is_string() || !actor.is_string() || !subject.is_string() ||
        !prev.is_string() || !hash.is_string() || !j.contains("detail")) {
        return std::nullopt;
    }
    return AuditEvent{*seq,
                      *ts,
                      kind.get<std::string>(),
                      actor.get<std::string>(),
                      subject.get<std::string>(),
                      j.at("detail"),
                      prev.get<std::string>(),
                      hash.get<std::string>(),
                      {}};  // no stored text: the hash canonicalises detail
}

class ApiSource final : public ReportSource {
  public:
    ApiSource(std::string server, tools::ApiSession session)
        : server_(std::move(server)), session_(std::move(session)) {}

    [[nodiscard]] std::string describe() const override { return "server " + server_; }

    Outcome<> stream_audit(const AuditVisitor& visit) override {
        return pages([&](const AuditEvent& e) { return visit(e); });
    }

    Outcome<History> load_history(const HistoryRequest& request,
                                  const AuditVisitor& observer) override {
        auto licenses = session_.get_all_pages("/v1/licenses", "licenses");
        if (!licenses) return std::unexpected(licenses.error());
        auto active = session_.get_all_pages("/v1/leases", "leases");
        if (!active) return std::unexpected(active.error());

        AuditReplay replay;
        for (const auto& l : (*active)["leases"]) {
            const auto exp = opt_int(l, "expires_at");
            if (exp && tools::field(l, "lease_id").is_string()) {
                replay.note_expiry(l["lease_id"].get<std::string>(), *exp);
            }
        }

        History h;
        bool head_reached = false;
        auto streamed = pages([&](const AuditEvent& e) {
            if (request.head_seq && e.seq > *request.head_seq) {
                head_reached = true;
                replay.feed_after_head(e);
                return true;
            }
            if (e.seq == 1) h.first_event_ms = e.ts;
            h.head = {e.seq, e.hash, e.ts};
            replay.feed(e);
            if (observer) observer(e);
            return true;
        });
        if (!streamed) return std::unexpected(streamed.error());
        if (h.head.seq == 0) {
            return failed(fmt::format(
                "the audit log of {} is empty: an empty store has nothing to report", server_));
        }
        if (request.head_seq && h.head.seq != *request.head_seq) {
            return failed(fmt::format("--head {} is not in the audit log of {} (it ends at seq {})",
                                      *request.head_seq, server_, h.head.seq));
        }
        (void)head_reached;

        for (const auto& l : (*licenses)["licenses"]) {
            const std::string jti = tools::text_field(l, "jti", "");
            // Licenses imported after the head are not part of this report.
            if (jti.empty() || !replay.imported().contains(jti)) continue;
            const auto ended = replay.ended().find(jti);
            for (const auto& ej : tools::field(l, "entitlements")) {
                EntitlementInfo e;
                e.license_jti = jti;
                e.id = tools::text_field(ej, "id", "");
                e.key = jti + "/" + e.id;
                e.feature = tools::text_field(ej, "feature", "");
                e.model = tools::text_field(ej, "model", "");
                e.customer = tools::text_field(l, "sub", "");
                e.issuer = tools::text_field(l, "iss", "");
                e.count = opt_int(ej, "count");
                e.not_before = opt_int(ej, "not_before");
                e.not_after = opt_int(ej, "not_after");
                e.regions = string_list(tools::field(ej, "regions"));
                const auto& overage = tools::field(ej, "overage");
                e.overage_allow = tools::text_field(overage, "policy", "deny") == "allow";
                e.overage_limit_percent = opt_int(overage, "limit_percent").value_or(0);
                e.license_imported_at = opt_int(l, "imported_at").value_or(0);
                if (ended != replay.ended().end()) {
                    e.license_ended_at = ended->second;
                    e.license_state = replay.end_state().at(jti);
                }
                h.entitlements.push_back(std::move(e));
            }
        }
        std::sort(h.entitlements.begin(), h.entitlements.end(),
                  [](const EntitlementInfo& a, const EntitlementInfo& b) { return a.key < b.key; });

        // The server never lets a lease outlive its entitlement's window.
        std::unordered_map<std::string, std::int64_t> not_after;
        for (const auto& e : h.entitlements) {
            if (e.not_after) not_after[e.key] = *e.not_after;
        }
        auto leases = replay.leases();
        for (auto& l : leases) {
            if (l.ended_at) continue;
            if (auto it = not_after.find(l.entitlement_key); it != not_after.end()) {
                l.expires_at = std::min(l.expires_at, it->second);
            }
        }
        h.spans = lease_spans(leases, replay.moves(), request.now);
        h.hosts = replay.hosts();
        return h;
    }

  private:
    template <class Visit>
    Outcome<> pages(Visit&& visit) {
        std::int64_t after = 0;
        for (std::int64_t page = 0; page < kMaxPages; ++page) {
            auto answer = session_.call_json(
                "GET", fmt::format("/v1/audit?after={}&limit={}", after, kPageSize));
            if (!answer) return std::unexpected(answer.error());
            const auto& events = tools::field(*answer, "events");
            if (!events.is_array()) {
                return failed("the server's answer to GET /v1/audit has no \"events\" list");
            }
            for (const auto& ej : events) {
                auto e = event_from_json(ej);
                if (!e) {
                    return failed(tools::terminal_safe(fmt::format(
                        "the server's answer to GET /v1/audit?after={} holds a malformed event: {}",
                        after, tools::compact_json(ej).substr(0, 200))));
                }
                if (!visit(*e)) return {};
            }
            const auto next = opt_int(*answer, "next");
            if (!next) return {};
            if (*next <= after) {
                return failed(
                    fmt::format("the server's audit paging does not advance (next {})", *next));
            }
            after = *next;
        }
        return failed(fmt::format("GET /v1/audit: more than {} pages", kMaxPages));
    }

    std::string server_;
    tools::ApiSession session_;
};

}  // namespace

Outcome<std::unique_ptr<ReportSource>> open_api_source(const tools::ApiOptions& options) {
    auto session = tools::ApiSession::open(options);
    if (!session) return std::unexpected(session.error());
    return std::make_unique<ApiSource>(options.server, std::move(*session));
}

}  // namespace entitle::report
