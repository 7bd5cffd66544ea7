#include "store/sqlite.hpp"

#include "store/page_cache.hpp"
#include "store/wal_write_buffer.hpp"

#include <fmt/format.h>

#include <mutex>

namespace entitle::store {

Error to_error(const StoreError& e) {
    // The message says why for the operator reading a client's log; the
    // code tells the client to retry.
    switch (e.code & 0xff) {
        case SQLITE_FULL:
            return Error{ErrorCode::unavailable, "the store cannot write: the disk is full; retry later"};
        case SQLITE_IOERR:
            return Error{ErrorCode::unavailable, "the store cannot write: disk I/O error; retry later"};
        case SQLITE_READONLY:
            return Error{ErrorCode::unavailable, "the store cannot write: it is read-only; retry later"};
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_CANTOPEN:
            return Error{ErrorCode::unavailable, "the store cannot accept writes right now; retry"};
        default:
            return Error{ErrorCode::internal, "store failure"};
    }
}

void configure_sqlite_process() noexcept {
    static std::once_flag once;
    std::call_once(once, [] {
        // SQLITE_MISUSE when SQLite was initialised already (something in the
        // process used it first): it then keeps counting, which is harmless.
        (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        (void)install_page_cache_layer();  // likewise: SQLite's cache alone is correct, only slower
        (void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, kStatementJournalSpill);  // likewise
        // After the sqlite3_config calls: registering a VFS initialises SQLite.
        (void)install_wal_write_buffer();  // likewise: without it every frame is written as it comes
    });
}

Connection::Connection(const std::string& path, Mode mode, const char* vfs) : path_(path) {
    configure_sqlite_process();
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    switch (mode) {
        case Mode::read_write_create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
        case Mode::read_write: flags |= SQLITE_OPEN_READWRITE; break;
        case Mode::read_only: flags |= SQLITE_OPEN_READONLY; break;
    }
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs);
    db_.reset(db);  // sqlite3_open_v2 may return a handle even on failure
    if (rc != SQLITE_OK) {
        const std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        throw StoreError(rc, fmt::format("cannot open {}: {}", path, msg));
    }
    sqlite3_busy_timeout(db, 5000);
}

Connection::~Connection() = default;

void Connection::throw_error(int rc, std::string_view context) const {
    throw StoreError(rc, fmt::format("{}: {} ({})", context, sqlite3_errmsg(db_.get()), rc));
}

void Connection::exec(std::string_view sql) {
    const std::string s(sql);
    char* err = nullptr;
    const int rc = sqlite3_exec(db_.get(), s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        throw StoreError(sqlite3_extended_errcode(db_.get()), fmt::format("sql failed: {}", msg));
    }
}

Statement Connection::cached(std::string_view sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
        sqlite3_stmt* stmt = nullptr;
        const int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                          SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        if (rc != SQLITE_OK) throw_error(rc, "prepare");
        it = statements_.emplace(std::string(sql), stmt).first;
    } else {
        sqlite3_reset(it->second.get());
        sqlite3_clear_bindings(it->second.get());
    }
    return Statement(*this, it->second.get());
}

std::int64_t Connection::changes() const noexcept { return sqlite3_changes64(db_.get()); }
std::int64_t Connection::last_insert_rowid() const noexcept {
    return sqlite3_last_insert_rowid(db_.get());
}

void Statement::check_bind(int rc) {
    if (rc != SQLITE_OK) conn_->throw_error(rc, "bind");
}

Statement& Statement::bind(int index, std::int64_t value) {
    check_bind(sqlite3_bind_int64(stmt_, index, value));
    return *this;
}
Statement& Statement::bind(int index, std::string_view value) {
    check_bind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8));
    return *this;
}
Statement& Statement::bind_blob(int index, std::string_view value) {
    check_bind(sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT));
    return *this;
}
Statement& Statement::bind_null(int index) {
    check_bind(sqlite3_bind_null(stmt_, index));
    return *this;
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    const int ext = sqlite3_extended_errcode(sqlite3_db_handle(stmt_));
    sqlite3_reset(stmt_);
    conn_->throw_error(ext, "step");
}

void Statement::run() {
    while (step()) {
    }
}

void Statement::reset() { sqlite3_reset(stmt_); }

bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
std::int64_t Statement::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
std::string Statement::text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
             : std::string();
}
std::optional<std::int64_t> Statement::opt_int64(int col) const {
    if (is_null(col)) return std::nullopt;
    return int64(col);
}
std::optional<std::string> Statement::opt_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
}

std::optional<std::string> Statement::opt_blob(int col) const {
    if (is_null(col)) return std::nullopt;
    const void* data = sqlite3_column_blob(stmt_, col);
    const int size = sqlite3_column_bytes(stmt_, col);
    if (data == nullptr || size <= 0) return std::string();
    return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

}  // namespace entitle::store
