// Audit chain verification (core's AuditChainVerifier and entitle-report's
// diagnosis on top of it) over a JSON-lines stream of events as
// GET /v1/audit answers them. A first line "#rehash" makes the target give
// every event the hash and prev_hash of an intact chain first, so that the
// verifier's success path is explored too and must then report no break.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/audit_event.hpp"
#include "entitle_report/chain_check.hpp"
#include "fuzz_support.hpp"

namespace {

using nlohmann::json;

constexpr std::size_t kMaxEvents = 64;

std::optional<std::int64_t> int_member(const json& j, const char* name) {
    const auto it = j.find(name);
    if (it == j.end()) return std::nullopt;
    if (it->is_number_integer() && !it->is_number_unsigned()) return it->get<std::int64_t>();
    if (it->is_number_unsigned() &&
        it->get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return static_cast<std::int64_t>(it->get<std::uint64_t>());
    }
    return std::nullopt;
}

std::optional<std::string> string_member(const json& j, const char* name) {
    const auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

std::optional<entitle::AuditEvent> event_from_line(std::string_view line) {
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("detail")) return std::nullopt;
    const auto seq = int_member(j, "seq");
    const auto ts = int_member(j, "ts");
    auto kind = string_member(j, "kind");
    auto actor = string_member(j, "actor");
    auto subject = string_member(j, "subject");
    auto prev = string_member(j, "prev_hash");
    auto hash = string_member(j, "hash");
    if (!seq || !ts || !kind || !actor || !subject || !prev || !hash) return std::nullopt;
    return entitle::AuditEvent{*seq, *ts, std::move(*kind), std::move(*actor), std::move(*subject),
                               j.at("detail"), std::move(*prev), std::move(*hash), {}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace entitle;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    bool rehash = false;
    if (text.starts_with("#rehash\n")) {
        rehash = true;
        text.remove_prefix(8);
    }

    std::vector<AuditEvent> events;
    while (!text.empty() && events.size() < kMaxEvents) {
        const auto nl = text.find('\n');
        const auto line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (auto e = event_from_line(line)) events.push_back(std::move(*e));
    }

    bool hashable = true;
    if (rehash) {
        std::string prev = kGenesisHash;
        std::int64_t seq = 0;
        for (auto& e : events) {
            e.seq = ++seq;
            e.prev_hash = prev;
            try {
                e.hash = audit_event_hash(e);
            } catch (const std::invalid_argument&) {
                hashable = false;  // a float in the detail: no server writes one
                break;
            }
            prev = e.hash;
        }
    }

    AuditChainVerifier verifier;
    report::ChainCheck check;
    bool verifier_done = false;
    for (const auto& e : events) {
        if (!verifier_done) {
            try {
                if (!verifier.feed(e)) verifier_done = true;  // stop feeding after a break
            } catch (const std::invalid_argument&) {
                verifier_done = true;
            }
        }
        if (!check.feed(e)) break;
    }
    const auto result = check.result();
    (void)verifier.description();
    ENTITLE_FUZZ_CHECK(!result.intact || verifier.intact());
    if (result.intact) {
        ENTITLE_FUZZ_CHECK(result.events == static_cast<std::int64_t>(events.size()));
        ENTITLE_FUZZ_CHECK(result.how.empty() && result.message.empty());
    } else {
        ENTITLE_FUZZ_CHECK(!result.how.empty() && !result.message.empty());
    }
    // The stored-text shortcut never changes a hash: with detail_text set
    // to any serialisation of detail (compact dump, or the canonical form,
    // or the detail as a bare string), the hash is the one of detail.
    for (const auto& e : events) {
        std::string plain;
        try {
            plain = audit_event_hash(e);
        } catch (const std::invalid_argument&) {
            continue;  // a float: not hashable either way
        }
        AuditEvent stored = e;
        stored.detail_text = e.detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        ENTITLE_FUZZ_CHECK(audit_event_hash(stored) == plain);
        stored.detail_text = canonical_json(e.detail);
        ENTITLE_FUZZ_CHECK(audit_event_hash(stored) == plain);
    }
    if (rehash && hashable) {
        ENTITLE_FUZZ_CHECK(result.intact);
        ENTITLE_FUZZ_CHECK(verifier.intact() && verifier.count() == static_cast<std::int64_t>(events.size()));
    }
    return 0;
}
