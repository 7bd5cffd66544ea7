#include "store/store.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "store/fault_vfs.hpp"
#include "store/meta_table.hpp"
#include "store/token_table.hpp"
#include "store_test_support.hpp"
#include "temp_dir.hpp"

using namespace entitle;
using namespace entitle::store;
using entitle::test::TempDir;
using entitle::test::count_meta;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<Store> create_store(const TempDir& dir, StoreOptions options = {}) {
    auto s = Store::create(dir.file("entitle.db"), options);
    REQUIRE(s.has_value());
    return std::move(*s);
}

// The value of a meta key as a reader sees it (the read itself must succeed).
std::optional<std::string> read_meta(Store& s, const std::string& key) {
    auto r = s.read(
        [&](Connection& c) -> Result<std::optional<std::string>> { return get_meta(c, key); });
    REQUIRE(r.has_value());
    return *r;
}

Store::Work set_meta_unit(std::string key, std::string value) {
    return [key = std::move(key), value = std::move(value)](Connection& c) -> Result<void> {
        set_meta(c, key, value);
        return {};
    };
}

// Holds the writer thread inside a unit until release(), so that everything
// submitted meanwhile is queued and goes into the next batch together.
class WriterGate {
  public:
    explicit WriterGate(Store& s) {
        s.submit(
            [this](Connection&) -> Result<void> {
                started_.set_value();
                release_.get_future().wait();
                return {};
            },
            [this](Result<void> r) { done_.set_value(r.has_value()); });
        REQUIRE(started_.get_future().wait_for(30s) == std::future_status::ready);
    }
    void release() { release_.set_value(); }
    bool wait_done() { return done_.get_future().get(); }

  private:
    std::promise<void> started_, release_;
    std::promise<bool> done_;
};

}  // namespace

TEST_CASE("Store::open on a missing path fails, says to run entitled init and creates nothing") {
    TempDir dir;
    const std::string path = dir.file("missing.db");
    const auto s = Store::open(path);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().message.find("entitled init") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("Store::create makes a new store that Store::open then opens") {
    TempDir dir;
    const std::string path = dir.file("entitle.db");
    {
        auto created = Store::create(path);
        REQUIRE(created.has_value());
        CHECK((*created)->path() == path);
        REQUIRE((*created)->write_and_wait(set_meta_unit("server_id", "srv-1")).has_value());
    }
    auto opened = Store::open(path);
    REQUIRE(opened.has_value());
    CHECK(read_meta(**opened, "server_id") == std::optional<std::string>("srv-1"));
}

TEST_CASE("a new store is healthy") {
    TempDir dir;
    auto s = create_store(dir);
    CHECK(s->healthy());
    const StoreStats st = s->stats();
    CHECK(st.commits == 0);
    CHECK(st.units == 0);
    CHECK(st.failed_commits == 0);
}

TEST_CASE("read() sees data once its write has completed") {
    TempDir dir;
    auto s = create_store(dir);
    CHECK(read_meta(*s, "k") == std::optional<std::string>());
    REQUIRE(s->write_and_wait(set_meta_unit("k", "v1")).has_value());
    CHECK(read_meta(*s, "k") == std::optional<std::string>("v1"));
    REQUIRE(s->write_and_wait(set_meta_unit("k", "v2")).has_value());
    CHECK(read_meta(*s, "k") == std::optional<std::string>("v2"));
}

TEST_CASE("read() turns an SQLite failure into an Error instead of throwing") {
    TempDir dir;
    auto s = create_store(dir);
    const auto bad = s->read([](Connection& c) -> Result<int> {
        auto st = c.cached("SELECT nope FROM no_such_table");
        st.step();
        return 1;
    });
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().code == ErrorCode::internal);

    // A read connection cannot write.
    const auto write = s->read([](Connection& c) -> Result<int> {
        set_meta(c, "k", "v");
        return 1;
    });
    CHECK_FALSE(write.has_value());
    CHECK(s->healthy());  // the failed reads left the pool usable
}

TEST_CASE("write_and_wait returns the unit's own error and keeps none of its writes") {
    TempDir dir;
    auto s = create_store(dir);
    const auto r = s->write_and_wait([](Connection& c) -> Result<void> {
        set_meta(c, "half", "done");
        return fail(ErrorCode::conflict, "changed my mind");
    });
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::conflict);
    CHECK(r.error().message == "changed my mind");
    CHECK(read_meta(*s, "half") == std::optional<std::string>());
}

TEST_CASE("submits from 8 threads of 200 units each all complete and all rows are readable") {
    TempDir dir;
    auto s = create_store(dir);
    constexpr int kThreads = 8;
    constexpr int kUnits = 200;
    constexpr int kTotal = kThreads * kUnits;

    std::mutex m;
    std::condition_variable cv;
    int completed = 0;
    std::atomic<int> failures{0};

    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kUnits; ++i) {
                const std::string key = "k-" + std::to_string(t) + "-" + std::to_string(i);
                s->submit(set_meta_unit(key, "v" + std::to_string(t * kUnits + i)),
                          [&](Result<void> r) {
                              if (!r) failures.fetch_add(1);
                              std::lock_guard lock(m);
                              if (++completed == kTotal) cv.notify_all();
                          });
            }
        });
    }
    for (auto& th : threads) th.join();
    {
        std::unique_lock lock(m);
        REQUIRE(cv.wait_for(lock, 120s, [&] { return completed == kTotal; }));
    }
    CHECK(failures.load() == 0);

    CHECK(count_meta(*s, "k-%") == kTotal);
    for (int t = 0; t < kThreads; ++t) {
        for (int i = 0; i < kUnits; i += 37) {
            const std::string key = "k-" + std::to_string(t) + "-" + std::to_string(i);
            CAPTURE(key);
            CHECK(read_meta(*s, key) ==
                  std::optional<std::string>("v" + std::to_string(t * kUnits + i)));
        }
    }

    const StoreStats st = s->stats();
    CHECK(st.units == static_cast<std::uint64_t>(kTotal));
    CHECK(st.commits <= st.units);
    CHECK(st.commits < st.units);  // concurrent submitters shared commits
    CHECK(st.failed_commits == 0);
}

TEST_CASE("units queued while the writer is busy are committed together in one batch") {
    TempDir dir;
    auto s = create_store(dir);
    WriterGate gate(*s);
    std::vector<std::future<bool>> outcomes;
    for (int i = 0; i < 50; ++i) {
        auto p = std::make_shared<std::promise<bool>>();
        outcomes.push_back(p->get_future());
        s->submit(set_meta_unit("b-" + std::to_string(i), "x"),
                  [p](Result<void> r) { p->set_value(r.has_value()); });
    }
    gate.release();
    CHECK(gate.wait_done());
    for (auto& f : outcomes) CHECK(f.get());
    const StoreStats st = s->stats();
    CHECK(st.units == 51);
    CHECK(st.commits == 2);  // the gate's batch, then all 50 at once
}

TEST_CASE("a batch is split at max_batch units") {
    TempDir dir;
    auto s = create_store(dir, StoreOptions{.max_batch = 4});
    WriterGate gate(*s);
    std::vector<std::future<bool>> outcomes;
    for (int i = 0; i < 10; ++i) {
        auto p = std::make_shared<std::promise<bool>>();
        outcomes.push_back(p->get_future());
        s->submit(set_meta_unit("m-" + std::to_string(i), "x"),
                  [p](Result<void> r) { p->set_value(r.has_value()); });
    }
    gate.release();
    CHECK(gate.wait_done());
    for (auto& f : outcomes) CHECK(f.get());
    const StoreStats st = s->stats();
    CHECK(st.units == 11);
    CHECK(st.commits == 1 + 3);  // 10 queued units in batches of 4, 4, 2
    CHECK(count_meta(*s, "m-%") == 10);
}

TEST_CASE("a unit that fails rolls back alone and the rest of its batch commits") {
    TempDir dir;
    auto s = create_store(dir);
    WriterGate gate(*s);
    const auto before = s->stats();

    std::promise<Result<void>> ok1, returns_error, throws, sqlite_error, ok2;
    auto track = [](std::promise<Result<void>>& p) {
        return [&p](Result<void> r) { p.set_value(std::move(r)); };
    };
    s->submit(set_meta_unit("ok1", "1"), track(ok1));
    s->submit(
        [](Connection& c) -> Result<void> {
            set_meta(c, "returns_error", "written then undone");
            return fail(ErrorCode::conflict, "unit says no");
        },
        track(returns_error));
    s->submit(
        [](Connection& c) -> Result<void> {
            set_meta(c, "throws", "written then undone");
            throw std::runtime_error("unit blew up");
        },
        track(throws));
    s->submit(
        [](Connection& c) -> Result<void> {
            set_meta(c, "sqlite_error", "written then undone");
            c.exec("INSERT INTO no_such_table VALUES (1)");
            return {};
        },
        track(sqlite_error));
    s->submit(set_meta_unit("ok2", "2"), track(ok2));
    gate.release();
    CHECK(gate.wait_done());

    const auto r_ok1 = ok1.get_future().get();
    const auto r_err = returns_error.get_future().get();
    const auto r_throw = throws.get_future().get();
    const auto r_sql = sqlite_error.get_future().get();
    const auto r_ok2 = ok2.get_future().get();

    CHECK(r_ok1.has_value());
    CHECK(r_ok2.has_value());
    REQUIRE_FALSE(r_err.has_value());
    CHECK(r_err.error().code == ErrorCode::conflict);
    CHECK(r_err.error().message == "unit says no");
    REQUIRE_FALSE(r_throw.has_value());
    CHECK(r_throw.error().code == ErrorCode::internal);
    CHECK(r_throw.error().message.find("unit blew up") != std::string::npos);
    REQUIRE_FALSE(r_sql.has_value());
    CHECK(r_sql.error().code == ErrorCode::internal);

    // The gate's batch committed, then all five units together in one commit.
    const auto after = s->stats();
    CHECK(after.commits - before.commits == 2);
    CHECK(after.units - before.units == 6);

    CHECK(read_meta(*s, "ok1") == std::optional<std::string>("1"));
    CHECK(read_meta(*s, "ok2") == std::optional<std::string>("2"));
    CHECK(read_meta(*s, "returns_error") == std::optional<std::string>());
    CHECK(read_meta(*s, "throws") == std::optional<std::string>());
    CHECK(read_meta(*s, "sqlite_error") == std::optional<std::string>());
}

TEST_CASE("a unit without a savepoint that fails before writing leaves the rest of its batch to commit") {
    TempDir dir;
    auto s = create_store(dir);
    REQUIRE(s->write_and_wait(set_meta_unit("taken", "first")).has_value());
    WriterGate gate(*s);
    const auto before = s->stats();

    std::promise<Result<void>> ok1, refuses, statement_fails, ok2;
    auto track = [](std::promise<Result<void>>& p) {
        return [&p](Result<void> r) { p.set_value(std::move(r)); };
    };
    s->submit(set_meta_unit("ok1", "1"), track(ok1));
    s->submit(
        [](Connection& c) -> Result<void> {
            if (get_meta(c, "taken")) return fail(ErrorCode::conflict, "read, then refused");
            return {};
        },
        track(refuses), Store::Savepoint::none);
    s->submit(
        [](Connection& c) -> Result<void> {
            // Its first write fails: SQLite undoes the statement, no row changed.
            c.cached("INSERT INTO meta (key, value) VALUES ('taken', 'second')").run();
            return {};
        },
        track(statement_fails), Store::Savepoint::none);
    s->submit(set_meta_unit("ok2", "2"), track(ok2), Store::Savepoint::none);
    gate.release();
    CHECK(gate.wait_done());

    CHECK(ok1.get_future().get().has_value());
    const auto r_refused = refuses.get_future().get();
    REQUIRE_FALSE(r_refused.has_value());
    CHECK(r_refused.error().code == ErrorCode::conflict);
    CHECK(r_refused.error().message == "read, then refused");
    const auto r_statement = statement_fails.get_future().get();
    REQUIRE_FALSE(r_statement.has_value());
    CHECK(r_statement.error().code == ErrorCode::internal);
    CHECK(ok2.get_future().get().has_value());

    const auto after = s->stats();
    CHECK(after.commits - before.commits == 2);  // the gate's batch, then the four units in one
    CHECK(after.failed_commits == before.failed_commits);
    CHECK(read_meta(*s, "ok1") == std::optional<std::string>("1"));
    CHECK(read_meta(*s, "ok2") == std::optional<std::string>("2"));
    CHECK(read_meta(*s, "taken") == std::optional<std::string>("first"));
}

TEST_CASE("a unit without a savepoint that fails after writing takes its whole batch with it, and only that batch") {
    TempDir dir;
    auto s = create_store(dir);
    auto track = [](std::promise<Result<void>>& p) {
        return [&p](Result<void> r) { p.set_value(std::move(r)); };
    };
    struct Case {
        const char* name;
        Store::Work culprit;
        ErrorCode code;
        const char* says;
    };
    std::vector<Case> cases;
    cases.push_back({"returns an error",
                     [](Connection& c) -> Result<void> {
                         set_meta(c, "culprit", "written");
                         return fail(ErrorCode::conflict, "changed my mind");
                     },
                     ErrorCode::conflict, "changed my mind"});
    cases.push_back({"throws",
                     [](Connection& c) -> Result<void> {
                         set_meta(c, "culprit", "written");
                         throw std::runtime_error("unit blew up");
                     },
                     ErrorCode::internal, "unit blew up"});
    cases.push_back({"hits an SQLite error",
                     [](Connection& c) -> Result<void> {
                         set_meta(c, "culprit", "written");
                         c.exec("INSERT INTO no_such_table VALUES (1)");
                         return {};
                     },
                     ErrorCode::internal, "store failure"});
    for (auto& k : cases) {
        SUBCASE(k.name) {
            WriterGate gate(*s);
            const auto before = s->stats();
            std::promise<Result<void>> own, plain, culprit, later;
            s->submit(set_meta_unit("own", "1"), track(own));
            s->submit(set_meta_unit("plain", "1"), track(plain), Store::Savepoint::none);
            s->submit(std::move(k.culprit), track(culprit), Store::Savepoint::none);
            s->submit(set_meta_unit("later", "1"), track(later));
            gate.release();
            CHECK(gate.wait_done());

            const auto r_culprit = culprit.get_future().get();
            REQUIRE_FALSE(r_culprit.has_value());
            CHECK(r_culprit.error().code == k.code);
            CHECK_MESSAGE(r_culprit.error().message.find(k.says) != std::string::npos, r_culprit.error().message);
            for (auto* p : {&own, &plain, &later}) {
                const auto r = p->get_future().get();
                REQUIRE_FALSE(r.has_value());
                CHECK(r.error().code == ErrorCode::unavailable);
                CHECK(r.error().message.find("retry") != std::string::npos);
            }
            for (const char* key : {"own", "plain", "culprit", "later"}) {
                CHECK_MESSAGE(read_meta(*s, key) == std::optional<std::string>(), key);
            }
            const auto after = s->stats();
            CHECK(after.commits - before.commits == 1);  // the gate's batch only
            CHECK_FALSE(after.writes_failing);

            // The next batch starts clean and commits.
            REQUIRE(s->write_and_wait(set_meta_unit("next", "1")).has_value());
            CHECK(read_meta(*s, "next") == std::optional<std::string>("1"));
            CHECK(s->healthy());
        }
    }
}

// Every unit runs in a savepoint that first copies each page it changes
// (the statement journal). A unit changing tens of pages keeps those copies
// in memory; only a bulk change past kStatementJournalSpill moves them to a
// temporary file. Either way a failed unit rolls back whole.
TEST_CASE("a unit's rollback record stays in memory up to its budget and a failed bulk unit still rolls back") {
    TempDir dir;
    register_fault_vfs();  // counts the statement journal files opened
    StoreOptions options;
    options.vfs = fault_vfs_name;
    auto s = create_store(dir, options);
    constexpr int kRows = 3000;  // 1,000-byte values: 4 rows per 4 KiB page
    const auto filled = s->write_and_wait([](Connection& c) -> Result<void> {
        c.exec("CREATE TABLE bulk (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
        for (int i = 1; i <= kRows; ++i) {
            c.cached("INSERT INTO bulk (id, v) VALUES (?1, ?2)").bind(1, std::int64_t{i}).bind(2, std::string(1000, 'a')).run();
        }
        return {};
    });
    REQUIRE_MESSAGE(filled.has_value(), (filled ? std::string() : filled.error().message));
    auto set_range = [](int last, char value, bool then_fail) {
        return [=](Connection& c) -> Result<void> {
            c.cached("UPDATE bulk SET v = ?2 WHERE id <= ?1").bind(1, std::int64_t{last}).bind(2, std::string(1000, value)).run();
            if (then_fail) return fail(ErrorCode::conflict, "undone");
            return {};
        };
    };
    auto count_value = [&](char value) {
        auto r = s->read([&](Connection& c) -> Result<std::int64_t> {
            auto st = c.cached("SELECT count(*) FROM bulk WHERE v = ?1");
            st.bind(1, std::string(1000, value));
            st.step();
            return st.int64(0);
        });
        REQUIRE(r.has_value());
        return *r;
    };
    const auto files_before = subjournal_files_opened();

    // About 26 pages each (4 rows a page; 105 KiB of copies): past SQLite's
    // 64 KiB default, within the store's 128 KiB.
    WriterGate gate(*s);
    std::promise<Result<void>> changed, undone, after;
    s->submit(set_range(100, 'b', false), [&](Result<void> r) { changed.set_value(std::move(r)); });
    s->submit(set_range(100, 'c', true), [&](Result<void> r) { undone.set_value(std::move(r)); });
    s->submit(set_meta_unit("after", "1"), [&](Result<void> r) { after.set_value(std::move(r)); });
    gate.release();
    CHECK(gate.wait_done());
    CHECK(changed.get_future().get().has_value());
    CHECK_FALSE(undone.get_future().get().has_value());
    CHECK(after.get_future().get().has_value());
    CHECK(subjournal_files_opened() == files_before);
    CHECK(count_value('b') == 100);
    CHECK(count_value('c') == 0);

    // Every row (750 pages, 3 MiB of copies): past the budget, so the
    // copies go to a file, and the failed unit still leaves every row as it was.
    const auto bulk = s->write_and_wait(set_range(kRows, 'd', true));
    REQUIRE_FALSE(bulk.has_value());
    CHECK_MESSAGE(bulk.error().code == ErrorCode::conflict, bulk.error().message);
    CHECK(subjournal_files_opened() > files_before);
    CHECK(count_value('d') == 0);
    CHECK(count_value('b') == 100);
    CHECK(count_value('a') == kRows - 100);
}

TEST_CASE("destroying the store completes every queued unit and keeps their writes") {
    TempDir dir;
    const std::string path = dir.file("entitle.db");
    constexpr int kQueued = 300;
    std::atomic<int> done{0}, ok{0};
    {
        auto created = Store::create(path);
        REQUIRE(created.has_value());
        auto s = std::move(*created);
        WriterGate gate(*s);
        for (int i = 0; i < kQueued; ++i) {
            s->submit(set_meta_unit("d-" + std::to_string(i), "x"), [&](Result<void> r) {
                if (r) ok.fetch_add(1);
                done.fetch_add(1);
            });
        }
        // Release the writer only after destruction has begun, so the
        // destructor finds a full queue.
        std::thread releaser([&gate] {
            std::this_thread::sleep_for(50ms);
            gate.release();
        });
        s.reset();
        releaser.join();
        CHECK(gate.wait_done());
        CHECK(done.load() == kQueued);
    }
    CHECK(ok.load() == kQueued);
    CHECK_FALSE(std::filesystem::exists(path + "-wal"));  // checkpointed into one file

    auto reopened = Store::open(path);
    REQUIRE(reopened.has_value());
    CHECK(count_meta(**reopened, "d-%") == kQueued);
}

namespace {
// A unit that dirties about `pages` 4 KiB pages: that many WAL frames at its commit.
Store::Work bulky_unit(int i, int pages) {
    return set_meta_unit("bulk-" + std::to_string(i), std::string(static_cast<std::size_t>(pages) * 4000, 'x'));
}
std::uintmax_t file_size_or_zero(const std::string& p) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(p, ec);
    return ec ? 0 : n;
}
}  // namespace

TEST_CASE("the checkpointer thread copies the WAL back into the database file while the writer goes on") {
    TempDir dir;
    const std::string path = dir.file("entitle.db");
    // The writer never checkpoints itself here: every pass is the checkpointer's.
    auto s = create_store(dir, StoreOptions{.checkpoint_frames = 20, .restart_frames = 1'000'000'000});
    const auto db_before = file_size_or_zero(path);
    for (int i = 0; i < 40; ++i) REQUIRE(s->write_and_wait(bulky_unit(i, 4)).has_value());
    // Passes run beside the writer, so wait for one (bounded).
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (s->stats().checkpoints == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    CHECK(s->stats().checkpoints >= 1);
    // Pages reached the database file itself, not only the WAL.
    CHECK(file_size_or_zero(path) > db_before + 20 * 4096);
    CHECK(count_meta(*s, "bulk-%") == 40);
}

TEST_CASE("under a steady stream of commits the WAL starts over and stays bounded") {
    TempDir dir;
    const std::string path = dir.file("entitle.db");
    constexpr int kRestart = 200;
    // The checkpointer at the writer's priority: its pass and sync, which the
    // restart waits for, should not wait for a CPU behind other tests.
    auto s = create_store(dir, StoreOptions{.checkpoint_frames = 20, .restart_frames = kRestart, .checkpointer_nice = 0});
    std::uintmax_t largest = 0;
    for (int i = 0; i < 300; ++i) {  // about 1,500 frames: several times the restart bound
        REQUIRE(s->write_and_wait(bulky_unit(i, 4)).has_value());
        largest = std::max(largest, file_size_or_zero(path + "-wal"));
    }
    // A frame is a page plus a 24-byte header. Once the WAL holds kRestart
    // frames the checkpointer copies it back and syncs the database file,
    // then the writer copies what was committed meanwhile and the next
    // transaction starts the WAL over: it never holds much more than kRestart
    // frames (each write here waits for its own sync; the checkpointer's pass
    // and sync take a few of those).
    const std::uintmax_t frame = 4096 + 24;
    CHECK(largest > 0);
    CHECK(largest <= (3 * kRestart) * frame);
    CHECK(s->stats().checkpoints >= 1);
    CHECK(count_meta(*s, "bulk-%") == 300);
    s.reset();
    auto reopened = Store::open(path);
    REQUIRE(reopened.has_value());
    CHECK(count_meta(**reopened, "bulk-%") == 300);
}

namespace {
// The nice value of this process's thread named `name` (from /proc), if any.
std::optional<int> nice_of_thread(const std::string& name) {
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string c;
        std::getline(comm, c);
        if (c != name) continue;
        std::ifstream stat(task.path() / "stat");
        std::string line;
        std::getline(stat, line);
        // Fields after the command's closing parenthesis: state is field 3, nice field 19.
        std::istringstream rest(line.substr(line.rfind(')') + 2));
        std::string field;
        for (int i = 3; i <= 19 && rest >> field; ++i) {
            if (i == 19) return std::stoi(field);
        }
    }
    return std::nullopt;
}
}  // namespace

TEST_CASE("the checkpointer thread runs below the other threads' CPU priority, by as much as asked") {
    errno = 0;
    const int own = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
    REQUIRE(errno == 0);
    for (const int by : {10, 3, 0}) {
        CAPTURE(by);
        TempDir dir;
        auto s = create_store(dir, StoreOptions{.checkpointer_nice = by});
        // Each thread names itself as it starts, and the checkpointer then
        // lowers itself (bounded wait for all three).
        std::optional<int> ckpt, writer, syncer;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            ckpt = nice_of_thread("store-ckpt");
            writer = nice_of_thread("store-writer");
            syncer = nice_of_thread("store-sync");
            if (ckpt && writer && syncer && *ckpt == std::min(own + by, 19)) break;
            std::this_thread::sleep_for(5ms);
        }
        REQUIRE(ckpt.has_value());
        REQUIRE(writer.has_value());
        REQUIRE(syncer.has_value());
        CHECK(*ckpt == std::min(own + by, 19));
        // The threads that answer requests keep the process's priority.
        CHECK(*writer == own);
        CHECK(*syncer == own);
    }
}

TEST_CASE("meta_table get returns nothing for a missing key and set inserts then replaces") {
    TempDir dir;
    auto s = create_store(dir);
    CHECK(read_meta(*s, "server_id") == std::optional<std::string>());
    REQUIRE(s->write_and_wait(set_meta_unit("server_id", "abc")).has_value());
    CHECK(read_meta(*s, "server_id") == std::optional<std::string>("abc"));
    REQUIRE(s->write_and_wait(set_meta_unit("server_id", "def")).has_value());
    CHECK(read_meta(*s, "server_id") == std::optional<std::string>("def"));
    REQUIRE(s->write_and_wait(set_meta_unit("empty", "")).has_value());
    CHECK(read_meta(*s, "empty") == std::optional<std::string>(""));
    CHECK(count_meta(*s, "%") == 2);
}

TEST_CASE("token_table insert, find and list round-trip every field") {
    TempDir dir;
    auto s = create_store(dir);
    TokenRecord admin{"AAAAAAAAAAAAAAAA", Role::admin, "ops laptop", std::string(64, 'a'), 100, 150,
                      std::nullopt};
    TokenRecord host{"BBBBBBBBBBBBBBBB", Role::host, std::nullopt, std::string(64, 'b'), 200,
                     std::nullopt,       300};
    TokenRecord auditor{"CCCCCCCCCCCCCCCC", Role::auditor, "audit", std::string(64, 'c'), 50,
                        std::nullopt,       std::nullopt};
    REQUIRE(s->write_and_wait([&](Connection& c) -> Result<void> {
                 insert_token(c, admin);
                 insert_token(c, host);
                 insert_token(c, auditor);
                 return {};
             }).has_value());

    auto check_same = [](const TokenRecord& a, const TokenRecord& b) {
        CHECK(a.id == b.id);
        CHECK(a.role == b.role);
        CHECK(a.name == b.name);
        CHECK(a.hash == b.hash);
        CHECK(a.created_at == b.created_at);
        CHECK(a.last_used_at == b.last_used_at);
        CHECK(a.revoked_at == b.revoked_at);
    };

    const auto found = s->read([&](Connection& c) -> Result<std::optional<TokenRecord>> {
        return find_token(c, host.id);
    });
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    check_same(**found, host);

    const auto missing = s->read([&](Connection& c) -> Result<std::optional<TokenRecord>> {
        return find_token(c, "ZZZZZZZZZZZZZZZZ");
    });
    REQUIRE(missing.has_value());
    CHECK_FALSE(missing->has_value());

    const auto all =
        s->read([&](Connection& c) -> Result<std::vector<TokenRecord>> { return list_tokens(c); });
    REQUIRE(all.has_value());
    REQUIRE(all->size() == 3);
    check_same((*all)[0], auditor);  // ordered by created_at
    check_same((*all)[1], admin);
    check_same((*all)[2], host);

    const auto hashes = s->read([&](Connection& c) -> Result<std::pair<bool, bool>> {
        return std::pair{token_hash_exists(c, admin.hash), token_hash_exists(c, "nope")};
    });
    REQUIRE(hashes.has_value());
    CHECK(hashes->first);
    CHECK_FALSE(hashes->second);
}

TEST_CASE("token_table refuses a second token with the same id") {
    TempDir dir;
    auto s = create_store(dir);
    const TokenRecord t{"AAAAAAAAAAAAAAAA", Role::admin, std::nullopt, std::string(64, 'a'), 1,
                        std::nullopt,       std::nullopt};
    REQUIRE(s->write_and_wait([&](Connection& c) -> Result<void> {
                 insert_token(c, t);
                 return {};
             }).has_value());
    TokenRecord dup = t;
    dup.role = Role::host;
    const auto r = s->write_and_wait([&](Connection& c) -> Result<void> {
        insert_token(c, dup);
        return {};
    });
    CHECK_FALSE(r.has_value());
    const auto found = s->read(
        [&](Connection& c) -> Result<std::optional<TokenRecord>> { return find_token(c, t.id); });
    REQUIRE(found.has_value());
    REQUIRE(found->has_value());
    CHECK((*found)->role == Role::admin);
}
