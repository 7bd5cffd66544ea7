// The HTTPS listener and its sessions (Beast over Asio over OpenSSL).
//
// Thread model: an IoPool, one io_context per I/O thread; a connection stays
// on the context it was accepted onto; one thread runs each context (IoPool),
// so a session's handlers never run concurrently and need no strand. Handlers
// that wait on the store reply later from the store's syncer thread (once the
// write is durable), and the reply is posted back onto the session's context. The session only moves
// bytes: it reads one request under the limits, hands it to the Router, and
// writes the answer.
//
// Shutdown (`begin_shutdown`, safe from any thread or signal handler
// context posted to the io_context): stop accepting, close idle keep-alive
// connections, let in-flight requests finish and answer them with
// `Connection: close`, then `run()` returns. After `drain_timeout` whatever
// is still open is dropped.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "core/error.hpp"
#include "http/io_pool.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"

namespace entitle::http {

struct ServerLimits {
    std::size_t max_body_bytes = 64 * 1024;
    std::size_t max_header_bytes = 16 * 1024;
    std::chrono::milliseconds read_timeout{10'000};  // one whole request, from its first byte
    std::chrono::milliseconds idle_timeout{60'000};  // keep-alive wait for the next request
    std::size_t max_connections = 10'000;
    std::size_t max_connections_per_address = 512;  // one address cannot take every slot
    std::chrono::milliseconds drain_timeout{30'000};
};

class Server {
public:
    Server(IoPool& io, std::shared_ptr<boost::asio::ssl::context> tls,
           Router& router, Metrics& metrics, ServerLimits limits, bool log_requests);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and listens. `unavailable` with the reason when the address is in use.
    [[nodiscard]] Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host,
                                                                unsigned short port);
    // Starts accepting; call once, before running the pool.
    void start();
    void begin_shutdown();
    // Serves new connections with `tls` from now on (certificate reload);
    // connections already open keep the context they started with.
    void replace_tls_context(std::shared_ptr<boost::asio::ssl::context> tls);

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace entitle::http
