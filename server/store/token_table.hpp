// Rows of the `tokens` table. Functions take the connection of the caller's
// transaction (a Store::submit unit or a Store::read call).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/role.hpp"
#include "store/sqlite.hpp"

namespace entitle::store {

struct TokenRecord {
    std::string id;
    Role role = Role::auditor;
    std::optional<std::string> name;
    std::string hash;  // hex SHA-256 of the token
    std::int64_t created_at = 0;
    std::optional<std::int64_t> last_used_at;
    std::optional<std::int64_t> revoked_at;
};

void insert_token(Connection& c, const TokenRecord& t);
[[nodiscard]] std::optional<TokenRecord> find_token(Connection& c, const std::string& id);
[[nodiscard]] std::vector<TokenRecord> list_tokens(Connection& c);
[[nodiscard]] bool token_hash_exists(Connection& c, const std::string& hash);
// Marks the token revoked at `now_s`; false when there is no such token.
// Revoking an already revoked token keeps the first time and returns true.
bool revoke_token(Connection& c, const std::string& id, std::int64_t now_s);
// Records a use at `now_s` in last_used_at (never moving it back). A quiet
// write: it does not change whether the token authenticates.
void note_token_used(Connection& c, const std::string& id, std::int64_t now_s);

}  // namespace entitle::store
