// Time as a parameter: the core never reads a clock itself. The server
// passes a SystemClock; tests pass a ManualClock they move by hand.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace entitle {

class Clock {
public:
    virtual ~Clock() = default;
    // Unix time in milliseconds.
    [[nodiscard]] virtual std::int64_t now_ms() const = 0;
    [[nodiscard]] std::int64_t now_s() const { return now_ms() / 1000; }
};

class SystemClock final : public Clock {
public:
    [[nodiscard]] std::int64_t now_ms() const override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

class ManualClock final : public Clock {
public:
    explicit ManualClock(std::int64_t start_ms) : now_(start_ms) {}
    [[nodiscard]] std::int64_t now_ms() const override { return now_.load(); }
    void set_ms(std::int64_t ms) { now_.store(ms); }
    void advance_ms(std::int64_t ms) { now_.fetch_add(ms); }

private:
    std::atomic<std::int64_t> now_;
};

}  // namespace entitle
