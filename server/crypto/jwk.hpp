// Ed25519 public keys as JWKs (RFC 7517 / RFC 8037) and their RFC 7638
// thumbprints, which Entitle uses as key ids.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "crypto/ed25519.hpp"

namespace entitle::crypto {

// {"kty":"OKP","crv":"Ed25519","x":...,"kid":kid,"alg":"EdDSA","use":"sig"}
[[nodiscard]] nlohmann::json ed25519_jwk(const Ed25519PublicKey& key, const std::string& kid);

// base64url(SHA-256('{"crv":"Ed25519","kty":"OKP","x":"..."}')), 43 characters.
[[nodiscard]] std::string jwk_thumbprint(const Ed25519PublicKey& key);

}  // namespace entitle::crypto
