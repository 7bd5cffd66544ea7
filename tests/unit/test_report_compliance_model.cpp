#include "entitle_report/compliance_model.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

using namespace entitle;
using namespace entitle::report;

namespace {

EntitlementUsage usage(const std::string& key, std::optional<std::int64_t> count, bool allow,
                       std::int64_t percent, std::int64_t peak) {
    EntitlementUsage u;
    u.entitlement.key = key;
    u.entitlement.count = count;
    u.entitlement.overage_allow = allow;
    u.entitlement.overage_limit_percent = percent;
    u.peak = peak;
    return u;
}

AuditEvent event(std::int64_t seq, std::string kind, nlohmann::json detail,
                 std::int64_t ts_ms = 5'000) {
    AuditEvent e;
    e.seq = seq;
    e.ts = ts_ms;
    e.kind = std::move(kind);
    e.detail = std::move(detail);
    return e;
}

}  // namespace

TEST_CASE("verdicts follow the peak against the count and the overage limit") {
    const std::vector<EntitlementUsage> u = {
        usage("A", 10, false, 0, 10), usage("B", 10, true, 20, 11), usage("C", 10, true, 20, 13),
        usage("D", 10, false, 0, 11), usage("E", std::nullopt, false, 0, 500)};
    const auto r = assess_compliance({}, u, {}, 0);
    REQUIRE(r.entitlements.size() == 5);
    CHECK(r.entitlements[0].verdict == Verdict::within_license);
    CHECK(r.entitlements[1].verdict == Verdict::within_overage);
    CHECK(r.entitlements[2].verdict == Verdict::over_limit);
    CHECK(r.entitlements[3].verdict == Verdict::over_limit);
    CHECK(r.entitlements[4].verdict == Verdict::within_license);
    CHECK(verdict_text(Verdict::within_overage) == "within licensed overage");
}

TEST_CASE("an overage grant makes the verdict at least within licensed overage") {
    EvidenceCollector c(0, 10);
    c.feed(event(3, "overage_granted", {{"entitlement", "A"}}));
    c.feed(event(4, "oversubscription_denied",
                 {{"entitlements", {{{"entitlement", "A"}}, {{"entitlement", "B"}}}}}));
    const auto r = assess_compliance({}, {usage("A", 10, true, 20, 10)}, c.take(), 0);
    CHECK(r.entitlements[0].verdict == Verdict::within_overage);
    CHECK(r.entitlements[0].overage_grants == 1);
    CHECK(r.entitlements[0].denials == 1);
    REQUIRE(r.evidence.size() == 2);
    CHECK(r.evidence[1].entitlements == std::vector<std::string>{"A", "B"});
}

TEST_CASE("evidence keeps the five kinds inside the range only") {
    EvidenceCollector c(5, 10);
    c.feed(event(1, "auth_failed", {}, 4'999));
    c.feed(event(2, "auth_failed", {}, 5'000));
    c.feed(event(3, "lease_granted", {}, 6'000));
    c.feed(event(4, "clock_rollback", {}, 9'999));
    c.feed(event(5, "region_denied", {}, 10'000));
    const auto ev = c.take();
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].seq == 2);
    CHECK(ev[1].seq == 4);
    CHECK(is_evidence_kind("oversubscription_denied"));
    CHECK_FALSE(is_evidence_kind("lease_released"));
}

TEST_CASE("licenses expiring within 30 days of the range's end are listed, soonest first") {
    History h;
    auto add = [&](const std::string& key, std::optional<std::int64_t> not_after,
                   std::string state) {
        EntitlementInfo e;
        e.key = key;
        e.not_after = not_after;
        e.license_state = std::move(state);
        h.entitlements.push_back(e);
    };
    const std::int64_t as_of = 1'000'000;
    add("late", as_of + 29 * 86'400, "active");
    add("soon", as_of + 86'400, "active");
    add("far", as_of + 31 * 86'400, "active");
    add("past", as_of - 1, "active");
    add("never", std::nullopt, "active");
    add("withdrawn", as_of + 86'400, "withdrawn");
    const auto r = assess_compliance(h, {}, {}, as_of);
    REQUIRE(r.expiring.size() == 2);
    CHECK(r.expiring[0].entitlement.key == "soon");
    CHECK(r.expiring[1].entitlement.key == "late");
    CHECK(r.expiring[1].seconds_left == 29 * 86'400);
}

TEST_CASE("hosts are grouped by region, named in order") {
    History h;
    h.hosts = {{"h3", "zeta", "eu"}, {"h1", "alpha", "us"}, {"h2", "beta", "eu"}};
    const auto r = assess_compliance(h, {}, {}, 0);
    REQUIRE(r.regions.size() == 2);
    CHECK(r.regions[0].region == "eu");
    CHECK(r.regions[0].hosts[0].name == "beta");
    CHECK(r.regions[0].hosts[1].name == "zeta");
    CHECK(r.regions[1].hosts.size() == 1);
}
