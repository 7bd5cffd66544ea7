// Leases and the lease use cases, each run inside one write unit so the
// lease, the seat counts and the audit events commit together:
// checkout, renew, release, expiry sweep, and ending or moving the leases of
// a withdrawn or superseded license or a removed host.
//
// Seat counts live in entitlements.in_use (and device_seats for per_device)
// and change only here, on the store's writer thread. A lease whose
// expires_at has passed holds no seat: checkout reclaims such leases of the
// entitlements it considers before counting, and the sweeper ends the rest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/checkout.hpp"
#include "core/error.hpp"
#include "crypto/ed25519.hpp"
#include "store/host_table.hpp"
#include "store/sqlite.hpp"

namespace entitle::store {

struct LeaseRecord {
    std::string id;
    std::string host_id;
    std::string request_id;
    std::string request_hash;
    std::string license_jti;
    std::string entitlement_id;
    std::string feature;
    std::string gpu_uuid;
    std::optional<std::string> gpu_model;
    std::string vgpu_id;
    std::optional<std::string> vgpu_profile;
    bool overage = false;
    std::int64_t issued_at = 0;   // seconds
    std::int64_t expires_at = 0;  // seconds
    std::optional<std::int64_t> renewed_at;
    std::optional<std::int64_t> ended_at;
    std::optional<std::string> end_reason;
    std::string kid;
    // The seed of the nonce that signs the tokens of this state of the lease
    // (schema/0007); none: RFC 8032's deterministic nonce. Written anew with
    // every change of what the token says.
    std::optional<crypto::NonceSeed> token_nonce;

    [[nodiscard]] std::string entitlement_key() const { return license_jti + "/" + entitlement_id; }
};

[[nodiscard]] std::optional<LeaseRecord> find_lease(Connection& c, const std::string& id);

struct LeaseFilter {
    std::optional<std::string> host_id;
    std::optional<std::string> feature;
    std::string after_id;  // exclusive
    std::int64_t limit = 1000;
    std::int64_t now_s = 0;  // leases past expires_at are not listed as active
};
[[nodiscard]] std::vector<LeaseRecord> list_active_leases(Connection& c, const LeaseFilter& f);

struct CheckoutInput {
    const HostRecord& host;
    const CheckoutRequest& request;
    std::string fingerprint;
    std::string actor;  // the host's token id
    std::int64_t now_ms = 0;
    std::int64_t default_lease_seconds = 3600;
    std::string kid;    // key that will sign the token
    // The id a granted lease gets (new_lease_id(now_ms)); empty: made here.
    // Callers on an I/O thread make it there, keeping the random draw off
    // the writer.
    std::string lease_id = {};
    // The seed of the new lease's token nonce (crypto::NoncePool::take on the
    // I/O thread); none: RFC 8032's nonce.
    std::optional<crypto::NonceSeed> token_nonce = {};
};

// "l_", the issue time in milliseconds in 8 characters that sort like the
// time, then 72 random bits (base64url): unique, opaque, in issue order.
[[nodiscard]] std::string new_lease_id(std::int64_t now_ms);

struct CheckoutOutcome {
    enum class Kind { granted, replayed, conflict, refused } kind = Kind::refused;
    LeaseRecord lease;            // granted / replayed
    std::optional<Error> error;   // conflict / refused
};

// Grants a lease or refuses it (refusals are audited here, so the unit
// commits either way).
[[nodiscard]] CheckoutOutcome checkout_lease(Connection& c, const CheckoutInput& in);

struct RenewOutcome {
    std::optional<LeaseRecord> lease;  // renewed
    std::optional<Error> error;        // not_found, forbidden, expired
};
// `kid`: the key that signs the renewed token (recorded on the lease).
// `token_nonce`: the seed of the renewed token's nonce, new for this renewal.
[[nodiscard]] RenewOutcome renew_lease(Connection& c, const std::string& lease_id, const std::string& host_id,
                                       std::int64_t now_ms, std::int64_t default_lease_seconds,
                                       const std::string& kid,
                                       const std::optional<crypto::NonceSeed>& token_nonce = std::nullopt);

// Key ids that signed the tokens of leases not yet ended. A lease past its
// expiry that the sweeper has not ended yet still counts: its key stays
// published a few moments longer, which costs nothing (its tokens have
// expired), and the answer needs one index seek per distinct key.
[[nodiscard]] std::vector<std::string> active_lease_kids(Connection& c);

// Ends a lease at the owner's or an admin's request. not_found for an unknown
// lease or one of another host; an ended lease is fine (idempotent).
[[nodiscard]] std::optional<Error> release_lease(Connection& c, const std::string& lease_id,
                                                 const std::optional<std::string>& owner_host_id,
                                                 const std::string& actor, std::int64_t now_ms);

// Ends up to `limit` leases whose expires_at <= now; returns how many.
std::int64_t sweep_expired_leases(Connection& c, std::int64_t now_ms, std::int64_t limit);

// Ends every active lease of a license (withdraw) or of a host (removal).
std::int64_t end_leases_of_license(Connection& c, const std::string& jti, const std::string& reason,
                                   const std::string& actor, std::int64_t now_ms);
std::int64_t end_leases_of_host(Connection& c, const std::string& host_id, const std::string& reason,
                                const std::string& actor, std::int64_t now_ms);

// Supersede: moves each active lease of `old_jti` to an entitlement of
// `new_jti` with the same feature that is valid, admits the host's region and
// the GPU, and has a seat (preferring the same entitlement id); leases that
// fit nowhere end. Each move or end is audited.
void move_leases_to_license(Connection& c, const std::string& old_jti, const std::string& new_jti,
                            const std::string& actor, std::int64_t now_ms);

// Active leases (not past expires_at) per entitlement key: for live usage.
[[nodiscard]] std::int64_t count_active_leases(Connection& c, std::int64_t now_s);

}  // namespace entitle::store
