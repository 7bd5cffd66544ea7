#include "crypto/jwk.hpp"

#include "crypto/base64url.hpp"
#include "crypto/digest.hpp"

namespace entitle::crypto {

nlohmann::json ed25519_jwk(const Ed25519PublicKey& key, const std::string& kid) {
    return {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(key.raw())},
            {"kid", kid},   {"alg", "EdDSA"},   {"use", "sig"}};
}

std::string jwk_thumbprint(const Ed25519PublicKey& key) {
    // RFC 7638: required members only, lexicographic order, no whitespace.
    const std::string canonical =
        R"({"crv":"Ed25519","kty":"OKP","x":")" + base64url_encode(key.raw()) + R"("})";
    const auto digest = sha256(canonical);
    return base64url_encode(std::span<const std::uint8_t>(digest.data(), digest.size()));
}

}  // namespace entitle::crypto
