#include "store/fault_vfs.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "store/meta_table.hpp"
#include "store/store.hpp"
#include "store_test_support.hpp"
#include "temp_dir.hpp"

using namespace entitle;
using namespace entitle::store;
using entitle::test::TempDir;
using entitle::test::count_meta;
using entitle::test::integrity_of;
using namespace std::chrono_literals;

namespace {

// Restores `none` however a test case ends, so no other test inherits a fault.
struct FaultGuard {
    ~FaultGuard() { set_fault(Fault::none); }
};

std::unique_ptr<Store> faulty_store(const TempDir& dir, StoreOptions options = {}) {
    register_fault_vfs();
    options.vfs = fault_vfs_name;
    auto s = Store::create(dir.file("entitle.db"), options);
    REQUIRE(s.has_value());
    return std::move(*s);
}

Store::Work put(std::string key) {
    return [key = std::move(key)](Connection& c) -> Result<void> {
        set_meta(c, key, "v");
        return {};
    };
}

}  // namespace

TEST_CASE("parse_fault knows the six words and nothing else") {
    CHECK(parse_fault("none") == Fault::none);
    CHECK(parse_fault("") == Fault::none);
    CHECK(parse_fault("full") == Fault::full);
    CHECK(parse_fault("ioerr") == Fault::ioerr);
    CHECK(parse_fault("readonly") == Fault::readonly);
    CHECK(parse_fault("syncerr") == Fault::syncerr);
    CHECK(parse_fault("dbsyncerr") == Fault::dbsyncerr);
    CHECK_FALSE(parse_fault("FULL").has_value());
}

TEST_CASE("the writer survives an injected disk fault and writes again once it is cleared") {
    FaultGuard guard;
    for (const auto fault : {Fault::full, Fault::ioerr, Fault::readonly}) {
        CAPTURE(static_cast<int>(fault));
        TempDir dir;
        auto s = faulty_store(dir);
        REQUIRE(s->write_and_wait(put("before")).has_value());

        set_fault(fault);
        for (int i = 0; i < 3; ++i) {
            const auto r = s->write_and_wait(put("during-" + std::to_string(i)));
            REQUIRE_FALSE(r.has_value());
            CHECK(r.error().code == ErrorCode::unavailable);
            CHECK(r.error().message.find("cannot write") != std::string::npos);
        }
        CHECK(s->stats().writes_failing);
        // Reads keep answering while writes fail, and see nothing half-written.
        CHECK(s->healthy());
        CHECK(count_meta(*s, "before") == 1);
        CHECK(count_meta(*s, "during-%") == 0);

        set_fault(Fault::none);
        REQUIRE(s->write_and_wait(put("after")).has_value());
        CHECK_FALSE(s->stats().writes_failing);
        CHECK(count_meta(*s, "after") == 1);
        CHECK(count_meta(*s, "during-%") == 0);
        s.reset();

        // The file is sound and holds exactly the acknowledged writes.
        Connection check(dir.file("entitle.db"), Connection::Mode::read_only);
        CHECK(integrity_of(check) == "ok");
        auto n = check.cached("SELECT count(*) FROM meta WHERE key IN ('before', 'after')");
        REQUIRE(n.step());
        CHECK(n.int64(0) == 2);
    }
}

TEST_CASE("a fault during a batch fails every unit of it and none commits") {
    FaultGuard guard;
    TempDir dir;
    auto s = faulty_store(dir);
    set_fault(Fault::full);
    std::vector<std::promise<Result<void>>> outcomes(20);
    for (int i = 0; i < 20; ++i) {
        s->submit(put("batch-" + std::to_string(i)), [&outcomes, i](Result<void> r) { outcomes[static_cast<std::size_t>(i)].set_value(std::move(r)); });
    }
    for (auto& p : outcomes) {
        const auto r = p.get_future().get();
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::unavailable);
    }
    set_fault(Fault::none);
    CHECK(count_meta(*s, "batch-%") == 0);
    REQUIRE(s->write_and_wait(put("batch-after")).has_value());
    CHECK(count_meta(*s, "batch-%") == 1);
}

TEST_CASE("an unarmed fault VFS passes everything through, WAL included") {
    TempDir dir;
    auto s = faulty_store(dir);
    for (int i = 0; i < 50; ++i) REQUIRE(s->write_and_wait(put("k" + std::to_string(i))).has_value());
    CHECK(count_meta(*s, "k%") == 50);
    auto mode = s->read([](Connection& c) -> Result<std::string> {
        auto st = c.cached("PRAGMA journal_mode");
        st.step();
        return st.text(0);
    });
    REQUIRE(mode.has_value());
    CHECK(*mode == "wal");
}

TEST_CASE("a failed sync stops the store: nothing is answered as stored, nothing is written again") {
    FaultGuard guard;
    TempDir dir;
    std::atomic<int> failures{0};
    std::string reported;
    StoreOptions options;
    options.on_failure = [&](const Error& e) {
        reported = e.message;
        failures.fetch_add(1);
    };
    auto s = faulty_store(dir, std::move(options));
    for (int i = 0; i < 5; ++i) REQUIRE(s->write_and_wait(put("before-" + std::to_string(i))).has_value());
    CHECK(s->stats().syncs >= 1);

    set_fault(Fault::syncerr);
    // The COMMIT writes its frames (writes succeed under syncerr), the sync fails.
    const auto r = s->write_and_wait(put("unsure"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::unavailable);
    CHECK(r.error().message.find("failed to sync") != std::string::npos);
    CHECK(failures.load() == 1);
    CHECK(reported == r.error().message);
    CHECK(s->stats().failed);
    CHECK(s->stats().writes_failing);

    // Stopped for good, even once the disk looks fine again: writes and
    // reads fail, health says so, and the owner was told once.
    set_fault(Fault::none);
    const auto later = s->write_and_wait(put("later"));
    REQUIRE_FALSE(later.has_value());
    CHECK(later.error().code == ErrorCode::unavailable);
    CHECK_FALSE(s->healthy());
    auto read = s->read([](Connection& c) -> Result<std::int64_t> {
        auto st = c.cached("SELECT count(*) FROM meta");
        st.step();
        return st.int64(0);
    });
    REQUIRE_FALSE(read.has_value());
    CHECK(read.error().code == ErrorCode::unavailable);
    CHECK(failures.load() == 1);
    s.reset();

    // No checkpoint ran on the way out (the store folds its WAL back into the
    // database file on a clean stop, and removes it): the frames are still
    // in the WAL, for the next open to recover from.
    const std::string wal = dir.file("entitle.db") + "-wal";
    REQUIRE(std::filesystem::exists(wal));
    CHECK(std::filesystem::file_size(wal) > 0);

    // The next open recovers a sound store with every acknowledged write.
    auto reopened = Store::open(dir.file("entitle.db"));
    REQUIRE(reopened.has_value());
    CHECK(integrity_of(**reopened) == "ok");
    CHECK(count_meta(**reopened, "before-%") == 5);
    CHECK(count_meta(**reopened, "later") == 0);
    REQUIRE((*reopened)->write_and_wait(put("after-restart")).has_value());
}

TEST_CASE("a failed sync of the database file before the WAL starts over stops the store") {
    FaultGuard guard;
    TempDir dir;
    std::atomic<int> failures{0};
    std::string reported;
    constexpr int kRestart = 100;
    StoreOptions options{.checkpoint_frames = 1'000'000, .restart_frames = kRestart};
    options.on_failure = [&](const Error& e) {
        reported = e.message;
        failures.fetch_add(1);
    };
    auto s = faulty_store(dir, std::move(options));
    // Only the database file's syncs fail: the WAL's succeed, so writes are
    // answered until the WAL is due to start over and the checkpointer syncs
    // the database file it copied the WAL into.
    set_fault(Fault::dbsyncerr);
    const std::string big(4 * 4000, 'x');  // four overflow pages: at least four WAL frames per write
    int acknowledged = 0;
    std::optional<Error> first_refusal;
    for (int i = 0; i < 400 && !first_refusal; ++i) {  // 1,600 frames or more: far past the restart bound
        auto r = s->write_and_wait([&, i](Connection& c) -> Result<void> {
            set_meta(c, "k" + std::to_string(i), big);
            return {};
        });
        if (r) {
            ++acknowledged;
        } else {
            first_refusal = r.error();
        }
        // The checkpointer's pass and its sync run beside the writer: give the
        // failure time to land before the next write (bounded by the loop).
        std::this_thread::sleep_for(1ms);
    }
    REQUIRE(first_refusal.has_value());
    CHECK(first_refusal->code == ErrorCode::unavailable);
    CHECK(acknowledged > 0);  // the WAL's syncs went on succeeding
    CHECK(failures.load() == 1);
    CHECK(reported.find("failed to sync the database file") != std::string::npos);
    CHECK(s->stats().failed);
    set_fault(Fault::none);
    const auto later = s->write_and_wait(put("later"));
    REQUIRE_FALSE(later.has_value());
    CHECK(later.error().code == ErrorCode::unavailable);
    CHECK_FALSE(s->healthy());
    s.reset();

    // It stopped at the restart, not before, and the WAL was not started
    // over: nothing was copied back or truncated on the way out.
    const std::string wal = dir.file("entitle.db") + "-wal";
    REQUIRE(std::filesystem::exists(wal));
    CHECK(std::filesystem::file_size(wal) >= static_cast<std::uintmax_t>(kRestart) * (4096 + 24));

    // Every acknowledged write is in the store at the next open, which
    // recovers from the WAL that was never started over.
    auto reopened = Store::open(dir.file("entitle.db"));
    REQUIRE(reopened.has_value());
    CHECK(integrity_of(**reopened) == "ok");
    CHECK(count_meta(**reopened, "k%") >= acknowledged);
    CHECK(count_meta(**reopened, "later") == 0);
}

TEST_CASE("a read does not show a commit before the sync that makes it durable") {
    TempDir dir;
    auto s = faulty_store(dir);
    // Completions run on the syncer: holding the first one holds every later
    // sync, while the writer goes on committing.
    std::promise<void> entered, release;
    auto released = release.get_future().share();
    s->submit(put("first"), [&, released](Result<void> r) {
        CHECK(r.has_value());
        entered.set_value();
        released.wait();
    });
    entered.get_future().wait();
    std::promise<Result<void>> second;
    s->submit(put("second"), [&](Result<void> r) { second.set_value(std::move(r)); });

    // Committed (a plain SQLite connection sees it), not yet synced.
    Connection raw(dir.file("entitle.db"), Connection::Mode::read_only);
    bool committed = false;
    for (int i = 0; i < 1000 && !committed; ++i) {
        auto st = raw.cached("SELECT count(*) FROM meta WHERE key = 'second'");
        committed = st.step() && st.int64(0) == 1;
        if (!committed) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(committed);

    auto reader = std::async(std::launch::async, [&] { return count_meta(*s, "second"); });
    // Still waiting for the sync: it cannot have answered (a read that did
    // not wait would have answered in well under this).
    CHECK(reader.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
    release.set_value();
    CHECK(reader.get() == 1);
    CHECK(second.get_future().get().has_value());
}
