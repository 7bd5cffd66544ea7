#include "store/wal_write_buffer.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "store/sqlite.hpp"
#include "store_test_support.hpp"
#include "temp_dir.hpp"

using namespace entitle::store;
using entitle::test::TempDir;
using entitle::test::integrity_of;

namespace {

std::int64_t count_rows(Connection& c) {
    auto st = c.cached("SELECT count(*), coalesce(sum(length(v)), 0) FROM t");
    REQUIRE(st.step());
    return st.int64(0);
}

// Rows of 1,000 bytes: four to a page, so `rows` rows touch rows/4 pages.
void insert_rows(Connection& c, int first, int rows) {
    c.exec("BEGIN");
    for (int i = first; i < first + rows; ++i) {
        c.cached("INSERT INTO t (id, v) VALUES (?1, ?2)")
            .bind(1, std::int64_t{i})
            .bind(2, std::string(1000, static_cast<char>('a' + i % 26)))
            .run();
    }
    c.exec("COMMIT");
}

Connection open_wal_store(const std::string& path) {
    Connection c(path, Connection::Mode::read_write_create);
    c.exec("PRAGMA journal_mode=WAL");
    c.exec("PRAGMA synchronous=NORMAL");  // as the store's writer: no sync inside a commit
    c.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    return c;
}

}  // namespace

TEST_CASE("a commit's WAL frames reach the file in one write, before another connection can see the commit") {
    TempDir dir;
    const std::string path = dir.file("buffered.db");
    Connection writer = open_wal_store(path);
    Connection reader(path, Connection::Mode::read_only);
    const auto before = wal_write_buffer_counters();
    constexpr int kCommits = 50, kRows = 40;  // about 10 pages and their index page each
    for (int n = 0; n < kCommits; ++n) {
        insert_rows(writer, n * kRows, kRows);
        // The other connection reads the pages from the WAL file itself.
        CHECK(count_rows(reader) == (n + 1) * kRows);
    }
    const auto after = wal_write_buffer_counters();
    const auto writes = after.writes - before.writes;
    const auto flushes = after.flushes - before.flushes;
    MESSAGE("WAL writes asked for: ", writes, ", written: ", flushes);
    CHECK(after.commit_flushes - before.commit_flushes >= kCommits);
    // Two writes per frame (header, page), at least 11 frames a commit; one write a commit.
    CHECK(writes >= static_cast<std::uint64_t>(kCommits) * 22);
    CHECK(flushes <= static_cast<std::uint64_t>(kCommits) + 5);
    CHECK(integrity_of(reader) == "ok");
}

TEST_CASE("a commit larger than one write and than the buffer arrives whole") {
    TempDir dir;
    const std::string path = dir.file("large.db");
    Connection writer = open_wal_store(path);
    Connection reader(path, Connection::Mode::read_only);
    // 3 MiB of rows in one transaction: past the 1 MiB buffer and SQLite's
    // 128 KiB limit on one pwrite.
    insert_rows(writer, 0, 3000);
    CHECK(count_rows(reader) == 3000);
    auto st = reader.cached("SELECT count(*) FROM t WHERE length(v) = 1000 AND substr(v, 1, 1) = char(97 + id % 26)");
    REQUIRE(st.step());
    CHECK(st.int64(0) == 3000);
}

TEST_CASE("commits survive a process that dies without closing its connection") {
    TempDir dir;
    const std::string path = dir.file("crash.db");
    { Connection setup = open_wal_store(path); }
    constexpr int kCommits = 20, kRows = 30;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // A real child process: commits, then ends as a kill would, with no
        // close, no checkpoint and nothing flushed on the way out.
        try {
            Connection c = open_wal_store(path);
            for (int n = 0; n < kCommits; ++n) insert_rows(c, n * kRows, kRows);
            ::_exit(0);  // `c` is never closed
        } catch (...) {
            ::_exit(3);
        }
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    Connection after(path, Connection::Mode::read_only);
    CHECK(count_rows(after) == kCommits * kRows);
}
