// Failed authentication: throttling per client address and coalesced
// `auth_failed` audit events, so a flood of bad tokens can neither guess
// tokens quickly nor grow the audit log without bound.
//
// Per address, failures are counted in fixed windows of `window_ms`. The
// first failure of a window writes one `auth_failed` event (with how many
// failures the previous window had beyond the one it audited); later failures
// in the window only count. Past `max_failures` failures in a window, further
// failures from the address are answered 429 `rate_limited` with Retry-After
// (until the window ends) instead of 401; a valid token is always served. At most `max_addresses` are
// tracked; beyond that, expired entries are dropped and, if still full, new
// addresses share one overflow entry (still audited and throttled together).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/clock.hpp"
#include "store/store.hpp"

namespace entitle::http {

struct AuthFailureLimits {
    std::int64_t window_ms = 60'000;
    std::int64_t max_failures = 20;
    std::size_t max_addresses = 10'000;
};

class AuthFailureTracker {
public:
    AuthFailureTracker(store::Store& store, const Clock& clock, AuthFailureLimits limits = {})
        : store_(store), clock_(clock), limits_(limits) {}

    // Seconds until `address` may try again, or nullopt when it may try now.
    [[nodiscard]] std::optional<std::int64_t> retry_after(const std::string& address);
    // Counts a failure; writes a coalesced audit event when one is due.
    void record_failure(const std::string& address, const std::string& reason);

private:
    struct Window {
        std::int64_t start_ms = 0;
        std::int64_t failures = 0;
    };
    Window& window_for(const std::string& address, std::int64_t now);

    store::Store& store_;
    const Clock& clock_;
    AuthFailureLimits limits_;
    std::mutex mutex_;
    std::unordered_map<std::string, Window> windows_;
};

}  // namespace entitle::http
