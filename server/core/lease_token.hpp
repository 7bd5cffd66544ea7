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

// The same claims, key and nonce seed always give the same token, so an
// idempotent retry gets back exactly the token it was first given. `nonce`:
// the nonce stored with the lease's state (store::LeaseRecord::token_nonce),
// made under the context `claims.iss` (the server id: a crypto::NoncePool
// for lease tokens is made with it); without one, RFC 8032's deterministic
// signature.
[[nodiscard]] std::string sign_lease_token(const LeaseClaims& claims, const crypto::Ed25519PrivateKey& key,
                                           const std::string& kid, const crypto::Ed25519Nonce* nonce = nullptr);

}  // namespace entitle
