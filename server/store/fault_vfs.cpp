#include "store/fault_vfs.hpp"

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>

#include <sqlite3.h>

#include "store/sqlite.hpp"

namespace entitle::store {

namespace {

std::atomic<Fault> g_fault{Fault::none};
std::atomic<std::uint64_t> g_subjournals{0};

std::mutex g_watch_mutex;
std::string g_watch_path;  // empty: no file watch
std::chrono::steady_clock::time_point g_last_poll;

constexpr auto poll_interval = std::chrono::milliseconds(50);

// Cheap enough for every write: the file is read at most once per interval.
Fault poll_fault() {
    std::unique_lock lock(g_watch_mutex, std::try_to_lock);
    if (!lock.owns_lock() || g_watch_path.empty()) return g_fault.load();
    const auto now = std::chrono::steady_clock::now();
    if (now - g_last_poll < poll_interval) return g_fault.load();
    g_last_poll = now;
    std::ifstream in(g_watch_path);
    std::string word;
    if (in) in >> word;
    g_fault.store(parse_fault(word).value_or(Fault::none));
    return g_fault.load();
}

// What a write or truncation gets under fault `f`.
int write_fault_code(Fault f, int ioerr_code) {
    switch (f) {
        case Fault::none: return SQLITE_OK;
        case Fault::full: return SQLITE_FULL;
        case Fault::ioerr: return ioerr_code;
        case Fault::readonly: return SQLITE_READONLY;
        case Fault::syncerr: return SQLITE_OK;
    }
    return SQLITE_OK;
}

// The wrapped file: our io_methods first, the real file right behind it.
struct FaultFile {
    sqlite3_file base;
    sqlite3_file* real;  // points just past this struct
};

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;
sqlite3_io_methods g_methods_v1, g_methods_v2, g_methods_v3;

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->real; }

int x_close(sqlite3_file* f) {
    const int rc = real_of(f)->pMethods->xClose(real_of(f));
    f->pMethods = nullptr;
    return rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
    return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    if (int rc = write_fault_code(poll_fault(), SQLITE_IOERR_WRITE)) return rc;
    return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
    if (int rc = write_fault_code(poll_fault(), SQLITE_IOERR_TRUNCATE)) return rc;
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
    if (poll_fault() == Fault::syncerr) return SQLITE_IOERR_FSYNC;
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int x_lock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) {
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
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
    return real_of(f)->pMethods->xFetch(real_of(f), off, n, pp);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    auto* ff = reinterpret_cast<FaultFile*>(f);
    ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
    ff->base.pMethods = nullptr;
    const int rc = g_real->xOpen(g_real, name, ff->real, flags, out_flags);
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_SUBJOURNAL)) g_subjournals.fetch_add(1);
    // A failed open may still leave a file SQLite will close: keep it reachable.
    if (!ff->real->pMethods) return rc;
    // Offer exactly the method version the real file offers: SQLite decides
    // whether WAL shared memory and mmap exist by looking at iVersion.
    switch (ff->real->pMethods->iVersion) {
        case 1: ff->base.pMethods = &g_methods_v1; break;
        case 2: ff->base.pMethods = &g_methods_v2; break;
        default: ff->base.pMethods = &g_methods_v3; break;
    }
    return rc;
}
int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
    return g_real->xDelete(g_real, name, sync_dir);
}
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
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* t) {
    return g_real->xCurrentTimeInt64(g_real, t);
}

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

void do_register() {
    configure_sqlite_process();  // before sqlite3_vfs_find initialises SQLite
    g_real = sqlite3_vfs_find(nullptr);
    g_methods_v1 = make_methods(1);
    g_methods_v2 = make_methods(2);
    g_methods_v3 = make_methods(3);
    g_vfs = sqlite3_vfs{};
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = fault_vfs_name;
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
    sqlite3_vfs_register(&g_vfs, 0);
}

}  // namespace

void register_fault_vfs() {
    static std::once_flag once;
    std::call_once(once, do_register);
}

void set_fault(Fault f) noexcept { g_fault.store(f); }
Fault current_fault() noexcept { return g_fault.load(); }
std::uint64_t subjournal_files_opened() noexcept { return g_subjournals.load(); }

void watch_fault_file(std::string path) {
    register_fault_vfs();
    std::lock_guard lock(g_watch_mutex);
    g_watch_path = std::move(path);
    g_last_poll = {};
}

std::optional<Fault> parse_fault(std::string_view text) {
    if (text == "none" || text.empty()) return Fault::none;
    if (text == "full") return Fault::full;
    if (text == "ioerr") return Fault::ioerr;
    if (text == "readonly") return Fault::readonly;
    if (text == "syncerr") return Fault::syncerr;
    return std::nullopt;
}

}  // namespace entitle::store
