// The SQLite store: one writer thread with group commit, a syncer thread that
// makes commits durable, readers on their own connections.
//
// Writes: `submit()` queues a unit of work for the writer thread. The writer
// takes every queued unit (up to `max_batch`), runs each inside its own
// SAVEPOINT of one shared transaction and COMMITs once; a unit that fails
// rolls back alone without touching the rest of the batch (units that fail
// only before their first write may go without the savepoint:
// `Savepoint::none`). The COMMIT writes
// the batch's WAL frames without waiting for the disk (synchronous=NORMAL);
// the syncer thread then syncs the WAL (fdatasync) and only after that sync
// calls the units' completions. So a completion still means "durable", many
// concurrent writers share one fsync, and the writer runs the next batch
// while the disk syncs the last one (one sync may cover several batches).
// Completions run on the syncer thread: keep them short and post real work
// elsewhere.
//
// A failed sync cannot be undone: the batch is committed and visible to the
// next batch, and whether it reached the disk is unknown. The store then
// stops (fail-stop, as PostgreSQL does on a failed fsync): the units waiting
// for that sync and every later write and read fail with `unavailable`, no
// file is written again (no checkpoint, none on close), and
// `StoreOptions::on_failure` is called once so the process can exit; the next
// open recovers from what the disk holds, and SQLite's WAL checksums drop
// frames that never reached it. No answer was given for what may be lost.
//
// Reads: `read()` runs a function on a pooled read-only connection on the
// calling thread; WAL lets readers run while the writer commits. A read
// returns only once every batch its snapshot can see is durable (it waits
// for the sync in flight, typically a millisecond), so nothing that could
// vanish in a power cut is ever shown.
//
// Checkpoints (copying the WAL back into the database file and syncing it)
// run on a checkpointer thread with its own connection, beside the writer,
// once the WAL holds `checkpoint_frames` frames. SQLite starts the WAL over
// only when a write transaction begins with every frame copied back; under a
// steady stream of commits that moment may never come, so once the WAL holds
// `restart_frames` the WAL is started over in two steps. First the
// checkpointer runs a pass and then syncs the database file, while the writer
// goes on committing: that sync writes out every page copied since the last
// restart (9 to 12 ms on the benchmark VM's disk). Then, after its
// next commit, the writer copies the few frames committed meanwhile and SQLite
// syncs the database file again, now with little left to write; no batch
// commits during that short pass, and the next transaction starts the WAL
// over. Restarts are kept rare: 128 MB of WAL and a little more at most. A
// failed sync of the database file stops the store as a failed sync of the
// WAL does (below): after an I/O error the kernel may drop the pages it could
// not write, and a later sync that succeeds would let the WAL start over
// without them.
//
// The checkpointer runs at a lower CPU priority (`checkpointer_nice`) than
// the threads that answer requests: its copying can wait, and at full load
// it would otherwise take a core from the writer, the syncer or the I/O
// threads for milliseconds at a time, which every request in flight waits
// out (docs/performance.md, change 30).
//
// Thread rules: every public member is safe to call from any thread.
// Destruction drains the queue (every submitted unit completes) and closes
// all connections.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "store/sqlite.hpp"

namespace entitle::store {

struct StoreOptions {
    std::size_t max_batch = 512;  // units per commit at most
    int checkpoint_frames = 1000;  // the checkpointer starts a pass (SQLite's default threshold)
    int restart_frames = 32000;    // the WAL starts over (128 MB of 4 KiB pages; see above)
    // Added to the checkpointer thread's nice value (0: none); see above.
    int checkpointer_nice = 10;
    // The SQLite VFS every connection opens through; empty: the default one.
    // Tests name the fault-injecting VFS (store/fault_vfs.hpp) here.
    std::string vfs{};
    // Called once, on the syncer thread, when the store has stopped after a
    // failed sync of the WAL (see above): the owner should stop serving and
    // exit; the next start recovers from the disk.
    std::function<void(const Error&)> on_failure{};
};

struct StoreStats {
    std::uint64_t commits = 0;        // transactions committed and synced
    std::uint64_t units = 0;          // write units completed
    std::uint64_t failed_commits = 0; // commits the disk refused
    double commit_seconds = 0;        // time the writer spent in batches (work + COMMIT; syncs apart)
    std::uint64_t max_batch = 0;      // largest batch so far
    bool writes_failing = false;      // the last batch failed for a disk/store reason
    std::uint64_t checkpoints = 0;    // checkpoint passes completed (either thread)
    std::uint64_t syncs = 0;          // fdatasync calls of the WAL by the syncer
    double sync_seconds = 0;          // time the syncer spent in them
    bool failed = false;              // a sync failed: the store has stopped (fail-stop)
};

class Store {
public:
    using Work = std::move_only_function<Result<void>(Connection&)>;
    using Done = std::move_only_function<void(Result<void>)>;

    // Whether a unit runs inside a SAVEPOINT of its own.
    enum class Savepoint {
        // It does: a unit that returns an error or throws is rolled back
        // alone and the rest of its batch commits.
        own,
        // It does not: SQLite copies every page a unit changes into its
        // savepoint's journal first, about a tenth of the server's CPU in
        // checkout/release cycles. For units that report refusals as results
        // of their own and fail only before their first write (checkout,
        // renewal, release). A failure before any row changed (as SQLite
        // counts changed rows) leaves the batch as it was and the rest of it
        // commits. A failure after one cannot be taken out alone: the whole
        // batch is rolled back, the unit gets its own error and every other
        // unit of the batch `unavailable` (retry). Units that change the
        // schema keep their savepoint.
        none,
    };

    // Opens an existing store at `path`, applying pending migrations.
    // Refuses a missing file, a non-Entitle file or a newer schema.
    [[nodiscard]] static Result<std::unique_ptr<Store>> open(const std::string& path,
                                                             StoreOptions options = {});
    // Creates the file if needed and migrates it (for `entitled init`).
    [[nodiscard]] static Result<std::unique_ptr<Store>> create(const std::string& path,
                                                               StoreOptions options = {});
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // Queues `work`; `done` is called once, on the syncer thread (the writer's
    // for a batch that failed), with the outcome after the commit is durable
    // (or failed). A unit that returns an error or throws is rolled back
    // alone (see Savepoint). If the commit itself fails (disk full, I/O
    // error, read-only), every unit of the batch gets `unavailable`; after a
    // failed sync every unit does (the store has stopped).
    void submit(Work work, Done done, Savepoint savepoint = Savepoint::own);

    // submit() and wait for the outcome: for command-line tools and tests,
    // never from the writer thread or an I/O thread that must not block.
    [[nodiscard]] Result<void> write_and_wait(Work work);

    // Runs `fn(Connection&)` on a read-only connection. StoreError becomes an Error.
    template <class Fn>
    auto read(Fn&& fn) -> decltype(fn(std::declval<Connection&>()));

    // A consistent copy of the whole store taken online (SQLite backup API on
    // one read snapshot; the writer is not blocked), written to the new file
    // `dest` (mode 0600, replaced if present) a few MB at a time so memory
    // stays small whatever the store's size: a self-contained SQLite file in
    // rollback-journal mode, synced before this returns. Blocks the caller
    // for the copy: run it off the I/O threads.
    [[nodiscard]] Result<void> backup_to_file(const std::string& dest);

    // True when a read connection answers `SELECT 1` and no sync failed.
    [[nodiscard]] bool healthy();
    [[nodiscard]] StoreStats stats() const;
    // Moves on after every committed batch that updated or deleted a row of
    // `tokens` or `hosts` (a revocation, a host removal), writes marked
    // quiet (Connection::QuietCredentialWrite, e.g. last_used_at) aside. It
    // moves before that batch's completions run, so a cache of credentials
    // that keeps the value it read before its store read knows when an
    // entry may be stale: whoever saw a revocation answered sees it too.
    [[nodiscard]] std::uint64_t credentials_epoch() const noexcept {
        return credentials_epoch_.load(std::memory_order_acquire);
    }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    Store(std::string path, Connection writer, StoreOptions options);
    static Result<std::unique_ptr<Store>> open_impl(const std::string& path, bool create,
                                                    StoreOptions options);
    void writer_loop();
    struct Unit {
        Work work;
        Done done;
        Savepoint savepoint;
    };
    void run_batch(std::vector<Unit>& batch);
    void checkpoint_if_due();
    void syncer_loop();
    // Syncs the WAL through the store's VFS; an error when the disk refused.
    std::optional<Error> sync_wal();
    // Syncs the database file through the checkpointer's connection (its thread only).
    std::optional<Error> sync_database_file();
    // `what`: the file whose sync failed, as the error message names it.
    void stop_after_failed_sync(const Error& cause, std::string_view what = "its log");
    [[nodiscard]] Error failure() const;
    // Waits until batch `seq` is durable; an error when the store stopped first.
    std::optional<Error> wait_durable(std::uint64_t seq);
    // Called by read() once its snapshot has ended: waits for what it could see.
    std::optional<Error> wait_visible_durable();
    struct SyncJob;
    void hand_to_syncer(SyncJob job);
    // Writer thread: wakes the checkpointer for a pass (and, when the WAL is
    // due to start over, a sync of the database file after it).
    void ask_checkpointer(bool sync_db);
    void checkpointer_loop();
    bool checkpoint(Connection& c);
    [[nodiscard]] const char* vfs() const noexcept {
        return options_.vfs.empty() ? nullptr : options_.vfs.c_str();
    }

    class ReaderLease;
    ReaderLease acquire_reader();
    void release_reader(std::unique_ptr<Connection> conn);

    std::string path_;
    StoreOptions options_;
    Connection writer_conn_;

    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::vector<Unit> queue_;
    bool stopping_ = false;

    std::mutex readers_mutex_;
    std::vector<std::unique_ptr<Connection>> idle_readers_;

    std::atomic<std::uint64_t> commits_{0}, units_{0}, failed_commits_{0}, max_batch_{0};
    std::atomic<std::uint64_t> commit_nanos_{0};
    std::atomic<bool> writes_failing_{false};
    int wal_frames_ = 0;  // writer thread only: WAL size after the last commit
    int frames_at_last_ask_ = 0;  // writer thread only: WAL size when a pass was last asked for

    Connection checkpoint_conn_;  // the checkpointer thread's only
    std::mutex checkpoint_mutex_;
    std::condition_variable checkpoint_cv_;
    bool checkpoint_due_ = false;   // under checkpoint_mutex_
    bool checkpoint_stop_ = false;  // under checkpoint_mutex_
    std::atomic<bool> checkpoint_asked_{false};  // a pass is asked for or running
    // The WAL is due to start over: the pass asked for also syncs the
    // database file (under checkpoint_mutex_), and says so when done.
    bool checkpoint_sync_db_ = false;
    std::atomic<bool> database_synced_{false};
    std::atomic<std::uint64_t> checkpoints_{0};
    bool credentials_touched_ = false;  // writer thread only: this batch changed tokens/hosts
    std::atomic<std::uint64_t> credentials_epoch_{0};
    // Commit sequence: the writer numbers each batch before its COMMIT
    // (`issued_seq_`: every batch a snapshot can see is numbered at most
    // this), the syncer publishes the highest one synced (`durable_seq_`).
    struct SyncJob {
        std::uint64_t seq = 0;
        bool committed = false;  // false: a failed batch, nothing to sync
        std::vector<std::pair<Done, Result<void>>> completions;
    };
    std::uint64_t next_seq_ = 0;  // writer thread only
    std::atomic<std::uint64_t> issued_seq_{0};
    std::atomic<std::uint64_t> durable_seq_{0};
    std::atomic<bool> failed_{false};
    mutable std::mutex sync_mutex_;
    std::condition_variable sync_cv_;     // the syncer waits for jobs
    std::condition_variable durable_cv_;  // readers wait for durable_seq_
    std::vector<SyncJob> sync_queue_;     // under sync_mutex_
    bool sync_stop_ = false;              // under sync_mutex_
    std::string failure_message_;         // under sync_mutex_, set once failed_
    std::string wal_path_;                // its name, kept alive for the VFS
    sqlite3_file* wal_file_ = nullptr;    // the syncer's own handle on the WAL
    std::atomic<std::uint64_t> syncs_{0}, sync_nanos_{0};

    std::thread checkpointer_;
    std::thread syncer_;
    std::thread writer_;  // last: started after everything above exists
};

class Store::ReaderLease {
public:
    ReaderLease(Store& s, std::unique_ptr<Connection> c) : store_(&s), conn_(std::move(c)) {}
    ReaderLease(ReaderLease&&) = default;
    ~ReaderLease() {
        if (conn_) store_->release_reader(std::move(conn_));
    }
    Connection& operator*() { return *conn_; }

private:
    Store* store_;
    std::unique_ptr<Connection> conn_;
};

template <class Fn>
auto Store::read(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
    try {
        std::optional<decltype(fn(std::declval<Connection&>()))> result;
        {
            auto lease = acquire_reader();
            // A read transaction per call: a consistent snapshot across statements.
            (*lease).cached("BEGIN").run();
            struct EndRead {
                Connection& c;
                ~EndRead() {
                    // Ends the read; it cannot fail in a way worth reporting here.
                    auto st = c.cached("COMMIT");
                    (void)sqlite3_step(st.raw());
                }
            } end{*lease};
            result.emplace(fn(*lease));
        }
        // The snapshot is gone; what it showed must be durable before it is shown.
        if (auto e = wait_visible_durable()) return std::unexpected(std::move(*e));
        return std::move(*result);
    } catch (const StoreError& e) {
        return std::unexpected(to_error(e));
    }
}

}  // namespace entitle::store
