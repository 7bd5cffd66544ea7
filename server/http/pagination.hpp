// `?after=` and `?limit=` for list endpoints (contract section 4): limit
// defaults to 1000, at most 10000; lists answer "next" when more remain.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "http/router.hpp"

namespace entitle::http {

inline constexpr std::int64_t kDefaultPageLimit = 1000;
inline constexpr std::int64_t kMaxPageLimit = 10000;

[[nodiscard]] Result<std::int64_t> page_limit(const RequestContext& ctx);
// An integer cursor (e.g. audit seq), 0 when absent.
[[nodiscard]] Result<std::int64_t> integer_after(const RequestContext& ctx);

}  // namespace entitle::http
