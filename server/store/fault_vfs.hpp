// A testing aid: an SQLite VFS that wraps the platform's default one and
// passes everything through, except that while a fault is armed it fails the
// calls a failing disk fails:
//   full      writes and truncations fail with SQLITE_FULL (a full disk);
//   ioerr     writes and truncations fail with an I/O error;
//   readonly  writes and truncations fail with SQLITE_READONLY (a file system
//             remounted read-only);
//   syncerr   syncs fail with an I/O error: the disk took the data into its
//             cache but could not make it durable (fsync returning EIO).
//   dbsyncerr as syncerr, but only syncs of the main database file fail;
//             those of the WAL succeed.
// Syncs succeed under the first three: data already written is flushed by
// a full disk (its blocks were reserved at write time) and by a read-only
// remount. It lets tests drive the real SQLite through the failures the
// store must survive.
//
// The fault is armed either in-process (`set_fault`, for unit tests) or from
// outside through a control file (`watch_fault_file`): its content is one of
// `none`, `full`, `ioerr`, `readonly`, `syncerr`, `dbsyncerr`, re-read at most every 50 ms
// while the store writes. `entitled serve` installs the file watch only when
// the environment variable ENTITLE_STORE_FAULT_FILE names a file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace entitle::store {

enum class Fault { none, full, ioerr, readonly, syncerr, dbsyncerr };

// The name under which the VFS is registered (never as the default VFS).
inline constexpr const char* fault_vfs_name = "entitle-fault";

// Registers the VFS once (thread-safe; later calls do nothing).
void register_fault_vfs();

void set_fault(Fault f) noexcept;
[[nodiscard]] Fault current_fault() noexcept;

// How many statement journal files (SQLite's record for rolling back a
// savepoint, moved out of memory once it grows past its budget) connections
// through this VFS have opened so far.
[[nodiscard]] std::uint64_t subjournal_files_opened() noexcept;

// Makes the VFS follow the content of `path` (an unreadable or missing file
// means `none`). Registers the VFS.
void watch_fault_file(std::string path);

[[nodiscard]] std::optional<Fault> parse_fault(std::string_view text);

}  // namespace entitle::store
