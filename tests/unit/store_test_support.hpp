// Reads the store tests share: what a reader sees of the `meta` table, and
// SQLite's own check of a whole store.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "store/store.hpp"

namespace entitle::test {

// How many meta keys match the LIKE pattern `like`, as a reader sees them
// (the read itself must succeed).
inline std::int64_t count_meta(store::Store& s, const std::string& like) {
    auto r = s.read([&](store::Connection& c) -> Result<std::int64_t> {
        auto st = c.cached("SELECT count(*) FROM meta WHERE key LIKE ?1");
        st.bind(1, like);
        st.step();
        return st.int64(0);
    });
    REQUIRE(r.has_value());
    return *r;
}

// SQLite's integrity check of the database `c` is connected to: "ok" when sound.
inline std::string integrity_of(store::Connection& c) {
    auto st = c.cached("PRAGMA integrity_check");
    REQUIRE(st.step());
    return st.text(0);
}

// The same, read through the store (the read itself must succeed).
inline std::string integrity_of(store::Store& s) {
    auto r = s.read([](store::Connection& c) -> Result<std::string> { return integrity_of(c); });
    REQUIRE(r.has_value());
    return *r;
}

}  // namespace entitle::test
