#include "app/data_dir_lock.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <sys/stat.h>

#include "temp_dir.hpp"

using namespace entitle;
using namespace entitle::app;
using entitle::test::TempDir;

TEST_CASE("the data directory lock is held once and free again when released") {
    TempDir dir;
    const DataDir data{dir.path()};
    {
        auto first = lock_data_dir(data);
        REQUIRE(first.has_value());
        auto second = lock_data_dir(data);
        REQUIRE_FALSE(second.has_value());
        CHECK(second.error().code == ErrorCode::conflict);
        CHECK(second.error().message.find("in use by a running entitled") != std::string::npos);
        struct stat st{};
        REQUIRE(::stat(lock_file(data).c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
    }
    CHECK(lock_data_dir(data).has_value());
}

TEST_CASE("locking a directory that does not exist names it") {
    TempDir dir;
    const DataDir data{dir.path() / "missing"};
    auto lock = lock_data_dir(data);
    REQUIRE_FALSE(lock.has_value());
    CHECK(lock.error().message.find("missing") != std::string::npos);
}
