// The HTTPS server over a real TLS socket on 127.0.0.1: how a session answers
// when a handler throws, and that replies built later run off the caller's
// thread (the store writer's, in the server).
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

    ServerFixture() {
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

        const auto cert = crypto::make_self_signed_certificate("127.0.0.1", {"localhost"}, {"127.0.0.1"}, 2);
        REQUIRE(app::write_file_atomically(dir.path() / "tls.crt", cert.cert_pem, 0644).has_value());
        REQUIRE(app::write_file_atomically(dir.path() / "tls.key", cert.key_pem, 0600).has_value());
        auto tls = make_server_tls_context((dir.path() / "tls.crt").string(), (dir.path() / "tls.key").string());
        REQUIRE(tls.has_value());
        server = std::make_unique<Server>(io, *tls, *router, metrics, ServerLimits{}, false);
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
