// Request and connection metrics, rendered in the Prometheus text format.
// Thread-safe; recording a request takes one short mutex hold.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace entitle::http {

// A Prometheus label value: backslash, double quote and newline escaped.
[[nodiscard]] std::string prometheus_label(std::string_view value);

class Metrics {
public:
    // Upper bounds of the latency histogram buckets, in seconds.
    static constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                        0.025,  0.05,  0.1,    0.25,  0.5,
                                                        1.0,    2.5,   5.0,    10.0};

    void observe_request(const std::string& route, std::string_view method, int status,
                         double seconds);
    void connection_opened() noexcept { open_connections_.fetch_add(1, std::memory_order_relaxed); }
    void connection_closed() noexcept { open_connections_.fetch_sub(1, std::memory_order_relaxed); }
    void connection_refused() noexcept { refused_connections_.fetch_add(1, std::memory_order_relaxed); }
    [[nodiscard]] std::int64_t open_connections() const noexcept {
        return open_connections_.load(std::memory_order_relaxed);
    }

    // Checkout outcomes by result: granted, replayed, oversubscribed, region_denied, ...
    void count_checkout(std::string_view result);

    // The HTTP metrics as Prometheus text (with # HELP and # TYPE lines).
    [[nodiscard]] std::string render() const;

private:
    struct Latency {
        std::array<std::uint64_t, kBuckets.size()> buckets{};  // non-cumulative
        std::uint64_t count = 0;
        double sum = 0;
    };
    mutable std::mutex mutex_;
    std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
    std::map<std::pair<std::string, std::string>, Latency> latency_;
    std::map<std::string, std::uint64_t, std::less<>> checkouts_;
    std::atomic<std::int64_t> open_connections_{0};
    std::atomic<std::uint64_t> refused_connections_{0};
};

}  // namespace entitle::http
