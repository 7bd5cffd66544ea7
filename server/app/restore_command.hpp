// `entitled restore --data DIR --from FILE [--force]`: installs a backup
// (from `entitlectl backup` or GET /v1/backup) as the store of a data
// directory made by `entitled init`. Only the store file is replaced: keys,
// tokens and TLS files are files of the data directory and stay as they are.
//
// The backup is copied into DIR first and checked there (an SQLite file with
// Entitle's application_id, a schema version this binary knows, PRAGMA
// integrity_check, the whole audit chain) so that exactly the checked bytes
// are installed, by rename. Refused while a server runs on DIR (its lock is
// held) and, without --force, when the store in DIR has recorded anything
// (any audit event); the replaced store is kept as entitle.db.<UTC time>.bak.
#pragma once

#include <string>

#include "core/error.hpp"

namespace entitle::app {

struct RestoreOptions {
    std::string data_dir;
    std::string from;
    bool force = false;
};

[[nodiscard]] Result<void> run_restore(const RestoreOptions& options);

}  // namespace entitle::app
