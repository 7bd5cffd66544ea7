#include "app/restore_command.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "app/data_dir.hpp"
#include "app/data_dir_lock.hpp"
#include "core/audit_event.hpp"
#include "store/audit_log.hpp"
#include "store/migrations.hpp"
#include "store/sqlite.hpp"

namespace entitle::app {

namespace fs = std::filesystem;

namespace {

Result<void> errno_fail(const std::string& what, const fs::path& path) {
    return fail(ErrorCode::invalid_request, fmt::format("{} {}: {}", what, path.string(), std::strerror(errno)));
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Copies `from` to a new file `to` (mode 0600), fsynced.
Result<void> copy_file_synced(const fs::path& from, const fs::path& to) {
    Fd in{::open(from.c_str(), O_RDONLY | O_CLOEXEC)};
    if (in.fd < 0) return errno_fail("cannot read", from);
    struct stat st{};
    if (::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return fail(ErrorCode::invalid_request, fmt::format("{} is not a regular file", from.string()));
    }
    Fd out{::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
    if (out.fd < 0) return errno_fail("cannot create", to);
    ::fchmod(out.fd, 0600);  // independent of the umask
    std::string buf(1 << 20, '\0');
    for (;;) {
        const ssize_t n = ::read(in.fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_fail("cannot read", from);
        }
        if (n == 0) break;
        for (ssize_t done = 0; done < n;) {
            const ssize_t w = ::write(out.fd, buf.data() + done, static_cast<std::size_t>(n - done));
            if (w < 0) {
                if (errno == EINTR) continue;
                return errno_fail("cannot write", to);
            }
            done += w;
        }
    }
    if (::fsync(out.fd) != 0) return errno_fail("cannot fsync", to);
    return {};
}

Result<void> fsync_dir(const fs::path& dir) {
    Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd < 0 || ::fsync(d.fd) != 0) return errno_fail("cannot fsync directory", dir);
    return {};
}

bool has_sqlite_header(const fs::path& path) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    char head[16] = {};
    return f.fd >= 0 && ::read(f.fd, head, sizeof head) == static_cast<ssize_t>(sizeof head) &&
           std::memcmp(head, "SQLite format 3\0", 16) == 0;
}

struct Checked {
    int schema = 0;
    std::int64_t events = 0;
    std::int64_t head_seq = 0;
};

// Everything a store must pass before it is installed; `shown` names the
// backup in messages.
Result<Checked> check_backup(const fs::path& path, const std::string& shown) {
    if (!has_sqlite_header(path)) {
        return fail(ErrorCode::invalid_request, fmt::format("{} is not an SQLite database", shown));
    }
    try {
        store::Connection c(path.string(), store::Connection::Mode::read_write);
        auto app_id = c.cached("PRAGMA application_id");
        app_id.step();
        const auto id = app_id.int64(0);
        app_id.reset();
        if (id != store::kApplicationId) {
            return fail(ErrorCode::invalid_request,
                        fmt::format("{} is an SQLite database but not an Entitle store (application_id {:#x}, "
                                    "expected {:#x})",
                                    shown, id, store::kApplicationId));
        }
        auto version = store::schema_version(c);
        if (!version) return std::unexpected(version.error());
        const int known = store::embedded_migrations().back().version;
        if (*version > known) {
            return fail(ErrorCode::invalid_request,
                        fmt::format("{} has schema version {}, newer than this entitled knows ({}): restore it "
                                    "with a newer entitled",
                                    shown, *version, known));
        }
        {
            auto ic = c.cached("PRAGMA integrity_check");
            std::string problems;
            while (ic.step()) {
                const auto line = ic.text(0);
                if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
            }
            if (!problems.empty()) {
                return fail(ErrorCode::invalid_request,
                            fmt::format("{} fails PRAGMA integrity_check: {}", shown, problems));
            }
        }
        c.exec("BEGIN");
        AuditChainVerifier verifier;
        std::int64_t after = 0;
        for (;;) {
            const auto page = store::list_audit(c, after, 1000);
            for (const auto& e : page) {
                if (!verifier.feed(e)) {
                    return fail(ErrorCode::invalid_request,
                                fmt::format("{}: the audit chain is broken at seq {} ({}); refusing to restore it",
                                            shown, verifier.broken_seq(), verifier.description()));
                }
            }
            if (page.size() < 1000) break;
            after = page.back().seq;
        }
        c.exec("COMMIT");
        return Checked{*version, verifier.count(), verifier.head_seq()};
    } catch (const store::StoreError& e) {
        return fail(ErrorCode::invalid_request, fmt::format("{} cannot be read as a store: {}", shown, e.what()));
    }
}

// Audit events in the store at `path`: what `entitled init` leaves has none.
Result<std::int64_t> recorded_events(const fs::path& path) {
    try {
        store::Connection c(path.string(), store::Connection::Mode::read_only);
        auto st = c.cached("SELECT count(*) FROM audit_events");
        st.step();
        return st.int64(0);
    } catch (const store::StoreError& e) {
        // Not readable as a store (damaged, foreign): worth keeping, never silently replaced.
        return fail(ErrorCode::invalid_request, fmt::format("{}: {}", path.string(), e.what()));
    }
}

std::string utc_stamp() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

void remove_companions(const fs::path& db) {
    std::error_code ec;
    fs::remove(db.string() + "-wal", ec);
    fs::remove(db.string() + "-shm", ec);
    fs::remove(db.string() + "-journal", ec);
}

}  // namespace

Result<void> run_restore(const RestoreOptions& options) {
    const DataDir dir{options.data_dir};
    if (auto r = check_data_dir(dir); !r) return r;
    // Held until the new store is in place: no server starts on a half-restored directory.
    auto lock = lock_data_dir(dir);
    if (!lock) {
        if (lock.error().code == ErrorCode::conflict) {
            return fail(ErrorCode::conflict,
                        fmt::format("refusing to restore: {}; stop it first", lock.error().message));
        }
        return std::unexpected(lock.error());
    }

    // Copies left by a server or a restore that died mid-copy go first (the
    // lock says nobody is making one now); so would an old copy of this PID.
    (void)remove_leftover_copies(dir);
    const fs::path staged = dir.root / fmt::format(".entitle.db.restore-{}", ::getpid());
    std::error_code ec;
    struct Cleanup {
        fs::path p;
        bool keep = false;
        ~Cleanup() {
            if (keep) return;
            std::error_code e;
            fs::remove(p, e);
            remove_companions(p);
        }
    } cleanup{staged};

    if (auto r = copy_file_synced(options.from, staged); !r) return r;
    auto checked = check_backup(staged, options.from);
    if (!checked) return std::unexpected(checked.error());
    // The check may have opened the copy in WAL mode; the closed connection
    // folded it back, so the file alone is the store.
    remove_companions(staged);

    const fs::path live = dir.store();
    std::string kept;
    if (fs::exists(live)) {
        auto events = recorded_events(live);
        if (!options.force) {
            if (!events) {
                return fail(ErrorCode::conflict,
                            fmt::format("refusing to replace {}: it cannot be read ({}); --force replaces it "
                                        "and keeps it as a .bak file",
                                        live.string(), events.error().message));
            }
            if (*events > 0) {
                return fail(ErrorCode::conflict,
                            fmt::format("refusing to replace {}: it holds {} audit events; --force replaces it "
                                        "and keeps it as {}.<time>.bak",
                                        live.string(), *events, live.filename().string()));
            }
        }
        const fs::path bak = live.string() + "." + utc_stamp() + ".bak";
        fs::rename(live, bak, ec);
        if (ec) return fail(ErrorCode::invalid_request, fmt::format("cannot move {} aside: {}", live.string(), ec.message()));
        // A WAL left by a server that stopped without checkpointing belongs to
        // the old store: it travels with it, under the name SQLite looks for.
        if (fs::exists(live.string() + "-wal")) fs::rename(live.string() + "-wal", bak.string() + "-wal", ec);
        kept = bak.string();
    }
    remove_companions(live);
    fs::rename(staged, live, ec);
    if (ec) return fail(ErrorCode::invalid_request, fmt::format("cannot install {}: {}", live.string(), ec.message()));
    cleanup.keep = true;
    if (auto r = fsync_dir(dir.root); !r) return r;

    std::cout << "restored " << options.from << " into " << live.string() << "\n"
              << "  schema version:  " << checked->schema << "\n"
              << "  audit events:    " << checked->events << " (chain intact, head seq " << checked->head_seq << ")\n";
    if (!kept.empty()) std::cout << "  previous store:  " << kept << "\n";
    std::cout << "keys, tokens and TLS files of " << dir.root.string()
              << " are unchanged; run `entitled init --data " << dir.root.string()
              << "` to register its admin token in the restored store if it is not there\n";
    return {};
}

}  // namespace entitle::app
