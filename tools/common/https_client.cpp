#include "common/https_client.hpp"

#include "https_exchange.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <stdexcept>
#include <vector>

namespace entitle::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string describe_tls_failure(const lib::StepError& failed, const HttpsClientOptions& options) {
    const std::string where = options.server.authority();
    if (failed.verify_result == X509_V_ERR_HOSTNAME_MISMATCH) {
        return fmt::format(
            "TLS handshake with {} failed: the server certificate is not valid for '{}'", where,
            options.server.host);
    }
    if (failed.verify_result != X509_V_OK) {
        return fmt::format(
            "TLS handshake with {} failed: the server certificate does not verify against {} "
            "({})",
            where, options.ca_file, X509_verify_cert_error_string(failed.verify_result));
    }
    return fmt::format("TLS handshake with {} failed: {}", where, failed.ec.message());
}

// What a failed step up to the request's last byte means for the caller.
ClientError send_failure(const lib::StepError& failed, const HttpsClientOptions& options) {
    using Kind = ClientError::Kind;
    using Step = lib::StepError::Step;
    const auto& server = options.server;
    const std::string where = server.authority();
    const auto ms = options.timeout.count();
    const auto& ec = failed.ec;
    switch (failed.step) {
        case Step::setup:
            return {Kind::setup, server.host_is_ip
                                     ? fmt::format("cannot check certificates for address {}", server.host)
                                     : fmt::format("cannot set the TLS server name {}", server.host)};
        case Step::resolve:
            if (failed.timed_out()) {
                return {Kind::timeout, fmt::format("resolving {} took longer than {} ms", server.host, ms)};
            }
            return {Kind::resolve, fmt::format("cannot resolve {}: {}", server.host, ec.message())};
        case Step::connect:
            if (failed.timed_out()) {
                return {Kind::timeout, fmt::format("connecting to {} took longer than {} ms", where, ms)};
            }
            return {Kind::connect, fmt::format("cannot connect to {}: {}", where, ec.message())};
        case Step::handshake:
            if (failed.timed_out()) {
                return {Kind::timeout, fmt::format("TLS handshake with {} took longer than {} ms", where, ms)};
            }
            return {Kind::tls, describe_tls_failure(failed, options)};
        case Step::write:
        case Step::read:
            break;
    }
    if (failed.timed_out()) {
        return {Kind::timeout, fmt::format("sending the request to {} took longer than {} ms", where, ms)};
    }
    return {Kind::protocol, fmt::format("sending the request to {} failed: {}", where, ec.message())};
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
std::expected<HttpsResponse, ClientError> read_streamed(lib::HttpsExchange& x,
                                                        const HttpsClientOptions& options,
                                                        const HttpsClient::BodySink& sink) {
    using Kind = ClientError::Kind;
    const std::string where = options.server.authority();

    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(options.max_body_bytes);
    if (auto failed = x.read_header(parser)) return std::unexpected(read_failure(failed->ec, options));

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
        if (auto failed = x.read_piece(parser, options.timeout)) {
            return std::unexpected(read_failure(failed->ec, options, /*stalled=*/true));
        }
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
    x.close();  // as in request(): the answer is complete
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
    lib::HttpsExchange x(ctx, server);

    lib::HttpsExchange::Request req{verb, server.prefix + std::string(path), 11};
    req.set(bhttp::field::host, where);
    req.set(bhttp::field::user_agent, "entitle-tools/0.1");
    req.set(bhttp::field::accept, "application/json");
    if (bearer) req.set(bhttp::field::authorization, fmt::format("Bearer {}", *bearer));
    if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
    // One request per connection: the server closes after answering.
    req.keep_alive(false);
    req.body() = std::string(body);
    req.prepare_payload();

    if (auto failed = x.send(req, deadline)) return std::unexpected(send_failure(*failed, options_));
    if (sink != nullptr) return read_streamed(x, options_, *sink);

    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(options_.max_body_bytes);
    if (auto failed = x.read(parser)) return std::unexpected(read_failure(failed->ec, options_));
    x.close();

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
