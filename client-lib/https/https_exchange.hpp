// One blocking HTTPS exchange over Boost.Beast and OpenSSL, shared by
// libentitle's transport and the command-line tools: resolve, connect, TLS
// handshake (the certificate checked against the caller's context and the
// URL's host name or address), one request, then the answer. Every step runs
// asynchronously on a private io_context so that one deadline holds for all
// of them; the caller sees blocking calls. The callers word the failures in
// their own terms: a StepError says which step failed and how.
//
// Thread rules: an HttpsExchange is used by one thread; separate ones may run
// in parallel (each has its own io_context and connection).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>

#include "server_url.hpp"

namespace entitle::lib {

struct StepError {
    enum class Step { setup, resolve, connect, handshake, write, read };
    Step step;
    boost::beast::error_code ec;  // beast::error::timeout when the deadline passed
    // The handshake's certificate check: X509_V_OK when the chain and the
    // name verified (a failure was then something else).
    long verify_result = 0;

    [[nodiscard]] bool timed_out() const { return ec == boost::beast::error::timeout; }
};

class HttpsExchange {
  public:
    using Clock = std::chrono::steady_clock;
    using Request = boost::beast::http::request<boost::beast::http::string_body>;

    // `ctx` holds what the caller trusts and must outlive the exchange. The
    // certificate must name `server`'s host (SNI and a host name check), or
    // list its address as an iPAddress subjectAltName (no SNI, RFC 6066).
    HttpsExchange(boost::asio::ssl::context& ctx, ServerUrl server);

    // Resolves, connects, shakes hands and writes `request`, all before
    // `deadline`. A setup failure (the name or address cannot be set on the
    // connection) has no error code.
    [[nodiscard]] std::optional<StepError> send(Request& request, Clock::time_point deadline);

    // Reads the whole answer into `parser`, within the send's deadline.
    [[nodiscard]] std::optional<StepError> read(
        boost::beast::http::response_parser<boost::beast::http::string_body>& parser);

    // For an answer read a piece at a time: its header within the send's
    // deadline, then each next piece (up to the buffer_body's room) within
    // `per_piece`; a full buffer is not an error.
    [[nodiscard]] std::optional<StepError> read_header(
        boost::beast::http::response_parser<boost::beast::http::buffer_body>& parser);
    [[nodiscard]] std::optional<StepError> read_piece(
        boost::beast::http::response_parser<boost::beast::http::buffer_body>& parser,
        std::chrono::milliseconds per_piece);

    // No TLS close_notify exchange: the answer is complete (its length is
    // known) and the server closes the connection, so waiting for the peer's
    // close_notify would only cost a round trip. An error closing is ignored
    // on purpose: there is nothing left to lose.
    void close();

    [[nodiscard]] const ServerUrl& server() const noexcept { return server_; }

  private:
    void run();

    ServerUrl server_;
    boost::asio::io_context ioc_;
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream_;
    boost::beast::flat_buffer buffer_;
};

}  // namespace entitle::lib
