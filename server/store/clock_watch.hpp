// Detects the server's wall clock going back past the latest time the store
// has recorded (contract section 5, `clock_rollback`). Called from a write
// unit about once a second (the sweeper); keeps its high-water mark in `meta`
// so a rollback across a restart is seen too. core/clock_guard.hpp holds the
// in-memory copy that pauses grants.
#pragma once

#include <cstdint>
#include <string>

#include "store/sqlite.hpp"

namespace entitle::store {

// Default tolerance for ordinary clock adjustment (NTP slews): going back
// less than this is not reported (`serve --clock-rollback-tolerance-ms`).
inline constexpr std::int64_t kClockRollbackToleranceMs = 2000;

struct ClockObservation {
    bool reported = false;    // a `clock_rollback` event was written now
    std::int64_t mark_ms = 0;  // the recorded high-water mark after this observation
};

// The recorded mark without changing anything (startup).
[[nodiscard]] std::int64_t recorded_clock_mark(Connection& c);

// Records `now_ms` (when ahead of the mark) or, when it is more than
// `tolerance_ms` behind, writes one `clock_rollback` event per episode: while
// the clock stays behind the mark, no further events are written.
ClockObservation observe_clock(Connection& c, std::int64_t now_ms,
                               std::int64_t tolerance_ms = kClockRollbackToleranceMs);

// An admin accepts the current time: the mark drops to `now_ms` and a
// `clock_rollback` event with "acknowledged_by" records who did it and the
// mark given up. Returns the mark given up.
std::int64_t acknowledge_clock(Connection& c, std::int64_t now_ms, const std::string& actor);

}  // namespace entitle::store
