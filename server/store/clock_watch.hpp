// Detects the server's wall clock going back past the latest time the store
// has recorded (contract section 5, `clock_rollback`). Called from a write
// unit about once a second (the sweeper); keeps its high-water mark in `meta`
// so a rollback across a restart is seen too.
#pragma once

#include <cstdint>

#include "store/sqlite.hpp"

namespace entitle::store {

// Tolerance for ordinary clock adjustment (NTP slews): going back less than
// this is not reported.
inline constexpr std::int64_t kClockRollbackToleranceMs = 2000;

// Returns true when it wrote a `clock_rollback` event. One event per episode:
// while the clock stays behind the mark, no further events are written.
bool observe_clock(Connection& c, std::int64_t now_ms);

}  // namespace entitle::store
