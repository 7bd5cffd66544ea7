#include "core/error.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <string_view>

using namespace entitle;

namespace {

struct Expected {
    ErrorCode code;
    std::string_view name;
    int status;
};

// The contract's table (docs/api.md), written out independently of error.cpp.
constexpr Expected kContract[] = {
    {ErrorCode::invalid_request, "invalid_request", 400},
    {ErrorCode::unauthorized, "unauthorized", 401},
    {ErrorCode::forbidden, "forbidden", 403},
    {ErrorCode::region_denied, "region_denied", 403},
    {ErrorCode::not_found, "not_found", 404},
    {ErrorCode::no_entitlement, "no_entitlement", 404},
    {ErrorCode::method_not_allowed, "method_not_allowed", 405},
    {ErrorCode::oversubscribed, "oversubscribed", 409},
    {ErrorCode::conflict, "conflict", 409},
    {ErrorCode::expired, "expired", 410},
    {ErrorCode::payload_too_large, "payload_too_large", 413},
    {ErrorCode::invalid_license, "invalid_license", 422},
    {ErrorCode::rate_limited, "rate_limited", 429},
    {ErrorCode::internal, "internal", 500},
    {ErrorCode::unavailable, "unavailable", 503},
};

}  // namespace

TEST_CASE("every ErrorCode maps to the contract's code string and HTTP status") {
    for (const auto& e : kContract) {
        CAPTURE(e.name);
        const ErrorInfo& info = error_info(e.code);
        CHECK(info.code == e.name);
        CHECK(info.http_status == e.status);
    }
}

TEST_CASE("the contract table covers every ErrorCode exactly once") {
    CHECK(std::size(kContract) == static_cast<std::size_t>(ErrorCode::unavailable) + 1);
    std::set<std::string_view> names;
    for (std::size_t i = 0; i < std::size(kContract); ++i) {
        CHECK(static_cast<std::size_t>(kContract[i].code) == i);
        names.insert(error_info(kContract[i].code).code);
    }
    CHECK(names.size() == std::size(kContract));  // no two codes share a string
}

TEST_CASE("only transient failures are marked retryable") {
    CHECK(error_info(ErrorCode::unavailable).retryable);
    CHECK(error_info(ErrorCode::rate_limited).retryable);
    CHECK(error_info(ErrorCode::internal).retryable);
    CHECK(error_info(ErrorCode::oversubscribed).retryable);
    CHECK_FALSE(error_info(ErrorCode::invalid_request).retryable);
    CHECK_FALSE(error_info(ErrorCode::unauthorized).retryable);
    CHECK_FALSE(error_info(ErrorCode::forbidden).retryable);
    CHECK_FALSE(error_info(ErrorCode::conflict).retryable);
    CHECK_FALSE(error_info(ErrorCode::expired).retryable);
}

TEST_CASE("Error reports the code name and status of its code") {
    const Error e{ErrorCode::no_entitlement, "no seat for feature x"};
    CHECK(e.code_name() == "no_entitlement");
    CHECK(e.http_status() == 404);
    CHECK(e.message == "no seat for feature x");
}

TEST_CASE("fail() builds an unexpected Result carrying the code and message") {
    const Result<int> r = fail(ErrorCode::conflict, "already exists");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::conflict);
    CHECK(r.error().message == "already exists");
    CHECK(r.error().http_status() == 409);

    const Result<void> v = fail(ErrorCode::expired, "gone");
    REQUIRE_FALSE(v.has_value());
    CHECK(v.error().code_name() == "expired");
}
