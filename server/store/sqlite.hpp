// Thin RAII layer over the SQLite C API. A Connection is used by one thread
// at a time (the store hands each thread its own); statements belong to the
// connection that prepared them and must not outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <sqlite3.h>

#include "core/error.hpp"

namespace entitle::store {

struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};

class Connection;

// A prepared statement. Reset and rebinding happen through `Connection::cached`
// or by hand; `step()` returns true while a row is available.
class Statement {
public:
    Statement(Connection& conn, sqlite3_stmt* stmt) : conn_(&conn), stmt_(stmt) {}
    // Resetting on destruction ends the statement's read of the database, so
    // a half-stepped query never keeps a transaction open.
    ~Statement() {
        if (stmt_) sqlite3_reset(stmt_);
    }
    Statement(Statement&& o) noexcept : conn_(o.conn_), stmt_(std::exchange(o.stmt_, nullptr)) {}
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    Statement& operator=(Statement&&) = delete;

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, std::string_view value);  // bound as TEXT, copied
    Statement& bind_blob(int index, std::string_view value);
    Statement& bind_null(int index);
    Statement& bind(int index, std::nullopt_t) { return bind_null(index); }
    Statement& bind(int index, const std::optional<std::int64_t>& v) {
        return v ? bind(index, *v) : bind_null(index);
    }
    Statement& bind(int index, const std::optional<std::string>& v) {
        return v ? bind(index, std::string_view(*v)) : bind_null(index);
    }
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    Statement& bind(int index, const std::string& value) {
        return bind(index, std::string_view(value));
    }

    // True when a row is ready, false when done. Throws StoreError on failure.
    bool step();
    // Runs to completion, ignoring rows.
    void run();
    void reset();

    [[nodiscard]] bool is_null(int col) const;
    [[nodiscard]] std::int64_t int64(int col) const;
    [[nodiscard]] std::string text(int col) const;
    [[nodiscard]] std::optional<std::int64_t> opt_int64(int col) const;
    [[nodiscard]] std::optional<std::string> opt_text(int col) const;
    [[nodiscard]] std::optional<std::string> opt_blob(int col) const;  // the bytes as they are

    [[nodiscard]] sqlite3_stmt* raw() const noexcept { return stmt_; }

private:
    void check_bind(int rc);
    Connection* conn_;
    sqlite3_stmt* stmt_;  // owned by the connection's cache or by OwnedStatement
};

// Thrown by Connection/Statement on any SQLite failure; the store turns it
// into an Error at its boundary (SQLITE_FULL, IOERR, READONLY, BUSY ->
// unavailable; anything else -> internal). `code` is the extended result code.
struct StoreError : std::runtime_error {
    StoreError(int code, const std::string& what) : std::runtime_error(what), code(code) {}
    int code;
};

[[nodiscard]] Error to_error(const StoreError& e);

struct ConnectionDeleter {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};

// Process-wide SQLite settings, applied once before the first connection
// opens (Connection's constructor calls it; SQLite accepts them only before
// it initialises): no memory statistics. With them, every allocation and
// free inside SQLite takes one global mutex to count bytes nobody reads, and
// Debian's SQLite, built without its lookaside allocator, allocates for most
// values a statement touches: about an eighth of the writer's CPU per
// checkout. Without them sqlite3_memory_used() reports 0. The page cache
// layer of page_cache.hpp, which spares the writer a walk of its whole page
// cache at the end of most transactions. The WAL write buffer of
// wal_write_buffer.hpp as the default VFS (one write per commit instead of
// two per page). And a larger memory budget for what a savepoint keeps to
// roll back (the statement journal): most write units run in a savepoint of
// their own (store.hpp) and first copy there each page they change. Past
// 64 KiB, SQLite's default, the copies move to a temporary file in
// /var/tmp, which a unit changing a dozen index pages reaches whenever a
// b-tree splits; the file then stays, and every later unit of the batch
// writes its copies to it with pwrite, until COMMIT deletes it.
// A unit whose copies pass kStatementJournalSpill (32 pages; a bulk change
// such as moving every lease to a superseding license) still moves to a
// file: memory stays bounded. Not more than 128 KiB: with Debian 12's
// SQLite 3.40 a statement journal whose budget is larger fails with
// SQLITE_FULL at the moment it moves to its file (a test covers the move):
// it writes what it holds in one call, and the unix VFS masks the length of
// one pwrite with 0x1ffff (wal_write_buffer.hpp splits its writes for that).
inline constexpr int kStatementJournalSpill = 128 << 10;
void configure_sqlite_process() noexcept;

class Connection {
public:
    enum class Mode { read_write_create, read_write, read_only };

    // Opens (and with read_write_create creates) the database file through
    // the VFS named `vfs` (null: the default one). Throws StoreError.
    Connection(const std::string& path, Mode mode, const char* vfs = nullptr);
    Connection(Connection&&) noexcept = default;
    Connection& operator=(Connection&&) noexcept = default;
    ~Connection();

    // Runs one or more statements with no parameters. Throws StoreError.
    void exec(std::string_view sql);
    // A statement prepared once per connection and reused (reset, bindings cleared).
    Statement cached(std::string_view sql);
    [[nodiscard]] std::int64_t changes() const noexcept;
    [[nodiscard]] std::int64_t last_insert_rowid() const noexcept;
    [[nodiscard]] sqlite3* raw() const noexcept { return db_.get(); }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    [[noreturn]] void throw_error(int rc, std::string_view context) const;

    // Marks the writes made while it lives as ones that touch a credential
    // row without changing whether it authenticates (a last-used time), so
    // they do not move Store::credentials_epoch.
    class QuietCredentialWrite {
    public:
        explicit QuietCredentialWrite(Connection& c) : c_(c) { c_.quiet_credential_write_ = true; }
        ~QuietCredentialWrite() { c_.quiet_credential_write_ = false; }
        QuietCredentialWrite(const QuietCredentialWrite&) = delete;
        QuietCredentialWrite& operator=(const QuietCredentialWrite&) = delete;

    private:
        Connection& c_;
    };
    [[nodiscard]] bool quiet_credential_write() const noexcept { return quiet_credential_write_; }

private:
    std::string path_;
    bool quiet_credential_write_ = false;
    // Members are destroyed in reverse order: db_ is declared before
    // statements_ so that the statements are finalized before it closes.
    std::unique_ptr<sqlite3, ConnectionDeleter> db_;
    struct SqlHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    // Looked up by string_view: finding a cached statement allocates nothing.
    std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, StmtDeleter>, SqlHash, std::equal_to<>>
        statements_;
};

}  // namespace entitle::store
