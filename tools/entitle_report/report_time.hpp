// Times on entitle-report's command line (--from, --to): Unix seconds, or an
// ISO 8601 date or date and time. Pure functions.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace entitle::report {

// Accepts "1767225600", "2026-01-01", "2026-01-01T10:00", "2026-01-01T10:00:30",
// with an optional "Z" or offset ("+02:00", "-0130"); a space may stand for
// the "T". A date or time without a zone is UTC. The error names the text.
[[nodiscard]] std::expected<std::int64_t, std::string> parse_report_time(std::string_view text);

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
[[nodiscard]] std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

}  // namespace entitle::report
