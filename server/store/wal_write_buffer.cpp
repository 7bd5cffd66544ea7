#include "store/wal_write_buffer.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <vector>

#include <sqlite3.h>

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

// Our io_methods first, the real file right behind the struct.
struct BufferedFile {
    sqlite3_file base;
    sqlite3_file* real;
    Pending* pending;  // WAL files only; null for every other file
};

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;
sqlite3_io_methods g_methods_v1, g_methods_v2, g_methods_v3;

BufferedFile* self(sqlite3_file* f) { return reinterpret_cast<BufferedFile*>(f); }
sqlite3_file* real_of(sqlite3_file* f) { return self(f)->real; }

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
int x_lock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) {
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int x_device_characteristics(sqlite3_file* f) {
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
int x_shm_map(sqlite3_file* f, int pg, int sz, int extend, void volatile** pp) {
    return real_of(f)->pMethods->xShmMap(real_of(f), pg, sz, extend, pp);
}
int x_shm_lock(sqlite3_file* f, int off, int n, int flags) {
    return real_of(f)->pMethods->xShmLock(real_of(f), off, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) {
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xFetch(real_of(f), off, n, pp);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    auto* bf = self(f);
    bf->real = reinterpret_cast<sqlite3_file*>(bf + 1);
    bf->pending = nullptr;
    bf->base.pMethods = nullptr;
    const int rc = g_real->xOpen(g_real, name, bf->real, flags, out_flags);
    // A failed open may still leave a file SQLite will close: keep it reachable.
    if (!bf->real->pMethods) return rc;
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL)) bf->pending = new (std::nothrow) Pending;
    // Offer exactly the method version the real file offers: SQLite decides
    // whether WAL shared memory and mmap exist by looking at iVersion.
    switch (bf->real->pMethods->iVersion) {
        case 1: bf->base.pMethods = &g_methods_v1; break;
        case 2: bf->base.pMethods = &g_methods_v2; break;
        default: bf->base.pMethods = &g_methods_v3; break;
    }
    return rc;
}
int x_delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_real->xDelete(g_real, name, sync_dir); }
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
    return g_real->xAccess(g_real, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
    return g_real->xFullPathname(g_real, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void x_dl_error(sqlite3_vfs*, int n, char* msg) { g_real->xDlError(g_real, n, msg); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) { return g_real->xDlSym(g_real, h, sym); }
void x_dl_close(sqlite3_vfs*, void* h) { g_real->xDlClose(g_real, h); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int x_current_time(sqlite3_vfs*, double* t) { return g_real->xCurrentTime(g_real, t); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
    return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* t) { return g_real->xCurrentTimeInt64(g_real, t); }

sqlite3_io_methods make_methods(int version) {
    sqlite3_io_methods m{};
    m.iVersion = version;
    m.xClose = x_close;
    m.xRead = x_read;
    m.xWrite = x_write;
    m.xTruncate = x_truncate;
    m.xSync = x_sync;
    m.xFileSize = x_file_size;
    m.xLock = x_lock;
    m.xUnlock = x_unlock;
    m.xCheckReservedLock = x_check_reserved;
    m.xFileControl = x_file_control;
    m.xSectorSize = x_sector_size;
    m.xDeviceCharacteristics = x_device_characteristics;
    if (version >= 2) {
        m.xShmMap = x_shm_map;
        m.xShmLock = x_shm_lock;
        m.xShmBarrier = x_shm_barrier;
        m.xShmUnmap = x_shm_unmap;
    }
    if (version >= 3) {
        m.xFetch = x_fetch;
        m.xUnfetch = x_unfetch;
    }
    return m;
}

}  // namespace

bool install_wal_write_buffer() noexcept {
    g_real = sqlite3_vfs_find(nullptr);
    if (!g_real) return false;
    g_methods_v1 = make_methods(1);
    g_methods_v2 = make_methods(2);
    g_methods_v3 = make_methods(3);
    g_vfs = sqlite3_vfs{};
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(BufferedFile)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "entitle-wal-buffer";
    g_vfs.xOpen = x_open;
    g_vfs.xDelete = x_delete;
    g_vfs.xAccess = x_access;
    g_vfs.xFullPathname = x_full_pathname;
    g_vfs.xDlOpen = x_dl_open;
    g_vfs.xDlError = x_dl_error;
    g_vfs.xDlSym = x_dl_sym;
    g_vfs.xDlClose = x_dl_close;
    g_vfs.xRandomness = x_randomness;
    g_vfs.xSleep = x_sleep;
    g_vfs.xCurrentTime = x_current_time;
    g_vfs.xGetLastError = x_get_last_error;
    g_vfs.xCurrentTimeInt64 = x_current_time_int64;
    return sqlite3_vfs_register(&g_vfs, 1) == SQLITE_OK;
}

WalWriteBufferCounters wal_write_buffer_counters() noexcept {
    return {g_writes.load(), g_flushes.load(), g_commit_flushes.load()};
}

}  // namespace entitle::store
