#include "crypto/jws.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "crypto/base64url.hpp"
#include "crypto/ed25519.hpp"

using entitle::crypto::base64url_decode;
using entitle::crypto::base64url_encode;
using entitle::crypto::Ed25519PrivateKey;
using entitle::crypto::Ed25519PublicKey;
using entitle::crypto::jws_parse;
using entitle::crypto::jws_sign;
using entitle::crypto::jws_verify;
using entitle::crypto::JwsParts;

namespace {

constexpr std::string_view kTyp = "entitle-license+jws";
constexpr std::string_view kGoodHeader =
    R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"key-1"})";
constexpr std::string_view kPayload = R"({"licence":"L-1","seats":5})";

const Ed25519PrivateKey& signing_key() {
    static const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    return key;
}

// A correctly signed compact JWS over an arbitrary header text, so that each
// rejection below is caused by the rule under test and not by the signature.
std::string signed_with_header(std::string_view header_json, std::string_view payload = kPayload) {
    std::string input = base64url_encode(header_json) + "." + base64url_encode(payload);
    return input + "." + base64url_encode(signing_key().sign(input));
}

std::string good_token() { return signed_with_header(kGoodHeader); }

std::string parse_error(std::string_view compact, std::string_view typ = kTyp) {
    const auto parts = jws_parse(compact, typ);
    REQUIRE_FALSE(parts.has_value());
    return parts.error();
}

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

// Replaces the last character of a base64url segment by one that decodes to
// the same bytes but sets unused low bits (only possible when len % 4 != 0).
std::string with_dirty_trailing_bits(std::string segment) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    REQUIRE(segment.size() % 4 != 0);
    const std::size_t value = alphabet.find(segment.back());
    const std::size_t unused_mask = segment.size() % 4 == 2 ? 0x0F : 0x03;
    REQUIRE((value & unused_mask) == 0);
    segment.back() = alphabet[value | 1];
    return segment;
}

struct Segments {
    std::string header, payload, signature;
};

Segments split(const std::string& compact) {
    const auto a = compact.find('.');
    const auto b = compact.find('.', a + 1);
    return {compact.substr(0, a), compact.substr(a + 1, b - a - 1), compact.substr(b + 1)};
}

std::string join(const Segments& s) { return s.header + "." + s.payload + "." + s.signature; }

}  // namespace

// ---- signing and accepting -------------------------------------------------

TEST_CASE("jws_sign reproduces the RFC 8037 Appendix A.4 compact serialisation") {
    // The RFC's private key, as PKCS#8 (RFC 8410 prefix + seed d).
    const std::string seed = *base64url_decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
    std::string der =
        std::string("\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16) + seed;
    std::string b64 = base64url_encode(der);
    for (char& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (b64.size() % 4 != 0) b64.push_back('=');
    const auto key = Ed25519PrivateKey::from_pem("-----BEGIN " "PRIVATE KEY-----\n" + b64 +
                                                 "\n-----END PRIVATE KEY-----\n");
    REQUIRE(key.has_value());

    const std::string compact =
        jws_sign(nlohmann::json{{"alg", "EdDSA"}}, "Example of Ed25519 signing", *key);
    CHECK(compact ==
          "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
          "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_"
          "MuM0KAg");

    // That example has neither typ nor kid, so our strict parser refuses it.
    CHECK(contains(parse_error(compact, "JWT"), "typ"));
}

TEST_CASE("jws_sign output parses and verifies, exposing header, payload and signing input") {
    const nlohmann::json header = {{"alg", "EdDSA"}, {"typ", kTyp}, {"kid", "key-1"}};
    const std::string compact = jws_sign(header, kPayload, signing_key());
    const auto parts = jws_parse(compact, kTyp);
    REQUIRE(parts.has_value());
    CHECK(parts->header == header);
    CHECK(parts->payload == kPayload);
    CHECK(parts->signing_input == compact.substr(0, compact.rfind('.')));
    CHECK(parts->signature.size() == 64);
    CHECK(jws_verify(*parts, signing_key().public_key()));
}

TEST_CASE("jws_sign serialises the header with dump() and the payload bytes as given") {
    const nlohmann::json header = {{"kid", "k"}, {"alg", "EdDSA"}, {"typ", "t"}};
    const std::string payload("binary\0\xff payload", 16);
    const Segments s = split(jws_sign(header, payload, signing_key()));
    CHECK(base64url_decode(s.header) == header.dump());
    CHECK(base64url_decode(s.payload) == payload);
    CHECK(s.header.find('=') == std::string::npos);
    const auto parts = jws_parse(join(s), "t");
    REQUIRE(parts.has_value());
    CHECK(parts->payload == payload);
}

TEST_CASE("jws_sign refuses a header without alg EdDSA") {
    const std::string_view p = "x";
    CHECK_THROWS_AS((void)jws_sign(nlohmann::json::object(), p, signing_key()),
                    std::invalid_argument);
    CHECK_THROWS_AS((void)jws_sign(nlohmann::json{{"alg", "none"}}, p, signing_key()),
                    std::invalid_argument);
    CHECK_THROWS_AS((void)jws_sign(nlohmann::json::array({"EdDSA"}), p, signing_key()),
                    std::invalid_argument);
}

TEST_CASE("jws_parse accepts extra header members it does not know") {
    const auto parts = jws_parse(
        signed_with_header(R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"k","x":[1]})"),
        kTyp);
    REQUIRE(parts.has_value());
    CHECK(parts->header["x"] == nlohmann::json::array({1}));
}

// ---- alg -------------------------------------------------------------------

TEST_CASE("jws_parse refuses alg none") {
    const std::string header = base64url_encode(
        std::string_view(R"({"alg":"none","typ":"entitle-license+jws","kid":"key-1"})"));
    const std::string payload = base64url_encode(kPayload);
    // The classic unsecured JWS has an empty signature segment; it is refused
    // for its alg, which is what an operator needs to read ...
    CHECK(parse_error(header + "." + payload + ".") == "unsupported alg \"none\": only EdDSA is accepted");
    // ... and even with a real signature, alg none is refused by name.
    CHECK(parse_error(
              signed_with_header(R"({"alg":"none","typ":"entitle-license+jws","kid":"key-1"})")) ==
          "unsupported alg \"none\": only EdDSA is accepted");
}

TEST_CASE("jws_parse refuses alg HS256") {
    CHECK(parse_error(
              signed_with_header(R"({"alg":"HS256","typ":"entitle-license+jws","kid":"key-1"})")) ==
          "unsupported alg \"HS256\": only EdDSA is accepted");
}

TEST_CASE("jws_parse refuses alg RS256, ES256 and differently spelt EdDSA") {
    for (std::string_view alg : {"RS256", "ES256", "PS256", "eddsa", "EDDSA", "Ed25519", ""}) {
        CAPTURE(alg);
        nlohmann::json header = {{"alg", alg}, {"typ", kTyp}, {"kid", "key-1"}};
        CHECK(contains(parse_error(signed_with_header(header.dump())), "unsupported alg"));
    }
}

TEST_CASE("jws_parse error messages escape and shorten the values they quote") {
    nlohmann::json header = {{"alg", std::string(1000, 'A')}, {"typ", kTyp}, {"kid", "k"}};
    const std::string long_alg = parse_error(signed_with_header(header.dump()));
    CHECK(long_alg.size() < 150);
    CHECK(contains(long_alg, "\"...: only EdDSA is accepted"));

    header["alg"] = "none\n\"injected\"";
    CHECK(parse_error(signed_with_header(header.dump())) ==
          R"(unsupported alg "none\n\"injected\"": only EdDSA is accepted)");
}

TEST_CASE("jws_parse refuses a header without alg or with a non-string alg") {
    CHECK(parse_error(signed_with_header(R"({"typ":"entitle-license+jws","kid":"key-1"})")) ==
          "header has no \"alg\"");
    CHECK(parse_error(signed_with_header(
              R"({"alg":["EdDSA"],"typ":"entitle-license+jws","kid":"key-1"})")) ==
          "header \"alg\" is not a string");
    CHECK(contains(parse_error(signed_with_header(
                       R"({"alg":null,"typ":"entitle-license+jws","kid":"key-1"})")),
                   "not a string"));
}

// ---- typ -------------------------------------------------------------------

TEST_CASE("jws_parse refuses a typ other than the expected one") {
    CHECK(parse_error(good_token(), "entitle-lease+jws") ==
          "typ \"entitle-license+jws\" is not the expected \"entitle-lease+jws\"");
    CHECK(contains(parse_error(signed_with_header(R"({"alg":"EdDSA","typ":"JWT","kid":"key-1"})")),
                   "typ \"JWT\""));
    CHECK(contains(parse_error(signed_with_header(
                       R"({"alg":"EdDSA","typ":"ENTITLE-LICENSE+JWS","kid":"key-1"})")),
                   "is not the expected"));
}

TEST_CASE("jws_parse refuses a header without typ or with a non-string typ") {
    CHECK(parse_error(signed_with_header(R"({"alg":"EdDSA","kid":"key-1"})")) ==
          "header has no \"typ\" (expected \"entitle-license+jws\")");
    CHECK(contains(parse_error(signed_with_header(R"({"alg":"EdDSA","typ":1,"kid":"key-1"})")),
                   "\"typ\" is not a string"));
}

// ---- kid -------------------------------------------------------------------

TEST_CASE("jws_parse refuses a header without kid") {
    CHECK(parse_error(signed_with_header(R"({"alg":"EdDSA","typ":"entitle-license+jws"})")) ==
          "header has no \"kid\"");
}

TEST_CASE("jws_parse refuses an empty kid") {
    CHECK(parse_error(
              signed_with_header(R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":""})")) ==
          "header \"kid\" is empty");
}

TEST_CASE("jws_parse refuses a non-string kid") {
    for (std::string_view kid : {"1", "null", "true", "[\"key-1\"]", "{\"id\":\"key-1\"}"}) {
        CAPTURE(kid);
        const std::string header =
            std::string(R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":)") + std::string(kid) +
            "}";
        CHECK(parse_error(signed_with_header(header)) == "header \"kid\" is not a string");
    }
}

// ---- crit ------------------------------------------------------------------

TEST_CASE("jws_parse refuses a header with crit") {
    CHECK(contains(
        parse_error(signed_with_header(
            R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"k","crit":["exp"],"exp":1})")),
        "crit"));
    CHECK(contains(parse_error(signed_with_header(
                       R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"k","crit":[]})")),
                   "crit"));
    CHECK(contains(parse_error(signed_with_header(
                       R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"k","crit":null})")),
                   "crit"));
}

// ---- segment structure ------------------------------------------------------

TEST_CASE("jws_parse refuses 2 segments") {
    const Segments s = split(good_token());
    CHECK(parse_error(s.header + "." + s.payload) ==
          "compact JWS must have 3 dot-separated segments, found 2");
}

TEST_CASE("jws_parse refuses 4 segments") {
    CHECK(parse_error(good_token() + ".e30") ==
          "compact JWS must have 3 dot-separated segments, found 4");
    CHECK(contains(parse_error(good_token() + "."), "found 4"));
}

TEST_CASE("jws_parse refuses 1 or 5 segments and the empty string") {
    CHECK(contains(parse_error(""), "found 1"));
    CHECK(contains(parse_error(split(good_token()).header), "found 1"));
    CHECK(contains(parse_error(good_token() + ".a.b"), "found 5"));
    // The JWE compact serialization has five segments.
    CHECK(contains(parse_error("a.b.c.d.e"), "found 5"));
}

TEST_CASE("jws_parse refuses an empty header segment") {
    Segments s = split(good_token());
    s.header.clear();
    CHECK(parse_error(join(s)) == "header segment is empty");
}

TEST_CASE("jws_parse refuses an empty payload segment") {
    Segments s = split(good_token());
    s.payload.clear();
    CHECK(parse_error(join(s)) == "payload segment is empty");
}

TEST_CASE("jws_parse refuses an empty signature segment") {
    Segments s = split(good_token());
    s.signature.clear();
    CHECK(parse_error(join(s)) == "signature segment is empty");
}

// ---- base64url strictness ---------------------------------------------------

TEST_CASE("jws_parse refuses '=' padding in any segment") {
    Segments s = split(good_token());
    Segments padded = s;
    padded.signature += "==";
    CHECK(contains(parse_error(join(padded)), "signature segment has '=' padding"));
    padded = s;
    padded.header += "=";
    CHECK(contains(parse_error(join(padded)), "header segment has '=' padding"));
    padded = s;
    padded.payload += "=";
    CHECK(contains(parse_error(join(padded)), "payload segment has '=' padding"));
}

TEST_CASE("jws_parse refuses whitespace anywhere, including a trailing newline") {
    const std::string token = good_token();
    CHECK(parse_error(token + "\n") == "signature segment contains whitespace");
    CHECK(parse_error(token + "\r\n") == "signature segment contains whitespace");
    CHECK(parse_error(token + " ") == "signature segment contains whitespace");
    CHECK(parse_error(" " + token) == "header segment contains whitespace");
    CHECK(parse_error("\t" + token) == "header segment contains whitespace");
    Segments s = split(token);
    s.payload.insert(4, "\n");
    CHECK(parse_error(join(s)) == "payload segment contains whitespace");
}

TEST_CASE("jws_parse refuses trailing bytes after the signature") {
    const std::string token = good_token();
    CHECK(contains(parse_error(token + std::string(1, '\0')), "outside the base64url alphabet"));
    CHECK(contains(parse_error(token + "!"), "outside the base64url alphabet"));
    // Extra base64url characters change the signature length or encoding.
    CHECK_FALSE(jws_parse(token + "A", kTyp).has_value());
    CHECK_FALSE(jws_parse(token + "AA", kTyp).has_value());
    CHECK_FALSE(jws_parse(token + "AAAA", kTyp).has_value());
}

TEST_CASE("jws_parse refuses the standard base64 alphabet") {
    Segments s = split(good_token());
    s.signature[0] = '+';
    CHECK(contains(parse_error(join(s)), "outside the base64url alphabet"));
    s = split(good_token());
    s.payload[0] = '/';
    CHECK(contains(parse_error(join(s)), "outside the base64url alphabet"));
}

TEST_CASE("jws_parse refuses a segment whose length is 1 mod 4") {
    Segments s = split(good_token());
    s.signature += "AAA";  // 86 + 3 = 89 characters
    CHECK(contains(parse_error(join(s)), "impossible base64url length"));
}

TEST_CASE("jws_parse refuses non-canonical base64url (nonzero trailing bits)") {
    const Segments s = split(good_token());
    // 64 bytes encode to 86 characters, so the last one carries 4 unused bits.
    REQUIRE(s.signature.size() == 86);
    Segments dirty = s;
    dirty.signature = with_dirty_trailing_bits(s.signature);
    REQUIRE(jws_parse(join(s), kTyp).has_value());  // the original is canonical
    CHECK(parse_error(join(dirty)) ==
          "signature segment is not canonical base64url (nonzero trailing bits)");

    // The same rule holds for the header and the payload.
    const std::string header = R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"k12"})";
    const std::string payload = "abcd";
    REQUIRE(base64url_encode(header).size() % 4 != 0);
    REQUIRE(base64url_encode(payload).size() % 4 != 0);
    const Segments t = split(signed_with_header(header, payload));
    REQUIRE(jws_parse(join(t), kTyp).has_value());
    Segments h = t;
    h.header = with_dirty_trailing_bits(t.header);
    CHECK(contains(parse_error(join(h)), "header segment is not canonical"));
    Segments p = t;
    p.payload = with_dirty_trailing_bits(t.payload);
    CHECK(contains(parse_error(join(p)), "payload segment is not canonical"));
}

// ---- header JSON ------------------------------------------------------------

TEST_CASE("jws_parse refuses a header that is not valid JSON") {
    for (std::string_view text : {"not json", "{", R"({"alg":"EdDSA",})", R"({'alg':'EdDSA'})",
                                  R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"k"} x)",
                                  R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"k"}{})"}) {
        CAPTURE(text);
        CHECK(parse_error(signed_with_header(text)) == "header is not valid JSON");
    }
}

TEST_CASE("jws_parse refuses a header with invalid UTF-8 or a byte order mark") {
    CHECK(parse_error(signed_with_header(
              "{\"alg\":\"EdDSA\",\"typ\":\"entitle-license+jws\",\"kid\":\"\xff\"}")) ==
          "header is not valid JSON");
    CHECK(contains(parse_error(signed_with_header("\xEF\xBB\xBF" + std::string(kGoodHeader))),
                   "not valid JSON"));
}

TEST_CASE("jws_parse refuses a header that is JSON but not an object") {
    for (std::string_view text : {"[]", R"(["EdDSA"])", "\"EdDSA\"", "42", "null", "true"}) {
        CAPTURE(text);
        CHECK(parse_error(signed_with_header(text)) == "header is not a JSON object");
    }
}

TEST_CASE("jws_parse refuses a header with a duplicate member") {
    CHECK(parse_error(signed_with_header(
              R"({"alg":"none","alg":"EdDSA","typ":"entitle-license+jws","kid":"k"})")) ==
          "header has duplicate member \"alg\"");
    CHECK(contains(parse_error(signed_with_header(
                       R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"a","kid":"b"})")),
                   "duplicate member \"kid\""));
}

// ---- signature size ----------------------------------------------------------

TEST_CASE("jws_parse refuses a signature that is not 64 bytes") {
    Segments s = split(good_token());
    const std::string signature = *base64url_decode(s.signature);
    s.signature = base64url_encode(signature.substr(0, 63));
    CHECK(parse_error(join(s)) == "signature is 63 bytes, Ed25519 needs 64");
    s.signature = base64url_encode(signature + "x");
    CHECK(parse_error(join(s)) == "signature is 65 bytes, Ed25519 needs 64");
    s.signature = base64url_encode(signature + signature);
    CHECK(contains(parse_error(join(s)), "128 bytes"));
}

// ---- verification ------------------------------------------------------------

TEST_CASE("jws_verify refuses a tampered payload") {
    Segments s = split(good_token());
    s.payload = base64url_encode(std::string_view(R"({"licence":"L-1","seats":500})"));
    const auto parts = jws_parse(join(s), kTyp);
    REQUIRE(parts.has_value());                                   // well-formed, so it parses ...
    CHECK_FALSE(jws_verify(*parts, signing_key().public_key()));  // ... but does not verify
}

TEST_CASE("jws_verify refuses a tampered header") {
    Segments s = split(good_token());
    s.header = base64url_encode(
        std::string_view(R"({"alg":"EdDSA","typ":"entitle-license+jws","kid":"key-2"})"));
    const auto parts = jws_parse(join(s), kTyp);
    REQUIRE(parts.has_value());
    CHECK_FALSE(jws_verify(*parts, signing_key().public_key()));
}

TEST_CASE("jws_verify refuses a tampered signature") {
    Segments s = split(good_token());
    std::string signature = *base64url_decode(s.signature);
    signature[10] = static_cast<char>(signature[10] ^ 0x40);
    s.signature = base64url_encode(signature);
    const auto parts = jws_parse(join(s), kTyp);
    REQUIRE(parts.has_value());
    CHECK_FALSE(jws_verify(*parts, signing_key().public_key()));
}

TEST_CASE("jws_verify refuses a token signed by another key") {
    const auto parts = jws_parse(good_token(), kTyp);
    REQUIRE(parts.has_value());
    CHECK(jws_verify(*parts, signing_key().public_key()));
    CHECK_FALSE(jws_verify(*parts, Ed25519PrivateKey::generate().public_key()));
}

TEST_CASE("jws_verify refuses parts whose signing input or signature was altered") {
    auto parts = jws_parse(good_token(), kTyp);
    REQUIRE(parts.has_value());
    JwsParts altered = *parts;
    altered.signing_input += "x";
    CHECK_FALSE(jws_verify(altered, signing_key().public_key()));
    altered = *parts;
    altered.signature.pop_back();
    CHECK_FALSE(jws_verify(altered, signing_key().public_key()));
    altered = *parts;
    altered.signature.clear();
    CHECK_FALSE(jws_verify(altered, signing_key().public_key()));
}
