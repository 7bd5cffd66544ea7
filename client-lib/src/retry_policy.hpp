// How many times, and how far apart, an unavailable server is tried again.
#pragma once

#include <cstdint>

namespace entitle::lib {

struct RetryPolicy {
    int max_attempts = 5;              // tries in all, 1..100
    std::int64_t base_delay_ms = 200;  // before the first retry, at most
    std::int64_t max_delay_ms = 5000;  // cap of any one pause
};

// The pause before retry number `retry` (0 = the first retry): exponential
// backoff with "full jitter", a value in [0, min(max, base * 2^retry)] picked
// by `random`, so that many hosts coming back after an outage do not knock
// on the server in step.
[[nodiscard]] std::int64_t backoff_delay_ms(const RetryPolicy& policy, int retry,
                                            std::uint64_t random) noexcept;

}  // namespace entitle::lib
