// The server's view of its own clock (see core/clock_guard.hpp):
//   GET  /v1/clock              auditor: now, the recorded mark, whether grants are paused
//   POST /v1/clock/acknowledge  admin: accept the current time after a rollback; grants resume
#pragma once

#include "core/clock.hpp"
#include "core/clock_guard.hpp"
#include "http/router.hpp"
#include "store/store.hpp"

namespace entitle::http {

void register_clock_routes(Router& router, store::Store& store, const Clock& clock, ClockGuard& guard);

}  // namespace entitle::http
