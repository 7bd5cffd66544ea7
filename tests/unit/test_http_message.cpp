#include "http/message.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "core/error.hpp"

using namespace entitle;
using namespace entitle::http;

namespace {

// What Beast's own serializer sends for `res`.
std::string beast_bytes(const Response& res) {
    std::ostringstream out;
    out << res;
    return out.str();
}

std::string ours(const Response& res) {
    std::string out = "left over from the last answer";
    wire_bytes(res, out);
    return out;
}

}  // namespace

TEST_CASE("wire_bytes sends exactly what Beast's serializer sends") {
    SUBCASE("a JSON answer with the headers every answer gets") {
        auto res = json_text_response(bhttp::status::created, R"({"lease_id":"l_1","token":"a.b.c"})");
        res.set(bhttp::field::date, "Fri, 04 Dec 2026 19:30:00 GMT");
        res.set(bhttp::field::strict_transport_security, "max-age=31536000");
        res.set("X-Content-Type-Options", "nosniff");
        res.keep_alive(true);
        CHECK(ours(res) == beast_bytes(res));
        CHECK(ours(res).starts_with("HTTP/1.1 201 Created\r\n"));
        CHECK(ours(res).ends_with("\r\n\r\n{\"lease_id\":\"l_1\",\"token\":\"a.b.c\"}"));
    }
    SUBCASE("204 without a body, closing the connection") {
        auto res = empty_response(bhttp::status::no_content);
        res.keep_alive(false);
        CHECK(ours(res) == beast_bytes(res));
        CHECK(ours(res).find("Connection: close\r\n") != std::string::npos);
    }
    SUBCASE("an error with WWW-Authenticate, to an HTTP/1.0 client") {
        auto res = error_response({ErrorCode::unauthorized, "no token"});
        res.version(10);
        CHECK(ours(res) == beast_bytes(res));
        CHECK(ours(res).starts_with("HTTP/1.0 401 Unauthorized\r\n"));
    }
    SUBCASE("a reason phrase of its own and a status Beast has no name for") {
        Response res{bhttp::status::ok, 11};
        res.reason("Fine");
        res.body() = "x";
        res.prepare_payload();
        CHECK(ours(res) == beast_bytes(res));
        CHECK(ours(res).starts_with("HTTP/1.1 200 Fine\r\n"));

        Response odd{static_cast<bhttp::status>(599), 11};
        odd.prepare_payload();
        CHECK(ours(odd) == beast_bytes(odd));
    }
}

TEST_CASE("wire_bytes puts extra fields after the answer's own, as if inserted last") {
    auto res = json_text_response(bhttp::status::ok, R"({"ok":true})");
    res.keep_alive(false);
    std::string out;
    wire_bytes(res, out, "Date: Fri, 04 Dec 2026 19:30:00 GMT\r\nX-Content-Type-Options: nosniff\r\n");

    auto inserted = res;
    inserted.insert(bhttp::field::date, "Fri, 04 Dec 2026 19:30:00 GMT");
    inserted.insert("X-Content-Type-Options", "nosniff");
    CHECK(out == beast_bytes(inserted));
    CHECK(out.ends_with("X-Content-Type-Options: nosniff\r\n\r\n{\"ok\":true}"));
}
