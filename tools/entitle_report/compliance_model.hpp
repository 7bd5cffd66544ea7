// The compliance verdict per entitlement and the evidence behind it. Pure:
// the caller feeds audit events (in seq order) and the usage it computed.
//
// Verdicts, from the peak of seats in use over the range:
//   within_license   peak <= count and no overage grant (always, when unlimited)
//   within_overage   count < peak <= the overage limit, or an overage grant
//   over_limit       peak > the limit (count, when overage is denied)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/audit_event.hpp"
#include "entitle_report/history.hpp"
#include "entitle_report/usage_model.hpp"

namespace entitle::report {

inline constexpr std::int64_t kExpiryWarningSeconds = 30 * 86'400;

enum class Verdict { within_license, within_overage, over_limit };
[[nodiscard]] std::string_view verdict_name(Verdict v);  // within_license, ...
[[nodiscard]] std::string_view verdict_text(Verdict v);  // "within license", ...

// Audit events that are evidence: oversubscription_denied, overage_granted,
// region_denied, clock_rollback, auth_failed.
[[nodiscard]] bool is_evidence_kind(std::string_view kind);

struct Evidence {
    std::int64_t seq = 0;
    std::int64_t ts_ms = 0;
    std::string kind;
    std::string actor;
    std::string subject;
    std::vector<std::string> entitlements;  // the entitlements it concerns, if any
    nlohmann::json detail;
};

struct EntitlementCompliance {
    EntitlementInfo entitlement;
    std::int64_t peak = 0;
    std::optional<std::int64_t> peak_at;
    std::int64_t overage_grants = 0;  // overage_granted events in the range
    std::int64_t denials = 0;         // oversubscription_denied events naming it
    Verdict verdict = Verdict::within_license;
};

struct ExpiringEntitlement {
    EntitlementInfo entitlement;
    std::int64_t not_after = 0;
    std::int64_t seconds_left = 0;  // from the end of the range
};

struct RegionHosts {
    std::string region;
    std::vector<HostInfo> hosts;  // ordered by name, then id
};

struct ComplianceReport {
    std::vector<EntitlementCompliance> entitlements;
    std::vector<Evidence> evidence;  // in seq order
    std::vector<ExpiringEntitlement> expiring;
    std::vector<RegionHosts> regions;  // ordered by region
};

// Collects evidence events whose ts falls inside [from, to) (seconds).
class EvidenceCollector {
  public:
    EvidenceCollector(std::int64_t from, std::int64_t to)
        : from_ms_(from * 1000), to_ms_(to * 1000) {}
    void feed(const AuditEvent& e);
    [[nodiscard]] std::vector<Evidence> take() { return std::move(evidence_); }

  private:
    std::int64_t from_ms_;
    std::int64_t to_ms_;
    std::vector<Evidence> evidence_;
};

// `usage` comes from compute_usage over the same range; `as_of` is the end of
// the range, from which licenses expiring within 30 days are counted.
[[nodiscard]] ComplianceReport assess_compliance(const History& history,
                                                 const std::vector<EntitlementUsage>& usage,
                                                 std::vector<Evidence> evidence,
                                                 std::int64_t as_of);

}  // namespace entitle::report
