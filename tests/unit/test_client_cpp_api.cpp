#include "entitle/entitle.hpp"
// The C++ header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <string>

TEST_CASE("the C++ API throws entitle::client::Error with the status and the library's message") {
    try {
        entitle::client::Client client("/nonexistent/entitle/host.json");
        FAIL("opening a missing config must throw");
    } catch (const entitle::client::Error& e) {
        CHECK(e.status() == entitle::client::Status::config_error);
        CHECK(std::string(e.code()) == "config_error");
        CHECK(std::string(e.what()).find("/nonexistent/entitle/host.json") != std::string::npos);
    }
}

TEST_CASE("entitle::client::Status mirrors entitle_status") {
    CHECK(static_cast<int>(entitle::client::Status::oversubscribed) == ENTITLE_OVERSUBSCRIBED);
    CHECK(std::string(entitle::client::to_string(entitle::client::Status::region_denied)) ==
          "region_denied");
    CHECK(entitle::client::version() == ENTITLE_VERSION_STRING);
}
