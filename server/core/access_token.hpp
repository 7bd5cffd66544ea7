// Bearer tokens. A token is base64url(12-byte id || 32-byte secret), 59
// characters from the base64url alphabet. The id part is public (it names the
// token in lists, logs and audit events, base64url, 16 characters); the
// server stores only SHA-256(token) and compares it in constant time after
// looking the row up by id, so neither lookup nor comparison time depends on
// the secret.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace entitle {

struct MintedToken {
    std::string id;      // 16 characters, public
    std::string secret;  // the whole bearer token, shown once
    std::string hash;    // lowercase hex SHA-256 of `secret`, what is stored
};

[[nodiscard]] MintedToken mint_access_token();

// The id inside a presented token, or nullopt when it is not of our shape.
[[nodiscard]] std::optional<std::string> access_token_id(std::string_view presented);

// Constant-time check that `presented` hashes to `stored_hash`.
[[nodiscard]] bool access_token_matches(std::string_view presented, std::string_view stored_hash);

}  // namespace entitle
