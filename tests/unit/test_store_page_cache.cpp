#include "store/page_cache.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <random>
#include <string>

#include "store/sqlite.hpp"
#include "store_test_support.hpp"
#include "temp_dir.hpp"

using namespace entitle::store;
using entitle::test::TempDir;
using entitle::test::integrity_of;

namespace {

std::string random_key(std::mt19937_64& rng) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string key(24, '0');
    for (char& c : key) c = kHex[rng() % 16];
    return key;
}

std::int64_t count_rows(Connection& c, const char* table) {
    auto st = c.cached(std::string("SELECT count(*) FROM ") + table);
    REQUIRE(st.step());
    return st.int64(0);
}

}  // namespace

// Each doctest case runs in a process of its own (ctest), so the first
// Connection here is the process's first use of SQLite.
TEST_CASE("the page cache layer is in place from the first connection and skips truncations that drop nothing") {
    TempDir dir;
    Connection c(dir.file("layer.db"), Connection::Mode::read_write_create);
    c.exec("PRAGMA journal_mode=WAL");
    // Keys on random pages of an index: its pages split all the time, and
    // SQLite's balance parks pages under the lock-byte page while it does.
    c.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL)");
    c.exec("CREATE INDEX t_k ON t (k)");
    std::mt19937_64 rng(7);
    constexpr int kTransactions = 300, kRowsEach = 25;
    for (int t = 0; t < kTransactions; ++t) {
        c.exec("BEGIN");
        for (int i = 0; i < kRowsEach; ++i) {
            c.cached("INSERT INTO t (k, v) VALUES (?1, ?2)").bind(1, random_key(rng)).bind(2, std::string(100, 'v')).run();
        }
        c.exec("COMMIT");
    }
    const auto n = page_cache_counters();
    CHECK(n.lock_page_moves > 0);
    // Most transactions end with a truncation that has nothing to drop.
    CHECK(n.truncations_skipped >= static_cast<std::uint64_t>(kTransactions) / 2);
    CHECK(integrity_of(c) == "ok");
    CHECK(count_rows(c, "t") == kTransactions * kRowsEach);
    auto st = c.cached("SELECT count(*) FROM t INDEXED BY t_k WHERE k >= ''");
    REQUIRE(st.step());
    CHECK(st.int64(0) == kTransactions * kRowsEach);
}

TEST_CASE("a connection still sees what another connection committed: its cache is emptied when the database changed") {
    TempDir dir;
    const auto path = dir.file("two.db");
    Connection a(path, Connection::Mode::read_write_create);
    a.exec("PRAGMA journal_mode=WAL");
    a.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    a.exec("CREATE TABLE u (id INTEGER PRIMARY KEY, k TEXT NOT NULL)");
    a.exec("CREATE INDEX u_k ON u (k)");
    a.exec("BEGIN");
    for (int i = 0; i < 500; ++i) a.cached("INSERT INTO t (v) VALUES (?1)").bind(1, std::string(300, 'a')).run();
    a.exec("COMMIT");
    Connection b(path, Connection::Mode::read_write);
    auto seen_by = [](Connection& c) {
        auto st = c.cached("SELECT sum(length(v)), min(v), max(v) FROM t");
        REQUIRE(st.step());
        return std::tuple{st.int64(0), st.text(1).substr(0, 1), st.text(2).substr(0, 1)};
    };
    std::mt19937_64 rng(11);
    // Bounded: eight rounds of one change each.
    bool commit = false;
    for (const char letter : std::string("bcdefghi")) {
        CAPTURE(letter);
        CHECK(std::get<0>(seen_by(a)) == 500 * 300);  // a's cache holds every page of t now
        // a writes too, growing the file and splitting index pages, and
        // commits or rolls back: the truncation that ends its transaction,
        // skipped or forwarded, must leave the cache knowing what it holds.
        a.exec("BEGIN");
        for (int i = 0; i < 200; ++i) a.cached("INSERT INTO u (k) VALUES (?1)").bind(1, random_key(rng)).run();
        a.exec((commit = !commit) ? "COMMIT" : "ROLLBACK");
        b.cached("UPDATE t SET v = ?1").bind(1, std::string(300, letter)).run();
        const auto [bytes, low, high] = seen_by(a);
        CHECK(bytes == 500 * 300);
        // Not the pages a held before b's commit.
        CHECK(low == std::string(1, letter));
        CHECK(high == std::string(1, letter));
    }
    CHECK(integrity_of(a) == "ok");
    CHECK(page_cache_counters().truncations_forwarded > 0);
}

TEST_CASE("a rolled-back transaction that grew the database leaves none of its pages behind") {
    TempDir dir;
    for (const char* mode : {"WAL", "DELETE"}) {
        CAPTURE(mode);
        Connection c(dir.file(std::string("rollback-") + mode + ".db"), Connection::Mode::read_write_create);
        c.exec(std::string("PRAGMA journal_mode=") + mode);
        c.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
        c.exec("INSERT INTO t (v) VALUES ('kept')");
        auto pages = [&c] {
            auto st = c.cached("PRAGMA page_count");
            REQUIRE(st.step());
            return st.int64(0);
        };
        const auto before = pages();
        c.exec("BEGIN");
        for (int i = 0; i < 400; ++i) c.cached("INSERT INTO t (v) VALUES (?1)").bind(1, std::string(1000, 'x')).run();
        CHECK(pages() > before + 50);
        c.exec("ROLLBACK");
        CHECK(pages() == before);
        // A savepoint rolled back inside a transaction that commits.
        c.exec("BEGIN");
        c.exec("SAVEPOINT grow");
        for (int i = 0; i < 400; ++i) c.cached("INSERT INTO t (v) VALUES (?1)").bind(1, std::string(1000, 'y')).run();
        c.exec("ROLLBACK TO grow");
        c.exec("RELEASE grow");
        for (int i = 0; i < 300; ++i) c.cached("INSERT INTO t (v) VALUES (?1)").bind(1, std::string(900, 'z')).run();
        c.exec("COMMIT");
        CHECK(integrity_of(c) == "ok");
        auto st = c.cached("SELECT count(*), sum(length(v)), sum(v = 'kept'), sum(substr(v, 1, 1) = 'z') FROM t");
        REQUIRE(st.step());
        CHECK(st.int64(0) == 301);
        CHECK(st.int64(1) == 4 + 300 * 900);
        CHECK(st.int64(2) == 1);
        CHECK(st.int64(3) == 300);
    }
}
