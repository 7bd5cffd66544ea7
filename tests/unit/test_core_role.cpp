#include "core/role.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <array>

using namespace entitle;

TEST_CASE("parse_role accepts exactly the three lowercase role names") {
    CHECK(parse_role("host") == Role::host);
    CHECK(parse_role("auditor") == Role::auditor);
    CHECK(parse_role("admin") == Role::admin);
    CHECK_FALSE(parse_role("").has_value());
    CHECK_FALSE(parse_role("Admin").has_value());
    CHECK_FALSE(parse_role("ADMIN").has_value());
    CHECK_FALSE(parse_role("admin ").has_value());
    CHECK_FALSE(parse_role("root").has_value());
}

TEST_CASE("role_name and parse_role round-trip every role") {
    for (const Role r : {Role::host, Role::auditor, Role::admin}) {
        CAPTURE(role_name(r));
        CHECK(parse_role(role_name(r)) == r);
    }
    CHECK(role_name(Role::host) == "host");
    CHECK(role_name(Role::auditor) == "auditor");
    CHECK(role_name(Role::admin) == "admin");
}

TEST_CASE("every role satisfies itself") {
    CHECK(role_satisfies(Role::host, Role::host));
    CHECK(role_satisfies(Role::auditor, Role::auditor));
    CHECK(role_satisfies(Role::admin, Role::admin));
}

TEST_CASE("admin satisfies auditor but auditor does not satisfy admin") {
    CHECK(role_satisfies(Role::admin, Role::auditor));
    CHECK_FALSE(role_satisfies(Role::auditor, Role::admin));
}

TEST_CASE("host is a separate line: only host satisfies host and host satisfies nothing else") {
    CHECK_FALSE(role_satisfies(Role::admin, Role::host));
    CHECK_FALSE(role_satisfies(Role::auditor, Role::host));
    CHECK_FALSE(role_satisfies(Role::host, Role::auditor));
    CHECK_FALSE(role_satisfies(Role::host, Role::admin));
}
