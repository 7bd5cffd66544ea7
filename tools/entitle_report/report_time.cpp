#include "entitle_report/report_time.hpp"

#include <fmt/format.h>

#include <cctype>
#include <optional>

namespace entitle::report {

namespace {

// Reads exactly `n` digits at `pos`.
std::optional<std::int64_t> digits(std::string_view s, std::size_t& pos, std::size_t n) {
    if (pos + n > s.size()) return std::nullopt;
    std::int64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    pos += n;
    return v;
}

bool take(std::string_view s, std::size_t& pos, char c) {
    if (pos < s.size() && s[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

bool leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

}  // namespace

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::expected<std::int64_t, std::string> parse_report_time(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return std::unexpected(fmt::format(
            "'{}' is not a time: {} (give Unix seconds, or an ISO 8601 date such as 2026-01-31 or "
            "2026-01-31T13:00:00Z)",
            text, why));
    };
    if (text.empty()) return bad("it is empty");
    if (text.find_first_not_of("0123456789") == std::string_view::npos) {
        if (text.size() > 12) return bad("too many digits for Unix seconds");
        std::int64_t v = 0;
        for (char c : text) v = v * 10 + (c - '0');
        return v;
    }
    std::size_t pos = 0;
    const auto y = digits(text, pos, 4);
    if (!y || !take(text, pos, '-')) return bad("expected YYYY-MM-DD");
    const auto mo = digits(text, pos, 2);
    if (!mo || !take(text, pos, '-')) return bad("expected YYYY-MM-DD");
    const auto d = digits(text, pos, 2);
    if (!d) return bad("expected YYYY-MM-DD");
    if (*mo < 1 || *mo > 12) return bad("the month is not 01 to 12");
    if (*d < 1 || *d > days_in_month(*y, static_cast<unsigned>(*mo))) {
        return bad("the day does not exist in that month");
    }
    std::int64_t seconds = 0;
    if (pos < text.size()) {
        if (!take(text, pos, 'T') && !take(text, pos, 't') && !take(text, pos, ' ')) {
            return bad("expected T between the date and the time");
        }
        const auto h = digits(text, pos, 2);
        if (!h || !take(text, pos, ':')) return bad("expected HH:MM");
        const auto mi = digits(text, pos, 2);
        if (!mi) return bad("expected HH:MM");
        std::int64_t s = 0;
        if (take(text, pos, ':')) {
            const auto sec = digits(text, pos, 2);
            if (!sec) return bad("expected HH:MM:SS");
            s = *sec;
        }
        if (*h > 23 || *mi > 59 || s > 59) return bad("the time of day is out of range");
        seconds = *h * 3600 + *mi * 60 + s;
        if (take(text, pos, 'Z') || take(text, pos, 'z')) {
            // UTC
        } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
            const int sign = text[pos] == '-' ? -1 : 1;
            ++pos;
            const auto oh = digits(text, pos, 2);
            if (!oh) return bad("expected an offset such as +02:00");
            take(text, pos, ':');
            const auto om = digits(text, pos, 2);
            if (!om || *oh > 23 || *om > 59) return bad("expected an offset such as +02:00");
            seconds -= sign * (*oh * 3600 + *om * 60);
        }
    }
    if (pos != text.size()) return bad("unexpected text at the end");
    return days_from_civil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d)) * 86'400 +
           seconds;
}

}  // namespace entitle::report
