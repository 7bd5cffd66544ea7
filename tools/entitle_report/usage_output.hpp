// The usage report in its four formats (docs/reports.md describes each).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "entitle_report/report_format.hpp"
#include "entitle_report/usage_model.hpp"

namespace entitle::report {

[[nodiscard]] nlohmann::json usage_json(const ReportMeta& meta,
                                        const std::vector<EntitlementUsage>& usage);
void write_usage(std::ostream& out, Format format, const ReportMeta& meta,
                 const std::vector<EntitlementUsage>& usage);

}  // namespace entitle::report
