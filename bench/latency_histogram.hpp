// Latency histogram with log-linear buckets (HdrHistogram's idea, small):
// values in microseconds, exact below 128 us, above that 64 buckets per power
// of two, so any recorded value is reported within 1.6%. Recording is O(1)
// and allocation-free; one histogram per thread, merged at the end.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace entitle::bench {

class LatencyHistogram {
  public:
    void record(std::uint64_t micros) {
        ++counts_[index_of(micros)];
        ++total_;
        sum_ += micros;
        max_ = std::max(max_, micros);
    }

    void merge(const LatencyHistogram& other) {
        for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
        total_ += other.total_;
        sum_ += other.sum_;
        max_ = std::max(max_, other.max_);
    }

    [[nodiscard]] std::uint64_t count() const { return total_; }
    [[nodiscard]] std::uint64_t max() const { return max_; }
    [[nodiscard]] double mean() const {
        return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0;
    }

    // The smallest recorded bucket value at or above quantile q (0..1), in us.
    [[nodiscard]] std::uint64_t quantile(double q) const {
        if (total_ == 0) return 0;
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(upper_of(i), max_);
        }
        return max_;
    }

  private:
    static constexpr std::size_t kLinear = 128;
    static constexpr std::size_t kPerOctave = 64;
    static constexpr std::size_t kOctaves = 40;

    static std::size_t index_of(std::uint64_t v) {
        if (v < kLinear) return static_cast<std::size_t>(v);
        const int e = std::bit_width(v) - 7;  // v >> e lies in [64, 128)
        const auto idx =
            static_cast<std::size_t>(e) * kPerOctave + static_cast<std::size_t>(v >> e);
        return std::min(idx, kLinear + kOctaves * kPerOctave - 1);
    }
    static std::uint64_t upper_of(std::size_t idx) {
        if (idx < kLinear) return idx;
        const std::size_t e = (idx - kPerOctave) / kPerOctave;  // inverse of index_of
        const std::uint64_t mantissa = idx - e * kPerOctave;
        return ((mantissa + 1) << e) - 1;
    }

    std::array<std::uint64_t, kLinear + kOctaves * kPerOctave> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t max_ = 0;
};

}  // namespace entitle::bench
