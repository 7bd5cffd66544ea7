// The HTTP request path without sockets: raw bytes go through Beast's
// request parser under the server's limits, then through the Router with
// the server's real route set, authentication and failure throttling,
// backed by a real SQLite store in a private temporary directory. The
// answer is serialised as the session would write it.
//
// Set up once per process: the store (with its writer thread), fixed bearer
// tokens for each role (tests/fuzz/make_seeds.py writes the same ones into
// the seeds), a registered host, and the seed issuer in the trust store.
// Each input may hold up to kMaxRequests pipelined requests; each answer is
// awaited for at most kAnswerWait, and a handler that never answers, or
// answers twice, is a crash.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "core/clock.hpp"
#include "core/license_file.hpp"
#include "crypto/base64url.hpp"
#include "crypto/digest.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/jwk.hpp"
#include "fuzz_support.hpp"
#include "http/audit_routes.hpp"
#include "http/auth_failures.hpp"
#include "http/authenticator.hpp"
#include "http/lease_routes.hpp"
#include "http/license_routes.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/system_routes.hpp"
#include "http/token_routes.hpp"
#include "store/host_table.hpp"
#include "store/store.hpp"
#include "store/token_table.hpp"

namespace {

using namespace entitle;
namespace bhttp = boost::beast::http;

constexpr int kMaxRequests = 4;
constexpr std::size_t kMaxMetricsBytes = 1 << 20;
constexpr auto kAnswerWait = std::chrono::seconds(20);
// Fixed start time (2026-01-01); each input moves the clock one second on,
// so throttling windows open and close as they would over a day of traffic.
constexpr std::int64_t kStartMs = 1'767'225'600'000;

// base64url(12-byte id || 32-byte secret), the shape access_token_id accepts.
struct FixedToken {
    std::string id, secret, hash;
};
FixedToken fixed_token(std::string_view id12, char fill) {
    const std::string raw = std::string(id12) + std::string(32, fill);
    FixedToken t;
    t.secret = crypto::base64url_encode(raw);
    t.id = crypto::base64url_encode(id12);
    t.hash = crypto::sha256_hex(t.secret);
    return t;
}

struct World {
    std::filesystem::path dir;
    std::unique_ptr<store::Store> store;
    ManualClock clock{kStartMs};
    http::Metrics metrics;
    std::unique_ptr<http::Authenticator> auth;
    std::unique_ptr<http::Router> router;
    IssuerRegistry issuers;
    std::unique_ptr<http::AuthFailureTracker> failures;
    crypto::Ed25519PrivateKey lease_key = crypto::Ed25519PrivateKey::generate();
    std::unique_ptr<http::LeaseSettings> lease_settings;
    http::ServerLimits limits;

    ~World() {
        router.reset();
        failures.reset();
        auth.reset();
        store.reset();  // drains the writer thread
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

World* world = nullptr;

void add_token(World& w, const FixedToken& t, Role role) {
    const store::TokenRecord rec{t.id, role, std::nullopt, t.hash, kStartMs / 1000, std::nullopt, std::nullopt};
    const auto r = w.store->write_and_wait([rec](store::Connection& c) -> Result<void> {
        store::insert_token(c, rec);
        return {};
    });
    if (!r) fuzz::invariant_failed("cannot add a token to the store");
}

void set_up() {
    auto* w = new World;
    // tmpfs when there is one: the store fsyncs every commit.
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string templ = std::string(base) + "/entitle-fuzz-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) fuzz::invariant_failed("mkdtemp");
    w->dir = templ;
    auto s = store::Store::create((w->dir / "entitle.db").string());
    if (!s) fuzz::invariant_failed("cannot create the store");
    w->store = std::move(*s);

    add_token(*w, fixed_token("fuzz-admin-1", 'a'), Role::admin);
    add_token(*w, fixed_token("fuzz-audit-1", 'b'), Role::auditor);
    const auto host = fixed_token("fuzz-host--1", 'c');
    add_token(*w, host, Role::host);
    const store::HostRecord rec{"h-fuzz", "gpu-fuzz", "eu-west", host.id, kStartMs / 1000, std::nullopt};
    if (!w->store->write_and_wait([rec](store::Connection& c) -> Result<void> {
            store::insert_host(c, rec);
            return {};
        })) {
        fuzz::invariant_failed("cannot add the host");
    }

    auto keys = std::make_shared<IssuerKeys>();
    keys->by_kid.emplace(fuzz::kSeedIssuerKid, fuzz::seed_issuer_key());
    w->issuers.replace(std::move(keys));

    // The wiring of `entitled serve` (server/app/serve_command.cpp).
    const auto lease_pub = w->lease_key.public_key();
    const std::string kid = crypto::jwk_thumbprint(lease_pub);
    nlohmann::json jwks = {{"keys", nlohmann::json::array({crypto::ed25519_jwk(lease_pub, kid)})}};
    w->auth = std::make_unique<http::Authenticator>(*w->store, &w->clock);
    w->router = std::make_unique<http::Router>(*w->auth);
    w->failures = std::make_unique<http::AuthFailureTracker>(*w->store, w->clock);
    w->router->set_auth_failure_tracker(w->failures.get());
    http::register_system_routes(*w->router, {*w->store, w->metrics, jwks});
    http::register_token_routes(*w->router, *w->store, w->clock);
    http::register_license_routes(*w->router, *w->store, w->issuers, w->clock);
    http::register_audit_routes(*w->router, *w->store);
    w->lease_settings = std::make_unique<http::LeaseSettings>(http::LeaseSettings{
        w->lease_key, kid, "entitled-fuzz", 3600, "https://127.0.0.1:8443",
        "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n", jwks});
    http::register_host_routes(*w->router, *w->store, w->clock, *w->lease_settings);
    http::register_lease_routes(*w->router, *w->store, w->clock, *w->lease_settings, w->metrics);
    world = w;
    std::atexit([] { delete world; });
}

// One answer, possibly given later on the store's writer thread.
struct Answer {
    std::mutex mutex;
    std::condition_variable cv;
    int replies = 0;
    http::Response response;
};

http::Response dispatch(const http::Request& request, http::DispatchInfo& info) {
    auto answer = std::make_shared<Answer>();
    world->router->dispatch(request, info, [answer](http::Response res) {
        std::lock_guard lock(answer->mutex);
        ++answer->replies;
        answer->response = std::move(res);
        answer->cv.notify_all();
    });
    std::unique_lock lock(answer->mutex);
    if (!answer->cv.wait_for(lock, kAnswerWait, [&] { return answer->replies > 0; })) {
        fuzz::invariant_failed("a handler did not answer");
    }
    lock.unlock();
    // A second reply would arrive on the writer thread: let queued work finish.
    (void)world->store->write_and_wait([](store::Connection&) -> Result<void> { return {}; });
    lock.lock();
    ENTITLE_FUZZ_CHECK(answer->replies == 1);
    return std::move(answer->response);
}

// What Session::write does with an answer, minus the socket.
void write_answer(const http::Request& request, const http::DispatchInfo& info, http::Response res) {
    const int status = res.result_int();
    ENTITLE_FUZZ_CHECK(status >= 100 && status <= 599);
    ENTITLE_FUZZ_CHECK(!info.route.empty());
    world->metrics.observe_request(info.route, request.method_string(), status, 0.001);
    res.version(request.version() == 10 ? 10 : 11);
    res.keep_alive(request.keep_alive() && request.version() != 0);
    res.prepare_payload();
    boost::beast::flat_buffer out;
    bhttp::response_serializer<bhttp::string_body> serializer(res);
    boost::system::error_code ec;
    while (!serializer.is_done()) {
        serializer.next(ec, [&](boost::system::error_code&, const auto& buffers) {
            const auto n = boost::asio::buffer_size(buffers);
            out.commit(boost::asio::buffer_copy(out.prepare(n), buffers));
            serializer.consume(n);
        });
        ENTITLE_FUZZ_CHECK(!ec);
    }
    if (status >= 400) {
        const auto body = nlohmann::json::parse(res.body(), nullptr, false);
        ENTITLE_FUZZ_CHECK(body.is_object() && body.contains("error"));
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    set_up();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    world->clock.advance_ms(1000);
    // Whatever clients send, the metrics hold a bounded set of series.
    static std::uint64_t inputs = 0;
    if (++inputs % 4096 == 0) ENTITLE_FUZZ_CHECK(world->metrics.render().size() < kMaxMetricsBytes);
    boost::asio::const_buffer input(data, size);
    for (int n = 0; n < kMaxRequests && input.size() > 0; ++n) {
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(world->limits.max_header_bytes));
        parser.body_limit(world->limits.max_body_bytes);
        parser.eager(true);
        boost::system::error_code ec;
        const std::size_t used = parser.put(input, ec);
        input += used;
        if (ec == bhttp::error::need_more) {
            parser.put_eof(ec);
        }
        if (ec || !parser.is_done()) return 0;  // the session answers 400/413 or drops the connection
        http::Request request = parser.release();
        http::DispatchInfo info;
        info.remote = "192.0.2.1";
        auto res = dispatch(request, info);
        write_answer(request, info, std::move(res));
        if (!request.keep_alive()) break;
    }
    return 0;
}
