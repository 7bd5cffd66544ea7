#include "crypto/ordered_id.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "crypto/base64url.hpp"

using entitle::crypto::base64url_decode;
using entitle::crypto::time_ordered_id;

namespace {

constexpr std::string_view kBase64url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string time_part(const std::string& id, std::size_t prefix) { return id.substr(prefix, 8); }

}  // namespace

TEST_CASE(
    "a time-ordered id is the prefix, 8 characters of time and the random bytes in base64url") {
    for (const std::size_t bytes : {std::size_t{9}, std::size_t{12}}) {
        CAPTURE(bytes);
        const auto id = time_ordered_id("rq_", 1'800'000'000'123, bytes);
        REQUIRE(id.starts_with("rq_"));
        const auto random = id.substr(3 + 8);
        CHECK(random.size() == (bytes * 4 + 2) / 3);
        const auto decoded = base64url_decode(random);
        REQUIRE(decoded);
        CHECK(decoded->size() == bytes);
        CHECK(id.substr(3).find_first_not_of(kBase64url) == std::string::npos);
    }
}

TEST_CASE("ids made in later milliseconds sort later, over the whole 48-bit range") {
    const std::int64_t top = (std::int64_t{1} << 48) - 1;
    std::vector<std::int64_t> times = {0,
                                       1,
                                       2,
                                       9,
                                       10,
                                       11,
                                       35,
                                       36,
                                       37,
                                       62,
                                       63,
                                       64,
                                       65,
                                       4095,
                                       4096,
                                       1'800'000'000'000,
                                       1'800'000'000'001,
                                       top - 1,
                                       top};
    for (int shift = 6; shift < 48; shift += 6) {
        const std::int64_t edge = std::int64_t{1} << shift;
        times.insert(times.end(), {edge - 1, edge, edge + 1});
    }
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    std::string previous;
    for (const auto t : times) {
        CAPTURE(t);
        const auto id = time_ordered_id("l_", t, 9);
        REQUIRE(id.size() == 2 + 8 + 12);
        if (!previous.empty()) {
            CHECK(time_part(previous, 2) < time_part(id, 2));
            CHECK(previous < id);  // whatever the random parts
        }
        previous = id;
    }
}

TEST_CASE("a negative time counts as 0 and ids of one millisecond differ by their random part") {
    CHECK(time_part(time_ordered_id("x", -5, 9), 1) == time_part(time_ordered_id("x", 0, 9), 1));
    CHECK(time_part(time_ordered_id("x", 0, 9), 1) == "--------");
    std::set<std::string> ids;
    for (int i = 0; i < 1000; ++i) ids.insert(time_ordered_id("rq_", 1'800'000'000'000, 12));
    CHECK(ids.size() == 1000);
}
