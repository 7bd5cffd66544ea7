#include "entitle_report/history.hpp"

#include <algorithm>
#include <unordered_map>

namespace entitle::report {

std::optional<std::int64_t> EntitlementInfo::seat_limit() const {
    if (!count) return std::nullopt;
    if (!overage_allow) return *count;
    // floor(count * (1 + p/100)) in integers: count <= 10^9 and p <= 1000,
    // so the product fits easily.
    return *count * (100 + overage_limit_percent) / 100;
}

std::int64_t EntitlementInfo::in_force_from() const {
    return std::max(license_imported_at, not_before.value_or(license_imported_at));
}

std::optional<std::int64_t> EntitlementInfo::in_force_until() const {
    if (license_ended_at && not_after) return std::min(*license_ended_at, *not_after);
    if (license_ended_at) return license_ended_at;
    return not_after;
}

std::vector<LeaseSpan> lease_spans(const std::vector<LeaseRecord>& leases,
                                   std::vector<LeaseMove> moves, std::int64_t now) {
    std::stable_sort(moves.begin(), moves.end(),
                     [](const LeaseMove& a, const LeaseMove& b) { return a.seq < b.seq; });
    std::unordered_map<std::string, std::vector<const LeaseMove*>> moves_of;
    for (const auto& m : moves) moves_of[m.lease_id].push_back(&m);

    std::vector<LeaseSpan> out;
    out.reserve(leases.size());
    for (const auto& l : leases) {
        std::int64_t end = l.ended_at ? *l.ended_at : std::min(l.expires_at, now);
        end = std::max(end, l.issued_at);
        std::int64_t start = l.issued_at;
        const auto it = moves_of.find(l.id);
        if (it != moves_of.end()) {
            for (const LeaseMove* m : it->second) {
                const std::int64_t at = std::clamp(m->at, start, end);
                out.push_back({l.id, m->from, l.gpu, start, at});
                start = at;
            }
        }
        out.push_back({l.id, l.entitlement_key, l.gpu, start, end});
    }
    return out;
}

}  // namespace entitle::report
