#include "http/metrics.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using entitle::http::Metrics;

namespace {

bool has_line(const std::string& text, const std::string& line) {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (l == line) return true;
    }
    return false;
}

// The values of every `<name>_bucket{route=...,method=...,le=...}` line, in order.
struct Bucket {
    std::string le;
    std::uint64_t value;
};
std::vector<Bucket> buckets(const std::string& text, const std::string& route,
                            const std::string& method) {
    const std::string prefix = "entitle_http_request_duration_seconds_bucket{route=\"" + route +
                               "\",method=\"" + method + "\",le=\"";
    std::vector<Bucket> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (l.rfind(prefix, 0) != 0) continue;
        const auto rest = l.substr(prefix.size());
        const auto quote = rest.find("\"} ");
        REQUIRE(quote != std::string::npos);
        out.push_back({rest.substr(0, quote), std::stoull(rest.substr(quote + 3))});
    }
    return out;
}

}  // namespace

TEST_CASE("render() counts requests per route, method and status with labels") {
    Metrics m;
    m.observe_request("/v1/things/{id}", "GET", 200, 0.001);
    m.observe_request("/v1/things/{id}", "GET", 200, 0.002);
    m.observe_request("/v1/things/{id}", "GET", 404, 0.001);
    m.observe_request("/v1/things/{id}", "DELETE", 204, 0.001);
    m.observe_request("unmatched", "GET", 404, 0.0001);
    const std::string text = m.render();
    CHECK(has_line(text, "# TYPE entitle_http_requests_total counter"));
    CHECK(has_line(
        text,
        R"(entitle_http_requests_total{route="/v1/things/{id}",method="GET",status="200"} 2)"));
    CHECK(has_line(
        text,
        R"(entitle_http_requests_total{route="/v1/things/{id}",method="GET",status="404"} 1)"));
    CHECK(has_line(
        text,
        R"(entitle_http_requests_total{route="/v1/things/{id}",method="DELETE",status="204"} 1)"));
    CHECK(has_line(
        text, R"(entitle_http_requests_total{route="unmatched",method="GET",status="404"} 1)"));
}

TEST_CASE("methods HTTP does not define share one label, so clients cannot add series") {
    Metrics m;
    for (int i = 0; i < 100; ++i) m.observe_request("unmatched", "X" + std::to_string(i), 405, 0.001);
    m.observe_request("unmatched", "GET", 404, 0.001);
    const std::string text = m.render();
    CHECK(has_line(text, R"(entitle_http_requests_total{route="unmatched",method="other",status="405"} 100)"));
    CHECK(has_line(text, R"(entitle_http_requests_total{route="unmatched",method="GET",status="404"} 1)"));
    CHECK(text.find("X1") == std::string::npos);
}

TEST_CASE("render() writes cumulative histogram buckets ending in le=\"+Inf\" equal to the count") {
    Metrics m;
    m.observe_request("/r", "GET", 200, 0.0005);  // exactly on a bound: counted in that bucket
    m.observe_request("/r", "GET", 200, 0.0007);
    m.observe_request("/r", "GET", 500, 0.003);
    m.observe_request("/r", "GET", 200, 0.3);
    m.observe_request("/r", "GET", 200, 42.0);  // above every bound: only in +Inf
    const std::string text = m.render();
    CHECK(has_line(text, "# TYPE entitle_http_request_duration_seconds histogram"));

    const auto b = buckets(text, "/r", "GET");
    REQUIRE(b.size() == Metrics::kBuckets.size() + 1);
    for (std::size_t i = 1; i < b.size(); ++i) {
        CAPTURE(b[i].le);
        CHECK(b[i].value >= b[i - 1].value);  // cumulative
    }
    CHECK(b.back().le == "+Inf");
    CHECK(b.back().value == 5);
    CHECK(b[0].le == "0.0005");
    CHECK(b[0].value == 1);
    CHECK(b[1].le == "0.001");
    CHECK(b[1].value == 2);
    CHECK(b[3].le == "0.005");
    CHECK(b[3].value == 3);
    CHECK(b[8].value == 3);                             // le 0.25
    CHECK(b[9].value == 4);                             // le 0.5
    CHECK(b[Metrics::kBuckets.size() - 1].value == 4);  // le 10: 42 s is not in it

    CHECK(has_line(text,
                   R"(entitle_http_request_duration_seconds_count{route="/r",method="GET"} 5)"));
    const std::string sum_prefix =
        R"(entitle_http_request_duration_seconds_sum{route="/r",method="GET"} )";
    const auto pos = text.find(sum_prefix);
    REQUIRE(pos != std::string::npos);
    const double sum = std::stod(text.substr(pos + sum_prefix.size()));
    CHECK(sum == doctest::Approx(0.0005 + 0.0007 + 0.003 + 0.3 + 42.0));
}

TEST_CASE("the histogram is kept per route and method, whatever the status") {
    Metrics m;
    m.observe_request("/a", "GET", 200, 0.01);
    m.observe_request("/a", "GET", 503, 0.01);
    m.observe_request("/a", "POST", 201, 0.01);
    const std::string text = m.render();
    CHECK(buckets(text, "/a", "GET").back().value == 2);
    CHECK(buckets(text, "/a", "POST").back().value == 1);
    CHECK(buckets(text, "/b", "GET").empty());
}

TEST_CASE("render() reports open and refused connections") {
    Metrics m;
    const std::string empty = m.render();
    CHECK(has_line(empty, "entitle_http_open_connections 0"));
    CHECK(has_line(empty, "entitle_http_refused_connections_total 0"));
    CHECK(has_line(empty, "# TYPE entitle_http_open_connections gauge"));
    CHECK(has_line(empty, "# TYPE entitle_http_refused_connections_total counter"));

    m.connection_opened();
    m.connection_opened();
    m.connection_opened();
    m.connection_closed();
    m.connection_refused();
    CHECK(m.open_connections() == 2);
    const std::string text = m.render();
    CHECK(has_line(text, "entitle_http_open_connections 2"));
    CHECK(has_line(text, "entitle_http_refused_connections_total 1"));
}

TEST_CASE("concurrent observations are all counted") {
    Metrics m;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&m] {
            for (int i = 0; i < 1000; ++i) m.observe_request("/c", "GET", 200, 0.001);
        });
    }
    for (auto& t : threads) t.join();
    const std::string text = m.render();
    CHECK(has_line(text,
                   R"(entitle_http_requests_total{route="/c",method="GET",status="200"} 4000)"));
    CHECK(buckets(text, "/c", "GET").back().value == 4000);
}
