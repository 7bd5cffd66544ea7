// License claims validation over arbitrary payload text: whatever it
// accepts must be within the contract's ranges, and must come back equal
// when written out as JSON and validated again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/license.hpp"
#include "fuzz_support.hpp"

namespace {

// entitlement_to_json answers absent optional fields as null (the API
// shape); the claims form leaves them out.
nlohmann::json without_nulls(nlohmann::json j) {
    for (auto it = j.begin(); it != j.end();) {
        if (it->is_null()) it = j.erase(it);
        else ++it;
    }
    return j;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace entitle;
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    auto license = parse_license_payload(text);
    if (!license) {
        ENTITLE_FUZZ_CHECK(license.error().code == ErrorCode::invalid_license);
        ENTITLE_FUZZ_CHECK(!license.error().message.empty());
        return 0;
    }
    ENTITLE_FUZZ_CHECK(!license->entitlements.empty());

    nlohmann::json claims = {{"jti", license->jti}, {"iss", license->iss}, {"sub", license->sub},
                             {"iat", license->iat}, {"entitlements", nlohmann::json::array()}};
    if (license->supersedes) claims["supersedes"] = *license->supersedes;
    for (const auto& e : license->entitlements) {
        if (e.count) ENTITLE_FUZZ_CHECK(*e.count >= 1 && *e.count <= kMaxSeatCount);
        else ENTITLE_FUZZ_CHECK(e.model == SeatModel::subscription);
        ENTITLE_FUZZ_CHECK(e.overage.limit_percent >= 0 && e.overage.limit_percent <= kMaxOveragePercent);
        if (const auto limit = e.seat_limit()) ENTITLE_FUZZ_CHECK(*limit >= *e.count);
        if (!e.devices.empty()) ENTITLE_FUZZ_CHECK(e.model == SeatModel::per_device);
        if (e.model == SeatModel::subscription) ENTITLE_FUZZ_CHECK(e.not_before && e.not_after);
        for (const std::int64_t t : {INT64_MIN, std::int64_t{0}, license->iat, INT64_MAX}) {
            (void)e.valid_at(t);
            (void)license->lapsed_at(t);
        }
        for (const auto& r : e.regions) ENTITLE_FUZZ_CHECK(regions_admit(e.regions, r.ends_with('*') ? r.substr(0, r.size() - 1) : r));
        claims["entitlements"].push_back(without_nulls(entitlement_to_json(e)));
    }

    auto again = parse_license_claims(claims);
    if (!again) {
        std::fprintf(stderr, "re-validation failed: %s\n", again.error().message.c_str());
        entitle::fuzz::invariant_failed("a license written out does not validate again");
    }
    ENTITLE_FUZZ_CHECK(*again == *license);
    return 0;
}
