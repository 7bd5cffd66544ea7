#include "common/text_output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>

namespace entitle::tools {

TextTable::TextTable(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void TextTable::add_row(std::vector<std::string> cells) {
    if (cells.size() > headers_.size()) {
        throw std::invalid_argument("TextTable::add_row: more cells than columns");
    }
    cells.resize(headers_.size());
    for (auto& cell : cells) cell = terminal_safe(cell);
    rows_.push_back(std::move(cells));
}

void TextTable::print(std::ostream& out) const {
    std::vector<std::size_t> widths(headers_.size());
    for (std::size_t i = 0; i < headers_.size(); ++i) widths[i] = headers_[i].size();
    for (const auto& row : rows_) {
        for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    auto print_row = [&](const std::vector<std::string>& row) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out << line << '\n';
    };
    print_row(headers_);
    for (const auto& row : rows_) print_row(row);
}

std::string terminal_safe(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out.push_back(ch);
        }
    }
    return out;
}

namespace {

// Floor division, so times before 1970 still format correctly.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

std::string format_utc(std::int64_t seconds, const char* fractional) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) return fmt::format("@{}", seconds);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fractional);
}

}  // namespace

std::string format_utc_seconds(std::int64_t seconds) { return format_utc(seconds, ""); }

std::string format_utc_millis(std::int64_t millis) {
    const std::int64_t seconds = floor_div(millis, 1000);
    const std::string fraction = fmt::format(".{:03}", millis - seconds * 1000);
    return format_utc(seconds, fraction.c_str());
}

}  // namespace entitle::tools
