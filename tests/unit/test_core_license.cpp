#include "core/license.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace entitle;
using nlohmann::json;

namespace {

json good_claims() {
    return {{"jti", "L-1"},
            {"iss", "acme"},
            {"sub", "customer"},
            {"iat", 1'790'000'000},
            {"entitlements",
             json::array({{{"id", "e1"}, {"feature", "vWS"}, {"model", "concurrent"}, {"count", 10}},
                          {{"id", "e2"},
                           {"feature", "vPC"},
                           {"model", "per_device"},
                           {"count", 2},
                           {"devices", {"GPU-1"}},
                           {"regions", {"eu-*"}},
                           {"overage", {{"policy", "allow"}, {"limit_percent", 50}}},
                           {"max_lease_seconds", 600}},
                          {{"id", "e3"},
                           {"feature", "vCS"},
                           {"model", "subscription"},
                           {"not_before", 1'790'000'000},
                           {"not_after", 1'800'000'000}}})}};
}

}  // namespace

TEST_CASE("a well-formed license parses into its entitlements") {
    auto l = parse_license_claims(good_claims());
    REQUIRE(l);
    CHECK(l->jti == "L-1");
    REQUIRE(l->entitlements.size() == 3);
    CHECK(l->entitlements[1].devices == std::vector<std::string>{"GPU-1"});
    CHECK(l->entitlements[1].overage.allow);
    CHECK(l->entitlements[1].seat_limit() == 3);
    CHECK_FALSE(l->entitlements[2].count);
    CHECK(l->lapsed_at(1'800'000'000) == false);  // e1 and e2 have no end
}

TEST_CASE("a license is lapsed only when every entitlement has ended") {
    json c = good_claims();
    for (auto& e : c["entitlements"]) {
        e["not_before"] = 100;
        e["not_after"] = 200;
    }
    auto l = parse_license_claims(c);
    REQUIRE(l);
    CHECK_FALSE(l->lapsed_at(199));
    CHECK(l->lapsed_at(200));
}

TEST_CASE("malformed claims are refused as invalid_license naming the claim") {
    struct Case {
        const char* name;
        std::function<void(json&)> mutate;
        const char* fragment;
    };
    auto ent = [](json& c, int i) -> json& { return c["entitlements"][static_cast<std::size_t>(i)]; };
    const std::vector<Case> cases = {
        {"claims not an object", [](json& c) { c = json::array(); }, "object"},
        {"missing jti", [](json& c) { c.erase("jti"); }, "jti"},
        {"jti not a string", [](json& c) { c["jti"] = 5; }, "jti"},
        {"empty jti", [](json& c) { c["jti"] = ""; }, "jti"},
        {"jti with a slash", [](json& c) { c["jti"] = "a/b"; }, "jti"},
        {"missing iss", [](json& c) { c.erase("iss"); }, "iss"},
        {"missing sub", [](json& c) { c.erase("sub"); }, "sub"},
        {"iat as string", [](json& c) { c["iat"] = "1790000000"; }, "iat"},
        {"iat as float", [](json& c) { c["iat"] = 1.5; }, "iat"},
        {"supersedes itself", [](json& c) { c["supersedes"] = "L-1"; }, "supersedes"},
        {"entitlements missing", [](json& c) { c.erase("entitlements"); }, "entitlements"},
        {"entitlements empty", [](json& c) { c["entitlements"] = json::array(); }, "entitlements"},
        {"entitlements object", [](json& c) { c["entitlements"] = json::object(); }, "entitlements"},
        {"entitlement not an object", [](json& c) { c["entitlements"][0] = 1; }, "entitlements[0]"},
        {"duplicate ids", [&](json& c) { ent(c, 1)["id"] = "e1"; }, "entitlements[1].id"},
        {"unknown model", [&](json& c) { ent(c, 0)["model"] = "floating"; }, "model"},
        {"missing feature", [&](json& c) { ent(c, 0).erase("feature"); }, "feature"},
        {"count 0", [&](json& c) { ent(c, 0)["count"] = 0; }, "count"},
        {"count -1", [&](json& c) { ent(c, 0)["count"] = -1; }, "count"},
        {"count 2^63", [&](json& c) { ent(c, 0)["count"] = std::uint64_t{1} << 63; }, "count"},
        {"count string", [&](json& c) { ent(c, 0)["count"] = "3"; }, "count"},
        {"count float", [&](json& c) { ent(c, 0)["count"] = 1.5; }, "count"},
        {"count bool", [&](json& c) { ent(c, 0)["count"] = true; }, "count"},
        {"count 10^9+1", [&](json& c) { ent(c, 0)["count"] = 1'000'000'001; }, "count"},
        {"count missing on concurrent", [&](json& c) { ent(c, 0).erase("count"); }, "count"},
        {"inverted window", [&](json& c) { ent(c, 2)["not_before"] = 1'900'000'000; }, "not_before"},
        {"equal window", [&](json& c) { ent(c, 2)["not_before"] = 1'800'000'000; }, "not_before"},
        {"subscription without window", [&](json& c) { ent(c, 2).erase("not_after"); }, "subscription"},
        {"devices on concurrent", [&](json& c) { ent(c, 0)["devices"] = {"GPU-1"}; }, "devices"},
        {"devices empty", [&](json& c) { ent(c, 1)["devices"] = json::array(); }, "devices"},
        {"regions not an array", [&](json& c) { ent(c, 1)["regions"] = "eu-*"; }, "regions"},
        {"region star in the middle", [&](json& c) { ent(c, 1)["regions"] = {"e*u"}; }, "regions"},
        {"region with space", [&](json& c) { ent(c, 1)["regions"] = {"eu west"}; }, "regions"},
        {"overage not an object", [&](json& c) { ent(c, 1)["overage"] = "allow"; }, "overage"},
        {"overage policy maybe", [&](json& c) { ent(c, 1)["overage"]["policy"] = "maybe"; }, "overage.policy"},
        {"overage percent 1001", [&](json& c) { ent(c, 1)["overage"]["limit_percent"] = 1001; }, "limit_percent"},
        {"overage percent -1", [&](json& c) { ent(c, 1)["overage"]["limit_percent"] = -1; }, "limit_percent"},
        {"allow without percent", [&](json& c) { ent(c, 1)["overage"].erase("limit_percent"); }, "limit_percent"},
        {"max_lease_seconds 0", [&](json& c) { ent(c, 1)["max_lease_seconds"] = 0; }, "max_lease_seconds"},
        {"control character in feature", [&](json& c) { ent(c, 0)["feature"] = "v\x01WS"; }, "feature"},
        {"overlong id", [&](json& c) { ent(c, 0)["id"] = std::string(300, 'x'); }, "id"},
    };
    for (const auto& k : cases) {
        CAPTURE(k.name);
        json c = good_claims();
        k.mutate(c);
        auto r = parse_license_claims(c);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::invalid_license);
        CHECK_MESSAGE(r.error().message.find(k.fragment) != std::string::npos, r.error().message);
    }
}

TEST_CASE("license payload text: not JSON, invalid UTF-8 and deep nesting are refused") {
    CHECK_FALSE(parse_license_payload("{not json"));
    CHECK_FALSE(parse_license_payload("[1,2]"));
    auto utf8 = parse_license_payload("{\"jti\":\"\xff\xfe\"}");
    REQUIRE_FALSE(utf8);
    CHECK(utf8.error().code == ErrorCode::invalid_license);
    std::string deep(10'000, '[');
    deep += std::string(10'000, ']');
    auto d = parse_license_payload(deep);
    REQUIRE_FALSE(d);
    CHECK(d.error().message.find("nested") != std::string::npos);
    auto ok = parse_license_payload(good_claims().dump());
    CHECK(ok);
}

TEST_CASE("license payload text: a number too large for a double is refused, not thrown") {
    for (const char* text : {R"({"jti":"x","iat":176721e325})", R"({"entitlements":[{"count":1e400}]})",
                             "[-1e999]"}) {
        CAPTURE(text);
        auto r = parse_license_payload(text);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::invalid_license);
        CHECK(r.error().message.find("out of range") != std::string::npos);
    }
}

TEST_CASE("unknown claims are ignored for forward compatibility") {
    json c = good_claims();
    c["vendor_note"] = {{"anything", 1}};
    c["entitlements"][0]["future_field"] = "x";
    CHECK(parse_license_claims(c));
}
