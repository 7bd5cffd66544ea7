// --db FILE: a copy of the store (entitlectl backup, or the file of a stopped
// server), read with the SQLite C API. Never writes: the connection is opened
// SQLITE_OPEN_READONLY and PRAGMA query_only=1 is set before any query.
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <unordered_map>

#include "entitle_report/report_source.hpp"
#include "store/sqlite.hpp"

namespace entitle::report {

namespace {

constexpr std::int64_t kEntitleApplicationId = 0x456e7469;  // "Enti", schema/ and store/migrations
constexpr std::int64_t kMinSchemaVersion = 3;               // hosts and leases

using tools::failed;
using tools::usage_error;

struct DbCloser {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
    void operator()(sqlite3_stmt* st) const noexcept { sqlite3_finalize(st); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

// One prepared statement; step() answers true while rows come.
class Query {
  public:
    Query(sqlite3* db, std::string_view sql) : db_(db) {
        sqlite3_stmt* st = nullptr;
        rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &st, nullptr);
        st_.reset(st);
    }
    [[nodiscard]] bool ok() const {
        return rc_ == SQLITE_OK || rc_ == SQLITE_ROW || rc_ == SQLITE_DONE;
    }
    [[nodiscard]] std::string error() const { return sqlite3_errmsg(db_); }
    Query& bind(int i, std::int64_t v) {
        if (ok()) rc_ = sqlite3_bind_int64(st_.get(), i, v);
        return *this;
    }
    bool step() {
        if (!ok() || !st_) return false;
        rc_ = sqlite3_step(st_.get());
        return rc_ == SQLITE_ROW;
    }
    [[nodiscard]] bool is_null(int i) const {
        return sqlite3_column_type(st_.get(), i) == SQLITE_NULL;
    }
    [[nodiscard]] std::int64_t int64(int i) const { return sqlite3_column_int64(st_.get(), i); }
    [[nodiscard]] std::optional<std::int64_t> opt_int64(int i) const {
        if (is_null(i)) return std::nullopt;
        return int64(i);
    }
    [[nodiscard]] std::string text(int i) const { return std::string(text_view(i)); }
    // Valid until the next step.
    [[nodiscard]] std::string_view text_view(int i) const {
        const auto* p = sqlite3_column_text(st_.get(), i);
        const int n = sqlite3_column_bytes(st_.get(), i);
        return p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
                 : std::string_view();
    }

  private:
    sqlite3* db_;
    std::unique_ptr<sqlite3_stmt, StmtFinalizer> st_;
    int rc_ = SQLITE_OK;
};

std::vector<std::string> string_list(const std::string& json_text) {
    std::vector<std::string> out;
    const auto j = nlohmann::json::parse(json_text, nullptr, false);
    if (!j.is_array()) return out;
    for (const auto& v : j) {
        if (v.is_string()) out.push_back(v.get<std::string>());
    }
    return out;
}

// Fills `e` with the row, reusing its strings' buffers (a verify reads
// millions of rows). `parse_detail` false: only verifying, so the detail
// stays text (the hash reads detail_text; parsing, when needed at all,
// happens where it is hashed).
void read_event_row(const Query& q, AuditEvent& e, bool parse_detail) {
    e.seq = q.int64(0);
    e.ts = q.int64(1);
    e.kind.assign(q.text_view(2));
    e.actor.assign(q.text_view(3));
    e.subject.assign(q.text_view(4));
    e.detail_text.assign(q.text_view(5));
    if (parse_detail) {
        e.detail = nlohmann::json::parse(e.detail_text, nullptr, false);
        // Not JSON at all: keep the text, so the hash check reports the edit.
        if (e.detail.is_discarded()) e.detail = e.detail_text;
    } else {
        // Verifying only: the hash reads detail_text (an empty one is not
        // JSON, so it stands as the empty string, as parsing would make it).
        e.detail = e.detail_text.empty() ? nlohmann::json("") : nlohmann::json(nullptr);
    }
    e.prev_hash.assign(q.text_view(6));
    e.hash.assign(q.text_view(7));
}

// A path as the path part of an SQLite file: URI.
std::string uri_path(const std::string& path) {
    std::string out;
    for (const char c : path) {
        if (c == '%' || c == '?' || c == '#') {
            out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
        } else {
            out += c;
        }
    }
    return out;
}

constexpr std::string_view kEventColumns = "seq, ts, kind, actor, subject, detail, prev_hash, hash";

class StoreSource final : public ReportSource {
  public:
    StoreSource(std::string path, DbHandle db) : path_(std::move(path)), db_(std::move(db)) {}

    [[nodiscard]] std::string describe() const override { return "store copy " + path_; }

    Outcome<> stream_audit(const AuditVisitor& visit) override {
        return stream_until(std::nullopt, visit, false);
    }

    Outcome<History> load_history(const HistoryRequest& request,
                                  const AuditVisitor& observer) override {
        if (request.head_seq) {
            return usage_error(
                "--head needs the API as source; a store copy is reported at its own audit head");
        }
        // One read transaction: the same snapshot for every table, should the
        // file be a live store rather than a copy.
        if (auto begun = exec("BEGIN"); !begun) return std::unexpected(begun.error());
        auto history = read_history(request);
        if (history && observer) {
            if (auto streamed = stream_until(history->head.seq, observer); !streamed) {
                (void)exec("ROLLBACK");
                return std::unexpected(streamed.error());
            }
        }
        (void)exec("ROLLBACK");  // read-only: nothing to keep or lose
        return history;
    }

  private:
    Outcome<> exec(std::string_view sql) {
        char* message = nullptr;
        const int rc =
            sqlite3_exec(db_.get(), std::string(sql).c_str(), nullptr, nullptr, &message);
        std::string text = message ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        if (rc != SQLITE_OK) return failed(fmt::format("{}: {}", path_, text));
        return {};
    }

    Outcome<> query_failed(const Query& q) const {
        return failed(fmt::format("cannot read {}: {}", path_, q.error()));
    }

    Outcome<> stream_until(std::optional<std::int64_t> last, const AuditVisitor& visit, bool parse_detail = true) {
        Query q(db_.get(), fmt::format("SELECT {} FROM audit_events WHERE seq <= ?1 ORDER BY seq",
                                       kEventColumns));
        q.bind(1, last.value_or(std::numeric_limits<std::int64_t>::max()));
        // Bounded by the table: one row per step, and the visitor may stop early.
        AuditEvent e;
        while (q.step()) {
            read_event_row(q, e, parse_detail);
            if (!visit(e)) return {};
        }
        if (!q.ok()) return query_failed(q);
        return {};
    }

    Outcome<History> read_history(const HistoryRequest& request) {
        History h;
        {
            Query q(db_.get(), "SELECT seq, hash, ts FROM audit_events ORDER BY seq DESC LIMIT 1");
            if (!q.step()) {
                if (!q.ok()) return std::unexpected(query_failed(q).error());
                return failed(fmt::format(
                    "{} holds no audit events: an empty store has nothing to report", path_));
            }
            h.head = {q.int64(0), q.text(1), q.int64(2)};
        }
        {
            Query q(db_.get(), "SELECT ts FROM audit_events ORDER BY seq LIMIT 1");
            if (q.step()) h.first_event_ms = q.int64(0);
        }
        {
            Query q(
                db_.get(),
                "SELECT e.license_jti, e.id, e.feature, e.model, e.count, e.not_before, "
                "e.not_after, e.regions, e.overage_allow, e.overage_limit_percent, l.sub, l.iss, "
                "l.imported_at, l.ended_at, l.state "
                "FROM entitlements e JOIN licenses l ON l.jti = e.license_jti");
            while (q.step()) {
                EntitlementInfo e;
                e.license_jti = q.text(0);
                e.id = q.text(1);
                e.key = e.license_jti + "/" + e.id;
                e.feature = q.text(2);
                e.model = q.text(3);
                e.count = q.opt_int64(4);
                e.not_before = q.opt_int64(5);
                e.not_after = q.opt_int64(6);
                if (!q.is_null(7)) e.regions = string_list(q.text(7));
                e.overage_allow = q.int64(8) != 0;
                e.overage_limit_percent = q.int64(9);
                e.customer = q.text(10);
                e.issuer = q.text(11);
                e.license_imported_at = q.int64(12);
                e.license_ended_at = q.opt_int64(13);
                e.license_state = q.text(14);
                h.entitlements.push_back(std::move(e));
            }
            if (!q.ok()) return std::unexpected(query_failed(q).error());
            std::sort(
                h.entitlements.begin(), h.entitlements.end(),
                [](const EntitlementInfo& a, const EntitlementInfo& b) { return a.key < b.key; });
        }
        std::vector<LeaseRecord> leases;
        {
            Query q(db_.get(),
                    "SELECT id, license_jti, entitlement_id, gpu_uuid, issued_at, expires_at, "
                    "ended_at FROM leases");
            while (q.step()) {
                leases.push_back({q.text(0), q.text(1) + "/" + q.text(2), q.text(3), q.int64(4),
                                  q.int64(5), q.opt_int64(6)});
            }
            if (!q.ok()) return std::unexpected(query_failed(q).error());
        }
        // The leases table keeps only where a moved lease ended up; the
        // lease_moved events say where it was before.
        std::vector<LeaseMove> moves;
        {
            Query q(db_.get(),
                    "SELECT seq, ts, subject, detail FROM audit_events WHERE kind = 'lease_moved' "
                    "ORDER BY seq");
            while (q.step()) {
                const auto d = nlohmann::json::parse(q.text(3), nullptr, false);
                LeaseMove m;
                m.seq = q.int64(0);
                m.at = q.int64(1) / 1000;
                m.lease_id = q.text(2);
                if (d.is_object()) {
                    m.from = d.value("from", std::string());
                    m.to = d.value("to", std::string());
                }
                moves.push_back(std::move(m));
            }
            if (!q.ok()) return std::unexpected(query_failed(q).error());
        }
        h.spans = lease_spans(leases, std::move(moves), request.now);
        {
            Query q(db_.get(),
                    "SELECT id, name, region FROM hosts WHERE removed_at IS NULL ORDER BY id");
            while (q.step()) h.hosts.push_back({q.text(0), q.text(1), q.text(2)});
            if (!q.ok()) return std::unexpected(query_failed(q).error());
        }
        return h;
    }

    std::string path_;
    DbHandle db_;
};

}  // namespace

Outcome<std::unique_ptr<ReportSource>> open_store_source(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return usage_error(
            fmt::format("cannot open the store copy {}: {}", path, std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
        return usage_error(fmt::format("{} is not a file (give a copy of the store)", path));
    }
    if (st.st_size == 0) {
        return failed(fmt::format("{} is empty (0 bytes): not an Entitle store", path));
    }
    // The header says whether the file is an SQLite database at all, and its
    // journal mode (bytes 18 and 19: 1 rollback journal, 2 WAL).
    std::string header(100, '\0');
    {
        std::ifstream in(path, std::ios::binary);
        in.read(header.data(), static_cast<std::streamsize>(header.size()));
        header.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    }
    if (!header.starts_with(std::string_view("SQLite format 3\0", 16))) {
        return failed(fmt::format("{} is not an SQLite database, so not an Entitle store", path));
    }
    const bool wal_mode = header.size() > 18 && header[18] == 2;
    struct stat wal {};
    const bool wal_file = ::stat((path + "-wal").c_str(), &wal) == 0;
    // A WAL-mode file without its -wal companion (a copy, or the store of a
    // stopped server) holds all its data; opened as immutable, SQLite reads
    // it without creating -wal and -shm files next to it. With a -wal file
    // present (a live store) SQLite must read the log, and needs the -shm.
    const std::string uri =
        "file:" + uri_path(path) + (wal_mode && !wal_file ? "?immutable=1" : "");
    // The store's process-wide SQLite settings (no memory statistics: a
    // global mutex on every allocation of a read of millions of rows).
    store::configure_sqlite_process();
    sqlite3* raw = nullptr;
    const int rc =
        // NOMUTEX: one thread uses this connection; SQLite's own locking would only cost time.
        sqlite3_open_v2(uri.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
    DbHandle db(raw);
    if (rc != SQLITE_OK) {
        return failed(fmt::format("cannot open {}: {}", path,
                                  raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_busy_timeout(db.get(), 5'000);
    char* message = nullptr;
    if (sqlite3_exec(db.get(), "PRAGMA query_only = 1", nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message ? message : "unknown error";
        sqlite3_free(message);
        return failed(fmt::format("{} cannot be read as an SQLite database: {}", path, text));
    }
    auto pragma = [&](std::string_view sql) -> std::optional<std::int64_t> {
        Query q(db.get(), sql);
        if (!q.step()) return std::nullopt;
        return q.int64(0);
    };
    const auto application_id = pragma("PRAGMA application_id");
    if (!application_id) {
        return failed(
            fmt::format("{} is not an SQLite database: {}", path, sqlite3_errmsg(db.get())));
    }
    const auto tables = pragma("SELECT count(*) FROM sqlite_schema WHERE type = 'table'");
    if (!tables) {
        return failed(
            fmt::format("{} is not an SQLite database: {}", path, sqlite3_errmsg(db.get())));
    }
    if (*tables == 0) {
        return failed(fmt::format("{} is an empty SQLite database, not an Entitle store", path));
    }
    const auto has_version = pragma(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'");
    if (*application_id != kEntitleApplicationId || !has_version || *has_version == 0) {
        return failed(fmt::format(
            "{} is an SQLite database but not an Entitle store (application_id {}, expected {}{})",
            path, *application_id, kEntitleApplicationId,
            has_version && *has_version ? "" : ", no schema_version table"));
    }
    const auto version = pragma("SELECT max(version) FROM schema_version");
    if (!version || *version < kMinSchemaVersion) {
        return failed(fmt::format(
            "{} is an Entitle store of schema version {}; reports need version {} or newer", path,
            version.value_or(0), kMinSchemaVersion));
    }
    return std::make_unique<StoreSource>(path, std::move(db));
}

}  // namespace entitle::report
