#include "lease_token.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <string>

#include "client_test_support.hpp"
#include "crypto/base64url.hpp"

using entitle::lib::KeySet;
using entitle::lib::parse_jwks;
using entitle::lib::TokenError;
using entitle::lib::verify_lease_token;
using namespace entitle::test;

namespace {

const KeySet& keys() {
    static const KeySet set = std::move(*parse_jwks(jwks(), "test"));
    return set;
}

TokenError::Kind failure_of(const std::string& token) {
    auto claims = verify_lease_token(token, keys(), kHostId);
    REQUIRE_FALSE(claims);
    if (!token.empty()) CHECK(claims.error().message.find(token) == std::string::npos);
    return claims.error().kind;
}

// The token with its payload replaced, keeping the original signature.
std::string with_payload(const std::string& token, const nlohmann::json& claims) {
    const auto first = token.find('.');
    const auto second = token.find('.', first + 1);
    return token.substr(0, first + 1) + entitle::crypto::base64url_encode(claims.dump()) +
           token.substr(second);
}

}  // namespace

TEST_CASE("a lease token signed by a lease key for this host verifies offline") {
    auto claims = verify_lease_token(sign_lease(lease_claims()), keys(), kHostId);
    REQUIRE(claims);
    CHECK(claims->jti == "l_1");
    CHECK(claims->vgpu == "v-1");
    CHECK(claims->exp - claims->iat == 3600);
    CHECK(claims->kid == kKid);
}

TEST_CASE("a tampered lease token does not verify") {
    const std::string token = sign_lease(lease_claims());
    auto longer = lease_claims();
    longer["exp"] = 2'000'000;
    CHECK(failure_of(with_payload(token, longer)) == TokenError::Kind::bad_signature);
    std::string flipped = token;
    flipped[flipped.size() - 5] = flipped[flipped.size() - 5] == 'A' ? 'B' : 'A';
    CHECK(failure_of(flipped) == TokenError::Kind::bad_signature);
    CHECK(failure_of(sign_lease(lease_claims(), other_key())) == TokenError::Kind::bad_signature);
}

TEST_CASE("a lease token of another host, key, type or shape is refused") {
    CHECK(failure_of(sign_lease(lease_claims("l_1", 1, 2, "h_other"))) ==
          TokenError::Kind::wrong_host);
    CHECK(failure_of(sign_lease(lease_claims(), other_key(), "unknown-kid")) ==
          TokenError::Kind::unknown_key);
    CHECK(failure_of(sign_lease(lease_claims(), lease_key(), kKid, "entitle-license+jwt")) ==
          TokenError::Kind::malformed);
    CHECK(failure_of(sign_lease(lease_claims("l_1", 100, 100))) == TokenError::Kind::malformed);
    auto no_vgpu = lease_claims();
    no_vgpu.erase("vgpu");
    CHECK(failure_of(sign_lease(no_vgpu)) == TokenError::Kind::malformed);
    auto text_exp = lease_claims();
    text_exp["exp"] = "soon";
    CHECK(failure_of(sign_lease(text_exp)) == TokenError::Kind::malformed);
    CHECK(failure_of("not.a.token") == TokenError::Kind::malformed);
    CHECK(failure_of("") == TokenError::Kind::malformed);
}
