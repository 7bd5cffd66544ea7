#include "entitle/entitle.h"
// The C header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <set>
#include <string>

#include "exit_codes.hpp"
#include "status.hpp"

using entitle::lib::is_retryable;
using entitle::lib::status_from_api_error;

TEST_CASE("entitle_status values are the documented, never renumbered ones") {
    CHECK(ENTITLE_OK == 0);
    CHECK(ENTITLE_OVERSUBSCRIBED == 1);
    CHECK(ENTITLE_REGION_DENIED == 2);
    CHECK(ENTITLE_NO_ENTITLEMENT == 3);
    CHECK(ENTITLE_EXPIRED == 4);
    CHECK(ENTITLE_UNAUTHORIZED == 5);
    CHECK(ENTITLE_UNAVAILABLE == 11);
    CHECK(ENTITLE_TLS_ERROR == 12);
    CHECK(ENTITLE_CONFIG_ERROR == 14);
    CHECK(ENTITLE_TOKEN_INVALID == 15);
    CHECK(ENTITLE_INTERNAL == 20);
}

TEST_CASE("entitle_status_str names every status with the contract's code, and unknown values") {
    CHECK(std::string(entitle_status_str(ENTITLE_OK)) == "ok");
    CHECK(std::string(entitle_status_str(ENTITLE_OVERSUBSCRIBED)) == "oversubscribed");
    CHECK(std::string(entitle_status_str(ENTITLE_REGION_DENIED)) == "region_denied");
    CHECK(std::string(entitle_status_str(ENTITLE_NO_ENTITLEMENT)) == "no_entitlement");
    CHECK(std::string(entitle_status_str(ENTITLE_UNAVAILABLE)) == "unavailable");
    CHECK(std::string(entitle_status_str(ENTITLE_TLS_ERROR)) == "tls_error");
    CHECK(std::string(entitle_status_str(static_cast<entitle_status>(999))) == "unknown");
    CHECK(std::string(entitle_status_str(static_cast<entitle_status>(-1))) == "unknown");
    std::set<std::string> names;
    for (int s = ENTITLE_OK; s <= ENTITLE_INTERNAL; ++s) {
        names.insert(entitle_status_str(static_cast<entitle_status>(s)));
    }
    CHECK(names.size() == ENTITLE_INTERNAL + 1);  // all distinct
    CHECK_FALSE(names.contains("unknown"));
}

TEST_CASE("a server error maps to its status by the contract's code first, then by HTTP status") {
    CHECK(status_from_api_error(409, "oversubscribed") == ENTITLE_OVERSUBSCRIBED);
    CHECK(status_from_api_error(409, "conflict") == ENTITLE_CONFLICT);
    CHECK(status_from_api_error(403, "region_denied") == ENTITLE_REGION_DENIED);
    CHECK(status_from_api_error(403, "forbidden") == ENTITLE_FORBIDDEN);
    CHECK(status_from_api_error(404, "no_entitlement") == ENTITLE_NO_ENTITLEMENT);
    CHECK(status_from_api_error(404, "not_found") == ENTITLE_NOT_FOUND);
    CHECK(status_from_api_error(410, "expired") == ENTITLE_EXPIRED);
    CHECK(status_from_api_error(401, "unauthorized") == ENTITLE_UNAUTHORIZED);
    CHECK(status_from_api_error(429, "rate_limited") == ENTITLE_RATE_LIMITED);
    CHECK(status_from_api_error(413, "payload_too_large") == ENTITLE_INVALID_REQUEST);
    CHECK(status_from_api_error(503, "unavailable") == ENTITLE_UNAVAILABLE);
    CHECK(status_from_api_error(500, "internal") == ENTITLE_SERVER_ERROR);
    // No JSON body (a proxy in between): the HTTP status decides.
    CHECK(status_from_api_error(502, "") == ENTITLE_UNAVAILABLE);
    CHECK(status_from_api_error(504, "") == ENTITLE_UNAVAILABLE);
    CHECK(status_from_api_error(500, "") == ENTITLE_SERVER_ERROR);
    CHECK(status_from_api_error(404, "") == ENTITLE_NOT_FOUND);
    CHECK(status_from_api_error(418, "") == ENTITLE_PROTOCOL_ERROR);
    CHECK(status_from_api_error(409, "some_future_code") == ENTITLE_CONFLICT);
}

TEST_CASE("only an unavailable server is worth retrying") {
    CHECK(is_retryable(ENTITLE_UNAVAILABLE));
    for (const auto s : {ENTITLE_OVERSUBSCRIBED, ENTITLE_TLS_ERROR, ENTITLE_RATE_LIMITED,
                         ENTITLE_EXPIRED, ENTITLE_PROTOCOL_ERROR}) {
        CHECK_FALSE(is_retryable(s));
    }
}

TEST_CASE("entitle-lease has one documented exit code per refusal") {
    using namespace entitle::lease_cli;
    CHECK(exit_code_for(ENTITLE_OK) == 0);
    CHECK(exit_code_for(ENTITLE_OVERSUBSCRIBED) == 3);
    CHECK(exit_code_for(ENTITLE_REGION_DENIED) == 4);
    CHECK(exit_code_for(ENTITLE_NO_ENTITLEMENT) == 5);
    CHECK(exit_code_for(ENTITLE_EXPIRED) == 6);
    CHECK(exit_code_for(ENTITLE_UNAUTHORIZED) == 7);
    CHECK(exit_code_for(ENTITLE_FORBIDDEN) == 7);
    CHECK(exit_code_for(ENTITLE_NOT_FOUND) == 8);
    CHECK(exit_code_for(ENTITLE_CONFLICT) == 9);
    CHECK(exit_code_for(ENTITLE_UNAVAILABLE) == 10);
    CHECK(exit_code_for(ENTITLE_RATE_LIMITED) == 10);
    CHECK(exit_code_for(ENTITLE_TLS_ERROR) == 11);
    CHECK(exit_code_for(ENTITLE_CONFIG_ERROR) == 12);
    CHECK(exit_code_for(ENTITLE_TOKEN_INVALID) == 13);
    CHECK(exit_code_for(ENTITLE_INVALID_REQUEST) == 14);
    CHECK(exit_code_for(ENTITLE_INVALID_ARGUMENT) == 2);
    CHECK(exit_code_for(ENTITLE_INTERNAL) == 1);
    CHECK(exit_code_for(ENTITLE_STATE_ERROR) == 1);
}

TEST_CASE("the runtime version is the header's") {
    CHECK(std::string(entitle_version()) == ENTITLE_VERSION_STRING);
    CHECK(entitle_version_num() == ENTITLE_VERSION_NUM);
}
