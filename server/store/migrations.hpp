// Schema migrations: schema/NNNN_name.sql, compiled into the binary in
// order. The store records the applied version in schema_version(version)
// and carries PRAGMA application_id = kApplicationId so that other SQLite
// files are recognised as "not an Entitle store".
#pragma once

#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "store/sqlite.hpp"

namespace entitle::store {

inline constexpr int kApplicationId = 0x456e7469;  // "Enti"

struct Migration {
    int version;
    std::string_view name;
    std::string_view sql;
};

// All migrations this binary knows, ascending by version (generated file).
[[nodiscard]] const std::vector<Migration>& embedded_migrations();

// The version recorded in the store (0 for an empty file). Refuses a file
// that is not an Entitle store.
[[nodiscard]] Result<int> schema_version(Connection& conn);

// Applies every migration newer than the store's version, all in one
// transaction (so a failure leaves the store as it was). Refuses a store
// whose version is newer than the newest migration given, and a non-empty
// SQLite file that is not an Entitle store. Returns the resulting version.
[[nodiscard]] Result<int> migrate(Connection& conn, const std::vector<Migration>& migrations);

}  // namespace entitle::store
