#include "core/json_text.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/audit_event.hpp"
#include "core/lease_token.hpp"
#include "crypto/jws.hpp"

using namespace entitle;

namespace {

std::vector<std::string> tricky_strings() {
    std::vector<std::string> out = {"",         "plain", "quote\"inside", "back\\slash", "slash/kept",
                                    "tab\tnl\n", "\x7f del",   "caf\xc3\xa9", "\xe2\x82\xac euro",
                                    "\xf0\x9f\x98\x80 emoji", "\xee\x80\x80 private use"};
    std::string controls;
    for (int c = 0; c < 0x20; ++c) controls.push_back(static_cast<char>(c));
    out.push_back(controls);
    return out;
}

}  // namespace

TEST_CASE("append_json_string writes what nlohmann's dump writes") {
    for (const auto& s : tricky_strings()) {
        CAPTURE(s);
        std::string out;
        append_json_string(out, s);
        CHECK(out == nlohmann::json(s).dump());
    }
}

TEST_CASE("json_plain_run stops at the first byte a JSON string cannot hold as is, wherever it is") {
    // Every byte value at every position of a string longer than two words,
    // so it lands in the eight-byte test and in the tail.
    constexpr std::size_t kLen = 21;
    for (const bool ascii_only : {false, true}) {
        for (const bool quotes : {false, true}) {
            CHECK(json_plain_run(std::string(kLen, 'a'), ascii_only, quotes) == kLen);
            for (int b = 0; b < 256; ++b) {
                const auto c = static_cast<unsigned char>(b);
                const bool special = c < 0x20 || (quotes && c == '"') || c == '\\' ||
                                     (ascii_only && c > 0x7e);
                for (std::size_t at = 0; at < kLen; ++at) {
                    std::string s(kLen, 'a');
                    s[at] = static_cast<char>(c);
                    CAPTURE(b);
                    CAPTURE(at);
                    CAPTURE(ascii_only);
                    CAPTURE(quotes);
                    CHECK(json_plain_run(s, ascii_only, quotes) == (special ? at : kLen));
                }
            }
        }
    }
}

TEST_CASE("append_json_string escapes every ASCII byte as nlohmann does, at every position") {
    for (int b = 0; b < 0x80; ++b) {
        for (std::size_t at = 0; at < 19; ++at) {
            std::string s = "0123456789abcdefghi";
            s[at] = static_cast<char>(b);
            s += "\xc3\xa9 tail";  // a two-byte character after it
            std::string out;
            append_json_string(out, s);
            CAPTURE(b);
            CAPTURE(at);
            CHECK(out == nlohmann::json(s).dump());
        }
    }
}

TEST_CASE("append_json_int writes what nlohmann's dump writes") {
    for (const std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1764000000},
                                 std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}) {
        std::string out;
        append_json_int(out, v);
        CHECK(out == nlohmann::json(v).dump());
    }
}

TEST_CASE("lease claims and header render byte for byte as the nlohmann objects did") {
    for (const auto& s : tricky_strings()) {
        CAPTURE(s);
        const LeaseClaims c{"srv-" + s, "h_" + s, "l_" + s, "feat" + s, "lic/" + s, "GPU-" + s, "vm" + s,
                            1764000000, -5};
        const nlohmann::json expected = {{"iss", c.iss}, {"sub", c.sub}, {"jti", c.jti}, {"feature", c.feature},
                                         {"ent", c.ent}, {"gpu", c.gpu}, {"vgpu", c.vgpu}, {"iat", c.iat},
                                         {"exp", c.exp}};
        CHECK(lease_claims_json(c) == expected.dump());
        CHECK(nlohmann::json::parse(lease_claims_json(c)) == expected);
    }
    CHECK(lease_token_header("k1") ==
          nlohmann::json{{"alg", "EdDSA"}, {"typ", kLeaseTyp}, {"kid", "k1"}}.dump());
}

TEST_CASE("a lease token is the JWS of those bytes, whichever key id signed the thread's last one") {
    const auto key = crypto::Ed25519PrivateKey::generate();
    const LeaseClaims c{"srv", "h_1", "l_1", "vgpu-pro", "lic/e1", "GPU-1", "vm-1", 1764000000, 1764003600};
    for (const std::string kid : {"kid-a", "kid-b", "kid-a"}) {
        CAPTURE(kid);
        const nlohmann::json header = {{"alg", "EdDSA"}, {"typ", kLeaseTyp}, {"kid", kid}};
        CHECK(sign_lease_token(c, key, kid) == crypto::jws_sign(header, lease_claims_json(c), key));
    }
}

TEST_CASE("CanonicalObject writes what canonical_json writes for the same object, in any order of adding") {
    const auto strings = tricky_strings();
    const std::vector<std::int64_t> numbers = {0, -1, 42, std::numeric_limits<std::int64_t>::min(),
                                               std::numeric_limits<std::int64_t>::max()};
    // The members of a lease_granted detail, and more, added in several orders.
    const std::vector<std::string_view> names = {"lease", "host",  "feature", "entitlement", "gpu",   "vgpu",
                                                 "issued_at", "expires_at", "region", "overage", "in_use", "count",
                                                 "limit", "a", "Z", "in"};
    for (std::size_t round = 0; round < 40; ++round) {
        CanonicalObject obj;
        nlohmann::json same = nlohmann::json::object();
        for (std::size_t i = 0; i < names.size(); ++i) {
            const auto name = names[(i * 7 + round) % names.size()];
            const std::string key(name);
            switch ((i + round) % 5) {
                case 0:
                case 1: {
                    const auto& v = strings[(i + round) % strings.size()];
                    obj.add(name, v);
                    same[key] = v;
                    break;
                }
                case 2: {
                    const auto v = numbers[(i + round) % numbers.size()];
                    obj.add(name, v);
                    same[key] = v;
                    break;
                }
                case 3:
                    obj.add(name, (i + round) % 2 == 0);
                    same[key] = (i + round) % 2 == 0;
                    break;
                default:
                    obj.add(name, round % 3 == 0 ? std::optional<std::int64_t>() : std::optional<std::int64_t>(7));
                    same[key] = round % 3 == 0 ? nlohmann::json(nullptr) : nlohmann::json(7);
            }
        }
        CAPTURE(round);
        CHECK(obj.text() == canonical_json(same));
        CHECK(is_plain_canonical_json(obj.text()) == is_plain_canonical_json(canonical_json(same)));
    }
    CHECK(CanonicalObject().text() == "{}");
}
