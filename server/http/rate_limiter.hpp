// Request rate limits: one token bucket per key (a client address or an
// access token id). A bucket holds at most `burst` requests and refills at
// `per_second`; a request that finds it empty is refused with the number of
// whole seconds after which one will be available (for Retry-After).
//
// Thread-safe: keys are spread over shards, each with its own mutex, so
// concurrent requests for different keys rarely wait for each other. Memory
// is bounded: each shard tracks at most max_keys / shards keys; when a shard
// is full, buckets that have refilled completely (idle clients) are dropped,
// and if it is still full, new keys share one overflow bucket, which
// throttles them together rather than letting them through unlimited.
//
// Time is a parameter (milliseconds on any monotonic scale), so the limiter
// is tested without sleeping.
#pragma once

#include <array>
#include <functional>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace entitle::http {

struct RateLimit {
    double per_second = 0;  // 0 = unlimited
    double burst = 0;       // bucket size; at least 1 when limited
    std::size_t max_keys = 100'000;
};

class RateLimiter {
public:
    explicit RateLimiter(RateLimit limit);

    [[nodiscard]] bool enabled() const noexcept { return limit_.per_second > 0; }

    // Takes one request from `key`'s bucket. nullopt: allowed. Otherwise the
    // seconds (>= 1) until the bucket holds a request again.
    [[nodiscard]] std::optional<std::int64_t> acquire(std::string_view key, std::int64_t now_ms);

    // Keys currently tracked (for tests and metrics).
    [[nodiscard]] std::size_t tracked_keys();

private:
    struct Bucket {
        double tokens = 0;
        std::int64_t last_ms = 0;
    };
    // Transparent hashing: a lookup by string_view allocates nothing.
    struct KeyHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
    };
    struct Shard {
        std::mutex mutex;
        std::unordered_map<std::string, Bucket, KeyHash, std::equal_to<>> buckets;
        Bucket overflow;
        bool overflow_used = false;
    };
    static constexpr std::size_t kShards = 16;

    std::optional<std::int64_t> take(Bucket& b, std::int64_t now_ms) const;

    RateLimit limit_;
    std::size_t keys_per_shard_;
    std::array<Shard, kShards> shards_;
};

}  // namespace entitle::http
