// Plain-text output helpers shared by the command-line tools: aligned tables,
// UTC times, and escaping of text that came from a server before it reaches
// a terminal.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace entitle::tools {

// Columns padded to their widest cell, two spaces apart, a header row first.
// Cells are shown through terminal_safe(). Widths count bytes, so non-ASCII
// text may misalign but is never altered.
class TextTable {
  public:
    explicit TextTable(std::vector<std::string> headers);

    // A row shorter than the header is padded with empty cells; extra cells
    // are a programming error (std::invalid_argument).
    void add_row(std::vector<std::string> cells);
    [[nodiscard]] bool empty() const noexcept { return rows_.empty(); }
    void print(std::ostream& out) const;

  private:
    std::vector<std::string> headers_;
    std::vector<std::vector<std::string>> rows_;
};

// Control characters (C0, DEL) become "\xNN", so a hostile server cannot
// send escape sequences to the operator's terminal.
[[nodiscard]] std::string terminal_safe(std::string_view text);

// "2026-01-02T03:04:05Z" for Unix seconds.
[[nodiscard]] std::string format_utc_seconds(std::int64_t seconds);
// "2026-01-02T03:04:05.678Z" for Unix milliseconds.
[[nodiscard]] std::string format_utc_millis(std::int64_t millis);

}  // namespace entitle::tools
