// A small blocking HTTPS client for the command-line tools (entitlectl,
// entitle-report, ...): one request per connection, TLS 1.2+, the server
// certificate verified against one CA file only (never the system store),
// host name or IP address checked, a deadline on the whole exchange.
//
// Thread rules: an HttpsClient is used by one thread at a time; each
// request() runs its own io_context, so separate clients may run in parallel.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server_url.hpp"

namespace entitle::tools {

// --server's URL, by the rules of the host config's server_url.
using ServerUrl = lib::ServerUrl;
[[nodiscard]] inline std::expected<ServerUrl, std::string> parse_server_url(std::string_view url) {
    return lib::parse_server_url(url, "server URL");
}

// RFC 3986 percent-encoding of everything but the unreserved characters, for
// one path segment or one query value.
[[nodiscard]] std::string percent_encode(std::string_view text);

struct HttpsResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // The first header of that name (case-insensitive), if any.
    [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
};

struct HttpsClientOptions {
    ServerUrl server;
    std::string ca_file;                        // PEM; the only trust anchors
    std::chrono::milliseconds timeout{30'000};  // connect + TLS + request + answer
    std::size_t max_body_bytes = std::size_t{256} << 20;
};

// What went wrong before an HTTP answer arrived. `kind` lets a caller pick an
// exit code or a retry; `message` is for a human and names the server.
struct ClientError {
    enum class Kind {
        setup,     // the CA file cannot be loaded: a local problem
        resolve,   // the host name does not resolve
        connect,   // nothing listens there, or the network is unreachable
        tls,       // handshake failed, e.g. the certificate does not verify
        timeout,   // the deadline passed
        protocol,  // the answer is not HTTP, is cut short or too large
        local,     // a downloaded body could not be kept here (e.g. the disk is full)
    };
    Kind kind;
    std::string message;
};

class HttpsClient {
  public:
    explicit HttpsClient(HttpsClientOptions options);

    // Sends one request and reads the whole answer. `path` starts with '/'
    // and is already percent-encoded; the URL's prefix is put in front.
    // `bearer`, when given, goes into an Authorization header and nowhere
    // else (never into an error message). Any HTTP status is a success here:
    // deciding what a 4xx means is the caller's business.
    [[nodiscard]] std::expected<HttpsResponse, ClientError> request(
        std::string_view method, std::string_view path, std::string_view body = {},
        std::string_view content_type = {}, std::optional<std::string_view> bearer = std::nullopt);

    // Where download() puts the body of a successful answer, piece by piece
    // as it arrives; an error it returns ends the download with that message.
    using BodySink = std::function<std::expected<void, std::string>(std::string_view)>;

    // GET `path` with the body of a 2xx answer going to `sink` as it arrives,
    // never held in memory as a whole (HttpsResponse::body stays empty); the
    // body of any other answer is read into HttpsResponse::body as request()
    // does (up to 1 MiB). The deadline covers everything up to the answer's
    // header; after it, each piece of the body must arrive within `timeout`.
    [[nodiscard]] std::expected<HttpsResponse, ClientError> download(
        std::string_view path, const BodySink& sink,
        std::optional<std::string_view> bearer = std::nullopt);

    [[nodiscard]] const HttpsClientOptions& options() const noexcept { return options_; }

  private:
    [[nodiscard]] std::expected<HttpsResponse, ClientError> exchange(
        std::string_view method, std::string_view path, std::string_view body,
        std::string_view content_type, std::optional<std::string_view> bearer,
        const BodySink* sink);

    HttpsClientOptions options_;
};

}  // namespace entitle::tools
