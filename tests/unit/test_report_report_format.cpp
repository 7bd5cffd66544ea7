#include "entitle_report/report_format.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

using namespace entitle::report;

TEST_CASE("CSV fields are quoted only when RFC 4180 needs it") {
    CHECK(csv_field("plain") == "plain");
    CHECK(csv_field("a,b") == "\"a,b\"");
    CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csv_field("two\nlines") == "\"two\nlines\"");
    CHECK(csv_field("") == "");
    CHECK(csv_row({"a", "b,c", ""}) == "a,\"b,c\",\r\n");
}

TEST_CASE("HTML escaping covers markup and quotes and drops control characters") {
    CHECK(html_escape("<b>&\"'") == "&lt;b&gt;&amp;&quot;&#39;");
    CHECK(html_escape(std::string("a\x1b[31m")) == "a&#xFFFD;[31m");
}

TEST_CASE("formats and numbers print as the reports show them") {
    CHECK(format_named("html") == Format::html);
    CHECK_FALSE(format_named("pdf").has_value());
    CHECK(average_text(1.0 / 3.0) == "0.33");
    CHECK(average_rounded(2.0 / 3.0) == doctest::Approx(0.6667));
    CHECK(count_text(std::nullopt) == "unlimited");
    CHECK(time_text(1'767'225'600) == "2026-01-01T00:00:00Z");
    CHECK(time_text(std::nullopt) == "-");
}

TEST_CASE("the usage chart is self-contained SVG with the in-use, licensed and limit lines") {
    EntitlementUsage u;
    u.entitlement.key = "L/<c>";
    u.entitlement.model = "concurrent";
    u.entitlement.count = 2;
    u.entitlement.overage_allow = true;
    u.entitlement.overage_limit_percent = 50;
    u.peak = 3;
    u.steps = {{0, 0}, {100, 3}, {200, 1}};
    const auto svg = usage_chart_svg(u, {0, 3'600, 3'600});
    CHECK(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    CHECK(svg.find("class=\"in-use\"") != std::string::npos);
    CHECK(svg.find("class=\"licensed\"") != std::string::npos);
    CHECK(svg.find("class=\"overage-limit\"") != std::string::npos);
    CHECK(svg.find("L/&lt;c&gt;") != std::string::npos);
    CHECK(svg.find("<script") == std::string::npos);
    CHECK(svg.find("href") == std::string::npos);
}

TEST_CASE("a chart of many steps keeps each pixel column's peak") {
    EntitlementUsage u;
    u.entitlement.key = "L/c";
    u.entitlement.count = 10;
    for (std::int64_t i = 0; i < 10'000; ++i) u.steps.push_back({i * 10, i == 5'000 ? 9 : i % 2});
    u.peak = 9;
    const auto svg = usage_chart_svg(u, {0, 100'000, 3'600});
    CHECK(svg.size() < 200'000);  // not one path segment per step
    // The ten-second spike to 9 is still drawn: y(9) = 34 + 202 - 9/12 * 202 = 84.5
    // (the axis tops out at 12 with ticks of 2).
    CHECK(svg.find("V84.5") != std::string::npos);
}
