// Building blocks shared by the four output formats: RFC 4180 CSV fields,
// HTML escaping, number and time text, the page frame of the HTML report and
// its inline SVG usage chart. Pure functions returning strings.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "entitle_report/history.hpp"
#include "entitle_report/usage_model.hpp"

namespace entitle::report {

enum class Format { table, csv, json, html };
[[nodiscard]] std::optional<Format> format_named(std::string_view name);

// What every report states about itself.
struct ReportMeta {
    std::string source;  // ReportSource::describe()
    AuditHead head;
    ReportRange range;
    std::string bucket;  // "hour" or "day"
    std::int64_t generated_at = 0;
};

// RFC 4180: a field holding a comma, a quote, CR or LF is quoted, quotes doubled.
[[nodiscard]] std::string csv_field(std::string_view text);
// The fields joined by commas, ended by CRLF.
[[nodiscard]] std::string csv_row(const std::vector<std::string>& fields);

[[nodiscard]] std::string html_escape(std::string_view text);

// "1.25" (two decimals) for a mean number of seats.
[[nodiscard]] std::string average_text(double value);
// The mean rounded to 4 decimals, for JSON.
[[nodiscard]] double average_rounded(double value);
// "unlimited" or the number.
[[nodiscard]] std::string count_text(const std::optional<std::int64_t>& count);
// "2026-01-01T00:00:00Z", or `missing`.
[[nodiscard]] std::string time_text(const std::optional<std::int64_t>& seconds,
                                    std::string_view missing = "-");

// <!DOCTYPE html> ... <body>, with inline CSS (screen and print), and the end.
[[nodiscard]] std::string html_page_start(std::string_view title);
[[nodiscard]] std::string html_page_end();

// An inline SVG chart of seats in use (exact steps) against the licensed
// count and the overage limit over the report range. Self-contained: no
// scripts, fonts or links. Past kMaxChartSteps steps, each pixel column
// shows its highest value, so a short peak stays visible.
inline constexpr std::size_t kMaxChartSteps = 2'000;
[[nodiscard]] std::string usage_chart_svg(const EntitlementUsage& usage, const ReportRange& range);

// The fields naming an entitlement that every JSON report carries:
// entitlement, license, id, customer, issuer, feature, model, count,
// overage_limit and license_state.
[[nodiscard]] nlohmann::json entitlement_identity_json(const EntitlementInfo& e);

}  // namespace entitle::report
