#include "entitle_report/report_time.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

using namespace entitle::report;

TEST_CASE("report times accept Unix seconds and ISO 8601 dates and times") {
    CHECK(parse_report_time("1767225600") == 1'767'225'600);
    CHECK(parse_report_time("2026-01-01") == 1'767'225'600);
    CHECK(parse_report_time("2026-01-01T01:30") == 1'767'225'600 + 5'400);
    CHECK(parse_report_time("2026-01-01T01:30:15Z") == 1'767'225'600 + 5'415);
    CHECK(parse_report_time("2026-01-01 01:30:15") == 1'767'225'600 + 5'415);
    CHECK(parse_report_time("2026-01-01T02:00:00+01:00") == 1'767'225'600 + 3'600);
    CHECK(parse_report_time("2025-12-31T23:00:00-0100") == 1'767'225'600);
    CHECK(parse_report_time("2024-02-29") == 1'709'164'800);
    CHECK(parse_report_time("1970-01-01T00:00:00Z") == 0);
}

TEST_CASE("report times refuse what is not a time, naming the text") {
    for (const char* bad :
         {"", "yesterday", "2026-13-01", "2026-02-29", "2026-01-01T24:00", "2026-01-01T10",
          "2026-1-1", "2026-01-01T10:00:00+25:00", "2026-01-01T10:00:00Q", "-5", "1234567890123"}) {
        const auto r = parse_report_time(bad);
        CHECK_MESSAGE(!r.has_value(), bad);
        if (!r) CHECK(r.error().find(std::string("'") + bad + "'") != std::string::npos);
    }
}

TEST_CASE("days_from_civil matches known dates") {
    CHECK(days_from_civil(1970, 1, 1) == 0);
    CHECK(days_from_civil(2000, 3, 1) == 11'017);
    CHECK(days_from_civil(1969, 12, 31) == -1);
}
