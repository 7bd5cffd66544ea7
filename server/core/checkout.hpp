// The checkout decision (contract section 1, "A checkout is decided in this
// order"): which entitlement, if any, grants a lease for a GPU on a host.
// Pure: the store gathers the candidates and their seat counts inside the
// write transaction, this decides, the store applies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/license.hpp"

namespace entitle {

inline constexpr std::size_t kMaxIdLength = 256;

struct CheckoutRequest {
    std::string request_id;
    std::string feature;
    std::string gpu_uuid;
    std::optional<std::string> gpu_model;
    std::string vgpu_id;
    std::optional<std::string> vgpu_profile;
};

// {"request_id","feature","gpu":{"uuid","model"?},"vgpu":{"id","profile"?}}.
// Errors are `invalid_request` naming the field.
[[nodiscard]] Result<CheckoutRequest> parse_checkout_request(const nlohmann::json& body);

// SHA-256 (hex) of the request's canonical form: a retry with the same
// request_id must carry the same fingerprint.
[[nodiscard]] std::string checkout_fingerprint(const CheckoutRequest& r);

// One entitlement for the requested feature, with its live seat count.
struct Candidate {
    std::string license_jti;
    Entitlement entitlement;
    std::int64_t in_use = 0;        // seats held now (GPUs for per_device, leases otherwise)
    bool gpu_holds_seat = false;    // per_device: this GPU already has a seat here
};

struct Grant {
    std::size_t index = 0;   // into the candidates
    bool new_seat = true;    // false: per_device GPU already seated
    bool overage = false;    // granted past `count` within the overage margin
};

struct Refusal {
    Error error;              // no_entitlement, region_denied or oversubscribed
    std::vector<std::size_t> considered;  // candidates that were full (for oversubscribed)
};

// Decides in the contract's order:
//  1. no_entitlement: no candidate valid at `now_s` whose device lock admits the GPU;
//  2. region_denied: some are, none admits `host_region`;
//  3. a grant, preferring (a) a per_device entitlement this GPU already holds a
//     seat in (no new seat), then (b) subscriptions ending soonest, then (c)
//     concurrent, then (d) per_device, ties by license jti and entitlement id;
//     a grant within `count` anywhere beats an overage grant;
//  4. oversubscribed: every admissible one is full, overage included.
[[nodiscard]] std::expected<Grant, Refusal> decide_checkout(const std::vector<Candidate>& candidates,
                                                            const std::string& host_region,
                                                            const std::string& gpu_uuid,
                                                            std::int64_t now_s);

// Lease lifetime: `default_seconds` capped by max_lease_seconds and never past
// not_after. Returns the expiry (epoch seconds).
[[nodiscard]] std::int64_t lease_expiry(const Entitlement& e, std::int64_t now_s,
                                        std::int64_t default_seconds);

// When a host should renew: halfway through the lease.
[[nodiscard]] inline std::int64_t renew_after(std::int64_t issued_s, std::int64_t expires_s) {
    return issued_s + (expires_s - issued_s) / 2;
}

}  // namespace entitle
