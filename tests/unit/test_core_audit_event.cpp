#include "core/audit_event.hpp"

#include <vector>

#include <doctest/doctest.h>

#include "crypto/digest.hpp"

using namespace entitle;
using nlohmann::json;

namespace {

std::vector<AuditEvent> make_chain(int n) {
    std::vector<AuditEvent> out;
    std::string prev = kGenesisHash;
    for (int i = 1; i <= n; ++i) {
        AuditEvent e;
        e.seq = i;
        e.ts = 1'795'000'000'000 + i;
        e.kind = i % 2 ? "lease_granted" : "lease_released";
        e.actor = "tok" + std::to_string(i);
        e.subject = "l_" + std::to_string(i);
        e.detail = {{"n", i}, {"note", "é \"q\" \n"}};
        e.prev_hash = prev;
        e.hash = audit_event_hash(e);
        prev = e.hash;
        out.push_back(e);
    }
    return out;
}

AuditChainVerifier run(const std::vector<AuditEvent>& events) {
    AuditChainVerifier v;
    for (const auto& e : events) {
        if (!v.feed(e)) break;
    }
    return v;
}

}  // namespace

TEST_CASE("canonical JSON sorts keys at every depth, has no whitespace and escapes as RFC 8785") {
    const json v = {{"b", 1}, {"a", {{"z", true}, {"y", nullptr}}}, {"c", json::array({-5, "x"})}};
    CHECK(canonical_json(v) == R"({"a":{"y":null,"z":true},"b":1,"c":[-5,"x"]})");
    CHECK(canonical_json("\b\t\n\f\r\"\\/\x01\x1f é") == "\"\\b\\t\\n\\f\\r\\\"\\\\/\\u0001\\u001f é\"");
    CHECK(canonical_json(json(std::uint64_t{18446744073709551615ULL})) == "18446744073709551615");
    CHECK_THROWS(canonical_json(json(1.5)));
}

TEST_CASE("canonical JSON orders member names as UTF-16 code units, not as UTF-8 bytes") {
    // U+1F600 is D83D DE00 in UTF-16, so it sorts before U+E000 and U+FFFD,
    // although its UTF-8 bytes (F0 ...) sort after theirs (EE ..., EF ...).
    const std::string emoji = "\xF0\x9F\x98\x80", private_use = "\xEE\x80\x80", replacement = "\xEF\xBF\xBD";
    const json v = {{replacement, 3}, {private_use, 2}, {emoji, 1}, {"z", 0}};
    CHECK(canonical_json(v) ==
          "{\"z\":0,\"" + emoji + "\":1,\"" + private_use + "\":2,\"" + replacement + "\":3}");
    // Names below U+E000 keep plain byte order, nested too.
    const json w = {{"\xC3\xA9", 1}, {"e", {{"b", 1}, {"a", 2}}}, {"E", 0}};
    CHECK(canonical_json(w) == "{\"E\":0,\"e\":{\"a\":2,\"b\":1},\"\xC3\xA9\":1}");
}

TEST_CASE("the event hash covers escaped and non-ASCII text in every field exactly as canonical JSON has it") {
    AuditEvent e;
    e.seq = 42;
    e.ts = -7;
    e.kind = "k\"ind\x01";
    e.actor = "tok \\ \xC3\xA9";
    e.subject = "line\nbreak\x7f";
    e.detail = {{"\xF0\x9F\x98\x80", "x"}, {"\xEE\x80\x80", json::array({1, nullptr, false})}, {"a", {{"n", -1}}}};
    e.prev_hash = std::string(64, 'a');
    const json body = {{"seq", e.seq},     {"ts", e.ts},           {"kind", e.kind},
                       {"actor", e.actor}, {"subject", e.subject}, {"detail", e.detail}};
    CHECK(audit_event_hash(e) == crypto::sha256_hex(e.prev_hash + "\n" + canonical_json(body)));
    e.detail["a"]["n"] = -2;
    CHECK(audit_event_hash(e) != crypto::sha256_hex(e.prev_hash + "\n" + canonical_json(body)));
}

TEST_CASE("the event hash is SHA-256 of prev_hash, a newline and the canonical event") {
    AuditEvent e;
    e.seq = 1;
    e.ts = 1000;
    e.kind = "k";
    e.actor = "system";
    e.subject = "s";
    e.detail = {{"x", 1}};
    e.prev_hash = kGenesisHash;
    const std::string expected = crypto::sha256_hex(
        kGenesisHash + "\n" + R"({"actor":"system","detail":{"x":1},"kind":"k","seq":1,"subject":"s","ts":1000})");
    CHECK(audit_event_hash(e) == expected);
}

TEST_CASE("an intact chain verifies with its count and head") {
    auto chain = make_chain(10);
    auto v = run(chain);
    CHECK(v.intact());
    CHECK(v.count() == 10);
    CHECK(v.head_seq() == 10);
    CHECK(v.head_hash() == chain.back().hash);
}

TEST_CASE("an edited event is found at its seq") {
    for (int at = 0; at < 6; ++at) {
        auto chain = make_chain(6);
        chain[static_cast<std::size_t>(at)].detail["n"] = 999;
        auto v = run(chain);
        CHECK_FALSE(v.intact());
        CHECK(v.problem() == AuditChainVerifier::Problem::edited);
        CHECK(v.broken_seq() == at + 1);
    }
}

TEST_CASE("an edited event whose hash was recomputed breaks the link of the next one") {
    auto chain = make_chain(6);
    chain[2].actor = "forger";
    chain[2].hash = audit_event_hash(chain[2]);
    auto v = run(chain);
    CHECK(v.problem() == AuditChainVerifier::Problem::bad_link);
    CHECK(v.broken_seq() == 4);
}

TEST_CASE("a deleted event is reported missing at its seq") {
    auto chain = make_chain(6);
    chain.erase(chain.begin() + 3);
    auto v = run(chain);
    CHECK(v.problem() == AuditChainVerifier::Problem::missing);
    CHECK(v.broken_seq() == 4);
}

TEST_CASE("two swapped events are reported as out of order") {
    auto chain = make_chain(6);
    std::swap(chain[2], chain[3]);
    auto v = run(chain);
    CHECK(v.problem() == AuditChainVerifier::Problem::missing);
    CHECK(v.broken_seq() == 3);
    // Swapping the contents but keeping the seq numbers is an edit of seq 3.
    auto chain2 = make_chain(6);
    std::swap(chain2[2].detail, chain2[3].detail);
    auto v2 = run(chain2);
    CHECK(v2.problem() == AuditChainVerifier::Problem::edited);
    CHECK(v2.broken_seq() == 3);
}

TEST_CASE("an appended event with a wrong hash or a wrong link is found") {
    auto chain = make_chain(4);
    AuditEvent extra = chain.back();
    extra.seq = 5;
    extra.prev_hash = chain.back().hash;
    extra.hash = std::string(64, 'a');
    chain.push_back(extra);
    auto v = run(chain);
    CHECK(v.problem() == AuditChainVerifier::Problem::edited);
    CHECK(v.broken_seq() == 5);

    chain.back().prev_hash = kGenesisHash;
    chain.back().hash = audit_event_hash(chain.back());
    v = run(chain);
    CHECK(v.problem() == AuditChainVerifier::Problem::bad_link);
    CHECK(v.broken_seq() == 5);
}

TEST_CASE("a first event not linking to 64 zeros is a bad start") {
    auto chain = make_chain(2);
    chain[0].prev_hash = std::string(64, '1');
    chain[0].hash = audit_event_hash(chain[0]);
    auto v = run(chain);
    CHECK(v.problem() == AuditChainVerifier::Problem::bad_start);
    CHECK(v.broken_seq() == 1);
    CHECK(v.description().find("64 zeros") != std::string::npos);
}

TEST_CASE("verification can resume after a known head") {
    auto chain = make_chain(8);
    AuditChainVerifier v;
    v.start_after(4, chain[3].hash);
    for (std::size_t i = 4; i < chain.size(); ++i) CHECK(v.feed(chain[i]));
    CHECK(v.intact());
    CHECK(v.count() == 4);
}

TEST_CASE("is_plain_canonical_json accepts exactly canonical text of the plain shapes") {
    const json samples[] = {
        json::object(),
        json::array(),
        {{"a", 1}, {"b", {{"c", json::array({1, -2, "x", true, false, nullptr, json::object()})}}}},
        {{"host", "h_abc"}, {"in_use", 17}, {"lease", "l_1"}, {"max", -123456789012345678LL}},
        {{"n", 0}, {"name", "with spaces and 'quotes' and /slashes/"}},
    };
    for (const auto& v : samples) {
        const auto text = canonical_json(v);
        CAPTURE(text);
        CHECK(is_plain_canonical_json(text));
    }
    CHECK(is_plain_canonical_json("0"));
    CHECK(is_plain_canonical_json("\"\""));
    CHECK(is_plain_canonical_json("[[],{}]"));
}

TEST_CASE("is_plain_canonical_json refuses anything canonical_json would write differently, or may") {
    for (const char* text : {
             "",                              // nothing
             " {}",  "{} ", "{\"a\": 1}",     // whitespace
             "{\"b\":1,\"a\":2}",             // names out of order
             "{\"a\":1,\"a\":2}",             // a name twice
             "\"a\\nb\"", "\"\\u0041\"",      // escapes (canonical or not): the slow path decides
             "\"\xC3\xA9\"",                  // non-ASCII
             "\"a\x01\"",  "\"\x7f\"",        // raw control characters, DEL
             "-0", "01", "-", "1.5", "1e3", "+1",
             "1234567890123456789",           // 19 digits: may not fit
             "tru", "nul", "truex",
             "{\"a\":1", "[1,]", "[,1]", "{,}", "{\"a\"}", "{\"a\":}", "[1 2]", "\"open",
             "{}{}", "1,2",
         }) {
        CAPTURE(text);
        CHECK_FALSE(is_plain_canonical_json(text));
    }
    std::string deep(33, '[');
    deep += std::string(33, ']');
    CHECK_FALSE(is_plain_canonical_json(deep));
    std::string ok_deep(32, '[');
    ok_deep += std::string(32, ']');
    CHECK(is_plain_canonical_json(ok_deep));
}

TEST_CASE("the event hash is the same whether the detail comes as stored canonical text or as JSON") {
    AuditEvent e;
    e.seq = 7;
    e.ts = 1'795'000'000'123;
    e.kind = "lease_granted";
    e.actor = "tok";
    e.subject = "l_1";
    e.detail = {{"in_use", 3}, {"host", "h_1"}, {"nested", {{"z", nullptr}, {"a", json::array({1, 2})}}}};
    e.prev_hash = kGenesisHash;
    const std::string from_json = audit_event_hash(e);

    AuditEvent stored = e;
    stored.detail_text = canonical_json(e.detail);
    REQUIRE(is_plain_canonical_json(stored.detail_text));
    stored.detail = nullptr;  // a verifying reader leaves it unparsed
    CHECK(audit_event_hash(stored) == from_json);

    // Text in another form is parsed, and what it holds is hashed.
    AuditEvent spaced = stored;
    spaced.detail_text = e.detail.dump(1);
    REQUIRE_FALSE(is_plain_canonical_json(spaced.detail_text));
    CHECK(audit_event_hash(spaced) == from_json);

    // Text that is not JSON at all counts as a JSON string holding it.
    AuditEvent garbage = stored;
    garbage.detail_text = "{not json";
    AuditEvent as_string = e;
    as_string.detail = "{not json";
    CHECK(audit_event_hash(garbage) == audit_event_hash(as_string));
    CHECK(audit_event_hash(garbage) != from_json);

    // An edit of the stored text changes the hash.
    AuditEvent edited = stored;
    edited.detail_text.replace(edited.detail_text.find("3"), 1, "4");
    CHECK(audit_event_hash(edited) != from_json);
}
