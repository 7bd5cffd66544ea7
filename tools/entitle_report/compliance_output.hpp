// The compliance report in its four formats (docs/reports.md describes each).
// CSV holds one table per run; `section` picks which.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string_view>
#include <vector>

#include "entitle_report/chain_check.hpp"
#include "entitle_report/compliance_model.hpp"
#include "entitle_report/report_format.hpp"

namespace entitle::report {

enum class CsvSection { verdicts, evidence, expiring, hosts };
[[nodiscard]] std::optional<CsvSection> csv_section_named(std::string_view name);

struct ComplianceInput {
    const ReportMeta& meta;
    const ChainResult& chain;
    const ComplianceReport& report;
    const std::vector<EntitlementUsage>& usage;  // for the HTML charts
};

[[nodiscard]] nlohmann::json compliance_json(const ComplianceInput& in);
void write_compliance(std::ostream& out, Format format, CsvSection section,
                      const ComplianceInput& in);

}  // namespace entitle::report
