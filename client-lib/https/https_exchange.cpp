#include "https_exchange.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace entitle::lib {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Step = StepError::Step;

HttpsExchange::HttpsExchange(ssl::context& ctx, ServerUrl server)
    : server_(std::move(server)), stream_(ioc_, ctx) {}

void HttpsExchange::run() {
    ioc_.run();
    ioc_.restart();
}

std::optional<StepError> HttpsExchange::send(Request& request, Clock::time_point deadline) {
    SSL* ssl_handle = stream_.native_handle();
    if (server_.host_is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), server_.host.c_str()) != 1) {
            return StepError{Step::setup, {}};
        }
    } else if (SSL_set_tlsext_host_name(ssl_handle, server_.host.c_str()) != 1 ||
               SSL_set1_host(ssl_handle, server_.host.c_str()) != 1) {
        return StepError{Step::setup, {}};
    }

    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    tcp::resolver::results_type endpoints;
    bool resolved = false;
    resolver.async_resolve(server_.host, server_.port,
                           server_.host_is_ip ? tcp::resolver::numeric_host : tcp::resolver::flags{},
                           [&](const beast::error_code& e, tcp::resolver::results_type r) {
                               ec = e;
                               endpoints = std::move(r);
                               resolved = true;
                           });
    ioc_.run_until(deadline);
    ioc_.restart();
    if (!resolved) {
        resolver.cancel();
        run();  // lets the cancelled handler finish before `endpoints` goes away
        return StepError{Step::resolve, beast::error::timeout};
    }
    if (ec) return StepError{Step::resolve, ec};

    auto& layer = beast::get_lowest_layer(stream_);
    layer.expires_at(deadline);
    layer.async_connect(endpoints, [&](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) return StepError{Step::connect, ec};

    stream_.async_handshake(ssl::stream_base::client, [&](const beast::error_code& e) { ec = e; });
    run();
    if (ec) return StepError{Step::handshake, ec, SSL_get_verify_result(ssl_handle)};

    bhttp::async_write(stream_, request, [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec) return StepError{Step::write, ec};
    return std::nullopt;
}

std::optional<StepError> HttpsExchange::read(bhttp::response_parser<bhttp::string_body>& parser) {
    beast::error_code ec;
    bhttp::async_read(stream_, buffer_, parser, [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec) return StepError{Step::read, ec};
    return std::nullopt;
}

std::optional<StepError> HttpsExchange::read_header(bhttp::response_parser<bhttp::buffer_body>& parser) {
    beast::error_code ec;
    bhttp::async_read_header(stream_, buffer_, parser, [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec) return StepError{Step::read, ec};
    return std::nullopt;
}

std::optional<StepError> HttpsExchange::read_piece(bhttp::response_parser<bhttp::buffer_body>& parser,
                                                   std::chrono::milliseconds per_piece) {
    beast::get_lowest_layer(stream_).expires_after(per_piece);
    beast::error_code ec;
    bhttp::async_read(stream_, buffer_, parser, [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) return StepError{Step::read, ec};
    return std::nullopt;
}

void HttpsExchange::close() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
}

}  // namespace entitle::lib
