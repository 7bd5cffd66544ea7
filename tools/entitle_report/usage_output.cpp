#include "entitle_report/usage_output.hpp"

#include <fmt/format.h>

#include "common/json_fields.hpp"
#include "common/text_output.hpp"

namespace entitle::report {

namespace {

using nlohmann::json;

json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

double total_average(const EntitlementUsage& u, const ReportRange& range) {
    return static_cast<double>(u.seat_seconds) / static_cast<double>(range.to - range.from);
}

const std::vector<std::string> kCsvHeader = {
    "entitlement",  "license",        "customer",     "feature",  "model",
    "bucket_start", "bucket_end",     "in_force",     "licensed", "limit",
    "peak_in_use",  "average_in_use", "seat_seconds", "leases",   "lease_seconds"};

void write_table(std::ostream& out, const ReportMeta& meta,
                 const std::vector<EntitlementUsage>& usage) {
    out << fmt::format("Usage report from {}\n", tools::terminal_safe(meta.source));
    out << fmt::format("Range {} .. {} by {}; audit head seq {} hash {}\n\n",
                       tools::format_utc_seconds(meta.range.from),
                       tools::format_utc_seconds(meta.range.to), meta.bucket, meta.head.seq,
                       meta.head.hash);
    if (usage.empty()) {
        out << "no entitlement was in force or used in this range\n";
        return;
    }
    tools::TextTable table({"ENTITLEMENT", "FEATURE", "MODEL", "BUCKET", "LICENSED", "LIMIT",
                            "PEAK", "AVERAGE", "LEASES", "LEASE_SECONDS"});
    for (const auto& u : usage) {
        const auto& e = u.entitlement;
        for (const auto& b : u.buckets) {
            table.add_row({e.key, e.feature, e.model, tools::format_utc_seconds(b.start),
                           count_text(b.licensed), count_text(b.limit), std::to_string(b.peak),
                           average_text(b.average()), std::to_string(b.leases),
                           std::to_string(b.lease_seconds)});
        }
        table.add_row({e.key, e.feature, e.model, "total", count_text(e.count),
                       count_text(e.seat_limit()), std::to_string(u.peak),
                       average_text(total_average(u, meta.range)), std::to_string(u.leases),
                       std::to_string(u.lease_seconds)});
    }
    table.print(out);
}

void write_csv(std::ostream& out, const std::vector<EntitlementUsage>& usage) {
    out << csv_row(kCsvHeader);
    for (const auto& u : usage) {
        const auto& e = u.entitlement;
        for (const auto& b : u.buckets) {
            out << csv_row({e.key, e.license_jti, e.customer, e.feature, e.model,
                            tools::format_utc_seconds(b.start), tools::format_utc_seconds(b.end),
                            b.in_force ? "true" : "false", count_text(b.licensed),
                            count_text(b.limit), std::to_string(b.peak), average_text(b.average()),
                            std::to_string(b.seat_seconds), std::to_string(b.leases),
                            std::to_string(b.lease_seconds)});
        }
    }
}

void write_html(std::ostream& out, const ReportMeta& meta,
                const std::vector<EntitlementUsage>& usage) {
    out << html_page_start("Entitle usage report");
    out << "<h1>Entitle usage report</h1>\n<table class=\"meta\">\n";
    out << fmt::format("<tr><td>Source</td><td>{}</td></tr>\n", html_escape(meta.source));
    out << fmt::format("<tr><td>Range</td><td>{} .. {} (UTC), by {}</td></tr>\n",
                       tools::format_utc_seconds(meta.range.from),
                       tools::format_utc_seconds(meta.range.to), html_escape(meta.bucket));
    out << fmt::format(
        "<tr><td>Audit head</td><td>seq {} <span class=\"hash\">{}</span></td></tr>\n",
        meta.head.seq, html_escape(meta.head.hash));
    out << fmt::format("<tr><td>Generated</td><td>{}</td></tr>\n</table>\n",
                       tools::format_utc_seconds(meta.generated_at));
    if (usage.empty()) {
        out << "<p>No entitlement was in force or used in this range.</p>\n";
    }
    for (const auto& u : usage) {
        const auto& e = u.entitlement;
        out << fmt::format("<section>\n<h2>{} &mdash; {} ({})</h2>\n", html_escape(e.key),
                           html_escape(e.feature), html_escape(e.model));
        out << fmt::format(
            "<p>Customer {}; licensed {}, overage limit {}; peak {} seat(s){}; {} lease(s), {} "
            "lease-seconds, average {} seat(s) in use.</p>\n",
            html_escape(e.customer), count_text(e.count), count_text(e.seat_limit()), u.peak,
            u.peak_at ? " first at " + tools::format_utc_seconds(*u.peak_at) : "", u.leases,
            u.lease_seconds, average_text(total_average(u, meta.range)));
        out << usage_chart_svg(u, meta.range);
        out << "<table>\n<tr><th>Bucket (UTC)</th><th>Licensed</th><th>Limit</th><th>Peak</th>"
               "<th>Average</th><th>Leases</th><th>Lease-seconds</th></tr>\n";
        for (const auto& b : u.buckets) {
            out << fmt::format(
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
                "class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
                "class=\"num\">{}</td></tr>\n",
                tools::format_utc_seconds(b.start), count_text(b.licensed), count_text(b.limit),
                b.peak, average_text(b.average()), b.leases, b.lease_seconds);
        }
        out << "</table>\n</section>\n";
    }
    out << html_page_end();
}

}  // namespace

json usage_json(const ReportMeta& meta, const std::vector<EntitlementUsage>& usage) {
    json ents = json::array();
    for (const auto& u : usage) {
        const auto& e = u.entitlement;
        json buckets = json::array();
        for (const auto& b : u.buckets) {
            buckets.push_back({{"start", b.start},
                               {"end", b.end},
                               {"in_force", b.in_force},
                               {"licensed", opt(b.licensed)},
                               {"limit", opt(b.limit)},
                               {"peak_in_use", b.peak},
                               {"average_in_use", average_rounded(b.average())},
                               {"seat_seconds", b.seat_seconds},
                               {"leases", b.leases},
                               {"lease_seconds", b.lease_seconds}});
        }
        json j = entitlement_identity_json(e);
        j.update({{"in_force_from", e.in_force_from()},
                  {"in_force_until", opt(e.in_force_until())},
                  {"peak_in_use", u.peak},
                  {"peak_at", opt(u.peak_at)},
                  {"seat_seconds", u.seat_seconds},
                  {"average_in_use", average_rounded(total_average(u, meta.range))},
                  {"leases", u.leases},
                  {"lease_seconds", u.lease_seconds},
                  {"buckets", std::move(buckets)}});
        ents.push_back(std::move(j));
    }
    return {{"report", "usage"},
            {"schema", 1},
            {"source", meta.source},
            {"generated_at", meta.generated_at},
            {"audit_head", {{"seq", meta.head.seq}, {"hash", meta.head.hash}}},
            {"from", meta.range.from},
            {"to", meta.range.to},
            {"bucket", meta.bucket},
            {"bucket_seconds", meta.range.bucket_seconds},
            {"entitlements", std::move(ents)}};
}

void write_usage(std::ostream& out, Format format, const ReportMeta& meta,
                 const std::vector<EntitlementUsage>& usage) {
    switch (format) {
        case Format::table:
            write_table(out, meta, usage);
            break;
        case Format::csv:
            write_csv(out, usage);
            break;
        case Format::json:
            out << tools::pretty_json(usage_json(meta, usage)) << '\n';
            break;
        case Format::html:
            write_html(out, meta, usage);
            break;
    }
}

}  // namespace entitle::report
