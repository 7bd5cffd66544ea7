// JWS compact serialization (RFC 7515) with EdDSA / Ed25519 (RFC 8037) only.
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "crypto/ed25519.hpp"

namespace entitle::crypto {

// `header` must contain "alg":"EdDSA"; it is serialised as given (compact).
// Returns header.payload.signature, each part base64url without padding.
[[nodiscard]] std::string jws_sign(const nlohmann::json& header, std::string_view payload,
                                   const Ed25519PrivateKey& key);
// The same with the header already serialised and base64url-encoded (a
// signer that uses one header for many tokens encodes it once); the caller
// vouches that it says "alg":"EdDSA". With a `nonce`, the signature is made
// with it under `nonce_context` (Ed25519PrivateKey::sign(message, nonce, context)).
[[nodiscard]] std::string jws_sign_encoded(std::string_view header_b64, std::string_view payload,
                                           const Ed25519PrivateKey& key, const Ed25519Nonce* nonce = nullptr,
                                           std::string_view nonce_context = {});

// A parsed, not yet verified, compact JWS.
struct JwsParts {
    nlohmann::json header;       // a JSON object
    std::string payload;         // decoded payload bytes
    std::string signing_input;   // "<b64 header>.<b64 payload>" as received
    std::string signature;       // decoded, 64 bytes
};

// Strict parsing, before any key is looked up: exactly three non-empty
// segments, canonical base64url in each (no padding, no whitespace, nothing
// trailing), the header a JSON object with "alg":"EdDSA" (anything else,
// including "none" and HMAC algorithms, is refused), `expected_typ` equal to
// the header's "typ", a non-empty string "kid", no "crit", and a 64-byte
// signature. Error strings say which rule failed, for an operator to read.
[[nodiscard]] std::expected<JwsParts, std::string> jws_parse(std::string_view compact,
                                                             std::string_view expected_typ);

// True when parts.signature is a valid Ed25519 signature of parts.signing_input.
[[nodiscard]] bool jws_verify(const JwsParts& parts, const Ed25519PublicKey& key);

}  // namespace entitle::crypto
