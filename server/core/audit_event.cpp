#include "core/audit_event.hpp"

#include <charconv>
#include <string_view>

#include <fmt/format.h>

#include "core/json_text.hpp"
#include "crypto/digest.hpp"

namespace entitle {

namespace {

using json = nlohmann::json;

// UTF-8 bytes order strings by code point, which is also their UTF-16 order
// unless a string holds a code point from U+E000 up (lead byte 0xEE or more):
// surrogate pairs sort those above U+10000 below U+E000..U+FFFF.
bool byte_order_is_utf16_order(std::string_view s) {
    for (unsigned char c : s) {
        if (c >= 0xee) return false;
    }
    return true;
}

// RFC 8785 orders object members by their names as UTF-16 code units.
bool utf16_less(const std::string& a, const std::string& b) {
    auto units = [](const std::string& s) {
        std::u16string out;
        for (std::size_t i = 0; i < s.size();) {
            const auto c = static_cast<unsigned char>(s[i]);
            char32_t cp;
            int len;
            if (c < 0x80) { cp = c; len = 1; }
            else if ((c >> 5) == 0x6) { cp = c & 0x1f; len = 2; }
            else if ((c >> 4) == 0xe) { cp = c & 0x0f; len = 3; }
            else { cp = c & 0x07; len = 4; }
            for (int k = 1; k < len && i + static_cast<std::size_t>(k) < s.size(); ++k) {
                cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3f);
            }
            i += static_cast<std::size_t>(len);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
                out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
            } else {
                out.push_back(static_cast<char16_t>(cp));
            }
        }
        return out;
    };
    return units(a) < units(b);
}

void append_integer(std::string& out, auto v) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

void append_canonical(std::string& out, const json& v) {
    switch (v.type()) {
        case json::value_t::object: {
            out.push_back('{');
            bool first = true;
            auto member = [&](const std::string& k, const json& value) {
                if (!first) out.push_back(',');
                first = false;
                append_json_string(out, k);
                out.push_back(':');
                append_canonical(out, value);
            };
            // nlohmann's object is a std::map: already in byte order, which is
            // the canonical order unless a name holds U+E000 or above.
            bool map_order = true;
            for (auto it = v.begin(); it != v.end() && map_order; ++it) map_order = byte_order_is_utf16_order(it.key());
            if (map_order) {
                for (auto it = v.begin(); it != v.end(); ++it) member(it.key(), it.value());
            } else {
                std::vector<const std::string*> keys;
                keys.reserve(v.size());
                for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(&it.key());
                std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return utf16_less(*a, *b); });
                for (const auto* k : keys) member(*k, v.at(*k));
            }
            out.push_back('}');
            break;
        }
        case json::value_t::array: {
            out.push_back('[');
            bool first = true;
            for (const auto& e : v) {
                if (!first) out.push_back(',');
                first = false;
                append_canonical(out, e);
            }
            out.push_back(']');
            break;
        }
        case json::value_t::string: append_json_string(out, v.get_ref<const std::string&>()); break;
        case json::value_t::number_integer: append_integer(out, v.get<std::int64_t>()); break;
        case json::value_t::number_unsigned: append_integer(out, v.get<std::uint64_t>()); break;
        case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
        case json::value_t::null: out += "null"; break;
        default:
            // Events never carry floating-point numbers (contract: numbers are integers).
            throw std::invalid_argument("canonical_json: unsupported JSON value (float or binary)");
    }
}

// A strict reader for is_plain_canonical_json: no whitespace, no escapes,
// ASCII only, integers without sign on zero, fraction or exponent.
class PlainCanonical {
public:
    explicit PlainCanonical(std::string_view t) : t_(t) {}
    // Printable ASCII without a backslash throughout (one pass, a word at a
    // time), so the strings need no check of their own but their end.
    bool whole() {
        return json_plain_run(t_, true, false) == t_.size() && value(0) && i_ == t_.size();
    }

private:
    static constexpr int kMaxDepth = 32;

    bool value(int depth) {
        if (i_ >= t_.size()) return false;
        switch (t_[i_]) {
            case '{': return object(depth + 1);
            case '[': return array(depth + 1);
            case '"': return string(nullptr);
            case 't': return word("true");
            case 'f': return word("false");
            case 'n': return word("null");
            default: return integer();
        }
    }
    bool word(std::string_view w) {
        if (t_.substr(i_, w.size()) != w) return false;
        i_ += w.size();
        return true;
    }
    bool string(std::string_view* out) {
        const std::size_t start = ++i_;
        i_ = t_.find('"', start);  // no escapes (whole()), so the first quote ends it
        if (i_ == std::string_view::npos) return false;
        if (out) *out = t_.substr(start, i_ - start);
        ++i_;
        return true;
    }
    bool integer() {
        const std::size_t start = i_;
        if (t_[i_] == '-') ++i_;
        const std::size_t digits = i_;
        while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') ++i_;
        const std::size_t n = i_ - digits;
        if (n == 0 || n > 18) return false;
        if (t_[digits] == '0' && (n > 1 || digits != start)) return false;  // 01, -0
        return true;
    }
    bool object(int depth) {
        if (depth > kMaxDepth) return false;
        ++i_;
        if (i_ < t_.size() && t_[i_] == '}') return ++i_, true;
        std::string_view previous;
        for (bool first = true;; first = false) {
            std::string_view name;
            if (i_ >= t_.size() || t_[i_] != '"' || !string(&name)) return false;
            if (!first && !(previous < name)) return false;  // ASCII: byte order is UTF-16 order
            previous = name;
            if (i_ >= t_.size() || t_[i_++] != ':' || !value(depth)) return false;
            if (i_ >= t_.size()) return false;
            if (t_[i_] == '}') return ++i_, true;
            if (t_[i_++] != ',') return false;
        }
    }
    bool array(int depth) {
        if (depth > kMaxDepth) return false;
        ++i_;
        if (i_ < t_.size() && t_[i_] == ']') return ++i_, true;
        for (;;) {
            if (!value(depth) || i_ >= t_.size()) return false;
            if (t_[i_] == ']') return ++i_, true;
            if (t_[i_++] != ',') return false;
        }
    }

    std::string_view t_;
    std::size_t i_ = 0;
};

}  // namespace

bool is_plain_canonical_json(std::string_view text) noexcept { return PlainCanonical(text).whole(); }

std::string canonical_json(const json& value) {
    std::string out;
    append_canonical(out, value);
    return out;
}

std::string audit_event_hash(const AuditEvent& e) {
    // canonical_json({seq, ts, kind, actor, subject, detail}) written out
    // directly, members in their canonical order, after "prev_hash\n".
    // One buffer per thread, kept across calls: a verify hashes millions.
    thread_local std::string text;
    text.clear();
    text += e.prev_hash;
    text += "\n{\"actor\":";
    append_json_string(text, e.actor);
    text += ",\"detail\":";
    if (e.detail_text.empty()) {
        append_canonical(text, e.detail);
    } else if (is_plain_canonical_json(e.detail_text)) {
        text += e.detail_text;
    } else {
        // Stored text in another form: what it holds is hashed; text that
        // is not JSON at all counts as a JSON string, so it shows as edited.
        auto parsed = json::parse(e.detail_text, nullptr, false);
        append_canonical(text, parsed.is_discarded() ? json(e.detail_text) : parsed);
    }
    text += ",\"kind\":";
    append_json_string(text, e.kind);
    text += ",\"seq\":";
    append_integer(text, e.seq);
    text += ",\"subject\":";
    append_json_string(text, e.subject);
    text += ",\"ts\":";
    append_integer(text, e.ts);
    text += '}';
    return crypto::sha256_hex(text);
}

json audit_event_to_json(const AuditEvent& e) {
    return {{"seq", e.seq},         {"ts", e.ts},           {"kind", e.kind},
            {"actor", e.actor},     {"subject", e.subject}, {"detail", e.detail},
            {"prev_hash", e.prev_hash}, {"hash", e.hash}};
}

void AuditChainVerifier::start_after(std::int64_t seq, std::string hash) {
    head_seq_ = seq;
    head_hash_ = std::move(hash);
}

bool AuditChainVerifier::feed(const AuditEvent& e) {
    if (problem_ != Problem::none) return false;
    if (e.seq != head_seq_ + 1) return feed(e, e.hash);  // reported as missing or reordered, unhashed
    return feed(e, audit_event_hash(e));
}

bool AuditChainVerifier::feed(const AuditEvent& e, std::string_view computed_hash) {
    if (problem_ != Problem::none) return false;
    const std::int64_t expected = head_seq_ + 1;
    auto broken = [&](Problem p, std::int64_t at) {
        problem_ = p;
        broken_seq_ = at;
        return false;
    };
    if (e.seq != expected) {
        if (e.seq > expected) return broken(Problem::missing, expected);
        return broken(Problem::reordered, e.seq);
    }
    if (computed_hash != e.hash) return broken(Problem::edited, e.seq);
    if (e.prev_hash != head_hash_) {
        return broken(expected == 1 ? Problem::bad_start : Problem::bad_link, e.seq);
    }
    ++count_;
    head_seq_ = e.seq;
    head_hash_ = e.hash;
    return true;
}

std::string AuditChainVerifier::description() const {
    switch (problem_) {
        case Problem::none: return fmt::format("intact: {} events, head seq {} hash {}", count_, head_seq_, head_hash_);
        case Problem::edited: return fmt::format("event {} was edited: its hash does not match its content", broken_seq_);
        case Problem::missing: return fmt::format("event {} is missing", broken_seq_);
        case Problem::reordered: return fmt::format("event {} is out of order (after {})", broken_seq_, head_seq_);
        case Problem::bad_link: return fmt::format("event {} does not link to event {} (prev_hash differs)", broken_seq_, broken_seq_ - 1);
        case Problem::bad_start: return fmt::format("event {} does not start the chain (prev_hash is not 64 zeros)", broken_seq_);
    }
    return "unknown";
}

}  // namespace entitle
