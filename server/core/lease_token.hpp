// Lease tokens (contract section 2): JWS EdDSA, typ "entitle-lease+jwt".
#pragma once

#include <cstdint>
#include <string>

#include "crypto/ed25519.hpp"

namespace entitle {

inline constexpr std::string_view kLeaseTyp = "entitle-lease+jwt";

struct LeaseClaims {
    std::string iss;      // server id
    std::string sub;      // host id
    std::string jti;      // lease id
    std::string feature;
    std::string ent;      // "<license jti>/<entitlement id>"
    std::string gpu;
    std::string vgpu;
    std::int64_t iat = 0;
    std::int64_t exp = 0;
};

// The claims as JSON text and the protected header, exactly as nlohmann's
// dump() writes them (members in byte order of their names).
[[nodiscard]] std::string lease_claims_json(const LeaseClaims& claims);
[[nodiscard]] std::string lease_token_header(const std::string& kid);

// Ed25519 is deterministic: the same claims and key give the same token, so
// an idempotent retry gets back exactly the token it was first given.
[[nodiscard]] std::string sign_lease_token(const LeaseClaims& claims, const crypto::Ed25519PrivateKey& key,
                                           const std::string& kid);

}  // namespace entitle
