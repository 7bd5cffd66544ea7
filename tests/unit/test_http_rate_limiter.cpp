#include "http/rate_limiter.hpp"

#include <string>

#include <doctest/doctest.h>

using entitle::http::RateLimit;
using entitle::http::RateLimiter;

TEST_CASE("a rate limiter lets a burst through, then refuses with the seconds until the next request") {
    RateLimiter limiter(RateLimit{2, 5});
    for (int i = 0; i < 5; ++i) CHECK_FALSE(limiter.acquire("10.0.0.1", 1'000).has_value());
    const auto wait = limiter.acquire("10.0.0.1", 1'000);
    REQUIRE(wait.has_value());
    CHECK(*wait == 1);  // 2 per second: half a second, rounded up to whole seconds
}

TEST_CASE("a rate limiter refills at its rate and never beyond its burst") {
    RateLimiter limiter(RateLimit{10, 3});
    for (int i = 0; i < 3; ++i) CHECK_FALSE(limiter.acquire("k", 0).has_value());
    CHECK(limiter.acquire("k", 0).has_value());
    CHECK_FALSE(limiter.acquire("k", 100).has_value());  // 100 ms at 10/s = one request
    CHECK(limiter.acquire("k", 100).has_value());
    // A long pause refills to the burst, not more.
    for (int i = 0; i < 3; ++i) CHECK_FALSE(limiter.acquire("k", 60'000).has_value());
    CHECK(limiter.acquire("k", 60'000).has_value());
}

TEST_CASE("a slow rate answers a Retry-After of several seconds") {
    RateLimiter limiter(RateLimit{0.25, 1});
    CHECK_FALSE(limiter.acquire("k", 0).has_value());
    const auto wait = limiter.acquire("k", 0);
    REQUIRE(wait.has_value());
    CHECK(*wait == 4);
}

TEST_CASE("rate limits are kept per key") {
    RateLimiter limiter(RateLimit{1, 1});
    CHECK_FALSE(limiter.acquire("a", 0).has_value());
    CHECK(limiter.acquire("a", 0).has_value());
    CHECK_FALSE(limiter.acquire("b", 0).has_value());
}

TEST_CASE("a rate of zero turns the limiter off") {
    RateLimiter limiter(RateLimit{0, 0});
    CHECK_FALSE(limiter.enabled());
    for (int i = 0; i < 10'000; ++i) REQUIRE_FALSE(limiter.acquire("k", 0).has_value());
}

TEST_CASE("a full rate limiter drops idle keys and throttles new keys together when none is idle") {
    RateLimiter limiter(RateLimit{1, 1, 16});  // one key per shard
    for (int i = 0; i < 200; ++i) (void)limiter.acquire("key-" + std::to_string(i), 0);
    CHECK(limiter.tracked_keys() <= 16);
    // All tracked keys are busy at t=0: new keys share an overflow bucket per
    // shard, so a stream of fresh keys cannot bypass the limit.
    int allowed = 0;
    for (int i = 0; i < 1000; ++i) {
        if (!limiter.acquire("fresh-" + std::to_string(i), 0)) ++allowed;
    }
    CHECK(allowed <= 16);
    // Later, the idle buckets have refilled and are dropped for new keys.
    CHECK_FALSE(limiter.acquire("late", 10'000).has_value());
    CHECK(limiter.tracked_keys() <= 16);
}
