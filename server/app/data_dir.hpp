// The data directory `entitled init` creates and `entitled serve` uses, and
// the file rules for secrets in it (mode 0600, written atomically).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "crypto/secret_string.hpp"

namespace entitle::app {

struct DataDir {
    std::filesystem::path root;

    [[nodiscard]] std::filesystem::path store() const { return root / "entitle.db"; }
    [[nodiscard]] std::filesystem::path lease_key() const { return root / "lease-signing.key"; }
    [[nodiscard]] std::filesystem::path tls_key() const { return root / "tls.key"; }
    [[nodiscard]] std::filesystem::path tls_cert() const { return root / "tls.crt"; }
    [[nodiscard]] std::filesystem::path issuers() const { return root / "issuers"; }
    [[nodiscard]] std::filesystem::path admin_token() const { return root / "admin.token"; }
    // Lease-signing keys retired by `entitled rotate-key`, as <kid>.key.
    [[nodiscard]] std::filesystem::path retired_lease_keys() const { return root / "retired-lease-keys"; }
};

// Writes `content` to `path` atomically (temporary file, fsync, rename,
// fsync of the directory) with the given mode, replacing any old file.
[[nodiscard]] Result<void> write_file_atomically(const std::filesystem::path& path,
                                                 std::string_view content, unsigned mode);

// Reads a secret file, refusing one that is missing, unreadable, not a
// regular file, or readable or writable by group or others. The bytes are
// read straight into memory that is wiped when the result is destroyed.
[[nodiscard]] Result<crypto::SecretString> read_secret_file(const std::filesystem::path& path);
// Reads any file; the error names it.
[[nodiscard]] Result<std::string> read_file(const std::filesystem::path& path);

// A temporary copy of the store that a process left behind when it died.
struct LeftoverCopy {
    std::filesystem::path path;
    std::uintmax_t bytes = 0;
};

// Removes the temporary copies a killed process can leave in the data
// directory: `.backup-*.db` of GET /v1/backup and `.entitle.db.restore-*` of
// `entitled restore`, with their -journal, -wal and -shm files. Call it only
// while holding the directory's lock (data_dir_lock.hpp): then no other
// process can be making one. Answers what was removed; a file that cannot be
// removed is skipped (it is named again at the next start).
std::vector<LeftoverCopy> remove_leftover_copies(const DataDir& dir);

// Checks that `dir` is an initialised data directory that group and others
// cannot write to (init makes it 0700).
[[nodiscard]] Result<void> check_data_dir(const DataDir& dir);

}  // namespace entitle::app
