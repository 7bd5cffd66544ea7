#include "crypto/base64url.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

using entitle::crypto::base64url_decode;
using entitle::crypto::base64url_encode;

namespace {

struct Vector {
    std::string_view plain;
    std::string_view encoded;
};

// RFC 4648 section 10, with the padding removed as JOSE requires.
constexpr Vector kRfc4648Vectors[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

}  // namespace

TEST_CASE("base64url_encode matches the RFC 4648 test vectors without padding") {
    for (const auto& v : kRfc4648Vectors) {
        CAPTURE(v.plain);
        CHECK(base64url_encode(v.plain) == v.encoded);
    }
}

TEST_CASE("base64url_decode matches the RFC 4648 test vectors without padding") {
    for (const auto& v : kRfc4648Vectors) {
        CAPTURE(v.encoded);
        const auto decoded = base64url_decode(v.encoded);
        REQUIRE(decoded.has_value());
        CHECK(*decoded == v.plain);
    }
}

TEST_CASE("base64url uses '-' and '_' where base64 uses '+' and '/'") {
    const std::vector<std::uint8_t> bytes = {0xfb, 0xff, 0xbf};
    CHECK(base64url_encode(bytes) == "-_-_");
    CHECK(base64url_encode(std::string_view("\xfb\xff", 2)) == "-_8");
    CHECK(base64url_decode("-_-_") == std::string("\xfb\xff\xbf"));
    CHECK_FALSE(base64url_decode("+/+/").has_value());
}

TEST_CASE("base64url_encode of a byte span equals the encoding of the same string") {
    const std::vector<std::uint8_t> bytes = {'f', 'o', 'o', 'b', 'a', 'r'};
    CHECK(base64url_encode(bytes) == "Zm9vYmFy");
    CHECK(base64url_encode(std::span<const std::uint8_t>{}) == "");
}

TEST_CASE("base64url round-trips every byte value and every length up to 70") {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    CHECK(base64url_decode(base64url_encode(all)) == all);
    for (std::size_t len = 0; len <= 70; ++len) {
        const std::string s = all.substr(180, len);
        const std::string encoded = base64url_encode(s);
        CAPTURE(len);
        CHECK(encoded.size() == (len * 4 + 2) / 3);
        CHECK(encoded.find('=') == std::string::npos);
        CHECK(base64url_decode(encoded) == s);
    }
}

TEST_CASE("base64url_decode refuses padding") {
    CHECK_FALSE(base64url_decode("Zg==").has_value());
    CHECK_FALSE(base64url_decode("Zm8=").has_value());
    CHECK_FALSE(base64url_decode("Zm9v=").has_value());
    CHECK_FALSE(base64url_decode("====").has_value());
}

TEST_CASE("base64url_decode refuses whitespace anywhere") {
    CHECK_FALSE(base64url_decode(" Zm9v").has_value());
    CHECK_FALSE(base64url_decode("Zm9v ").has_value());
    CHECK_FALSE(base64url_decode("Zm9v\n").has_value());
    CHECK_FALSE(base64url_decode("Zm\r\n9v").has_value());
    CHECK_FALSE(base64url_decode("Zm\t9v").has_value());
}

TEST_CASE("base64url_decode refuses characters outside the alphabet") {
    CHECK_FALSE(base64url_decode("Zm+v").has_value());
    CHECK_FALSE(base64url_decode("Zm/v").has_value());
    CHECK_FALSE(base64url_decode("Zm.v").has_value());
    CHECK_FALSE(base64url_decode(std::string_view("Zm\0v", 4)).has_value());
    CHECK_FALSE(base64url_decode("Zm\x80v").has_value());
}

TEST_CASE("base64url_decode refuses a length that is 1 mod 4") {
    CHECK_FALSE(base64url_decode("Z").has_value());
    CHECK_FALSE(base64url_decode("Zm9vY").has_value());
    CHECK_FALSE(base64url_decode("Zm9vYmFyZ").has_value());
}

TEST_CASE("base64url_decode refuses nonzero trailing bits (non-canonical encodings)") {
    // "Zg" is "f"; "Zh".."Zv" decode to the same byte with stray low bits.
    CHECK(base64url_decode("Zg") == std::string("f"));
    for (const char c : std::string_view("hijklmnopqrstuv")) {
        const std::string text = std::string("Z") + c;
        CAPTURE(text);
        CHECK_FALSE(base64url_decode(text).has_value());
    }
    // "Zm8" is "fo"; "Zm9" sets one of the two unused bits.
    CHECK(base64url_decode("Zm8") == std::string("fo"));
    CHECK_FALSE(base64url_decode("Zm9").has_value());
    CHECK_FALSE(base64url_decode("Zm-").has_value());
}

TEST_CASE("base64url_decode accepts the empty string as zero bytes") {
    const auto decoded = base64url_decode("");
    REQUIRE(decoded.has_value());
    CHECK(decoded->empty());
}
