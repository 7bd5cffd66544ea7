// Shared by the libentitle unit tests: lease-signing keys, host configuration
// files and lease tokens made at run time (nothing secret is committed).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "crypto/ed25519.hpp"
#include "crypto/jwk.hpp"
#include "crypto/jws.hpp"
#include "crypto/tls_certificate.hpp"

namespace entitle::test {

inline const crypto::Ed25519PrivateKey& lease_key() {
    static const auto key = crypto::Ed25519PrivateKey::generate();
    return key;
}

inline const crypto::Ed25519PrivateKey& other_key() {
    static const auto key = crypto::Ed25519PrivateKey::generate();
    return key;
}

inline constexpr const char* kKid = "lease-key-1";
inline constexpr const char* kHostId = "h_unit";

inline nlohmann::json jwks(const crypto::Ed25519PrivateKey& key = lease_key(),
                           const std::string& kid = kKid) {
    return {{"keys", nlohmann::json::array({crypto::ed25519_jwk(key.public_key(), kid)})}};
}

inline const std::string& ca_pem() {
    static const std::string pem =
        crypto::make_self_signed_certificate("127.0.0.1", {"localhost"}, {"127.0.0.1"}, 2).cert_pem;
    return pem;
}

// A host configuration file as `entitlectl host add` writes it.
inline nlohmann::json host_config_json() {
    return {{"server_url", "https://127.0.0.1:8443"},
            {"ca_pem", ca_pem()},
            {"host_id", kHostId},
            {"host_token", "host-secret-token"},
            {"lease_keys", jwks()}};
}

inline nlohmann::json lease_claims(const std::string& jti = "l_1", std::int64_t iat = 1'000'000,
                                   std::int64_t exp = 1'003'600, const std::string& sub = kHostId) {
    return {{"iss", "entitled-test"}, {"sub", sub},         {"jti", jti},
            {"feature", "vWS"},       {"ent", "lic/seats"}, {"gpu", "GPU-0"},
            {"vgpu", "v-1"},          {"iat", iat},         {"exp", exp}};
}

inline std::string sign_lease(const nlohmann::json& claims,
                              const crypto::Ed25519PrivateKey& key = lease_key(),
                              const std::string& kid = kKid,
                              const std::string& typ = "entitle-lease+jwt") {
    return crypto::jws_sign({{"alg", "EdDSA"}, {"typ", typ}, {"kid", kid}}, claims.dump(), key);
}

}  // namespace entitle::test
