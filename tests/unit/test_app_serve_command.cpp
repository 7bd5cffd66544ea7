#include "app/serve_command.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <string>
#include <utility>

using namespace entitle;
using entitle::app::default_io_threads;
using entitle::app::parse_listen_address;

namespace {
using Address = std::pair<std::string, unsigned short>;
}

TEST_CASE("parse_listen_address accepts HOST:PORT") {
    CHECK(parse_listen_address("127.0.0.1:0") == Address{"127.0.0.1", 0});
    CHECK(parse_listen_address("127.0.0.1:8443") == Address{"127.0.0.1", 8443});
    CHECK(parse_listen_address("0.0.0.0:65535") == Address{"0.0.0.0", 65535});
    CHECK(parse_listen_address("licenses.example.com:443") == Address{"licenses.example.com", 443});
}

TEST_CASE("parse_listen_address accepts a bracketed IPv6 address") {
    CHECK(parse_listen_address("[::1]:8443") == Address{"::1", 8443});
    CHECK(parse_listen_address("[::]:0") == Address{"::", 0});
    CHECK(parse_listen_address("[fe80::1%eth0]:1") == Address{"fe80::1%eth0", 1});
}

TEST_CASE("parse_listen_address maps localhost to 127.0.0.1") {
    CHECK(parse_listen_address("localhost:1") == Address{"127.0.0.1", 1});
}

TEST_CASE("parse_listen_address rejects malformed addresses naming the --listen flag") {
    for (const char* bad :
         {"nohost", "1.2.3.4:99999", ":80", "h:", "", ":", "h:-1", "h:+1", "h:80x", "h: 80",
          "h:65536", "[::1]", "[::1]8443", "[::1:8443", "[]:80", "h:4294967297"}) {
        CAPTURE(bad);
        const auto r = parse_listen_address(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::invalid_request);
        CHECK(r.error().message.find("--listen") != std::string::npos);
    }
}

TEST_CASE("the default I/O threads leave the store's writer a core, and there is always one") {
    CHECK(default_io_threads(0) == 1);  // unknown
    CHECK(default_io_threads(1) == 1);
    CHECK(default_io_threads(2) == 1);
    CHECK(default_io_threads(3) == 2);
    CHECK(default_io_threads(4) == 3);
    CHECK(default_io_threads(64) == 63);
}
