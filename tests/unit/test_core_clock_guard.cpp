#include "core/clock_guard.hpp"

#include <doctest/doctest.h>

using entitle::ClockGuard;

TEST_CASE("grants pause only when the clock is more than the tolerance behind the recorded time") {
    ClockGuard guard(2'000);
    guard.set_mark(100'000);
    CHECK_FALSE(guard.paused_behind_ms(100'000).has_value());
    CHECK_FALSE(guard.paused_behind_ms(98'000).has_value());  // exactly at the tolerance
    const auto behind = guard.paused_behind_ms(97'999);
    REQUIRE(behind.has_value());
    CHECK(*behind == 2'001);
    CHECK_FALSE(guard.paused_behind_ms(150'000).has_value());
}

TEST_CASE("an acknowledged time (a lower mark) resumes grants at once") {
    ClockGuard guard(0);
    guard.set_mark(500'000);
    CHECK(guard.paused_behind_ms(100'000).has_value());
    guard.set_mark(100'000);
    CHECK_FALSE(guard.paused_behind_ms(100'000).has_value());
}

TEST_CASE("a negative tolerance is treated as zero") {
    ClockGuard guard(-5);
    CHECK(guard.tolerance_ms() == 0);
}
