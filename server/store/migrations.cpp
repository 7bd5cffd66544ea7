#include "store/migrations.hpp"

#include <fmt/format.h>

namespace entitle::store {

namespace {

bool table_exists(Connection& conn, std::string_view name) {
    auto st = conn.cached("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    st.bind(1, name);
    return st.step();
}

std::int64_t pragma_int(Connection& conn, std::string_view pragma) {
    auto st = conn.cached(fmt::format("PRAGMA {}", pragma));
    return st.step() ? st.int64(0) : 0;
}

Result<int> version_of(Connection& conn) {
    const auto app_id = pragma_int(conn, "application_id");
    const bool has_version = table_exists(conn, "schema_version");
    if (app_id == 0 && !has_version) {
        auto st = conn.cached("SELECT count(*) FROM sqlite_schema");
        st.step();
        if (st.int64(0) == 0) return 0;  // a new, empty file
    }
    if (app_id != kApplicationId || !has_version) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("{} is an SQLite database but not an Entitle store", conn.path()));
    }
    auto st = conn.cached("SELECT max(version) FROM schema_version");
    if (!st.step() || st.is_null(0)) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("{}: schema_version is empty; the store is damaged", conn.path()));
    }
    return static_cast<int>(st.int64(0));
}

}  // namespace

Result<int> schema_version(Connection& conn) {
    try {
        return version_of(conn);
    } catch (const StoreError& e) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("{} cannot be read as an Entitle store: {}", conn.path(), e.what()));
    }
}

Result<int> migrate(Connection& conn, const std::vector<Migration>& migrations) {
    const int newest = migrations.empty() ? 0 : migrations.back().version;
    try {
        conn.exec("BEGIN IMMEDIATE");
        auto current = version_of(conn);
        if (!current) {
            conn.exec("ROLLBACK");
            return current;
        }
        if (*current > newest) {
            conn.exec("ROLLBACK");
            return fail(ErrorCode::invalid_request,
                        fmt::format("{} has schema version {}, newer than this binary's {}; run "
                                    "a newer entitled or restore a matching backup",
                                    conn.path(), *current, newest));
        }
        if (*current == 0) {
            conn.exec(fmt::format("PRAGMA application_id = {}", kApplicationId));
            conn.exec(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied_at INTEGER NOT NULL) STRICT");
        }
        for (const auto& m : migrations) {
            if (m.version <= *current) continue;
            conn.exec(m.sql);
            auto st = conn.cached(
                "INSERT INTO schema_version (version, name, applied_at) "
                "VALUES (?1, ?2, unixepoch())");
            st.bind(1, std::int64_t{m.version}).bind(2, m.name).run();
        }
        conn.exec("COMMIT");
        return newest;
    } catch (const StoreError& e) {
        if (!sqlite3_get_autocommit(conn.raw())) sqlite3_exec(conn.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
        return fail(ErrorCode::internal, fmt::format("migration failed: {}", e.what()));
    }
}

}  // namespace entitle::store
