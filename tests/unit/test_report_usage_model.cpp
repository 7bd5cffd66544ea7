#include "entitle_report/usage_model.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace entitle::report;

namespace {

constexpr std::int64_t kT0 = 1'767'225'600;  // 2026-01-01T00:00:00Z

EntitlementInfo ent(const std::string& key, const std::string& model,
                    std::optional<std::int64_t> count) {
    EntitlementInfo e;
    e.key = key;
    e.license_jti = key.substr(0, key.find('/'));
    e.id = key.substr(key.find('/') + 1);
    e.feature = "vWS";
    e.model = model;
    e.count = count;
    e.license_imported_at = kT0 - 86'400;
    return e;
}

LeaseSpan span(const std::string& id, const std::string& key, const std::string& gpu,
               std::int64_t start, std::int64_t end) {
    return {id, key, gpu, kT0 + start, kT0 + end};
}

std::vector<EntitlementUsage> usage_of(const History& h, std::int64_t from, std::int64_t to,
                                       std::int64_t bucket = 3'600) {
    auto u = compute_usage(h, {kT0 + from, kT0 + to, bucket});
    REQUIRE(u.has_value());
    return *u;
}

}  // namespace

TEST_CASE("concurrent seats are exact: a three-second overlap shows in the peak") {
    History h;
    h.entitlements = {ent("L/c", "concurrent", 2)};
    h.spans = {span("a", "L/c", "G1", 0, 3'600), span("b", "L/c", "G2", 100, 103),
               span("c", "L/c", "G3", 101, 102)};
    const auto u = usage_of(h, 0, 3'600);
    REQUIRE(u.size() == 1);
    CHECK(u[0].peak == 3);
    CHECK(u[0].peak_at == kT0 + 101);
    CHECK(u[0].seat_seconds == 3'600 + 3 + 1);
    CHECK(u[0].leases == 3);
    REQUIRE(u[0].buckets.size() == 1);
    CHECK(u[0].buckets[0].peak == 3);
    CHECK(u[0].buckets[0].average() == doctest::Approx(3'604.0 / 3'600.0));
}

TEST_CASE("a seat that ends as another begins in the same second is not counted twice") {
    History h;
    h.entitlements = {ent("L/c", "concurrent", 1)};
    h.spans = {span("a", "L/c", "G1", 0, 100), span("b", "L/c", "G1", 100, 200)};
    const auto u = usage_of(h, 0, 3'600);
    CHECK(u[0].peak == 1);
    CHECK(u[0].seat_seconds == 200);
    CHECK(u[0].steps.size() == 2);  // 1 from the start, 0 from 200: no blip at 100
}

TEST_CASE("per_device counts GPUs: two leases on one GPU take one seat, touching spans merge") {
    History h;
    h.entitlements = {ent("L/p", "per_device", 1)};
    h.spans = {span("a", "L/p", "G1", 0, 1'000), span("b", "L/p", "G1", 500, 700),
               span("c", "L/p", "G1", 1'000, 1'500), span("d", "L/p", "G2", 1'200, 1'300)};
    const auto u = usage_of(h, 0, 3'600);
    CHECK(u[0].peak == 2);
    CHECK(u[0].peak_at == kT0 + 1'200);
    CHECK(u[0].seat_seconds == 1'500 + 100);
    CHECK(u[0].lease_seconds == 1'000 + 200 + 500 + 100);
    CHECK(u[0].leases == 4);
}

TEST_CASE("a zero-length lease counts as a lease in its bucket but holds no seat time") {
    History h;
    h.entitlements = {ent("L/s", "subscription", std::nullopt)};
    h.spans = {span("a", "L/s", "G1", 3'700, 3'700)};
    const auto u = usage_of(h, 0, 7'200);
    REQUIRE(u[0].buckets.size() == 2);
    CHECK(u[0].buckets[0].leases == 0);
    CHECK(u[0].buckets[1].leases == 1);
    CHECK(u[0].buckets[1].seat_seconds == 0);
    CHECK(u[0].peak == 0);
    CHECK_FALSE(u[0].peak_at.has_value());
    CHECK_FALSE(u[0].buckets[1].licensed.has_value());  // unlimited
}

TEST_CASE("a lease spanning buckets is split between them and clipped to the range") {
    History h;
    h.entitlements = {ent("L/c", "concurrent", 5)};
    h.spans = {span("a", "L/c", "G1", -500, 4'000)};
    const auto u = usage_of(h, 0, 5'400);
    REQUIRE(u[0].buckets.size() == 2);
    CHECK(u[0].buckets[0].lease_seconds == 3'600);
    CHECK(u[0].buckets[1].lease_seconds == 400);
    CHECK(u[0].buckets[1].start == kT0 + 3'600);
    CHECK(u[0].buckets[1].end == kT0 + 5'400);  // the last bucket ends with the range
    CHECK(u[0].buckets[1].average() == doctest::Approx(400.0 / 1'800.0));
    CHECK(u[0].leases == 1);
    CHECK(u[0].peak_at == kT0);  // already in use when the range begins
}

TEST_CASE("buckets align to UTC hours and days even when the range does not") {
    History h;
    h.entitlements = {ent("L/c", "concurrent", 1)};
    const auto u = usage_of(h, 1'800, 86'400 + 1'800, 86'400);
    REQUIRE(u[0].buckets.size() == 2);
    CHECK(u[0].buckets[0].start == kT0 + 1'800);
    CHECK(u[0].buckets[0].end == kT0 + 86'400);
    CHECK(u[0].buckets[1].start == kT0 + 86'400);
}

TEST_CASE("the licensed count applies only while the entitlement is in force") {
    History h;
    auto e = ent("L/c", "concurrent", 4);
    e.license_imported_at = kT0 + 3'600;
    e.license_ended_at = kT0 + 7'200;
    e.overage_allow = true;
    e.overage_limit_percent = 50;
    h.entitlements = {e};
    const auto u = usage_of(h, 0, 3 * 3'600);
    REQUIRE(u[0].buckets.size() == 1);  // neither in force nor used in the first and last hour
    CHECK(u[0].buckets[0].start == kT0 + 3'600);
    CHECK(u[0].buckets[0].licensed == 4);
    CHECK(u[0].buckets[0].limit == 6);
}

TEST_CASE("an entitlement neither in force nor used in the range is left out") {
    History h;
    auto e = ent("L/old", "concurrent", 1);
    e.license_ended_at = kT0 - 10;
    h.entitlements = {e};
    CHECK(usage_of(h, 0, 3'600).empty());
}

TEST_CASE("the overage limit rounds down") {
    auto e = ent("L/c", "concurrent", 3);
    CHECK(e.seat_limit() == 3);
    e.overage_allow = true;
    e.overage_limit_percent = 34;
    CHECK(e.seat_limit() == 4);  // floor(3 * 1.34)
    e.count = 1;
    e.overage_limit_percent = 50;
    CHECK(e.seat_limit() == 1);
    e.count.reset();
    CHECK_FALSE(e.seat_limit().has_value());
}

TEST_CASE("too many buckets are refused with a message naming the way out") {
    History h;
    h.entitlements = {ent("L/c", "concurrent", 1)};
    auto u = compute_usage(h, {kT0, kT0 + (kMaxBuckets + 1) * 3'600, 3'600});
    REQUIRE_FALSE(u.has_value());
    CHECK(u.error().find("--bucket") != std::string::npos);
    CHECK_FALSE(compute_usage(h, {kT0, kT0, 3'600}).has_value());
}

TEST_CASE("lease_spans cuts moved leases at each move and ends active ones at expiry or now") {
    std::vector<LeaseRecord> leases = {
        {"a", "NEW/c", "G1", kT0, kT0 + 3'600, kT0 + 500},
        {"b", "L/c", "G2", kT0, kT0 + 3'600, std::nullopt},
        {"c", "L/c", "G3", kT0, kT0 + 100, std::nullopt},
    };
    std::vector<LeaseMove> moves = {{"a", 9, kT0 + 300, "MID/c", "NEW/c"},
                                    {"a", 7, kT0 + 200, "OLD/c", "MID/c"}};
    const auto spans = lease_spans(leases, moves, kT0 + 1'000);
    REQUIRE(spans.size() == 5);
    CHECK(spans[0].entitlement_key == "OLD/c");
    CHECK((spans[0].start == kT0 && spans[0].end == kT0 + 200));
    CHECK(spans[1].entitlement_key == "MID/c");
    CHECK((spans[1].start == kT0 + 200 && spans[1].end == kT0 + 300));
    CHECK(spans[2].entitlement_key == "NEW/c");
    CHECK((spans[2].start == kT0 + 300 && spans[2].end == kT0 + 500));
    CHECK(spans[3].end == kT0 + 1'000);  // active, not yet expired: until now
    CHECK(spans[4].end == kT0 + 100);    // lapsed but not swept: until its expires_at
}
