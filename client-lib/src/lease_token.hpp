// Offline verification of a lease token (contract section 2): JWS compact,
// EdDSA, typ "entitle-lease+jwt", signed by a key of the host's lease_keys,
// `sub` this host. Time is judged by the caller (client.cpp), which knows
// when the token was granted.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "host_config.hpp"

namespace entitle::lib {

inline constexpr std::string_view kLeaseTokenTyp = "entitle-lease+jwt";

struct LeaseClaims {
    std::string kid;  // header
    std::string iss, sub, jti, feature, ent, gpu, vgpu;
    std::int64_t iat = 0;
    std::int64_t exp = 0;
};

struct TokenError {
    enum class Kind {
        malformed,      // not a lease token: bad JWS, wrong typ/alg, missing claims
        unknown_key,    // well formed, but its kid is not in the key set
        bad_signature,  // the signature does not verify
        wrong_host,     // sub is another host
    };
    Kind kind;
    std::string message;  // names the rule; never the token itself
};

// The claims without checking the signature (for messages and `status` of a
// token that does not verify).
[[nodiscard]] std::expected<LeaseClaims, TokenError> read_lease_claims(std::string_view token);

// Signature by keys[kid], typ, required claims (strings non-empty, iat/exp
// integers, exp > iat), and sub == host_id.
[[nodiscard]] std::expected<LeaseClaims, TokenError> verify_lease_token(std::string_view token,
                                                                        const KeySet& keys,
                                                                        std::string_view host_id);

}  // namespace entitle::lib
