#include "common/https_client.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <stdexcept>
#include <vector>

namespace entitle::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string describe_tls_failure(const beast::error_code& ec, SSL* ssl_handle, bool name_mismatch,
                                 const HttpsClientOptions& options) {
    const std::string where = options.server.authority();
    if (name_mismatch) {
        return fmt::format(
            "TLS handshake with {} failed: the server certificate is not valid for '{}'", where,
            options.server.host);
    }
    const long verify = SSL_get_verify_result(ssl_handle);
    if (verify != X509_V_OK) {
        return fmt::format(
            "TLS handshake with {} failed: the server certificate does not verify against {} "
            "({})",
            where, options.ca_file, X509_verify_cert_error_string(verify));
    }
    return fmt::format("TLS handshake with {} failed: {}", where, ec.message());
}

// What a failed read of the answer means for the caller. `stalled`: the
// answer had started, and a piece of its body did not come in time.
ClientError read_failure(const beast::error_code& ec, const HttpsClientOptions& options,
                         bool stalled = false) {
    using Kind = ClientError::Kind;
    const std::string where = options.server.authority();
    if (ec == beast::error::timeout) {
        return {Kind::timeout,
                stalled ? fmt::format("the answer from {} stalled: nothing arrived for {} ms",
                                      where, options.timeout.count())
                        : fmt::format("no answer from {} within {} ms", where,
                                      options.timeout.count())};
    }
    if (ec == bhttp::error::body_limit) {
        return {Kind::protocol, fmt::format("the answer from {} is larger than {} bytes", where,
                                            options.max_body_bytes)};
    }
    return {Kind::protocol,
            fmt::format("reading the answer from {} failed: {}", where, ec.message())};
}

// The answer's header, then its body a piece at a time (HttpsClient::download).
template <class Stream>
std::expected<HttpsResponse, ClientError> read_streamed(asio::io_context& ioc, Stream& stream,
                                                        beast::flat_buffer& buffer,
                                                        const HttpsClientOptions& options,
                                                        const HttpsClient::BodySink& sink) {
    using Kind = ClientError::Kind;
    const std::string where = options.server.authority();
    auto& socket_layer = beast::get_lowest_layer(stream);
    beast::error_code ec;
    auto run = [&ioc] {
        ioc.run();
        ioc.restart();
    };

    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(options.max_body_bytes);
    bhttp::async_read_header(stream, buffer, parser,
                             [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec) return std::unexpected(read_failure(ec, options));

    HttpsResponse out;
    out.status = static_cast<int>(parser.get().result_int());
    for (const auto& field : parser.get()) {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    // Only a success streams; a refusal's body (an error document) is kept
    // for the caller, as request() keeps it.
    const bool streams = out.status >= 200 && out.status <= 299;
    constexpr std::size_t kMaxRefusalBytes = std::size_t{1} << 20;
    std::vector<char> piece(std::size_t{64} << 10);
    // Bounded: each pass reads at least one byte, fails, or ends the body.
    while (!parser.is_done()) {
        parser.get().body().data = piece.data();
        parser.get().body().size = piece.size();
        // After the header, the deadline is per piece: a large body may take
        // as long as it needs while data keeps arriving.
        socket_layer.expires_after(options.timeout);
        bhttp::async_read(stream, buffer, parser,
                          [&](const beast::error_code& e, std::size_t) { ec = e; });
        run();
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) return std::unexpected(read_failure(ec, options, /*stalled=*/true));
        const std::string_view got(piece.data(), piece.size() - parser.get().body().size);
        if (streams) {
            if (auto kept = sink(got); !kept) {
                return std::unexpected(ClientError{Kind::local, std::move(kept.error())});
            }
        } else {
            if (out.body.size() + got.size() > kMaxRefusalBytes) {
                return std::unexpected(ClientError{
                    Kind::protocol, fmt::format("the error answer from {} is larger than {} bytes",
                                                where, kMaxRefusalBytes)});
            }
            out.body.append(got);
        }
    }
    socket_layer.socket().close(ec);  // as in request(): the answer is complete
    return out;
}

}  // namespace

std::string percent_encode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(ch);
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

std::optional<std::string> HttpsResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (iequals(k, name)) return v;
    }
    return std::nullopt;
}

HttpsClient::HttpsClient(HttpsClientOptions options) : options_(std::move(options)) {}

std::expected<HttpsResponse, ClientError> HttpsClient::request(
    std::string_view method, std::string_view path, std::string_view body,
    std::string_view content_type, std::optional<std::string_view> bearer) {
    return exchange(method, path, body, content_type, bearer, nullptr);
}

std::expected<HttpsResponse, ClientError> HttpsClient::download(
    std::string_view path, const BodySink& sink, std::optional<std::string_view> bearer) {
    return exchange("GET", path, {}, {}, bearer, &sink);
}

std::expected<HttpsResponse, ClientError> HttpsClient::exchange(
    std::string_view method, std::string_view path, std::string_view body,
    std::string_view content_type, std::optional<std::string_view> bearer, const BodySink* sink) {
    using Kind = ClientError::Kind;
    const auto& server = options_.server;
    const std::string where = server.authority();
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    const auto verb = bhttp::string_to_verb(method);
    if (verb == bhttp::verb::unknown) {
        throw std::invalid_argument(fmt::format("unknown HTTP method '{}'", method));
    }

    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    // Only the given CA file is trusted: the system store is never loaded.
    ctx.load_verify_file(options_.ca_file, ec);
    if (ec) {
        return std::unexpected(
            ClientError{Kind::setup, fmt::format("cannot load CA certificates from {}: {}",
                                                 options_.ca_file, ec.message())});
    }

    asio::io_context ioc;
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    bool name_mismatch = false;
    if (server.host_is_ip) {
        // No SNI for address literals (RFC 6066); the certificate must list
        // the address as an iPAddress subjectAltName.
        X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
        if (X509_VERIFY_PARAM_set1_ip_asc(param, server.host.c_str()) != 1) {
            return std::unexpected(ClientError{
                Kind::setup, fmt::format("cannot check certificates for address {}", server.host)});
        }
    } else {
        if (SSL_set_tlsext_host_name(stream.native_handle(), server.host.c_str()) != 1) {
            return std::unexpected(ClientError{
                Kind::setup, fmt::format("cannot set the TLS server name {}", server.host)});
        }
        stream.set_verify_callback(
            [&name_mismatch, check = ssl::host_name_verification(server.host)](
                bool preverified, ssl::verify_context& vctx) {
                if (!preverified) return false;
                if (check(preverified, vctx)) return true;
                name_mismatch = true;  // so the message can say why
                return false;
            });
    }

    // Every step is asynchronous on this private io_context so that the
    // deadline applies to each of them; the caller sees one blocking call.
    auto run = [&ioc] {
        ioc.run();
        ioc.restart();
    };

    tcp::resolver resolver(ioc);
    tcp::resolver::results_type endpoints;
    bool resolved = false;
    resolver.async_resolve(server.host, server.port,
                           server.host_is_ip ? tcp::resolver::numeric_host : tcp::resolver::flags{},
                           [&](const beast::error_code& e, tcp::resolver::results_type r) {
                               ec = e;
                               endpoints = std::move(r);
                               resolved = true;
                           });
    ioc.run_until(deadline);
    ioc.restart();
    if (!resolved) {
        resolver.cancel();
        return std::unexpected(
            ClientError{Kind::timeout, fmt::format("resolving {} took longer than {} ms",
                                                   server.host, options_.timeout.count())});
    }
    if (ec) {
        return std::unexpected(ClientError{
            Kind::resolve, fmt::format("cannot resolve {}: {}", server.host, ec.message())});
    }

    auto& socket_layer = beast::get_lowest_layer(stream);
    socket_layer.expires_at(deadline);
    socket_layer.async_connect(endpoints,
                               [&](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec == beast::error::timeout) {
        return std::unexpected(
            ClientError{Kind::timeout, fmt::format("connecting to {} took longer than {} ms", where,
                                                   options_.timeout.count())});
    }
    if (ec) {
        return std::unexpected(ClientError{
            Kind::connect, fmt::format("cannot connect to {}: {}", where, ec.message())});
    }

    stream.async_handshake(ssl::stream_base::client, [&](const beast::error_code& e) { ec = e; });
    run();
    if (ec == beast::error::timeout) {
        return std::unexpected(
            ClientError{Kind::timeout, fmt::format("TLS handshake with {} took longer than {} ms",
                                                   where, options_.timeout.count())});
    }
    if (ec) {
        return std::unexpected(ClientError{
            Kind::tls, describe_tls_failure(ec, stream.native_handle(), name_mismatch, options_)});
    }

    bhttp::request<bhttp::string_body> req{verb, server.prefix + std::string(path), 11};
    req.set(bhttp::field::host, where);
    req.set(bhttp::field::user_agent, "entitle-tools/0.1");
    req.set(bhttp::field::accept, "application/json");
    if (bearer) req.set(bhttp::field::authorization, fmt::format("Bearer {}", *bearer));
    if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
    // One request per connection: the server closes after answering.
    req.keep_alive(false);
    req.body() = std::string(body);
    req.prepare_payload();

    bhttp::async_write(stream, req, [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec == beast::error::timeout) {
        return std::unexpected(ClientError{
            Kind::timeout, fmt::format("sending the request to {} took longer than {} ms", where,
                                       options_.timeout.count())});
    }
    if (ec) {
        return std::unexpected(
            ClientError{Kind::protocol,
                        fmt::format("sending the request to {} failed: {}", where, ec.message())});
    }

    beast::flat_buffer buffer;
    if (sink != nullptr) return read_streamed(ioc, stream, buffer, options_, *sink);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(options_.max_body_bytes);
    bhttp::async_read(stream, buffer, parser,
                      [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec) return std::unexpected(read_failure(ec, options_));

    // No TLS close_notify exchange: the answer is complete (its length is
    // known) and the server closes the connection, so waiting for the peer's
    // close_notify would only cost a round trip. Errors closing are ignored
    // on purpose: there is nothing left to lose.
    socket_layer.socket().close(ec);

    auto& msg = parser.get();
    HttpsResponse out;
    out.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg) {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    out.body = std::move(msg.body());
    return out;
}

}  // namespace entitle::tools
