#include "retry_policy.hpp"

#include <algorithm>

namespace entitle::lib {

std::int64_t backoff_delay_ms(const RetryPolicy& policy, int retry, std::uint64_t random) noexcept {
    const std::int64_t base = std::max<std::int64_t>(policy.base_delay_ms, 0);
    const std::int64_t cap = std::max<std::int64_t>(policy.max_delay_ms, 0);
    std::int64_t ceiling = base;
    // Doubling stops at the cap, so this never overflows.
    for (int i = 0; i < retry && ceiling < cap; ++i) ceiling *= 2;
    ceiling = std::min(ceiling, cap);
    if (ceiling <= 0) return 0;
    return static_cast<std::int64_t>(random % (static_cast<std::uint64_t>(ceiling) + 1));
}

}  // namespace entitle::lib
