#include "store/fault_vfs.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>

#include <sqlite3.h>

#include "store/sqlite.hpp"
#include "store/vfs_layer.hpp"

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
        case Fault::dbsyncerr: return SQLITE_OK;
    }
    return SQLITE_OK;
}

using vfs_layer::real_of;

// The layer's file: which kind of file it is, for `dbsyncerr`.
struct FaultFile {
    vfs_layer::File layer;
    bool main_db;
};

int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    if (int rc = write_fault_code(poll_fault(), SQLITE_IOERR_WRITE)) return rc;
    return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
    if (int rc = write_fault_code(poll_fault(), SQLITE_IOERR_TRUNCATE)) return rc;
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
    const Fault fault = poll_fault();
    if (fault == Fault::syncerr || (fault == Fault::dbsyncerr && reinterpret_cast<FaultFile*>(f)->main_db)) {
        return SQLITE_IOERR_FSYNC;
    }
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

std::array<sqlite3_io_methods, 3> g_methods;
sqlite3_vfs g_vfs;

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    reinterpret_cast<FaultFile*>(f)->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    const int rc = vfs_layer::open_behind(vfs, name, f, flags, out_flags, sizeof(FaultFile), g_methods);
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_SUBJOURNAL)) g_subjournals.fetch_add(1);
    return rc;
}

void do_register() {
    configure_sqlite_process();  // before sqlite3_vfs_find initialises SQLite
    g_methods = vfs_layer::forwarding_methods();
    for (auto& m : g_methods) {
        m.xWrite = x_write;
        m.xTruncate = x_truncate;
        m.xSync = x_sync;
    }
    g_vfs = vfs_layer::forwarding_vfs(sqlite3_vfs_find(nullptr), fault_vfs_name, sizeof(FaultFile), x_open);
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
    if (text == "dbsyncerr") return Fault::dbsyncerr;
    return std::nullopt;
}

}  // namespace entitle::store
