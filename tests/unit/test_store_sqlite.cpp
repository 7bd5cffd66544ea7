#include "store/sqlite.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include "temp_dir.hpp"

using namespace entitle::store;
using entitle::test::TempDir;

// Each doctest case runs in a process of its own (ctest), so the first
// Connection here is the process's first use of SQLite.
TEST_CASE("the first connection turns SQLite's memory statistics off: allocations are not counted") {
    TempDir dir;
    Connection c(dir.file("stats.db"), Connection::Mode::read_write_create);
    c.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    c.exec("BEGIN");
    for (int i = 0; i < 1000; ++i) {
        c.cached("INSERT INTO t (v) VALUES (?1)").bind(1, std::string(200, 'x')).run();
    }
    c.exec("COMMIT");
    auto st = c.cached("SELECT count(*), sum(length(v)) FROM t");
    REQUIRE(st.step());
    CHECK(st.int64(0) == 1000);
    CHECK(st.int64(1) == 200'000);
    // With statistics on (SQLite's default) this is the bytes SQLite holds:
    // its page cache alone is over 200 KB by now.
    CHECK(sqlite3_memory_used() == 0);
    sqlite3_int64 current = -1, high = -1;
    REQUIRE(sqlite3_status64(SQLITE_STATUS_MALLOC_COUNT, &current, &high, 0) == SQLITE_OK);
    CHECK(current == 0);
}
