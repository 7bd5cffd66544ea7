// base64url (RFC 4648 section 5) without padding, as JOSE uses it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace entitle::crypto {

[[nodiscard]] std::string base64url_encode(std::span<const std::uint8_t> bytes);
[[nodiscard]] std::string base64url_encode(std::string_view bytes);

// Strict decoding: only the base64url alphabet, no padding, no whitespace,
// no length that is 1 mod 4, and the unused low bits of the last character
// must be zero (so every byte string has exactly one accepted encoding).
// Returns nullopt on any violation.
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace entitle::crypto
