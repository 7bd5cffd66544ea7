// Writing JSON text directly, for the few answers built often enough that
// building an nlohmann object first would cost more than the answer itself
// (lease tokens and grants). The output is byte for byte what nlohmann's
// dump() writes for the same values (and RFC 8785's string form).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace entitle {

// Appends `s` as a JSON string: the two-character escapes for \b \t \n \f \r
// \" \\, \u00xx (lowercase hex) for other control characters, everything else
// (including non-ASCII, as UTF-8) as is. `s` must be valid UTF-8.
void append_json_string(std::string& out, std::string_view s);

// The length of the longest prefix of `s` that a JSON string holds as is:
// no byte below 0x20, no '"' (unless `quotes_too` is false) and no '\\';
// with `ascii_only`, no byte above 0x7e either. Eight bytes at a time.
[[nodiscard]] std::size_t json_plain_run(std::string_view s, bool ascii_only,
                                         bool quotes_too = true) noexcept;

// Appends `v` as a JSON number.
void append_json_int(std::string& out, std::int64_t v);

}  // namespace entitle
