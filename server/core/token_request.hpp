// What an admin may ask for in POST /v1/tokens: {"role","name"?}.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/role.hpp"

namespace entitle {

struct NewTokenRequest {
    Role role;
    std::optional<std::string> name;
};

inline constexpr std::size_t kMaxTokenNameLength = 200;

// Only `auditor` and `admin` tokens are made this way (host tokens come with
// POST /v1/hosts). Errors are `invalid_request` naming the field.
[[nodiscard]] Result<NewTokenRequest> parse_new_token_request(const nlohmann::json& body);

}  // namespace entitle
