// The HTTPS server over a real TLS socket on 127.0.0.1: how a session answers
// when a handler throws, that replies built later run off the caller's
// thread (the store writer's, in the server), and how requests are read
// whether they come in pieces or several in one write.
#include "http/server.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "app/data_dir.hpp"
#include "crypto/tls_certificate.hpp"
#include "http/authenticator.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/tls_context.hpp"
#include "store/store.hpp"
#include "temp_dir.hpp"

using namespace entitle;
using namespace entitle::http;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;

namespace {

struct ServerFixture {
    test::TempDir dir;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<Authenticator> auth;
    std::unique_ptr<Router> router;
    Metrics metrics;
    IoPool io{2};  // two I/O contexts: connections alternate between them
    std::unique_ptr<Server> server;
    asio::ip::tcp::endpoint endpoint;
    std::vector<std::thread> io_threads;  // io_threads[i] runs context i
    std::atomic<std::thread::id> builder_thread{};
    std::thread::id replier_thread{};

    explicit ServerFixture(ServerLimits limits = {}) {
        auto s = store::Store::create((dir.path() / "entitle.db").string());
        REQUIRE(s.has_value());
        store = std::move(*s);
        auth = std::make_unique<Authenticator>(*store);
        router = std::make_unique<Router>(*auth);
        router->add_sync(bhttp::verb::get, "/v1/throws", public_route,
                         [](RequestContext&) -> Response { throw std::runtime_error("handler bug"); });
        router->add(bhttp::verb::get, "/v1/throws-later", public_route, [](RequestContext&, Reply reply) {
            reply.build([]() -> Response { throw std::runtime_error("builder bug"); });
        });
        router->add(bhttp::verb::get, "/v1/built-elsewhere", public_route, [this](RequestContext&, Reply reply) {
            // Replies from another thread, as a store completion does.
            std::thread t([this, reply = std::move(reply)]() mutable {
                replier_thread = std::this_thread::get_id();
                reply.build([this] {
                    builder_thread = std::this_thread::get_id();
                    return json_response(bhttp::status::ok, {{"ok", true}});
                });
            });
            t.join();
        });
        router->add_sync(bhttp::verb::get, "/v1/fine", public_route,
                         [](RequestContext&) { return json_response(bhttp::status::ok, {{"fine", true}}); });
        router->add_sync(bhttp::verb::post, "/v1/echo", public_route, [](RequestContext& ctx) {
            return json_response(bhttp::status::ok, {{"body", ctx.request.body()}});
        });

        const auto cert = crypto::make_self_signed_certificate("127.0.0.1", {"localhost"}, {"127.0.0.1"}, 2);
        REQUIRE(app::write_file_atomically(dir.path() / "tls.crt", cert.cert_pem, 0644).has_value());
        REQUIRE(app::write_file_atomically(dir.path() / "tls.key", cert.key_pem, 0600).has_value());
        auto tls = make_server_tls_context((dir.path() / "tls.crt").string(), (dir.path() / "tls.key").string());
        REQUIRE(tls.has_value());
        server = std::make_unique<Server>(io, *tls, *router, metrics, limits, false);
        auto ep = server->listen("127.0.0.1", 0);
        REQUIRE(ep.has_value());
        endpoint = *ep;
        server->start();
        for (unsigned i = 0; i < io.size(); ++i) io_threads.emplace_back([this, i] { io.at(i).run(); });
    }

    ~ServerFixture() {
        server->begin_shutdown();
        io.stop();
        for (auto& t : io_threads) t.join();
        server.reset();
    }

    // One keep-alive TLS connection (the certificate is not checked: the
    // subject here is the server's answers, not its identity).
    struct Client {
        asio::io_context ioc;
        ssl::context ctx{ssl::context::tls_client};
        beast::ssl_stream<beast::tcp_stream> stream{ioc, ctx};

        explicit Client(const asio::ip::tcp::endpoint& ep) {
            ctx.set_verify_mode(ssl::verify_none);
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
            beast::get_lowest_layer(stream).connect(ep);
            stream.handshake(ssl::stream_base::client);
        }

        bhttp::response<bhttp::string_body> get(const std::string& target) {
            bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
            req.set(bhttp::field::host, "127.0.0.1");
            req.keep_alive(true);
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
            bhttp::write(stream, req);
            beast::flat_buffer buf;
            bhttp::response<bhttp::string_body> res;
            bhttp::read(stream, buf, res);
            return res;
        }

        // Bytes as the client wrote them, in one TLS record.
        void send_raw(std::string_view bytes) {
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
            asio::write(stream, asio::buffer(bytes.data(), bytes.size()));
        }

        // The next answer on the connection; `buf` keeps what follows it.
        bhttp::response<bhttp::string_body> read_answer(beast::flat_buffer& buf) {
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
            bhttp::response<bhttp::string_body> res;
            bhttp::read(stream, buf, res);
            return res;
        }
    };
};

std::string error_code_of(const bhttp::response<bhttp::string_body>& res) {
    return nlohmann::json::parse(res.body()).at("error").at("code").get<std::string>();
}

}  // namespace

TEST_CASE_FIXTURE(ServerFixture, "a handler that throws gets 500 internal and the server and connection stay up") {
    Client c(endpoint);
    const auto thrown = c.get("/v1/throws");
    CHECK(thrown.result_int() == 500);
    CHECK(error_code_of(thrown) == "internal");
    CHECK(thrown.body().find("handler bug") == std::string::npos);  // details go to the log, not the client

    const auto thrown_later = c.get("/v1/throws-later");
    CHECK(thrown_later.result_int() == 500);
    CHECK(error_code_of(thrown_later) == "internal");

    // Same connection, then a new one: both still served.
    CHECK(c.get("/v1/fine").result_int() == 200);
    Client fresh(endpoint);
    CHECK(fresh.get("/v1/fine").result_int() == 200);
}

TEST_CASE_FIXTURE(ServerFixture,
                  "a reply built later runs on its connection's I/O thread, not the thread that replied") {
    // Connections are placed on the contexts in turn and stay there: the
    // first one's replies are built on context 0's thread, the second's on 1's.
    Client first(endpoint);
    Client second(endpoint);
    for (int round = 0; round < 2; ++round) {
        for (std::size_t i = 0; i < 2; ++i) {
            Client& c = i == 0 ? first : second;
            const auto res = c.get("/v1/built-elsewhere");
            CHECK(res.result_int() == 200);
            CHECK(nlohmann::json::parse(res.body()).at("ok") == true);
            CHECK(builder_thread.load() == io_threads[i].get_id());
            CHECK(builder_thread.load() != replier_thread);
        }
    }
}

TEST_CASE_FIXTURE(ServerFixture, "a request that arrives in pieces is answered once it is whole") {
    Client c(endpoint);
    const std::string body = R"({"a":"piece by piece"})";
    const std::string request = "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                "Content-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
    // Cut inside the request line, inside the header, at the header's end and inside the body.
    const std::vector<std::size_t> cuts{5, 40, request.size() - body.size(), request.size() - 4};
    std::size_t from = 0;
    for (const std::size_t cut : cuts) {
        c.send_raw(std::string_view(request).substr(from, cut - from));
        from = cut;
        std::this_thread::sleep_for(std::chrono::milliseconds(30));  // each piece its own read
    }
    c.send_raw(std::string_view(request).substr(from));
    beast::flat_buffer buf;
    const auto res = c.read_answer(buf);
    CHECK(res.result_int() == 200);
    CHECK(nlohmann::json::parse(res.body()).at("body") == body);
    // The connection goes on with whole requests.
    CHECK(c.get("/v1/fine").result_int() == 200);
}

TEST_CASE_FIXTURE(ServerFixture, "requests written together are each answered, in order, on one connection") {
    Client c(endpoint);
    auto post = [](const std::string& body) {
        return "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    };
    const std::string fine = "GET /v1/fine HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    // Three requests in one write, then the first part of a fourth: its rest
    // follows later, after the bytes of the others have been taken apart.
    const std::string fourth = post("fourth");
    c.send_raw(post("first") + fine + post("third") + fourth.substr(0, fourth.size() - 3));
    beast::flat_buffer buf;
    const auto first = c.read_answer(buf);
    const auto second = c.read_answer(buf);
    const auto third = c.read_answer(buf);
    CHECK(first.result_int() == 200);
    CHECK(nlohmann::json::parse(first.body()).at("body") == "first");
    CHECK(second.result_int() == 200);
    CHECK(nlohmann::json::parse(second.body()).at("fine") == true);
    CHECK(third.result_int() == 200);
    CHECK(nlohmann::json::parse(third.body()).at("body") == "third");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    c.send_raw(fourth.substr(fourth.size() - 3));
    const auto last = c.read_answer(buf);
    CHECK(last.result_int() == 200);
    CHECK(nlohmann::json::parse(last.body()).at("body") == "fourth");
}

TEST_CASE_FIXTURE(ServerFixture, "a request refused from its first bytes gets the same answer as one read in pieces") {
    for (const bool in_pieces : {false, true}) {
        CAPTURE(in_pieces);
        auto send = [in_pieces](Client& c, const std::string& bytes) {
            if (!in_pieces) return c.send_raw(bytes);
            c.send_raw(bytes.substr(0, 10));
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            c.send_raw(bytes.substr(10));
        };
        {
            // A body announced past the limit: refused before any of it is read.
            Client c(endpoint);
            send(c, "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                        std::to_string(ServerLimits{}.max_body_bytes + 1) + "\r\n\r\n{}");
            beast::flat_buffer buf;
            const auto res = c.read_answer(buf);
            CHECK(res.result_int() == 413);
            CHECK(error_code_of(res) == "payload_too_large");
        }
        {
            // A header line without a colon.
            Client c(endpoint);
            send(c, "GET /v1/fine HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n");
            beast::flat_buffer buf;
            const auto res = c.read_answer(buf);
            CHECK(res.result_int() == 400);
            CHECK(error_code_of(res) == "invalid_request");
        }
    }
}

namespace {
struct ShortTimeouts : ServerFixture {
    ShortTimeouts() : ServerFixture(limits()) {}
    static ServerLimits limits() {
        ServerLimits l;
        l.read_timeout = std::chrono::milliseconds(400);
        l.idle_timeout = std::chrono::milliseconds(800);
        return l;
    }
};

// Seconds until the server ends the connection (a read that fails: the
// close, or the TLS stream cut), waited for at most `bound`.
double seconds_until_dropped(ServerFixture::Client& c, std::chrono::seconds bound) {
    const auto t0 = std::chrono::steady_clock::now();
    // Asynchronous, so that the bound holds (the stream's expiry applies to
    // asynchronous operations only).
    beast::get_lowest_layer(c.stream).expires_after(bound);
    char byte = 0;
    std::optional<beast::error_code> ended;
    c.stream.async_read_some(asio::buffer(&byte, 1), [&ended](beast::error_code ec, std::size_t) { ended = ec; });
    c.ioc.restart();
    c.ioc.run();
    REQUIRE(ended.has_value());
    CHECK(*ended);                                 // no answer was due: the read ends only with the connection
    CHECK(*ended != beast::error::timeout);  // the server dropped it before the client gave up
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

TEST_CASE_FIXTURE(ShortTimeouts, "a request not sent whole within the read timeout loses its connection") {
    Client c(endpoint);
    c.send_raw("POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nabc");
    const double waited = seconds_until_dropped(c, std::chrono::seconds(20));
    CHECK(waited >= 0.3);  // not before its time (the timeout is 0.4 s)
    CHECK(waited < 5.0);
}

TEST_CASE_FIXTURE(ShortTimeouts, "an idle keep-alive connection is closed after the idle timeout, a busy one is not") {
    Client busy(endpoint);
    Client idle(endpoint);
    CHECK(idle.get("/v1/fine").result_int() == 200);
    const auto t0 = std::chrono::steady_clock::now();
    // Requests every 100 ms for 2 s: each starts the idle wait over.
    while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
        REQUIRE(busy.get("/v1/fine").result_int() == 200);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // By now the idle one has been closed (0.8 s), and the busy one still serves.
    const double waited = seconds_until_dropped(idle, std::chrono::seconds(20));
    CHECK(waited < 1.0);  // it was already gone
    CHECK(busy.get("/v1/fine").result_int() == 200);
}
