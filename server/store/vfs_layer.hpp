// The common part of an SQLite VFS that sits in front of another one: every
// call forwarded to the VFS behind, unless the layer puts its own function in
// the slot. Used by the WAL write buffer (wal_write_buffer.hpp) and the
// tests' fault injection (fault_vfs.hpp).
//
// A layer's file struct begins with vfs_layer::File; the real file of the
// VFS behind lives right after the layer's struct (szOsFile covers both).
// The VFS behind is kept in the layer VFS's pAppData.
#pragma once

#include <array>
#include <cstddef>

#include <sqlite3.h>

namespace entitle::store::vfs_layer {

struct File {
    sqlite3_file base;
    sqlite3_file* real;
};

inline sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

// io_methods of versions 1, 2 and 3 forwarding every call to the real file;
// a layer overrides slots in its copy.
[[nodiscard]] std::array<sqlite3_io_methods, 3> forwarding_methods();

// A VFS named `name` that forwards everything to `behind` except xOpen,
// with room for `file_size` bytes of the layer's file struct in front of
// the real file.
[[nodiscard]] sqlite3_vfs forwarding_vfs(sqlite3_vfs* behind, const char* name, std::size_t file_size,
                                         int (*open)(sqlite3_vfs*, sqlite3_filename, sqlite3_file*, int, int*));

// For a layer's xOpen: opens the real file (past `file_size` bytes of
// `f`) through the VFS behind and, if it got io methods, points `f` at the
// layer's methods of the same version (SQLite decides whether WAL shared
// memory and mmap exist by looking at iVersion). A failed open may still
// leave a file SQLite will close: it stays reachable.
int open_behind(sqlite3_vfs* layer, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags,
                std::size_t file_size, const std::array<sqlite3_io_methods, 3>& methods);

}  // namespace entitle::store::vfs_layer
