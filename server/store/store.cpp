#include "store/store.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>

#include <fcntl.h>
#include <sys/resource.h>
#include <pthread.h>
#include <unistd.h>

#include <fmt/format.h>

#include "store/migrations.hpp"

namespace entitle::store {

namespace {

// The disk or file system refused: full, failing or read-only.
bool is_disk_fault(const StoreError& e) {
    switch (e.code & 0xff) {
        case SQLITE_FULL:
        case SQLITE_IOERR:
        case SQLITE_READONLY:
            return true;
        default:
            return false;
    }
}

void configure_writer(Connection& c) {
    c.exec("PRAGMA journal_mode = WAL");
    // NORMAL: COMMIT writes the WAL frames without syncing them; the syncer
    // thread syncs the WAL before any completion runs, so an acknowledged
    // write still survives power loss, while the writer runs the next batch.
    // (SQLite still syncs around its checkpoints, as with FULL.)
    c.exec("PRAGMA synchronous = NORMAL");
    c.exec("PRAGMA foreign_keys = ON");
    // 64 MiB of page cache for the one connection that writes (SQLite's
    // default is 2 MiB): the lease and entitlement pages a checkout touches
    // stay in memory for a store of millions of leases, instead of being
    // copied in through the kernel again and again.
    c.exec("PRAGMA cache_size = -65536");
}

// The WAL opened through `vfs_name` the way another connection opens it: the
// syncer's own handle, so that syncing never shares a file object (or its
// error state) with the writer. `name` must outlive the file.
sqlite3_file* open_wal(const char* vfs_name, const std::string& name) {
    sqlite3_vfs* vfs = sqlite3_vfs_find(vfs_name);
    if (!vfs) throw StoreError(SQLITE_ERROR, fmt::format("no SQLite VFS named {}", vfs_name ? vfs_name : "(default)"));
    auto* f = static_cast<sqlite3_file*>(sqlite3_malloc(vfs->szOsFile));
    if (!f) throw StoreError(SQLITE_NOMEM, "out of memory opening the WAL");
    std::memset(f, 0, static_cast<std::size_t>(vfs->szOsFile));
    int out_flags = 0;
    const int rc = vfs->xOpen(vfs, name.c_str(), f, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_WAL,
                              &out_flags);
    if (rc != SQLITE_OK) {
        if (f->pMethods) f->pMethods->xClose(f);
        sqlite3_free(f);
        throw StoreError(rc, fmt::format("cannot open {} to sync it", name.c_str()));
    }
    return f;
}

// Adds `by` to the calling thread's nice value (on Linux the nice value is
// each thread's own). Best effort: a thread that keeps its priority only
// competes harder for the CPU.
void lower_this_thread_priority(int by) {
    if (by <= 0) return;
    const auto tid = static_cast<id_t>(gettid());
    errno = 0;
    const int now = getpriority(PRIO_PROCESS, tid);
    if (now == -1 && errno != 0) return;
    (void)setpriority(PRIO_PROCESS, tid, std::min(now + by, 19));
}

// The full name of the store's WAL, spelled as SQLite spells it.
std::string wal_name(const char* vfs_name, const std::string& db_path) {
    sqlite3_vfs* vfs = sqlite3_vfs_find(vfs_name);
    std::string full(static_cast<std::size_t>(vfs ? vfs->mxPathname : 0) + 1, '\0');
    if (!vfs || vfs->xFullPathname(vfs, db_path.c_str(), static_cast<int>(full.size()), full.data()) != SQLITE_OK) {
        throw StoreError(SQLITE_CANTOPEN, fmt::format("cannot resolve the path of {}", db_path));
    }
    full.resize(std::strlen(full.c_str()));
    // SQLite hands a VFS file names followed by two NULs (no URI parameters).
    return full + "-wal" + std::string(1, '\0');
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open_impl(const std::string& path, bool create,
                                                StoreOptions options) {
    if (!create && !std::filesystem::exists(path)) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("no store at {}: run `entitled init` first", path));
    }
    try {
        Connection conn(path,
                        create ? Connection::Mode::read_write_create : Connection::Mode::read_write,
                        options.vfs.empty() ? nullptr : options.vfs.c_str());
        auto version = migrate(conn, embedded_migrations());
        if (!version) return std::unexpected(version.error());
        configure_writer(conn);
        return std::unique_ptr<Store>(new Store(path, std::move(conn), options));
    } catch (const StoreError& e) {
        return fail(ErrorCode::unavailable, e.what());
    }
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path, StoreOptions options) {
    return open_impl(path, false, options);
}

Result<std::unique_ptr<Store>> Store::create(const std::string& path, StoreOptions options) {
    return open_impl(path, true, options);
}

Store::Store(std::string path, Connection writer, StoreOptions options)
    : path_(std::move(path)),
      options_(std::move(options)),
      writer_conn_(std::move(writer)),
      checkpoint_conn_(path_, Connection::Mode::read_write, vfs()),
      wal_path_(wal_name(vfs(), path_)) {
    wal_file_ = open_wal(vfs(), wal_path_);
    // A checkpoint syncs the WAL before and the database file after copying.
    checkpoint_conn_.exec("PRAGMA synchronous = FULL");
    // Checkpoints run by hand after a successful COMMIT (checkpoint_if_due):
    // SQLite's automatic one runs inside COMMIT and reports its own failure
    // (disk full while copying pages back) as the COMMIT's, which would turn
    // a durable write into an error answer.
    sqlite3_wal_hook(
        writer_conn_.raw(),
        [](void* self, sqlite3*, const char*, int frames) {
            static_cast<Store*>(self)->wal_frames_ = frames;
            return SQLITE_OK;
        },
        this);
    sqlite3_update_hook(
        writer_conn_.raw(),
        [](void* self, int op, const char*, const char* table, sqlite3_int64) {
            auto& store = *static_cast<Store*>(self);
            if (op == SQLITE_INSERT || store.writer_conn_.quiet_credential_write()) return;
            const std::string_view t(table);
            if (t == "tokens" || t == "hosts") store.credentials_touched_ = true;
        },
        this);
    // Named for top -H, perf and gdb (at most 15 characters).
    checkpointer_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "store-ckpt");
        lower_this_thread_priority(options_.checkpointer_nice);
        checkpointer_loop();
    });
    syncer_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "store-sync");
        syncer_loop();
    });
    writer_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "store-writer");
        writer_loop();
    });
}

Store::~Store() {
    {
        std::lock_guard lock(queue_mutex_);
        stopping_ = true;
    }
    queue_cv_.notify_one();
    writer_.join();
    {
        std::lock_guard lock(sync_mutex_);
        sync_stop_ = true;
    }
    sync_cv_.notify_one();
    syncer_.join();  // after the writer: syncs and completes what it committed
    {
        std::lock_guard lock(checkpoint_mutex_);
        checkpoint_stop_ = true;
    }
    checkpoint_cv_.notify_one();
    checkpointer_.join();
    wal_file_->pMethods->xClose(wal_file_);
    sqlite3_free(wal_file_);
    if (failed_.load()) {
        // After a failed sync nothing is copied anywhere: no checkpoint, none
        // on close either. The next open recovers from what the disk holds.
        std::lock_guard lock(readers_mutex_);
        for (Connection* c : {&writer_conn_, &checkpoint_conn_}) {
            sqlite3_db_config(c->raw(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
        }
        for (auto& r : idle_readers_) sqlite3_db_config(r->raw(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
        return;
    }
    // Fold the WAL back into the main file so a stopped store is one file.
    sqlite3_wal_checkpoint_v2(writer_conn_.raw(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr,
                              nullptr);
}

void Store::submit(Work work, Done done, Savepoint savepoint) {
    {
        std::lock_guard lock(queue_mutex_);
        queue_.push_back(Unit{std::move(work), std::move(done), savepoint});
    }
    queue_cv_.notify_one();
}

Result<void> Store::write_and_wait(Work work) {
    std::promise<Result<void>> promise;
    auto future = promise.get_future();
    submit(std::move(work), [&promise](Result<void> r) { promise.set_value(std::move(r)); });
    return future.get();
}

void Store::writer_loop() {
    std::vector<Unit> batch;
    batch.reserve(options_.max_batch);
    for (;;) {
        {
            std::unique_lock lock(queue_mutex_);
            queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping and drained
            if (queue_.size() <= options_.max_batch) {
                batch.swap(queue_);
            } else {
                auto end = queue_.begin() + static_cast<std::ptrdiff_t>(options_.max_batch);
                std::move(queue_.begin(), end, std::back_inserter(batch));
                queue_.erase(queue_.begin(), end);
            }
        }
        run_batch(batch);
        batch.clear();
    }
}

void Store::run_batch(std::vector<Unit>& batch) {
    const auto started = std::chrono::steady_clock::now();
    struct Timing {
        Store& s;
        std::chrono::steady_clock::time_point t0;
        std::size_t n;
        ~Timing() {
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
            s.commit_nanos_.fetch_add(static_cast<std::uint64_t>(ns.count()), std::memory_order_relaxed);
            if (n > s.max_batch_.load(std::memory_order_relaxed)) s.max_batch_.store(n, std::memory_order_relaxed);
        }
    } timing{*this, started, batch.size()};
    if (failed_.load()) {
        // The store has stopped after a failed sync: nothing runs any more.
        const Error e = failure();
        for (auto& u : batch) u.done(std::unexpected(e));
        return;
    }
    std::vector<Result<void>> outcomes;
    outcomes.reserve(batch.size());
    Connection& c = writer_conn_;
    try {
        c.cached("BEGIN IMMEDIATE").run();
    } catch (const StoreError& e) {
        failed_commits_.fetch_add(1, std::memory_order_relaxed);
        if (is_disk_fault(e)) writes_failing_.store(true, std::memory_order_relaxed);
        for (auto& u : batch) u.done(std::unexpected(to_error(e)));
        return;
    }
    // A disk fault inside a unit (a page spill to the WAL that failed) may
    // already have rolled the whole transaction back: the batch stops there
    // and every unit of it fails, instead of committing on top of an unknown
    // state.
    std::optional<Error> batch_error;
    bool batch_disk_fault = false;
    // A unit without a savepoint that failed after writing: it keeps its own
    // error, the rest of the batch gets batch_error.
    std::optional<std::size_t> failed_midway;
    for (auto& u : batch) {
        try {
            const bool own = u.savepoint == Savepoint::own;
            if (own) c.cached("SAVEPOINT unit").run();
            const std::int64_t changes_before = own ? 0 : sqlite3_total_changes64(c.raw());
            Result<void> r;
            try {
                r = u.work(c);
            } catch (const StoreError& e) {
                if (is_disk_fault(e)) {
                    batch_error = to_error(e);
                    batch_disk_fault = true;
                    break;
                }
                r = std::unexpected(to_error(e));
            } catch (const std::exception& e) {
                r = fail(ErrorCode::internal, fmt::format("write failed: {}", e.what()));
            }
            if (own) {
                if (!r) c.cached("ROLLBACK TO unit").run();
                c.cached("RELEASE unit").run();
            } else if (!r && (sqlite3_total_changes64(c.raw()) != changes_before || sqlite3_get_autocommit(c.raw()))) {
                // Rows it changed cannot be taken out alone (or SQLite has
                // already rolled the transaction back): the batch goes.
                failed_midway = outcomes.size();
                outcomes.push_back(std::move(r));
                batch_error = Error{ErrorCode::unavailable,
                                    "a write batched with this one failed midway and the batch was rolled back; "
                                    "nothing of this request was kept; retry"};
                break;
            }
            outcomes.push_back(std::move(r));
        } catch (const StoreError& e) {
            // The savepoint machinery itself failed: the transaction is unusable.
            batch_error = to_error(e);
            batch_disk_fault = is_disk_fault(e);
            break;
        }
    }
    bool committed = false;
    Error commit_error = batch_error.value_or(
        Error{ErrorCode::unavailable, "the store cannot accept writes right now; retry"});
    bool disk_fault = batch_disk_fault;
    std::uint64_t seq = 0;  // numbered once it may become visible
    if (!batch_error && outcomes.size() == batch.size()) {
        seq = ++next_seq_;
        issued_seq_.store(seq);
        try {
            c.cached("COMMIT").run();
            committed = true;
        } catch (const StoreError& e) {
            commit_error = to_error(e);
            disk_fault = is_disk_fault(e);
        }
    }
    if (!committed) {
        // After SQLITE_FULL or an I/O error SQLite may or may not have rolled
        // back already; a ROLLBACK of what is left brings the connection back
        // to autocommit so that the next batch starts clean. If some frames
        // of a failed COMMIT reached the WAL before a write failed, the
        // wal-index never points at them and the next commit overwrites them.
        if (!sqlite3_get_autocommit(c.raw())) {
            sqlite3_exec(c.raw(), "ROLLBACK", nullptr, nullptr, nullptr);  // best effort
        }
        failed_commits_.fetch_add(1, std::memory_order_relaxed);
        if (disk_fault) writes_failing_.store(true, std::memory_order_relaxed);
        // Nothing changed, but whether the rollback was whole is SQLite's
        // business: caches start over, which costs a read each.
        if (std::exchange(credentials_touched_, false)) credentials_epoch_.fetch_add(1, std::memory_order_acq_rel);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            batch[i].done(i == failed_midway ? std::move(outcomes[i]) : Result<void>(std::unexpected(commit_error)));
        }
        // Its number was issued: the syncer passes over it, so that readers
        // waiting for it move on.
        if (seq != 0) hand_to_syncer(SyncJob{seq, false, {}});
        return;
    }
    writes_failing_.store(false, std::memory_order_relaxed);
    if (std::exchange(credentials_touched_, false)) credentials_epoch_.fetch_add(1, std::memory_order_acq_rel);
    checkpoint_if_due();
    SyncJob job{seq, true, {}};
    job.completions.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) job.completions.emplace_back(std::move(batch[i].done), std::move(outcomes[i]));
    hand_to_syncer(std::move(job));
}

void Store::hand_to_syncer(SyncJob job) {
    {
        std::lock_guard lock(sync_mutex_);
        sync_queue_.push_back(std::move(job));
    }
    sync_cv_.notify_one();
}

void Store::syncer_loop() {
    std::vector<SyncJob> jobs;
    for (;;) {
        {
            std::unique_lock lock(sync_mutex_);
            sync_cv_.wait(lock, [this] { return sync_stop_ || !sync_queue_.empty(); });
            if (sync_queue_.empty()) return;  // stopping and drained
            jobs.swap(sync_queue_);
        }
        // One sync covers every batch committed before it started.
        const bool any_committed = std::any_of(jobs.begin(), jobs.end(), [](const SyncJob& j) { return j.committed; });
        if (any_committed && !failed_.load()) {
            const auto t0 = std::chrono::steady_clock::now();
            auto err = sync_wal();
            sync_nanos_.fetch_add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                                 std::chrono::steady_clock::now() - t0)
                                                                 .count()),
                                  std::memory_order_relaxed);
            syncs_.fetch_add(1, std::memory_order_relaxed);
            if (err) stop_after_failed_sync(*err);
        }
        if (failed_.load()) {
            const Error e = failure();
            for (auto& job : jobs) {
                for (auto& [done, outcome] : job.completions) done(std::unexpected(e));
            }
        } else {
            {
                std::lock_guard lock(sync_mutex_);
                durable_seq_.store(jobs.back().seq);
            }
            durable_cv_.notify_all();
            for (auto& job : jobs) {
                if (!job.committed) continue;
                commits_.fetch_add(1, std::memory_order_relaxed);
                units_.fetch_add(job.completions.size(), std::memory_order_relaxed);
                for (auto& [done, outcome] : job.completions) done(std::move(outcome));
            }
        }
        jobs.clear();
    }
}

namespace {
// What a sync that SQLite's VFS answered with `rc` means for the store.
std::optional<Error> sync_outcome(int rc) {
    if (rc == SQLITE_OK) return std::nullopt;
    return Error{ErrorCode::unavailable, fmt::format("{} (SQLite error {})", sqlite3_errstr(rc), rc)};
}
}  // namespace

std::optional<Error> Store::sync_wal() {
    return sync_outcome(wal_file_->pMethods->xSync(wal_file_, SQLITE_SYNC_NORMAL));
}

std::optional<Error> Store::sync_database_file() {
    sqlite3_file* db = nullptr;
    int rc = sqlite3_file_control(checkpoint_conn_.raw(), "main", SQLITE_FCNTL_FILE_POINTER, &db);
    if (rc == SQLITE_OK && (!db || !db->pMethods)) rc = SQLITE_CANTOPEN;
    if (rc == SQLITE_OK) rc = db->pMethods->xSync(db, SQLITE_SYNC_NORMAL);
    return sync_outcome(rc);
}

void Store::stop_after_failed_sync(const Error& cause, std::string_view what) {
    {
        std::lock_guard lock(sync_mutex_);
        if (failed_.load()) return;  // stopped already (the syncer and the checkpointer may both fail)
        failure_message_ = fmt::format(
            "the store has stopped: the disk failed to sync {} ({}); a write not yet answered may or may not "
            "be stored. Retry the same request once the server is back",
            what, cause.message);
        failed_.store(true);
    }
    writes_failing_.store(true, std::memory_order_relaxed);
    durable_cv_.notify_all();
    if (options_.on_failure) options_.on_failure(failure());
}

Error Store::failure() const {
    std::lock_guard lock(sync_mutex_);
    return Error{ErrorCode::unavailable, failure_message_};
}

std::optional<Error> Store::wait_durable(std::uint64_t seq) {
    if (durable_seq_.load() >= seq) return std::nullopt;
    // The writer and the syncer never wait for themselves (a completion that
    // reads runs after its own batch is durable).
    const auto self = std::this_thread::get_id();
    if (self == syncer_.get_id() || self == writer_.get_id()) return std::nullopt;
    std::unique_lock lock(sync_mutex_);
    durable_cv_.wait(lock, [&] { return durable_seq_.load() >= seq || failed_.load(); });
    if (durable_seq_.load() >= seq) return std::nullopt;
    return Error{ErrorCode::unavailable, failure_message_};
}

std::optional<Error> Store::wait_visible_durable() {
    if (failed_.load()) return failure();
    return wait_durable(issued_seq_.load());
}

bool Store::checkpoint(Connection& c) {
    // PASSIVE: copies what no reader still needs, never waits for a lock
    // (SQLITE_BUSY when the other thread's pass is running). A pass that
    // fails (disk full while writing pages back) leaves the WAL as it was:
    // nothing is lost, a later pass tries again.
    const int rc = sqlite3_wal_checkpoint_v2(c.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK) return false;
    checkpoints_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void Store::checkpoint_if_due() {
    if (failed_.load()) return;
    if (wal_frames_ >= options_.restart_frames) {
        if (database_synced_.load(std::memory_order_acquire)) {
            // Copies the frames committed since the checkpointer's pass, so
            // that the next transaction finds the WAL copied back and starts
            // it over; SQLite's sync of the database file at the end of this
            // pass finds little left to write.
            if (checkpoint(writer_conn_)) {
                wal_frames_ = frames_at_last_ask_ = 0;
                database_synced_.store(false, std::memory_order_relaxed);
            }
            return;
        }
        // First the checkpointer's pass and its sync of the database file,
        // while batches go on committing (asked again after the next commit
        // if a pass is running now).
        if (!checkpoint_asked_.exchange(true, std::memory_order_acq_rel)) ask_checkpointer(true);
        return;
    }
    // A pass copies what was committed up to its start, so the next one is
    // asked for once another checkpoint_frames have been added.
    if (wal_frames_ < frames_at_last_ask_) {
        // The WAL started over by itself (a pass had copied all of it back):
        // a database sync made for the last restart is not for the next one.
        frames_at_last_ask_ = 0;
        database_synced_.store(false, std::memory_order_relaxed);
    }
    if (wal_frames_ - frames_at_last_ask_ >= options_.checkpoint_frames &&
        !checkpoint_asked_.exchange(true, std::memory_order_acq_rel)) {
        ask_checkpointer(false);
    }
}

void Store::ask_checkpointer(bool sync_db) {
    frames_at_last_ask_ = wal_frames_;
    {
        std::lock_guard lock(checkpoint_mutex_);
        checkpoint_due_ = true;
        checkpoint_sync_db_ = sync_db;
    }
    checkpoint_cv_.notify_one();
}

void Store::checkpointer_loop() {
    for (;;) {
        bool sync_db = false;
        {
            std::unique_lock lock(checkpoint_mutex_);
            checkpoint_cv_.wait(lock, [this] { return checkpoint_stop_ || checkpoint_due_; });
            if (checkpoint_stop_) return;
            checkpoint_due_ = false;
            sync_db = std::exchange(checkpoint_sync_db_, false);
        }
        if (!failed_.load() && checkpoint(checkpoint_conn_) && sync_db) {
            if (auto err = sync_database_file()) {
                stop_after_failed_sync(*err, "the database file");
            } else {
                database_synced_.store(true, std::memory_order_release);
            }
        }
        checkpoint_asked_.store(false, std::memory_order_release);
    }
}

Store::ReaderLease Store::acquire_reader() {
    {
        std::lock_guard lock(readers_mutex_);
        if (!idle_readers_.empty()) {
            auto c = std::move(idle_readers_.back());
            idle_readers_.pop_back();
            return ReaderLease(*this, std::move(c));
        }
    }
    auto c = std::make_unique<Connection>(path_, Connection::Mode::read_only, vfs());
    return ReaderLease(*this, std::move(c));
}

void Store::release_reader(std::unique_ptr<Connection> conn) {
    std::lock_guard lock(readers_mutex_);
    idle_readers_.push_back(std::move(conn));
}

Result<void> Store::backup_to_file(const std::string& dest) {
    try {
        {
            // Created here so that the copy (token hashes, license files) is
            // 0600 from its first byte, whatever the umask.
            std::error_code ec;
            std::filesystem::remove(dest, ec);
            const int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0) return fail(ErrorCode::unavailable, fmt::format("backup: cannot create {}", dest));
            ::close(fd);
        }
        Connection source(path_, Connection::Mode::read_only, vfs());
        // One read transaction for the whole copy: every step reads the same
        // snapshot, so commits meanwhile neither show up half nor restart it.
        source.exec("BEGIN");
        source.cached("SELECT count(*) FROM sqlite_schema").step();
        Connection copy(dest, Connection::Mode::read_write);
        sqlite3_backup* b = sqlite3_backup_init(copy.raw(), "main", source.raw(), "main");
        if (!b) copy.throw_error(sqlite3_errcode(copy.raw()), "backup init");
        int rc = SQLITE_OK;
        // A few MB per step keeps the page cache, and so the memory, small.
        constexpr int pages_per_step = 1024;
        while ((rc = sqlite3_backup_step(b, pages_per_step)) == SQLITE_OK || rc == SQLITE_BUSY ||
               rc == SQLITE_LOCKED) {
            if (rc != SQLITE_OK) sqlite3_sleep(10);
        }
        sqlite3_backup_finish(b);
        if (rc != SQLITE_DONE) copy.throw_error(rc, "backup");
        sqlite3_exec(source.raw(), "COMMIT", nullptr, nullptr, nullptr);
        // A self-contained file in rollback-journal mode, readable without
        // -wal/-shm companions; the change is committed with a sync.
        copy.exec("PRAGMA journal_mode = DELETE");
        copy.exec("PRAGMA synchronous = FULL");
        // Like any read: the copy holds nothing that is not durable here.
        if (auto e = wait_visible_durable()) {
            std::error_code ec;
            std::filesystem::remove(dest, ec);
            return std::unexpected(std::move(*e));
        }
        return {};
    } catch (const StoreError& e) {
        std::error_code ec;
        std::filesystem::remove(dest, ec);
        return std::unexpected(to_error(e));
    }
}

bool Store::healthy() {
    auto r = read([](Connection& c) -> Result<bool> {
        auto st = c.cached("SELECT 1");
        return st.step() && st.int64(0) == 1;
    });
    return r && *r;
}

StoreStats Store::stats() const {
    return StoreStats{commits_.load(std::memory_order_relaxed), units_.load(std::memory_order_relaxed),
                      failed_commits_.load(std::memory_order_relaxed),
                      static_cast<double>(commit_nanos_.load(std::memory_order_relaxed)) / 1e9,
                      max_batch_.load(std::memory_order_relaxed),
                      writes_failing_.load(std::memory_order_relaxed) || failed_.load(),
                      checkpoints_.load(std::memory_order_relaxed),
                      syncs_.load(std::memory_order_relaxed),
                      static_cast<double>(sync_nanos_.load(std::memory_order_relaxed)) / 1e9,
                      failed_.load()};
}

}  // namespace entitle::store
