// Writing JSON text directly, for the few answers built often enough that
// building an nlohmann object first would cost more than the answer itself
// (lease tokens and grants). The output is byte for byte what nlohmann's
// dump() writes for the same values (and RFC 8785's string form).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// A flat JSON object written in canonical form (RFC 8785: members in order
// of their names, no whitespace) without building an nlohmann value first,
// for the audit details the store writes with every lease event. Member
// names must be ASCII and distinct (byte order is then canonical order);
// values are strings, integers, booleans or null. text() is byte for byte
// canonical_json() of the same object.
class CanonicalObject {
public:
    CanonicalObject& add(std::string_view name, std::string_view value);
    CanonicalObject& add(std::string_view name, const char* value) { return add(name, std::string_view(value)); }
    CanonicalObject& add(std::string_view name, std::int64_t value);
    CanonicalObject& add(std::string_view name, bool value);
    CanonicalObject& add_null(std::string_view name);
    CanonicalObject& add(std::string_view name, std::optional<std::int64_t> value) {
        return value ? add(name, *value) : add_null(name);
    }
    [[nodiscard]] std::string text() const;

private:
    struct Member {
        std::string_view name;  // the caller's (a literal)
        std::size_t begin, end;  // the value's text in values_
    };
    CanonicalObject& member(std::string_view name, std::size_t begin);
    std::vector<Member> members_;
    std::string values_;
};

}  // namespace entitle
