// License files (contract section 1): the claims of a vendor-signed JWS,
// validated into value types. Pure: no I/O, time passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace entitle {

enum class SeatModel { per_device, concurrent, subscription };

[[nodiscard]] std::string_view seat_model_name(SeatModel m) noexcept;
[[nodiscard]] std::optional<SeatModel> parse_seat_model(std::string_view s) noexcept;

struct OveragePolicy {
    bool allow = false;            // {"policy":"deny"} (default) or "allow"
    std::int64_t limit_percent = 0;  // 0..1000, meaningful with allow

    friend bool operator==(const OveragePolicy&, const OveragePolicy&) = default;
};

inline constexpr std::int64_t kMaxSeatCount = 1'000'000'000;
inline constexpr std::int64_t kMaxOveragePercent = 1000;

struct Entitlement {
    std::string id;  // unique within the license
    std::string feature;
    SeatModel model = SeatModel::concurrent;
    std::optional<std::int64_t> count;  // absent only for subscription = unlimited
    std::optional<std::int64_t> not_before, not_after;  // epoch seconds
    std::vector<std::string> regions;  // empty = anywhere; trailing '*' = prefix
    std::vector<std::string> devices;  // GPU UUIDs (per_device only); empty = any
    OveragePolicy overage;
    std::optional<std::int64_t> max_lease_seconds;

    // Valid at `now_s`: inside [not_before, not_after). A lease never outlives not_after.
    [[nodiscard]] bool valid_at(std::int64_t now_s) const noexcept;
    // Seats that may be in use at once including the overage margin:
    // floor(count * (1 + limit_percent/100)); nullopt = unlimited.
    [[nodiscard]] std::optional<std::int64_t> seat_limit() const noexcept;

    friend bool operator==(const Entitlement&, const Entitlement&) = default;
};

struct License {
    std::string jti;
    std::string iss;
    std::string sub;
    std::int64_t iat = 0;
    std::optional<std::string> supersedes;
    std::vector<Entitlement> entitlements;

    // True when every entitlement has a not_after at or before `now_s`.
    [[nodiscard]] bool lapsed_at(std::int64_t now_s) const noexcept;

    friend bool operator==(const License&, const License&) = default;
};

// Validates the claims object of a license file. Errors are `invalid_license`
// with a message naming the claim (e.g. "entitlements[1].count: must be an
// integer from 1 to 1000000000, got \"3\""). Does not look at time: a lapsed
// license parses; the import decides (see License::lapsed_at).
[[nodiscard]] Result<License> parse_license_claims(const nlohmann::json& claims);

// Parses the claims from raw JSON text (the JWS payload): invalid_license for
// text that is not one JSON object, invalid UTF-8 or nesting deeper than 32.
[[nodiscard]] Result<License> parse_license_payload(std::string_view payload);

// The license as JSON (claims form), e.g. for API answers.
[[nodiscard]] nlohmann::json entitlement_to_json(const Entitlement& e);

// A region glob: exact match, or a trailing '*' matching any suffix ("eu-*").
[[nodiscard]] bool region_matches(std::string_view pattern, std::string_view region) noexcept;
// True when `regions` is empty (anywhere) or some pattern matches.
[[nodiscard]] bool regions_admit(const std::vector<std::string>& regions,
                                 std::string_view region) noexcept;

}  // namespace entitle
