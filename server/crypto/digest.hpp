// SHA-256, constant-time comparison and random secrets.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace entitle::crypto {

using Sha256 = std::array<std::uint8_t, 32>;

[[nodiscard]] Sha256 sha256(std::string_view data);
// Lowercase hex of SHA-256(data), 64 characters.
[[nodiscard]] std::string sha256_hex(std::string_view data);
[[nodiscard]] std::string to_hex(std::string_view bytes);

// Compares in time that depends only on the lengths, never on the content.
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b);

// `bytes` bytes from OpenSSL's CSPRNG. Throws std::runtime_error if the RNG
// fails (a process-edge condition, not a caller error).
[[nodiscard]] std::string random_bytes(std::size_t bytes);
// `bytes` random bytes for identifiers that must be unguessable and unique
// but are not secrets (lease ids, host ids): served from a
// per-thread buffer that OpenSSL's CSPRNG fills 512 bytes at a time, so that
// an id costs a copy rather than a trip through the RNG (its locks and its
// getpid() check). A forked child never reuses its parent's buffered bytes.
// Never use it for keys or bearer tokens: buffered bytes sit in memory until used.
[[nodiscard]] std::string random_id_bytes(std::size_t bytes);
// A bearer secret: `bytes` random bytes, base64url encoded (32 bytes = 256 bits).
[[nodiscard]] std::string random_token(std::size_t bytes = 32);

}  // namespace entitle::crypto
