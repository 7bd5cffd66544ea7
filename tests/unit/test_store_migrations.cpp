#include "store/migrations.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "store/sqlite.hpp"
#include "store/store.hpp"
#include "store_test_support.hpp"
#include "temp_dir.hpp"

using namespace entitle;
using namespace entitle::store;
using entitle::test::integrity_of;
using entitle::test::TempDir;

namespace {

std::int64_t query_int(Connection& c, const std::string& sql) {
    auto st = c.cached(sql);
    REQUIRE(st.step());
    return st.int64(0);
}

std::int64_t application_id(Connection& c) { return query_int(c, "PRAGMA application_id"); }

bool has_table(Connection& c, const std::string& name) {
    auto st = c.cached("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    st.bind(1, name);
    return st.step();
}

std::vector<std::string> table_names(Connection& c) {
    auto st = c.cached("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    std::vector<std::string> out;
    while (st.step()) out.push_back(st.text(0));
    return out;
}

int newest_embedded() { return embedded_migrations().back().version; }

const Migration kCreateA{1, "0001_a.sql", "CREATE TABLE a (x INTEGER NOT NULL) STRICT;"};
const Migration kBadB{2, "0002_b.sql",
                      "CREATE TABLE b (y INTEGER) STRICT; THIS IS NOT SQL AT ALL;"};
const Migration kCreateC{3, "0003_c.sql", "CREATE TABLE c (z INTEGER) STRICT;"};

}  // namespace

TEST_CASE("the embedded migrations start at version 1 and ascend without gaps") {
    const auto& all = embedded_migrations();
    REQUIRE_FALSE(all.empty());
    for (std::size_t i = 0; i < all.size(); ++i) {
        CAPTURE(all[i].name);
        CHECK(all[i].version == static_cast<int>(i) + 1);
        CHECK_FALSE(all[i].sql.empty());
    }
    CHECK(all.front().name == "0001_init.sql");
}

TEST_CASE("a new file migrates to the newest embedded version and gets the application_id") {
    TempDir dir;
    Connection c(dir.file("new.db"), Connection::Mode::read_write_create);
    CHECK(schema_version(c) == 0);
    CHECK(application_id(c) == 0);

    const auto v = migrate(c, embedded_migrations());
    REQUIRE(v.has_value());
    CHECK(*v == newest_embedded());
    CHECK(schema_version(c) == newest_embedded());
    CHECK(application_id(c) == kApplicationId);
    CHECK(has_table(c, "schema_version"));
    CHECK(has_table(c, "meta"));
    CHECK(has_table(c, "tokens"));
    CHECK(query_int(c, "SELECT count(*) FROM schema_version") ==
          static_cast<std::int64_t>(embedded_migrations().size()));
    CHECK(sqlite3_get_autocommit(c.raw()) != 0);  // no transaction left open
}

TEST_CASE("migrating an up-to-date store a second time is a no-op") {
    TempDir dir;
    Connection c(dir.file("twice.db"), Connection::Mode::read_write_create);
    REQUIRE(migrate(c, embedded_migrations()).has_value());
    const auto tables = table_names(c);
    const auto rows = query_int(c, "SELECT count(*) FROM schema_version");
    const auto applied = query_int(c, "SELECT max(applied_at) FROM schema_version");

    const auto again = migrate(c, embedded_migrations());
    REQUIRE(again.has_value());
    CHECK(*again == newest_embedded());
    CHECK(table_names(c) == tables);
    CHECK(query_int(c, "SELECT count(*) FROM schema_version") == rows);
    CHECK(query_int(c, "SELECT max(applied_at) FROM schema_version") == applied);
}

TEST_CASE("a store migrated in steps applies only the migrations it lacks") {
    TempDir dir;
    Connection c(dir.file("steps.db"), Connection::Mode::read_write_create);
    REQUIRE(migrate(c, {kCreateA}) == 1);
    REQUIRE(migrate(c, {kCreateA, kCreateC}) == 3);  // version 2 is never applied
    CHECK(has_table(c, "a"));
    CHECK(has_table(c, "c"));
    CHECK_FALSE(has_table(c, "b"));
    CHECK(query_int(c, "SELECT count(*) FROM schema_version") == 2);
}

TEST_CASE("a store whose schema version is newer than the binary's is refused") {
    TempDir dir;
    Connection c(dir.file("future.db"), Connection::Mode::read_write_create);
    REQUIRE(migrate(c, embedded_migrations()).has_value());
    const int future = newest_embedded() + 1;
    c.exec("INSERT INTO schema_version (version, name, applied_at) VALUES (" +
           std::to_string(future) + ", '9999_future.sql', 0)");

    const auto r = migrate(c, embedded_migrations());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::invalid_request);
    CHECK(r.error().message.find("newer") != std::string::npos);
    CHECK(schema_version(c) == future);  // left as it was
    CHECK(sqlite3_get_autocommit(c.raw()) != 0);
}

TEST_CASE("Store::open refuses a store written by a newer binary") {
    TempDir dir;
    const std::string path = dir.file("future-open.db");
    {
        Connection c(path, Connection::Mode::read_write_create);
        REQUIRE(migrate(c, embedded_migrations()).has_value());
        c.exec("INSERT INTO schema_version (version, name, applied_at) VALUES (1000, 'x', 0)");
    }
    const auto s = Store::open(path);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().message.find("newer") != std::string::npos);
}

TEST_CASE("a non-empty SQLite file that is not an Entitle store is refused and left alone") {
    TempDir dir;
    Connection c(dir.file("foreign.db"), Connection::Mode::read_write_create);
    c.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    c.exec("INSERT INTO customers (name) VALUES ('acme')");

    const auto r = migrate(c, embedded_migrations());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::invalid_request);
    CHECK(r.error().message.find("not an Entitle store") != std::string::npos);

    const auto v = schema_version(c);
    REQUIRE_FALSE(v.has_value());
    CHECK(v.error().message.find("not an Entitle store") != std::string::npos);

    CHECK(application_id(c) == 0);
    CHECK(table_names(c) == std::vector<std::string>{"customers"});
    CHECK(query_int(c, "SELECT count(*) FROM customers") == 1);
}

TEST_CASE("a file with a schema_version table but another application_id is refused") {
    TempDir dir;
    Connection c(dir.file("lookalike.db"), Connection::Mode::read_write_create);
    c.exec("PRAGMA application_id = 42");
    c.exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)");
    c.exec("INSERT INTO schema_version VALUES (1)");
    const auto r = migrate(c, embedded_migrations());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("not an Entitle store") != std::string::npos);
}

TEST_CASE("a file that is not SQLite at all is refused without being changed") {
    TempDir dir;
    const std::string path = dir.file("garbage.db");
    const std::string garbage(4096, 'x');
    {
        std::ofstream out(path, std::ios::binary);
        out << garbage;
    }
    const auto s = Store::open(path);
    CHECK_FALSE(s.has_value());
    std::ifstream in(path, std::ios::binary);
    const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(after == garbage);
}

TEST_CASE("a failing migration on a new file leaves it empty") {
    TempDir dir;
    Connection c(dir.file("fail-new.db"), Connection::Mode::read_write_create);
    const auto r = migrate(c, {kCreateA, kBadB, kCreateC});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::internal);
    CHECK(r.error().message.find("migration failed") != std::string::npos);

    CHECK(sqlite3_get_autocommit(c.raw()) != 0);
    CHECK(schema_version(c) == 0);
    CHECK(application_id(c) == 0);
    CHECK(table_names(c).empty());
}

TEST_CASE("a failing migration leaves an existing store at its version with its tables") {
    TempDir dir;
    Connection c(dir.file("fail-existing.db"), Connection::Mode::read_write_create);
    REQUIRE(migrate(c, {kCreateA}) == 1);
    c.exec("INSERT INTO a (x) VALUES (7)");
    const auto tables = table_names(c);

    const auto r = migrate(c, {kCreateA, kBadB, kCreateC});
    REQUIRE_FALSE(r.has_value());
    CHECK(sqlite3_get_autocommit(c.raw()) != 0);
    CHECK(schema_version(c) == 1);
    CHECK(table_names(c) == tables);
    CHECK_FALSE(has_table(c, "b"));
    CHECK_FALSE(has_table(c, "c"));
    CHECK(query_int(c, "SELECT x FROM a") == 7);
    CHECK(application_id(c) == kApplicationId);

    // The connection is still usable and a corrected migration then applies.
    const Migration fixed_b{2, "0002_b.sql", "CREATE TABLE b (y INTEGER) STRICT;"};
    CHECK(migrate(c, {kCreateA, fixed_b, kCreateC}) == 3);
    CHECK(has_table(c, "b"));
    CHECK(has_table(c, "c"));
}

TEST_CASE(
    "version 6 keys the request index by request id, then host: a version 5 store keeps its leases "
    "and their uniqueness") {
    TempDir dir;
    Connection c(dir.file("v5.db"), Connection::Mode::read_write_create);
    const auto& all = embedded_migrations();
    REQUIRE(all.size() >= 6);
    REQUIRE(all[5].name == "0006_request_index_by_request_id.sql");
    const std::vector<Migration> up_to_5(all.begin(), all.begin() + 5);
    REQUIRE(migrate(c, up_to_5) == 5);

    // Leases as a version 5 store holds them (the hosts and licenses they
    // name are beside the point: this connection does not enforce foreign keys).
    c.exec("PRAGMA foreign_keys = OFF");
    const auto add_lease = [&c](const std::string& id, const std::string& host,
                                const std::string& request) {
        auto st = c.cached(
            "INSERT INTO leases (id, host_id, request_id, request_hash, license_jti, "
            "entitlement_id, feature, "
            "gpu_uuid, vgpu_id, issued_at, expires_at, kid) "
            "VALUES (?1, ?2, ?3, 'hash', 'jti', 'e1', 'vWS', 'GPU-0', 'vm-1', 1, 2, 'k1')");
        st.bind(1, id).bind(2, host).bind(3, request);
        st.run();
    };
    add_lease("l_1", "h_1", "rq_A");
    add_lease("l_2", "h_2", "rq_A");  // the same request id from another host is its own lease
    add_lease("l_3", "h_1", "rq_B");

    REQUIRE(migrate(c, all) == newest_embedded());

    std::vector<std::string> columns;
    auto info = c.cached("SELECT name FROM pragma_index_info('leases_by_request') ORDER BY seqno");
    while (info.step()) columns.push_back(info.text(0));
    CHECK(columns == std::vector<std::string>{"request_id", "host_id"});

    // The checkout's lookup of a retried request seeks that index: no scan of every lease.
    auto plan =
        c.cached("EXPLAIN QUERY PLAN SELECT * FROM leases WHERE host_id = ?1 AND request_id = ?2");
    std::string details;
    while (plan.step()) details += plan.text(3) + ";";
    CAPTURE(details);
    CHECK(details.find("USING INDEX leases_by_request (request_id=? AND host_id=?)") !=
          std::string::npos);

    const auto lease_of = [&c](const std::string& host, const std::string& request) {
        auto st = c.cached("SELECT id FROM leases WHERE host_id = ?1 AND request_id = ?2");
        st.bind(1, host).bind(2, request);
        return st.step() ? st.text(0) : std::string("none");
    };
    CHECK(lease_of("h_1", "rq_A") == "l_1");
    CHECK(lease_of("h_2", "rq_A") == "l_2");
    CHECK(lease_of("h_1", "rq_B") == "l_3");
    CHECK(lease_of("h_2", "rq_B") == "none");
    CHECK_THROWS_AS(add_lease("l_4", "h_1", "rq_A"), StoreError);  // still unique per host
    CHECK(integrity_of(c) == "ok");
}

TEST_CASE(
    "version 7 gives leases a token nonce seed, and refuses a change of what a token says that keeps "
    "the seed") {
    TempDir dir;
    Connection c(dir.file("v6.db"), Connection::Mode::read_write_create);
    const auto& all = embedded_migrations();
    REQUIRE(all.size() >= 7);
    REQUIRE(all[6].name == "0007_lease_token_nonce.sql");
    const std::vector<Migration> up_to_6(all.begin(), all.begin() + 6);
    REQUIRE(migrate(c, up_to_6) == 6);
    c.exec("PRAGMA foreign_keys = OFF");
    c.exec("INSERT INTO leases (id, host_id, request_id, request_hash, license_jti, entitlement_id, feature, "
           "gpu_uuid, vgpu_id, issued_at, expires_at, kid) "
           "VALUES ('l_old', 'h_1', 'rq_A', 'hash', 'jti', 'e1', 'vWS', 'GPU-0', 'vm-1', 1, 2, 'k1')");

    REQUIRE(migrate(c, all) == newest_embedded());
    // A lease from before has no seed: its tokens keep RFC 8032's nonce.
    CHECK(query_int(c, "SELECT token_nonce IS NULL FROM leases WHERE id = 'l_old'") == 1);
    c.exec("UPDATE leases SET expires_at = 3, renewed_at = 2 WHERE id = 'l_old'");  // no seed: nothing to keep

    c.exec("INSERT INTO leases (id, host_id, request_id, request_hash, license_jti, entitlement_id, feature, "
           "gpu_uuid, vgpu_id, issued_at, expires_at, kid, token_nonce) "
           "VALUES ('l_new', 'h_1', 'rq_B', 'hash', 'jti', 'e1', 'vWS', 'GPU-0', 'vm-1', 10, 20, 'k1', "
           "x'00112233445566778899aabbccddeeff')");
    // A renewal with a new seed, a move that drops it, and changes of what no
    // token says are all fine.
    c.exec("UPDATE leases SET expires_at = 30, renewed_at = 15, token_nonce = x'0f' WHERE id = 'l_new'");
    c.exec("UPDATE leases SET kid = 'k2', request_hash = 'other' WHERE id = 'l_new'");
    c.exec("UPDATE leases SET expires_at = 30 WHERE id = 'l_new'");  // the same value: the same token
    c.exec("UPDATE leases SET ended_at = 40, end_reason = 'released' WHERE id = 'l_new'");
    c.exec("UPDATE leases SET ended_at = NULL, end_reason = NULL WHERE id = 'l_new'");
    // Every claim of the token, changed with the seed kept, is refused.
    for (const std::string change :
         {"expires_at = 31", "renewed_at = 16", "renewed_at = NULL", "issued_at = 11", "license_jti = 'jti2'",
          "entitlement_id = 'e2'", "feature = 'vPC'", "gpu_uuid = 'GPU-1'", "vgpu_id = 'vm-2'",
          "host_id = 'h_2'", "id = 'l_other'"}) {
        CAPTURE(change);
        try {
            c.exec("UPDATE leases SET " + change + " WHERE id = 'l_new'");
            FAIL("the change was not refused");
        } catch (const StoreError& e) {
            CHECK(std::string(e.what()).find("token nonce would sign a second, different token") !=
                  std::string::npos);
        }
    }
    CHECK(query_int(c, "SELECT expires_at FROM leases WHERE id = 'l_new'") == 30);
    // With a new seed, or none, the same changes go through.
    c.exec("UPDATE leases SET license_jti = 'jti2', expires_at = 25, token_nonce = NULL WHERE id = 'l_new'");
    c.exec("UPDATE leases SET expires_at = 26, renewed_at = 17, token_nonce = x'10' WHERE id = 'l_new'");
    CHECK(query_int(c, "SELECT expires_at FROM leases WHERE id = 'l_new'") == 26);
    CHECK(integrity_of(c) == "ok");
}
