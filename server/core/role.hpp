// Roles a bearer token carries, and which role may do what.
#pragma once

#include <optional>
#include <string_view>

namespace entitle {

enum class Role { host, auditor, admin };

[[nodiscard]] std::string_view role_name(Role role) noexcept;
[[nodiscard]] std::optional<Role> parse_role(std::string_view name) noexcept;

// An admin can do what an auditor can; host is a separate line of work
// (a host may only act on its own leases, which handlers check).
[[nodiscard]] bool role_satisfies(Role have, Role need) noexcept;

}  // namespace entitle
