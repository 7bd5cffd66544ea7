#include "crypto/jws.hpp"

#include <array>
#include <set>
#include <stdexcept>
#include <vector>

#include "crypto/base64url.hpp"

namespace entitle::crypto {
namespace {

constexpr std::size_t kSignatureSize = 64;
constexpr std::string_view kAlgorithm = "EdDSA";

// `s` as a JSON string literal for an error message: quotes and control
// characters escaped, and cut short so that a hostile token cannot flood a log.
std::string json_quoted(std::string_view s) {
    constexpr std::size_t kMaxShown = 64;
    const bool cut = s.size() > kMaxShown;
    std::string quoted = nlohmann::json(std::string(s.substr(0, kMaxShown)))
                             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (cut) quoted += "...";
    return quoted;
}

bool is_base64url_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool is_whitespace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Decodes one segment, naming the first rule it breaks.
std::expected<std::string, std::string> decode_segment(std::string_view segment,
                                                       std::string_view name) {
    const std::string prefix = std::string(name) + " segment ";
    if (segment.empty()) return std::unexpected(prefix + "is empty");
    for (const char c : segment) {
        if (c == '=') return std::unexpected(prefix + "has '=' padding, which JWS forbids");
        if (is_whitespace(c)) return std::unexpected(prefix + "contains whitespace");
        if (!is_base64url_char(c)) {
            return std::unexpected(prefix + "contains a character outside the base64url alphabet");
        }
    }
    if (segment.size() % 4 == 1) {
        return std::unexpected(prefix + "has an impossible base64url length");
    }
    auto decoded = base64url_decode(segment);
    if (!decoded) {
        return std::unexpected(prefix + "is not canonical base64url (nonzero trailing bits)");
    }
    return std::move(*decoded);
}

// Parses the header JSON, refusing duplicate member names at any depth
// (RFC 7515 section 4 allows rejecting them, and "last one wins" would let
// two parsers disagree about the same token).
std::expected<nlohmann::json, std::string> parse_header_json(const std::string& text) {
    // nlohmann silently skips a UTF-8 byte order mark; RFC 8259 forbids sending one.
    if (text.starts_with("\xEF\xBB\xBF")) {
        return std::unexpected("header is not valid JSON (starts with a byte order mark)");
    }
    std::vector<std::set<std::string>> seen_keys;
    std::string duplicate;
    const nlohmann::json::parser_callback_t callback =
        [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
            switch (event) {
                case nlohmann::json::parse_event_t::object_start:
                    seen_keys.emplace_back();
                    break;
                case nlohmann::json::parse_event_t::object_end:
                    if (!seen_keys.empty()) seen_keys.pop_back();
                    break;
                case nlohmann::json::parse_event_t::key:
                    if (!seen_keys.empty() && parsed.is_string() &&
                        !seen_keys.back().insert(parsed.get<std::string>()).second &&
                        duplicate.empty()) {
                        duplicate = parsed.get<std::string>();
                    }
                    break;
                default:
                    break;
            }
            return true;
        };
    nlohmann::json header = nlohmann::json::parse(text, callback, /*allow_exceptions=*/false);
    if (header.is_discarded()) return std::unexpected("header is not valid JSON");
    if (!duplicate.empty()) {
        return std::unexpected("header has duplicate member " + json_quoted(duplicate));
    }
    if (!header.is_object()) return std::unexpected("header is not a JSON object");
    return header;
}

// The header member `name` as a string, or an error naming what is wrong.
std::expected<std::string, std::string> string_member(const nlohmann::json& header,
                                                      std::string_view name) {
    const auto it = header.find(std::string(name));
    if (it == header.end()) return std::unexpected("header has no " + json_quoted(name));
    if (!it->is_string()) {
        return std::unexpected("header " + json_quoted(name) + " is not a string");
    }
    return it->get<std::string>();
}

}  // namespace

std::string jws_sign(const nlohmann::json& header, std::string_view payload,
                     const Ed25519PrivateKey& key) {
    const auto alg = header.is_object() ? header.find("alg") : header.end();
    if (!header.is_object() || alg == header.end() || !alg->is_string() ||
        alg->get<std::string>() != kAlgorithm) {
        throw std::invalid_argument("jws_sign: header must be an object with \"alg\":\"EdDSA\"");
    }
    return jws_sign_encoded(base64url_encode(header.dump()), payload, key);
}

std::string jws_sign_encoded(std::string_view header_b64, std::string_view payload, const Ed25519PrivateKey& key,
                             const Ed25519Nonce* nonce, std::string_view nonce_context) {
    std::string compact;
    compact.reserve(header_b64.size() + 2 + (payload.size() + 2) / 3 * 4 + 86);
    compact.append(header_b64);
    compact.push_back('.');
    compact += base64url_encode(payload);
    const std::string signature = nonce ? key.sign(compact, *nonce, nonce_context) : key.sign(compact);
    compact.push_back('.');
    compact += base64url_encode(signature);
    return compact;
}

std::expected<JwsParts, std::string> jws_parse(std::string_view compact,
                                               std::string_view expected_typ) {
    std::array<std::string_view, 3> segments;
    std::size_t count = 0;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = compact.find('.', start);
        const std::string_view segment = compact.substr(start, dot - start);
        if (count < segments.size()) segments[count] = segment;
        ++count;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    if (count != 3) {
        return std::unexpected("compact JWS must have 3 dot-separated segments, found " +
                               std::to_string(count));
    }

    auto header_text = decode_segment(segments[0], "header");
    if (!header_text) return std::unexpected(header_text.error());
    auto payload = decode_segment(segments[1], "payload");
    if (!payload) return std::unexpected(payload.error());
    // The header is judged before the signature segment, so an unsigned
    // token ("alg":"none", empty signature) is refused for its alg.
    auto header = parse_header_json(*header_text);
    if (!header) return std::unexpected(header.error());

    const auto alg = string_member(*header, "alg");
    if (!alg) return std::unexpected(alg.error());
    if (*alg != kAlgorithm) {
        return std::unexpected("unsupported alg " + json_quoted(*alg) + ": only EdDSA is accepted");
    }
    if (header->contains("crit")) {
        return std::unexpected("header has \"crit\": no critical extensions are supported");
    }
    const auto typ = string_member(*header, "typ");
    if (!typ) return std::unexpected(typ.error() + " (expected " + json_quoted(expected_typ) + ")");
    if (*typ != expected_typ) {
        return std::unexpected("typ " + json_quoted(*typ) + " is not the expected " +
                               json_quoted(expected_typ));
    }
    const auto kid = string_member(*header, "kid");
    if (!kid) return std::unexpected(kid.error());
    if (kid->empty()) return std::unexpected("header \"kid\" is empty");

    auto signature = decode_segment(segments[2], "signature");
    if (!signature) return std::unexpected(signature.error());
    if (signature->size() != kSignatureSize) {
        return std::unexpected("signature is " + std::to_string(signature->size()) +
                               " bytes, Ed25519 needs 64");
    }

    JwsParts parts;
    parts.header = std::move(*header);
    parts.payload = std::move(*payload);
    parts.signing_input =
        std::string(compact.substr(0, segments[0].size() + 1 + segments[1].size()));
    parts.signature = std::move(*signature);
    return parts;
}

bool jws_verify(const JwsParts& parts, const Ed25519PublicKey& key) {
    if (parts.signature.size() != kSignatureSize) return false;
    return key.verify(parts.signing_input, parts.signature);
}

}  // namespace entitle::crypto
