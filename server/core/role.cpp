#include "core/role.hpp"

namespace entitle {

std::string_view role_name(Role role) noexcept {
    switch (role) {
        case Role::host: return "host";
        case Role::auditor: return "auditor";
        case Role::admin: return "admin";
    }
    return "unknown";
}

std::optional<Role> parse_role(std::string_view name) noexcept {
    if (name == "host") return Role::host;
    if (name == "auditor") return Role::auditor;
    if (name == "admin") return Role::admin;
    return std::nullopt;
}

bool role_satisfies(Role have, Role need) noexcept {
    if (have == need) return true;
    return have == Role::admin && need == Role::auditor;
}

}  // namespace entitle
