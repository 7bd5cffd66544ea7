// Store::backup_to_file: an online copy, written to a file in steps.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <string>

#include "store/meta_table.hpp"
#include "store/migrations.hpp"
#include "store/store.hpp"
#include "temp_dir.hpp"

using namespace entitle;
using namespace entitle::store;
using entitle::test::TempDir;

TEST_CASE("backup_to_file writes a self-contained 0600 copy of every committed write") {
    TempDir dir;
    auto s = Store::create(dir.file("entitle.db"));
    REQUIRE(s.has_value());
    for (int i = 0; i < 200; ++i) {
        REQUIRE((*s)->write_and_wait([i](Connection& c) -> Result<void> {
                        set_meta(c, "k" + std::to_string(i), std::string(4000, 'x'));
                        return {};
                    })
                    .has_value());
    }
    const auto copy = dir.file("copy.db");
    REQUIRE((*s)->backup_to_file(copy).has_value());
    // Written again over the first copy: replaced, not appended to.
    REQUIRE((*s)->backup_to_file(copy).has_value());
    s->reset();

    struct stat st{};
    REQUIRE(::stat(copy.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    Connection c(copy, Connection::Mode::read_only);
    auto mode = c.cached("PRAGMA journal_mode");
    REQUIRE(mode.step());
    CHECK(mode.text(0) == "delete");
    mode.reset();
    auto app = c.cached("PRAGMA application_id");
    REQUIRE(app.step());
    CHECK(app.int64(0) == kApplicationId);
    app.reset();
    auto n = c.cached("SELECT count(*) FROM meta WHERE key LIKE 'k%'");
    REQUIRE(n.step());
    CHECK(n.int64(0) == 200);
}

TEST_CASE("backup_to_file into a directory that does not exist fails and says so") {
    TempDir dir;
    auto s = Store::create(dir.file("entitle.db"));
    REQUIRE(s.has_value());
    const auto r = (*s)->backup_to_file(dir.file("no/such/dir/copy.db"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("cannot create") != std::string::npos);
}
