#include "store/vfs_layer.hpp"

namespace entitle::store::vfs_layer {

namespace {

sqlite3_vfs* behind(sqlite3_vfs* layer) { return static_cast<sqlite3_vfs*>(layer->pAppData); }

int x_close(sqlite3_file* f) {
    const int rc = real_of(f)->pMethods->xClose(real_of(f));
    f->pMethods = nullptr;
    return rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
    return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) { return real_of(f)->pMethods->xTruncate(real_of(f), size); }
int x_sync(sqlite3_file* f, int flags) { return real_of(f)->pMethods->xSync(real_of(f), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_of(f)->pMethods->xFileSize(real_of(f), size); }
int x_lock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) {
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int x_device_characteristics(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
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
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return real_of(f)->pMethods->xUnfetch(real_of(f), off, p); }

int x_delete(sqlite3_vfs* v, const char* name, int sync_dir) { return behind(v)->xDelete(behind(v), name, sync_dir); }
int x_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
    return behind(v)->xAccess(behind(v), name, flags, out);
}
int x_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
    return behind(v)->xFullPathname(behind(v), name, n, out);
}
void* x_dl_open(sqlite3_vfs* v, const char* name) { return behind(v)->xDlOpen(behind(v), name); }
void x_dl_error(sqlite3_vfs* v, int n, char* msg) { behind(v)->xDlError(behind(v), n, msg); }
void (*x_dl_sym(sqlite3_vfs* v, void* h, const char* sym))(void) { return behind(v)->xDlSym(behind(v), h, sym); }
void x_dl_close(sqlite3_vfs* v, void* h) { behind(v)->xDlClose(behind(v), h); }
int x_randomness(sqlite3_vfs* v, int n, char* out) { return behind(v)->xRandomness(behind(v), n, out); }
int x_sleep(sqlite3_vfs* v, int us) { return behind(v)->xSleep(behind(v), us); }
int x_current_time(sqlite3_vfs* v, double* t) { return behind(v)->xCurrentTime(behind(v), t); }
int x_get_last_error(sqlite3_vfs* v, int n, char* out) {
    return behind(v)->xGetLastError ? behind(v)->xGetLastError(behind(v), n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs* v, sqlite3_int64* t) { return behind(v)->xCurrentTimeInt64(behind(v), t); }

}  // namespace

std::array<sqlite3_io_methods, 3> forwarding_methods() {
    std::array<sqlite3_io_methods, 3> all{};
    for (int version = 1; version <= 3; ++version) {
        sqlite3_io_methods& m = all[static_cast<std::size_t>(version - 1)];
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
    }
    return all;
}

sqlite3_vfs forwarding_vfs(sqlite3_vfs* to, const char* name, std::size_t file_size,
                           int (*open)(sqlite3_vfs*, sqlite3_filename, sqlite3_file*, int, int*)) {
    sqlite3_vfs v{};
    v.iVersion = 2;
    v.szOsFile = static_cast<int>(file_size) + to->szOsFile;
    v.mxPathname = to->mxPathname;
    v.zName = name;
    v.pAppData = to;
    v.xOpen = open;
    v.xDelete = x_delete;
    v.xAccess = x_access;
    v.xFullPathname = x_full_pathname;
    v.xDlOpen = x_dl_open;
    v.xDlError = x_dl_error;
    v.xDlSym = x_dl_sym;
    v.xDlClose = x_dl_close;
    v.xRandomness = x_randomness;
    v.xSleep = x_sleep;
    v.xCurrentTime = x_current_time;
    v.xGetLastError = x_get_last_error;
    v.xCurrentTimeInt64 = x_current_time_int64;
    return v;
}

int open_behind(sqlite3_vfs* layer, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags,
                std::size_t file_size, const std::array<sqlite3_io_methods, 3>& methods) {
    auto* lf = reinterpret_cast<File*>(f);
    lf->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<unsigned char*>(f) + file_size);
    lf->base.pMethods = nullptr;
    const int rc = behind(layer)->xOpen(behind(layer), name, lf->real, flags, out_flags);
    if (!lf->real->pMethods) return rc;
    const int version = lf->real->pMethods->iVersion;
    lf->base.pMethods = &methods[static_cast<std::size_t>(version <= 1 ? 0 : version == 2 ? 1 : 2)];
    return rc;
}

}  // namespace entitle::store::vfs_layer
