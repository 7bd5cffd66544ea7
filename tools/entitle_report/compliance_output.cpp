#include "entitle_report/compliance_output.hpp"

#include <fmt/format.h>

#include "common/json_fields.hpp"
#include "common/text_output.hpp"

namespace entitle::report {

namespace {

using nlohmann::json;

json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

std::string joined(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& s : items) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

std::int64_t days_left(const ExpiringEntitlement& x) { return x.seconds_left / 86'400; }

std::string chain_text(const ChainResult& chain) {
    if (chain.intact) return fmt::format("audit chain intact ({} events)", chain.events);
    return fmt::format("AUDIT CHAIN BROKEN at seq {} ({}): {}", chain.broken_seq, chain.how,
                       chain.message);
}

std::string region_names(const RegionHosts& r) {
    std::vector<std::string> names;
    for (const auto& h : r.hosts) names.push_back(h.name);
    return joined(names, ", ");
}

void write_table(std::ostream& out, const ComplianceInput& in) {
    const auto& meta = in.meta;
    const auto& r = in.report;
    out << fmt::format("Compliance report from {}\n", tools::terminal_safe(meta.source));
    out << fmt::format("Range {} .. {}; audit head seq {} hash {}\n",
                       tools::format_utc_seconds(meta.range.from),
                       tools::format_utc_seconds(meta.range.to), meta.head.seq, meta.head.hash);
    out << tools::terminal_safe(chain_text(in.chain)) << "\n\n";

    out << "Entitlements\n";
    if (r.entitlements.empty()) {
        out << "none in force or used in this range\n";
    } else {
        tools::TextTable t({"ENTITLEMENT", "CUSTOMER", "FEATURE", "MODEL", "COUNT", "LIMIT", "PEAK",
                            "PEAK_AT", "OVERAGE_GRANTS", "DENIALS", "VERDICT"});
        for (const auto& c : r.entitlements) {
            const auto& e = c.entitlement;
            t.add_row({e.key, e.customer, e.feature, e.model, count_text(e.count),
                       count_text(e.seat_limit()), std::to_string(c.peak), time_text(c.peak_at),
                       std::to_string(c.overage_grants), std::to_string(c.denials),
                       std::string(verdict_text(c.verdict))});
        }
        t.print(out);
    }

    out << fmt::format("\nEvidence ({} events)\n", r.evidence.size());
    if (r.evidence.empty()) {
        out << "none\n";
    } else {
        tools::TextTable t({"SEQ", "TIME", "KIND", "ACTOR", "SUBJECT", "ENTITLEMENTS", "DETAIL"});
        for (const auto& ev : r.evidence) {
            t.add_row({std::to_string(ev.seq), tools::format_utc_millis(ev.ts_ms), ev.kind,
                       ev.actor, ev.subject,
                       ev.entitlements.empty() ? "-" : joined(ev.entitlements, ","),
                       tools::compact_json(ev.detail)});
        }
        t.print(out);
    }

    out << "\nLicenses expiring within 30 days\n";
    if (r.expiring.empty()) {
        out << "none\n";
    } else {
        tools::TextTable t({"ENTITLEMENT", "CUSTOMER", "FEATURE", "NOT_AFTER", "DAYS_LEFT"});
        for (const auto& x : r.expiring) {
            t.add_row({x.entitlement.key, x.entitlement.customer, x.entitlement.feature,
                       tools::format_utc_seconds(x.not_after), std::to_string(days_left(x))});
        }
        t.print(out);
    }

    out << "\nHosts by region\n";
    if (r.regions.empty()) {
        out << "none\n";
    } else {
        tools::TextTable t({"REGION", "HOSTS", "NAMES"});
        for (const auto& g : r.regions) {
            t.add_row({g.region, std::to_string(g.hosts.size()), region_names(g)});
        }
        t.print(out);
    }
}

void write_csv(std::ostream& out, CsvSection section, const ComplianceInput& in) {
    const auto& r = in.report;
    switch (section) {
        case CsvSection::verdicts:
            out << csv_row({"entitlement", "license", "customer", "feature", "model", "count",
                            "overage_limit", "peak_in_use", "peak_at", "overage_grants", "denials",
                            "verdict", "audit_head_seq", "audit_head_hash", "audit_chain_intact"});
            for (const auto& c : r.entitlements) {
                const auto& e = c.entitlement;
                out << csv_row(
                    {e.key, e.license_jti, e.customer, e.feature, e.model, count_text(e.count),
                     count_text(e.seat_limit()), std::to_string(c.peak), time_text(c.peak_at, ""),
                     std::to_string(c.overage_grants), std::to_string(c.denials),
                     std::string(verdict_name(c.verdict)), std::to_string(in.meta.head.seq),
                     in.meta.head.hash, in.chain.intact ? "true" : "false"});
            }
            break;
        case CsvSection::evidence:
            out << csv_row({"seq", "time", "kind", "actor", "subject", "entitlements", "detail"});
            for (const auto& ev : r.evidence) {
                out << csv_row({std::to_string(ev.seq), tools::format_utc_millis(ev.ts_ms), ev.kind,
                                ev.actor, ev.subject, joined(ev.entitlements, " "),
                                tools::compact_json(ev.detail)});
            }
            break;
        case CsvSection::expiring:
            out << csv_row(
                {"entitlement", "license", "customer", "feature", "not_after", "days_left"});
            for (const auto& x : r.expiring) {
                out << csv_row({x.entitlement.key, x.entitlement.license_jti,
                                x.entitlement.customer, x.entitlement.feature,
                                tools::format_utc_seconds(x.not_after),
                                std::to_string(days_left(x))});
            }
            break;
        case CsvSection::hosts:
            out << csv_row({"region", "host_id", "host_name"});
            for (const auto& g : r.regions) {
                for (const auto& h : g.hosts) out << csv_row({g.region, h.id, h.name});
            }
            break;
    }
}

void write_html(std::ostream& out, const ComplianceInput& in) {
    const auto& meta = in.meta;
    const auto& r = in.report;
    out << html_page_start("Entitle compliance report");
    out << "<h1>Entitle compliance report</h1>\n<table class=\"meta\">\n";
    out << fmt::format("<tr><td>Source</td><td>{}</td></tr>\n", html_escape(meta.source));
    out << fmt::format("<tr><td>Range</td><td>{} .. {} (UTC)</td></tr>\n",
                       tools::format_utc_seconds(meta.range.from),
                       tools::format_utc_seconds(meta.range.to));
    out << fmt::format(
        "<tr><td>Audit head</td><td>seq {} <span class=\"hash\">{}</span></td></tr>\n",
        meta.head.seq, html_escape(meta.head.hash));
    out << fmt::format("<tr><td>Audit chain</td><td{}>{}</td></tr>\n",
                       in.chain.intact ? "" : " class=\"broken\"",
                       html_escape(chain_text(in.chain)));
    out << fmt::format("<tr><td>Generated</td><td>{}</td></tr>\n</table>\n",
                       tools::format_utc_seconds(meta.generated_at));

    out << "<h2>Entitlements</h2>\n";
    if (r.entitlements.empty()) {
        out << "<p>None in force or used in this range.</p>\n";
    } else {
        out << "<table>\n<tr><th>Entitlement</th><th>Customer</th><th>Feature</th><th>Model</th>"
               "<th>Count</th><th>Limit</th><th>Peak</th><th>Peak at (UTC)</th>"
               "<th>Overage grants</th><th>Denials</th><th>Verdict</th></tr>\n";
        for (const auto& c : r.entitlements) {
            const auto& e = c.entitlement;
            out << fmt::format(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td "
                "class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td "
                "class=\"num\">{}</td><td class=\"num\">{}</td><td "
                "class=\"verdict-{}\">{}</td></tr>\n",
                html_escape(e.key), html_escape(e.customer), html_escape(e.feature),
                html_escape(e.model), count_text(e.count), count_text(e.seat_limit()), c.peak,
                time_text(c.peak_at), c.overage_grants, c.denials, verdict_name(c.verdict),
                verdict_text(c.verdict));
        }
        out << "</table>\n";
    }
    for (const auto& u : in.usage) {
        out << fmt::format("<section>\n<h2>{} &mdash; seats in use over time</h2>\n",
                           html_escape(u.entitlement.key));
        out << usage_chart_svg(u, meta.range) << "</section>\n";
    }

    out << fmt::format("<h2>Evidence ({} events)</h2>\n", r.evidence.size());
    if (r.evidence.empty()) {
        out << "<p>None.</p>\n";
    } else {
        out << "<table>\n<tr><th>Seq</th><th>Time (UTC)</th><th>Kind</th><th>Actor</th>"
               "<th>Subject</th><th>Entitlements</th><th>Detail</th></tr>\n";
        for (const auto& ev : r.evidence) {
            out << fmt::format(
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td>{}</td><td class=\"hash\">{}</td></tr>\n",
                ev.seq, tools::format_utc_millis(ev.ts_ms), html_escape(ev.kind),
                html_escape(ev.actor), html_escape(ev.subject),
                html_escape(joined(ev.entitlements, ", ")),
                html_escape(tools::compact_json(ev.detail)));
        }
        out << "</table>\n";
    }

    out << "<h2>Licenses expiring within 30 days</h2>\n";
    if (r.expiring.empty()) {
        out << "<p>None.</p>\n";
    } else {
        out << "<table>\n<tr><th>Entitlement</th><th>Customer</th><th>Feature</th>"
               "<th>Not after (UTC)</th><th>Days left</th></tr>\n";
        for (const auto& x : r.expiring) {
            out << fmt::format(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>\n",
                html_escape(x.entitlement.key), html_escape(x.entitlement.customer),
                html_escape(x.entitlement.feature), tools::format_utc_seconds(x.not_after),
                days_left(x));
        }
        out << "</table>\n";
    }

    out << "<h2>Hosts by region</h2>\n";
    if (r.regions.empty()) {
        out << "<p>None.</p>\n";
    } else {
        out << "<table>\n<tr><th>Region</th><th>Hosts</th><th>Names</th></tr>\n";
        for (const auto& g : r.regions) {
            out << fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
                               html_escape(g.region), g.hosts.size(), html_escape(region_names(g)));
        }
        out << "</table>\n";
    }
    out << html_page_end();
}

}  // namespace

std::optional<CsvSection> csv_section_named(std::string_view name) {
    if (name == "verdicts") return CsvSection::verdicts;
    if (name == "evidence") return CsvSection::evidence;
    if (name == "expiring") return CsvSection::expiring;
    if (name == "hosts") return CsvSection::hosts;
    return std::nullopt;
}

json compliance_json(const ComplianceInput& in) {
    const auto& r = in.report;
    json ents = json::array();
    for (const auto& c : r.entitlements) {
        const auto& e = c.entitlement;
        json j = entitlement_identity_json(e);
        j.update({{"regions", e.regions},
                  {"peak_in_use", c.peak},
                  {"peak_at", opt(c.peak_at)},
                  {"overage_grants", c.overage_grants},
                  {"denials", c.denials},
                  {"verdict", verdict_name(c.verdict)}});
        ents.push_back(std::move(j));
    }
    json evidence = json::array();
    for (const auto& ev : r.evidence) {
        evidence.push_back({{"seq", ev.seq},
                            {"ts", ev.ts_ms},
                            {"kind", ev.kind},
                            {"actor", ev.actor},
                            {"subject", ev.subject},
                            {"entitlements", ev.entitlements},
                            {"detail", ev.detail}});
    }
    json expiring = json::array();
    for (const auto& x : r.expiring) {
        expiring.push_back({{"entitlement", x.entitlement.key},
                            {"license", x.entitlement.license_jti},
                            {"customer", x.entitlement.customer},
                            {"feature", x.entitlement.feature},
                            {"not_after", x.not_after},
                            {"days_left", days_left(x)}});
    }
    json regions = json::array();
    for (const auto& g : r.regions) {
        json hosts = json::array();
        for (const auto& h : g.hosts) hosts.push_back({{"id", h.id}, {"name", h.name}});
        regions.push_back({{"region", g.region}, {"hosts", std::move(hosts)}});
    }
    json chain = {{"intact", in.chain.intact}, {"events", in.chain.events}};
    if (!in.chain.intact) {
        chain["broken_seq"] = in.chain.broken_seq;
        chain["problem"] = in.chain.how;
        chain["message"] = in.chain.message;
    }
    return {{"report", "compliance"},
            {"schema", 1},
            {"source", in.meta.source},
            {"generated_at", in.meta.generated_at},
            {"audit_head", {{"seq", in.meta.head.seq}, {"hash", in.meta.head.hash}}},
            {"audit_chain", std::move(chain)},
            {"from", in.meta.range.from},
            {"to", in.meta.range.to},
            {"entitlements", std::move(ents)},
            {"evidence", std::move(evidence)},
            {"expiring", std::move(expiring)},
            {"hosts_by_region", std::move(regions)}};
}

void write_compliance(std::ostream& out, Format format, CsvSection section,
                      const ComplianceInput& in) {
    switch (format) {
        case Format::table:
            write_table(out, in);
            break;
        case Format::csv:
            write_csv(out, section, in);
            break;
        case Format::json:
            out << tools::pretty_json(compliance_json(in)) << '\n';
            break;
        case Format::html:
            write_html(out, in);
            break;
    }
}

}  // namespace entitle::report
