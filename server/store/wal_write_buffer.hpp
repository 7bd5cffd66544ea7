// Writes to a WAL file gathered into one write per commit.
//
// Why: SQLite 3.40 writes each WAL frame with two `pwrite`s, the 24-byte
// frame header and then the page, so a commit of 26 pages makes 52 system
// calls, each paying the kernel's fixed cost of a buffered write (about a
// fifth of the store writer's CPU under checkout load went to them).
//
// How: a VFS in front of the default one. For files SQLite opens as a WAL
// (SQLITE_OPEN_WAL) it keeps writes that continue where the previous one
// ended in a buffer, and writes the buffer to the file in one call:
// - right after the page of a commit frame (a frame header whose "database
//   size after commit" field is not zero), inside the same xWrite, so the
//   frames are in the file before SQLite publishes the commit to other
//   connections (which it does after writing the frames, through shared
//   memory the VFS never sees);
// - before any other call on the file (read, sync, truncate, size, file
//   control, close, memory map), before a write elsewhere in the file, and
//   when the buffer would pass 1 MiB.
// The flush hands the real VFS pieces of at most 124 KiB: SQLite 3.40's
// unix VFS masks the length of one pwrite with 0x1ffff, so a longer write
// would come out short and fail as SQLITE_FULL.
// A write that fails in the buffer's flush fails the call that flushed it
// (SQLite then fails the commit, as it would have on the first failed
// frame) and the buffered bytes are dropped. Every other file passes through
// untouched, and so does everything but the data path of a WAL.
#pragma once

#include <cstdint>

namespace entitle::store {

// Registers the VFS as the process's default, wrapping the default before
// it. configure_sqlite_process() calls it before the first connection opens;
// false when SQLite refused (the default VFS then stays as it was).
bool install_wal_write_buffer() noexcept;

struct WalWriteBufferCounters {
    std::uint64_t writes = 0;   // WAL writes SQLite asked for
    std::uint64_t flushes = 0;  // writes that reached the file
    std::uint64_t commit_flushes = 0;  // of those, right after a commit frame
};

// Since the process started, over every WAL (tests read them; no metric does).
[[nodiscard]] WalWriteBufferCounters wal_write_buffer_counters() noexcept;

}  // namespace entitle::store
