#include "http/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace entitle::http {

RateLimiter::RateLimiter(RateLimit limit) : limit_(limit) {
    if (limit_.per_second > 0) limit_.burst = std::max(1.0, limit_.burst);
    keys_per_shard_ = std::max<std::size_t>(1, limit_.max_keys / kShards);
}

std::optional<std::int64_t> RateLimiter::take(Bucket& b, std::int64_t now_ms) const {
    if (now_ms > b.last_ms) {
        b.tokens = std::min(limit_.burst,
                            b.tokens + static_cast<double>(now_ms - b.last_ms) * limit_.per_second / 1000.0);
        b.last_ms = now_ms;
    }
    if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        return std::nullopt;
    }
    const double wait_s = (1.0 - b.tokens) / limit_.per_second;
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait_s)));
}

std::optional<std::int64_t> RateLimiter::acquire(std::string_view key, std::int64_t now_ms) {
    if (!enabled()) return std::nullopt;
    // Shard by the high bits: the map inside uses the low ones.
    auto& shard = shards_[(KeyHash{}(key) >> 16) % kShards];
    std::lock_guard lock(shard.mutex);
    auto it = shard.buckets.find(key);
    if (it == shard.buckets.end()) {
        if (shard.buckets.size() >= keys_per_shard_) {
            // A bucket that has had time to refill completely is the same as a new one.
            const auto full_after_ms = static_cast<std::int64_t>(limit_.burst * 1000.0 / limit_.per_second);
            std::erase_if(shard.buckets,
                          [&](const auto& kv) { return now_ms - kv.second.last_ms >= full_after_ms; });
        }
        if (shard.buckets.size() >= keys_per_shard_) {
            if (!shard.overflow_used) {
                shard.overflow = Bucket{limit_.burst, now_ms};
                shard.overflow_used = true;
            }
            return take(shard.overflow, now_ms);
        }
        it = shard.buckets.emplace(std::string(key), Bucket{limit_.burst, now_ms}).first;
    }
    return take(it->second, now_ms);
}

std::size_t RateLimiter::tracked_keys() {
    std::size_t n = 0;
    for (auto& s : shards_) {
        std::lock_guard lock(s.mutex);
        n += s.buckets.size();
    }
    return n;
}

}  // namespace entitle::http
