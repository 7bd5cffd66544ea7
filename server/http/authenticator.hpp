// Bearer-token authentication: `Authorization: Bearer <token>` -> who is
// calling. Looks the token up by its public id and compares hashes in
// constant time (core/access_token.hpp).
#pragma once

#include <string>
#include <string_view>

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
    explicit Authenticator(store::Store& store) : store_(store) {}
    // `authorization` is the raw header value (empty when absent). Errors are
    // `unauthorized` with a message that never echoes the token.
    [[nodiscard]] Result<Principal> authenticate(std::string_view authorization);

private:
    store::Store& store_;
};

}  // namespace entitle::http
