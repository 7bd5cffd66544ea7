#include "store/wal_write_buffer.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <new>
#include <vector>

#include <sqlite3.h>

#include "store/vfs_layer.hpp"

namespace entitle::store {

namespace {

constexpr int kFrameHeaderBytes = 24;
constexpr std::size_t kMaxBuffered = 1 << 20;
// SQLite 3.40's unix VFS masks the length of one pwrite with 0x1ffff, so a
// write of 128 KiB or more can come out short (and fail as SQLITE_FULL):
// the buffer goes to the file in pieces below that, 31 pages each.
constexpr std::size_t kMaxWrite = 31 * 4096;

std::atomic<std::uint64_t> g_writes{0}, g_flushes{0}, g_commit_flushes{0};

struct Pending {
    std::vector<unsigned char> bytes;
    sqlite3_int64 offset = 0;     // where bytes[0] goes in the file
    bool commit_header = false;   // the last write was the header of a commit frame
};

// The layer's file: vfs_layer's header, then what a WAL has gathered.
struct BufferedFile {
    vfs_layer::File layer;
    Pending* pending;  // WAL files only; null for every other file
};

using vfs_layer::real_of;
BufferedFile* self(sqlite3_file* f) { return reinterpret_cast<BufferedFile*>(f); }

// Writes what is buffered; the buffer is empty afterwards whatever happened.
int flush(sqlite3_file* f) {
    Pending* p = self(f)->pending;
    if (!p || p->bytes.empty()) return SQLITE_OK;
    int rc = SQLITE_OK;
    for (std::size_t done = 0; done < p->bytes.size() && rc == SQLITE_OK;) {
        const std::size_t piece = std::min(kMaxWrite, p->bytes.size() - done);
        rc = real_of(f)->pMethods->xWrite(real_of(f), p->bytes.data() + done, static_cast<int>(piece),
                                          p->offset + static_cast<sqlite3_int64>(done));
        done += piece;
    }
    p->bytes.clear();
    p->commit_header = false;
    g_flushes.fetch_add(1, std::memory_order_relaxed);
    return rc;
}

bool is_commit_header(const void* buf, int n, sqlite3_int64 off) {
    if (n != kFrameHeaderBytes || off < 32) return false;  // the WAL header is 32 bytes at 0
    const auto* b = static_cast<const unsigned char*>(buf);
    return (b[4] | b[5] | b[6] | b[7]) != 0;  // database size after the commit, big-endian
}

int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    Pending* p = self(f)->pending;
    if (!p) return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
    g_writes.fetch_add(1, std::memory_order_relaxed);
    // Taken before any flush below clears it.
    const bool completes_commit = p->commit_header;
    if (!p->bytes.empty() &&
        (off != p->offset + static_cast<sqlite3_int64>(p->bytes.size()) ||
         p->bytes.size() + static_cast<std::size_t>(n) > kMaxBuffered)) {
        // A write elsewhere (a header rewritten in place, a new WAL header),
        // or a full buffer: what came before goes first.
        if (int rc = flush(f); rc != SQLITE_OK) return rc;
    }
    if (p->bytes.empty()) p->offset = off;
    try {
        const auto* b = static_cast<const unsigned char*>(buf);
        p->bytes.insert(p->bytes.end(), b, b + n);
    } catch (const std::bad_alloc&) {
        if (int rc = flush(f); rc != SQLITE_OK) return rc;
        p->commit_header = is_commit_header(buf, n, off);
        return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
    }
    p->commit_header = is_commit_header(buf, n, off);
    if (completes_commit) {
        // The commit frame's page: the frames reach the file before SQLite
        // tells other connections the commit exists.
        g_commit_flushes.fetch_add(1, std::memory_order_relaxed);
        return flush(f);
    }
    return SQLITE_OK;
}

int x_close(sqlite3_file* f) {
    const int flushed = flush(f);
    delete self(f)->pending;
    self(f)->pending = nullptr;
    const int rc = real_of(f)->pMethods->xClose(real_of(f));
    f->pMethods = nullptr;
    return flushed != SQLITE_OK ? flushed : rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xFetch(real_of(f), off, n, pp);
}

std::array<sqlite3_io_methods, 3> g_methods;
sqlite3_vfs g_vfs;

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    self(f)->pending = nullptr;
    const int rc = vfs_layer::open_behind(vfs, name, f, flags, out_flags, sizeof(BufferedFile), g_methods);
    if (rc == SQLITE_OK && f->pMethods && (flags & SQLITE_OPEN_WAL)) self(f)->pending = new (std::nothrow) Pending;
    return rc;
}

}  // namespace

bool install_wal_write_buffer() noexcept {
    sqlite3_vfs* behind = sqlite3_vfs_find(nullptr);
    if (!behind) return false;
    g_methods = vfs_layer::forwarding_methods();
    for (auto& m : g_methods) {
        m.xClose = x_close;
        m.xRead = x_read;
        m.xWrite = x_write;
        m.xTruncate = x_truncate;
        m.xSync = x_sync;
        m.xFileSize = x_file_size;
        m.xFileControl = x_file_control;
        if (m.iVersion >= 3) m.xFetch = x_fetch;
    }
    g_vfs = vfs_layer::forwarding_vfs(behind, "entitle-wal-buffer", sizeof(BufferedFile), x_open);
    return sqlite3_vfs_register(&g_vfs, 1) == SQLITE_OK;
}

WalWriteBufferCounters wal_write_buffer_counters() noexcept {
    return {g_writes.load(), g_flushes.load(), g_commit_flushes.load()};
}

}  // namespace entitle::store
