#include "core/access_token.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <string_view>

#include "crypto/digest.hpp"

using namespace entitle;

namespace {

bool is_base64url(std::string_view s) {
    for (const char c : s) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

// `s` with the character at `i` replaced by another base64url character.
std::string flip(std::string s, std::size_t i) {
    s[i] = s[i] == 'A' ? 'B' : 'A';
    return s;
}

}  // namespace

TEST_CASE("a minted token is 59 base64url characters with a 16-character id") {
    const MintedToken t = mint_access_token();
    CHECK(t.secret.size() == 59);
    CHECK(is_base64url(t.secret));
    CHECK(t.id.size() == 16);
    CHECK(is_base64url(t.id));
    // 12 id bytes encode to whole base64 groups, so the id is the token's prefix.
    CHECK(t.secret.substr(0, 16) == t.id);
}

TEST_CASE("a minted token's hash is the lowercase hex SHA-256 of the whole token") {
    const MintedToken t = mint_access_token();
    CHECK(t.hash.size() == 64);
    CHECK(t.hash == crypto::sha256_hex(t.secret));
    CHECK(t.hash.find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("minted tokens and their ids are unique") {
    std::set<std::string> secrets, ids;
    for (int i = 0; i < 200; ++i) {
        const MintedToken t = mint_access_token();
        secrets.insert(t.secret);
        ids.insert(t.id);
    }
    CHECK(secrets.size() == 200);
    CHECK(ids.size() == 200);
}

TEST_CASE("access_token_id recovers the id of a minted token") {
    for (int i = 0; i < 20; ++i) {
        const MintedToken t = mint_access_token();
        CHECK(access_token_id(t.secret) == t.id);
    }
}

TEST_CASE("access_token_id rejects a token of the wrong length") {
    const MintedToken t = mint_access_token();
    CHECK_FALSE(access_token_id("").has_value());
    CHECK_FALSE(access_token_id(t.id).has_value());
    CHECK_FALSE(access_token_id(t.secret.substr(0, 58)).has_value());
    CHECK_FALSE(access_token_id(t.secret.substr(0, 56)).has_value());
    CHECK_FALSE(access_token_id(t.secret + "A").has_value());
    CHECK_FALSE(access_token_id(t.secret + "AAAA").has_value());
    CHECK_FALSE(access_token_id(mint_access_token().secret + t.secret).has_value());
}

TEST_CASE("access_token_id rejects characters outside the base64url alphabet") {
    const MintedToken t = mint_access_token();
    for (const char bad : {'+', '/', '.', ' ', '=', '\0', '\n', '~'}) {
        std::string s = t.secret;
        s[20] = bad;
        CAPTURE(static_cast<int>(bad));
        CHECK_FALSE(access_token_id(s).has_value());
    }
    CHECK_FALSE(access_token_id(" " + t.secret.substr(1)).has_value());
    CHECK_FALSE(access_token_id(t.secret.substr(0, 58) + "\xc3").has_value());
}

TEST_CASE("access_token_id rejects padded input") {
    const MintedToken t = mint_access_token();
    CHECK_FALSE(access_token_id(t.secret + "=").has_value());
    CHECK_FALSE(access_token_id(t.secret.substr(0, 58) + "==").has_value());
}

TEST_CASE("access_token_matches is true for the right token and false for one flipped char") {
    const MintedToken t = mint_access_token();
    CHECK(access_token_matches(t.secret, t.hash));
    for (const std::size_t i :
         {std::size_t{0}, std::size_t{15}, std::size_t{16}, std::size_t{40}, std::size_t{58}}) {
        CAPTURE(i);
        CHECK_FALSE(access_token_matches(flip(t.secret, i), t.hash));
    }
    CHECK_FALSE(access_token_matches(mint_access_token().secret, t.hash));
    CHECK_FALSE(access_token_matches("", t.hash));
    CHECK_FALSE(access_token_matches(t.secret, ""));
}
