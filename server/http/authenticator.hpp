// Bearer-token authentication: `Authorization: Bearer <token>` -> who is
// calling. Looks the token up by its public id and compares hashes in
// constant time (core/access_token.hpp).
#pragma once

#include <string>
#include <string_view>

#include <mutex>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/role.hpp"
#include "store/store.hpp"

namespace entitle::http {

struct Principal {
    std::string token_id;
    Role role = Role::auditor;
    // For role host: the host this token belongs to and its region (set by the admin).
    std::string host_id;
    std::string host_region;
};

class Authenticator {
public:
    // With a clock, successful use is recorded in tokens.last_used_at, at most
    // once a minute per token (a write per request would cost an fsync each).
    explicit Authenticator(store::Store& store, const Clock* clock = nullptr) : store_(store), clock_(clock) {}
    // `authorization` is the raw header value (empty when absent). Errors are
    // `unauthorized` with a message that never echoes the token.
    [[nodiscard]] Result<Principal> authenticate(std::string_view authorization);

private:
    void note_use(const std::string& token_id);

    store::Store& store_;
    const Clock* clock_;
    std::mutex used_mutex_;
    std::unordered_map<std::string, std::int64_t> last_noted_s_;
};

}  // namespace entitle::http
