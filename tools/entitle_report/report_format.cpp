#include "entitle_report/report_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/text_output.hpp"

namespace entitle::report {

std::optional<Format> format_named(std::string_view name) {
    if (name == "table") return Format::table;
    if (name == "csv") return Format::csv;
    if (name == "json") return Format::json;
    if (name == "html") return Format::html;
    return std::nullopt;
}

std::string csv_field(std::string_view text) {
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

std::string csv_row(const std::vector<std::string>& fields) {
    std::string out;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) out += ',';
        out += csv_field(fields[i]);
    }
    out += "\r\n";
    return out;
}

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                // Control characters have no business in a report.
                if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
                    out += fmt::format("&#xFFFD;");
                } else {
                    out += c;
                }
        }
    }
    return out;
}

std::string average_text(double value) { return fmt::format("{:.2f}", value); }

double average_rounded(double value) { return std::round(value * 10'000.0) / 10'000.0; }

std::string count_text(const std::optional<std::int64_t>& count) {
    return count ? std::to_string(*count) : std::string("unlimited");
}

std::string time_text(const std::optional<std::int64_t>& seconds, std::string_view missing) {
    return seconds ? tools::format_utc_seconds(*seconds) : std::string(missing);
}

std::string html_page_start(std::string_view title) {
    return fmt::format(R"~(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title>
<style>
body {{ font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; color: #111; background: #fff;
       margin: 24px; font-size: 14px; }}
h1 {{ font-size: 22px; margin: 0 0 8px 0; }}
h2 {{ font-size: 17px; margin: 24px 0 6px 0; border-bottom: 1px solid #999; padding-bottom: 2px; }}
table {{ border-collapse: collapse; margin: 6px 0 12px 0; }}
th, td {{ border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }}
th {{ background: #eee; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.meta td {{ border: none; padding: 1px 12px 1px 0; }}
.hash {{ font-family: "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }}
.verdict-within_license {{ color: #1a6b2f; font-weight: bold; }}
.verdict-within_overage {{ color: #9a5b00; font-weight: bold; }}
.verdict-over_limit {{ color: #b00020; font-weight: bold; }}
.broken {{ color: #b00020; font-weight: bold; }}
section {{ margin-bottom: 18px; }}
svg {{ display: block; max-width: 100%; height: auto; }}
@media print {{
  body {{ margin: 10mm; font-size: 11px; }}
  section, svg, tr {{ break-inside: avoid; page-break-inside: avoid; }}
  h2 {{ break-after: avoid; page-break-after: avoid; }}
}}
</style>
</head>
<body>
)~",
                       html_escape(title));
}

std::string html_page_end() { return "</body>\n</html>\n"; }

namespace {

struct ChartGeometry {
    double width = 960, height = 280;
    double left = 56, right = 16, top = 34, bottom = 44;
    std::int64_t from = 0, to = 1;
    std::int64_t y_max = 1;

    [[nodiscard]] double plot_width() const { return width - left - right; }
    [[nodiscard]] double plot_height() const { return height - top - bottom; }
    [[nodiscard]] double x(std::int64_t t) const {
        const double f =
            static_cast<double>(std::clamp(t, from, to) - from) / static_cast<double>(to - from);
        return left + f * plot_width();
    }
    [[nodiscard]] double y(std::int64_t v) const {
        return top + plot_height() -
               static_cast<double>(v) / static_cast<double>(y_max) * plot_height();
    }
};

// A step of 1, 2 or 5 times a power of ten giving at most 5 intervals.
std::int64_t tick_step(std::int64_t max) {
    std::int64_t base = 1;
    for (int i = 0; i < 18; ++i) {
        for (const std::int64_t m : {1, 2, 5}) {
            if (max / (base * m) <= 5) return base * m;
        }
        base *= 10;
    }
    return base;
}

// At most ~one step per pixel column: each column keeps its highest level.
std::vector<UsageStep> chart_steps(const std::vector<UsageStep>& steps, const ReportRange& range,
                                   std::size_t columns) {
    if (steps.size() <= kMaxChartSteps) return steps;
    const std::int64_t span = range.to - range.from;
    auto column_of = [&](std::int64_t t) {
        const auto c = static_cast<std::size_t>(
            (static_cast<double>(t - range.from) / static_cast<double>(span)) *
            static_cast<double>(columns));
        return std::min(c, columns - 1);
    };
    std::vector<std::int64_t> high(columns, 0);
    for (std::size_t k = 0; k < steps.size(); ++k) {
        const std::int64_t s = steps[k].at;
        const std::int64_t e = k + 1 < steps.size() ? steps[k + 1].at : range.to;
        if (e <= s) continue;
        for (std::size_t c = column_of(s); c <= column_of(e - 1); ++c) {
            high[c] = std::max(high[c], steps[k].in_use);
        }
    }
    std::vector<UsageStep> out;
    for (std::size_t c = 0; c < columns; ++c) {
        const std::int64_t t = range.from + static_cast<std::int64_t>(static_cast<double>(span) *
                                                                      static_cast<double>(c) /
                                                                      static_cast<double>(columns));
        if (out.empty() || out.back().in_use != high[c]) out.push_back({t, high[c]});
    }
    return out;
}

std::string axis_time(std::int64_t t, std::int64_t span) {
    const std::string iso = tools::format_utc_seconds(t);  // 2026-01-02T03:04:05Z
    if (span <= 3 * 86'400) return iso.substr(0, 10) + " " + iso.substr(11, 5);
    return iso.substr(0, 10);
}

}  // namespace

std::string usage_chart_svg(const EntitlementUsage& usage, const ReportRange& range) {
    const auto& ent = usage.entitlement;
    ChartGeometry g;
    g.from = range.from;
    g.to = range.to;
    const auto count = ent.count;
    const auto limit = ent.seat_limit();
    std::int64_t top_value = std::max<std::int64_t>(usage.peak, 1);
    if (count) top_value = std::max(top_value, *count);
    if (limit) top_value = std::max(top_value, *limit);
    const std::int64_t step = tick_step(top_value);
    g.y_max = (top_value / step + 1) * step;

    const std::string label = fmt::format("Seats in use of {} ({}, {}) against {} licensed{}",
                                          ent.key, ent.feature, ent.model, count_text(count),
                                          limit && count && *limit > *count
                                              ? fmt::format(" and an overage limit of {}", *limit)
                                              : "");
    std::string svg = fmt::format(
        R"~(<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {0} {1}" width="{0}" height="{1}" role="img" aria-label="{2}">
<title>{2}</title>
<rect x="0" y="0" width="{0}" height="{1}" fill="#ffffff"/>
)~",
        g.width, g.height, html_escape(label));

    // Grid and y axis.
    for (std::int64_t v = 0; v <= g.y_max; v += step) {
        svg += fmt::format(
            R"~(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#dddddd" stroke-width="1"/>
<text x="{:.1f}" y="{:.1f}" font-size="11" text-anchor="end" fill="#333333">{}</text>
)~",
            g.left, g.y(v), g.left + g.plot_width(), g.y(v), g.left - 6, g.y(v) + 4, v);
    }
    // X axis with five time labels.
    const std::int64_t span = range.to - range.from;
    for (int i = 0; i <= 4; ++i) {
        const std::int64_t t = range.from + span * i / 4;
        const char* anchor = i == 0 ? "start" : (i == 4 ? "end" : "middle");
        svg += fmt::format(
            R"~(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="#999999" stroke-width="1"/>
<text x="{0:.1f}" y="{3:.1f}" font-size="11" text-anchor="{4}" fill="#333333">{5}</text>
)~",
            g.x(t), g.top + g.plot_height(), g.top + g.plot_height() + 5,
            g.top + g.plot_height() + 18, anchor, html_escape(axis_time(t, span)));
    }
    svg += fmt::format(
        R"~(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="#333333" stroke-width="1"/>
<line x1="{0:.1f}" y1="{2:.1f}" x2="{3:.1f}" y2="{2:.1f}" stroke="#333333" stroke-width="1"/>
<text x="{4:.1f}" y="{5:.1f}" font-size="11" text-anchor="middle" fill="#333333">time (UTC)</text>
<text x="14" y="{6:.1f}" font-size="11" text-anchor="middle" fill="#333333" transform="rotate(-90 14 {6:.1f})">seats</text>
)~",
        g.left, g.top, g.top + g.plot_height(), g.left + g.plot_width(),
        g.left + g.plot_width() / 2, g.height - 6, g.top + g.plot_height() / 2);

    // Seats in use: a filled step area and its outline.
    const auto steps = chart_steps(usage.steps, range, static_cast<std::size_t>(g.plot_width()));
    std::string outline;
    for (std::size_t k = 0; k < steps.size(); ++k) {
        const double x = g.x(steps[k].at);
        const double y = g.y(steps[k].in_use);
        outline +=
            k == 0 ? fmt::format("M{:.1f},{:.1f}", x, y) : fmt::format(" H{:.1f} V{:.1f}", x, y);
    }
    outline += fmt::format(" H{:.1f}", g.x(range.to));
    svg += fmt::format(
        R"~(<path d="M{:.1f},{:.1f} L{} V{:.1f} Z" fill="#6baed6" fill-opacity="0.45" stroke="none"/>
<path class="in-use" d="{}" fill="none" stroke="#08519c" stroke-width="2"/>
)~",
        g.x(range.from), g.y(0), std::string_view(outline).substr(1), g.y(0), outline);

    // Licensed count and overage limit while the entitlement was in force.
    const std::int64_t on = std::max(range.from, ent.in_force_from());
    const std::int64_t off = std::min(range.to, ent.in_force_until().value_or(range.to));
    if (on < off && count) {
        svg += fmt::format(
            R"~(<line class="licensed" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#238b45" stroke-width="2.5"/>
)~",
            g.x(on), g.y(*count), g.x(off), g.y(*count));
        if (limit && *limit > *count) {
            svg += fmt::format(
                R"~(<line class="overage-limit" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#d94801" stroke-width="2" stroke-dasharray="7 4"/>
)~",
                g.x(on), g.y(*limit), g.x(off), g.y(*limit));
        }
    }

    // Legend.
    double lx = g.left;
    const double ly = 14;
    svg += fmt::format(
        R"~(<rect x="{:.1f}" y="{:.1f}" width="14" height="10" fill="#6baed6" fill-opacity="0.45" stroke="#08519c" stroke-width="2"/>
<text x="{:.1f}" y="{:.1f}" font-size="12" fill="#111111">in use (peak {})</text>
)~",
        lx, ly - 9, lx + 20, ly, usage.peak);
    lx += 150;
    if (count) {
        svg += fmt::format(
            R"~(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#238b45" stroke-width="2.5"/>
<text x="{:.1f}" y="{:.1f}" font-size="12" fill="#111111">licensed ({})</text>
)~",
            lx, ly - 4, lx + 16, ly - 4, lx + 22, ly, *count);
        lx += 130;
        if (limit && *limit > *count) {
            svg += fmt::format(
                R"~(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#d94801" stroke-width="2" stroke-dasharray="7 4"/>
<text x="{:.1f}" y="{:.1f}" font-size="12" fill="#111111">overage limit ({})</text>
)~",
                lx, ly - 4, lx + 16, ly - 4, lx + 22, ly, *limit);
        }
    } else {
        svg += fmt::format(
            R"~(<text x="{:.1f}" y="{:.1f}" font-size="12" fill="#111111">licensed: unlimited</text>
)~",
            lx, ly);
    }
    svg += "</svg>\n";
    return svg;
}

nlohmann::json entitlement_identity_json(const EntitlementInfo& e) {
    const auto opt = [](const std::optional<std::int64_t>& v) {
        return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    };
    return {{"entitlement", e.key},
            {"license", e.license_jti},
            {"id", e.id},
            {"customer", e.customer},
            {"issuer", e.issuer},
            {"feature", e.feature},
            {"model", e.model},
            {"count", opt(e.count)},
            {"overage_limit", opt(e.seat_limit())},
            {"license_state", e.license_state}};
}

}  // namespace entitle::report
