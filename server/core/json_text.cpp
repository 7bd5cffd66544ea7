#include "core/json_text.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace entitle {

namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// Per byte of `w`, the high bit set where the byte is zero (exact for the
// "any" question asked here, as in the well-known haszero()).
constexpr std::uint64_t zero_bytes(std::uint64_t w) { return (w - kOnes) & ~w & kHighs; }

// High bit set in some byte when a byte of `w` needs escaping or (with
// `ascii_only`) is not printable ASCII: below 0x20, '"', '\\', above 0x7e.
constexpr std::uint64_t special_bytes(std::uint64_t w, bool ascii_only, bool quotes) {
    std::uint64_t m = (w - kOnes * 0x20) & ~w & kHighs;  // a byte < 0x20
    if (quotes) m |= zero_bytes(w ^ (kOnes * '"'));
    m |= zero_bytes(w ^ (kOnes * '\\'));
    if (ascii_only) m |= ((w + kOnes * (127 - 0x7e)) | w) & kHighs;  // a byte > 0x7e
    return m;
}

bool special_byte(unsigned char c, bool ascii_only, bool quotes) {
    return c < 0x20 || (quotes && c == '"') || c == '\\' || (ascii_only && c > 0x7e);
}

}  // namespace

std::size_t json_plain_run(std::string_view s, bool ascii_only, bool quotes_too) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        if (special_bytes(w, ascii_only, quotes_too) != 0) break;
    }
    while (i < s.size() && !special_byte(static_cast<unsigned char>(s[i]), ascii_only, quotes_too)) ++i;
    return i;
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (;;) {
        const std::size_t plain = json_plain_run(s, false);
        out.append(s.data(), plain);
        if (plain == s.size()) break;
        const auto c = static_cast<unsigned char>(s[plain]);
        s.remove_prefix(plain + 1);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\f': out += "\\f"; break;
            case '\r': out += "\\r"; break;
            default: {
                const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
                out.append(esc, sizeof esc);
            }
        }
    }
    out.push_back('"');
}

void append_json_int(std::string& out, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

CanonicalObject& CanonicalObject::member(std::string_view name, std::size_t begin) {
    members_.push_back({name, begin, values_.size()});
    return *this;
}

CanonicalObject& CanonicalObject::add(std::string_view name, std::string_view value) {
    const std::size_t begin = values_.size();
    append_json_string(values_, value);
    return member(name, begin);
}

CanonicalObject& CanonicalObject::add(std::string_view name, std::int64_t value) {
    const std::size_t begin = values_.size();
    append_json_int(values_, value);
    return member(name, begin);
}

CanonicalObject& CanonicalObject::add(std::string_view name, bool value) {
    const std::size_t begin = values_.size();
    values_ += value ? "true" : "false";
    return member(name, begin);
}

CanonicalObject& CanonicalObject::add_null(std::string_view name) {
    const std::size_t begin = values_.size();
    values_ += "null";
    return member(name, begin);
}

std::string CanonicalObject::text() const {
    std::vector<const Member*> order;
    order.reserve(members_.size());
    std::size_t size = 2;
    for (const auto& m : members_) {
        order.push_back(&m);
        size += m.name.size() + 4 + (m.end - m.begin);
    }
    std::sort(order.begin(), order.end(), [](const Member* a, const Member* b) { return a->name < b->name; });
    std::string out;
    out.reserve(size);
    out.push_back('{');
    for (const Member* m : order) {
        if (out.size() > 1) out.push_back(',');
        append_json_string(out, m->name);
        out.push_back(':');
        out.append(values_, m->begin, m->end - m->begin);
    }
    out.push_back('}');
    return out;
}

}  // namespace entitle
