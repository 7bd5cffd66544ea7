#include "retry_policy.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "http_date.hpp"

using entitle::lib::backoff_delay_ms;
using entitle::lib::parse_http_date;
using entitle::lib::RetryPolicy;

TEST_CASE("backoff doubles from the base up to the cap, with full jitter below it") {
    const RetryPolicy p{5, 200, 5000};
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    CHECK(backoff_delay_ms(p, 0, 200) == 200);  // random % 201
    CHECK(backoff_delay_ms(p, 0, 201) == 0);
    CHECK(backoff_delay_ms(p, 1, 400) == 400);
    CHECK(backoff_delay_ms(p, 4, 3200) == 3200);
    CHECK(backoff_delay_ms(p, 5, 5000) == 5000);  // 6400 capped at 5000
    for (int retry = 0; retry < 100; ++retry) {
        CHECK(backoff_delay_ms(p, retry, kMax) <= 5000);
        CHECK(backoff_delay_ms(p, retry, 0) == 0);
    }
}

TEST_CASE("backoff with no base or no cap does not wait") {
    CHECK(backoff_delay_ms({3, 0, 5000}, 7, 12345) == 0);
    CHECK(backoff_delay_ms({3, 200, 0}, 2, 12345) == 0);
    CHECK(backoff_delay_ms({3, -5, -5}, 2, 12345) == 0);
}

TEST_CASE("the Date header is read in IMF-fixdate form only") {
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
    CHECK(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
    CHECK(parse_http_date("Wed, 25 Nov 2026 17:58:23 GMT") == 1795629503);
    CHECK_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));  // RFC 850
    CHECK_FALSE(parse_http_date("Sun Nov  6 08:49:37 1994"));        // asctime
    CHECK_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
    CHECK_FALSE(parse_http_date(""));
}
