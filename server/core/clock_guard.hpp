// Grants depend on time (lease expiry, subscription windows), so a server
// whose wall clock has gone back past the latest time it recorded must not
// grant new seats: a lease granted "before" an earlier expiry, or inside a
// window that has already closed, would be wrong on paper and in fact.
//
// ClockGuard holds that recorded time (the high-water mark) in memory for the
// request path; the store keeps the durable copy (store/clock_watch). New
// grants pause while now + tolerance < mark, and resume by themselves once the
// clock reaches the mark again, or at once when an admin acknowledges the new
// time (which lowers the mark to it). Renewals and releases go on: they add no
// seat, and stopping them would end running vGPUs.
//
// Thread-safe; time is a parameter.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>

namespace entitle {

class ClockGuard {
public:
    explicit ClockGuard(std::int64_t tolerance_ms) : tolerance_ms_(std::max<std::int64_t>(0, tolerance_ms)) {}

    [[nodiscard]] std::int64_t tolerance_ms() const noexcept { return tolerance_ms_; }
    [[nodiscard]] std::int64_t mark_ms() const noexcept { return mark_ms_.load(std::memory_order_acquire); }

    // The store's mark after an observation (it only grows, except by acknowledge).
    void set_mark(std::int64_t mark_ms) noexcept { mark_ms_.store(mark_ms, std::memory_order_release); }

    // How far `now_ms` is behind the mark when grants are paused; nullopt when they may go on.
    [[nodiscard]] std::optional<std::int64_t> paused_behind_ms(std::int64_t now_ms) const noexcept {
        const auto mark = mark_ms();
        if (now_ms + tolerance_ms_ < mark) return mark - now_ms;
        return std::nullopt;
    }

private:
    std::int64_t tolerance_ms_;
    std::atomic<std::int64_t> mark_ms_{0};
};

}  // namespace entitle
