#include "entitle_report/compliance_model.hpp"

#include <algorithm>
#include <array>
#include <map>

namespace entitle::report {

std::string_view verdict_name(Verdict v) {
    switch (v) {
        case Verdict::within_license:
            return "within_license";
        case Verdict::within_overage:
            return "within_overage";
        case Verdict::over_limit:
            return "over_limit";
    }
    return "unknown";
}

std::string_view verdict_text(Verdict v) {
    switch (v) {
        case Verdict::within_license:
            return "within license";
        case Verdict::within_overage:
            return "within licensed overage";
        case Verdict::over_limit:
            return "over limit";
    }
    return "unknown";
}

bool is_evidence_kind(std::string_view kind) {
    static constexpr std::array<std::string_view, 5> kKinds = {"oversubscription_denied",
                                                               "overage_granted", "region_denied",
                                                               "clock_rollback", "auth_failed"};
    return std::find(kKinds.begin(), kKinds.end(), kind) != kKinds.end();
}

void EvidenceCollector::feed(const AuditEvent& e) {
    if (!is_evidence_kind(e.kind) || e.ts < from_ms_ || e.ts >= to_ms_) return;
    Evidence ev{e.seq, e.ts, e.kind, e.actor, e.subject, {}, e.detail};
    if (e.kind == "overage_granted") {
        if (auto it = e.detail.find("entitlement"); it != e.detail.end() && it->is_string()) {
            ev.entitlements.push_back(it->get<std::string>());
        }
    } else if (e.kind == "oversubscription_denied") {
        if (auto it = e.detail.find("entitlements"); it != e.detail.end() && it->is_array()) {
            for (const auto& considered : *it) {
                if (!considered.is_object()) continue;
                auto key = considered.find("entitlement");
                if (key != considered.end() && key->is_string()) {
                    ev.entitlements.push_back(key->get<std::string>());
                }
            }
        }
    }
    evidence_.push_back(std::move(ev));
}

ComplianceReport assess_compliance(const History& history,
                                   const std::vector<EntitlementUsage>& usage,
                                   std::vector<Evidence> evidence, std::int64_t as_of) {
    ComplianceReport report;
    std::map<std::string, std::int64_t> grants;
    std::map<std::string, std::int64_t> denials;
    for (const auto& ev : evidence) {
        for (const auto& key : ev.entitlements) {
            if (ev.kind == "overage_granted") ++grants[key];
            if (ev.kind == "oversubscription_denied") ++denials[key];
        }
    }

    for (const auto& u : usage) {
        EntitlementCompliance c;
        c.entitlement = u.entitlement;
        c.peak = u.peak;
        c.peak_at = u.peak_at;
        c.overage_grants = grants[u.entitlement.key];
        c.denials = denials[u.entitlement.key];
        const auto count = u.entitlement.count;
        const auto limit = u.entitlement.seat_limit();
        if (!count) {
            c.verdict = Verdict::within_license;
        } else if (limit && c.peak > *limit) {
            c.verdict = Verdict::over_limit;
        } else if (c.peak > *count || c.overage_grants > 0) {
            c.verdict = Verdict::within_overage;
        } else {
            c.verdict = Verdict::within_license;
        }
        report.entitlements.push_back(std::move(c));
    }
    report.evidence = std::move(evidence);

    for (const auto& ent : history.entitlements) {
        if (ent.license_state != "active" || !ent.not_after) continue;
        const std::int64_t left = *ent.not_after - as_of;
        if (left >= 0 && left < kExpiryWarningSeconds) {
            report.expiring.push_back({ent, *ent.not_after, left});
        }
    }
    std::stable_sort(report.expiring.begin(), report.expiring.end(),
                     [](const ExpiringEntitlement& a, const ExpiringEntitlement& b) {
                         return a.not_after < b.not_after;
                     });

    std::map<std::string, std::vector<HostInfo>> by_region;
    for (const auto& h : history.hosts) by_region[h.region].push_back(h);
    for (auto& [region, hosts] : by_region) {
        std::sort(hosts.begin(), hosts.end(), [](const HostInfo& a, const HostInfo& b) {
            return a.name != b.name ? a.name < b.name : a.id < b.id;
        });
        report.regions.push_back({region, std::move(hosts)});
    }
    return report;
}

}  // namespace entitle::report
