#include "common/api_session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "common/json_fields.hpp"
#include "common/read_file.hpp"
#include "common/text_output.hpp"

namespace entitle::tools {

namespace {

constexpr std::size_t kMaxTokenFileBytes = 64 * 1024;
constexpr std::int64_t kMaxPages = 100'000;  // a guard against a server that never ends a list

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

Outcome<std::string> read_token(const std::string& path) {
    auto text = read_file_limited(path, kMaxTokenFileBytes);
    if (!text) return usage_error(fmt::format("token file: {}", text.error()));
    const auto first = std::find_if_not(text->begin(), text->end(), is_space);
    const auto last = std::find_if_not(text->rbegin(), text->rend(), is_space).base();
    std::string token = first < last ? std::string(first, last) : std::string();
    // Printable ASCII only: anything else could not travel in an HTTP header
    // and would mean the file is not a token file at all.
    const bool printable =
        std::all_of(token.begin(), token.end(), [](char c) { return c > ' ' && c < 0x7f; });
    if (token.empty() || !printable) {
        return usage_error(fmt::format(
            "the token file {} does not hold a token (one line of printable characters)", path));
    }
    return token;
}

// "<code>: <message>" from the contract's error body, or the status and the
// start of whatever came back.
Failure refusal(const HttpsResponse& response) {
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    const auto& error = field(body, "error");
    std::string message;
    if (error.is_object()) {
        message = fmt::format("{}: {}", text_field(error, "code", "error"),
                              text_field(error, "message", "(no message)"));
    } else {
        std::string start = response.body.substr(0, 200);
        message = start.empty() ? fmt::format("HTTP status {}", response.status)
                                : fmt::format("HTTP status {}: {}", response.status, start);
    }
    if (response.status == 429) {
        if (const auto after = response.header("Retry-After")) {
            message += fmt::format(" (retry after {} s)", *after);
        }
    }
    return Failure{kExitFailed, terminal_safe(message)};
}

}  // namespace

Outcome<ApiSession> ApiSession::open(const ApiOptions& options) {
    if (options.server.empty()) {
        return usage_error("no server: give --server https://HOST:PORT or set ENTITLE_SERVER");
    }
    if (options.token_file.empty()) {
        return usage_error("no token: give --token-file FILE or set ENTITLE_TOKEN_FILE");
    }
    if (options.ca_file.empty()) {
        return usage_error(
            "no CA certificate: give --ca FILE (the server's tls.crt or its CA) or set ENTITLE_CA");
    }
    auto url = parse_server_url(options.server);
    if (!url) return usage_error(url.error());
    {
        std::ifstream ca(options.ca_file);
        if (!ca) {
            return usage_error(fmt::format("cannot read the CA file {}: {}", options.ca_file,
                                           std::strerror(errno)));
        }
    }
    auto token = read_token(options.token_file);
    if (!token) return std::unexpected(token.error());

    HttpsClientOptions client_options;
    client_options.server = std::move(*url);
    client_options.ca_file = options.ca_file;
    client_options.timeout = std::chrono::milliseconds(options.timeout_ms);
    return ApiSession(HttpsClient(std::move(client_options)), std::move(*token), options.json);
}

namespace {

Outcome<HttpsResponse> checked(std::expected<HttpsResponse, ClientError> response) {
    if (!response) {
        const auto& e = response.error();
        // A CA file that exists but holds no usable certificate is a local
        // setup problem, not the server's.
        const int code = e.kind == ClientError::Kind::setup ? kExitUsage : kExitFailed;
        return std::unexpected(Failure{code, e.message});
    }
    if (response->status < 200 || response->status > 299) {
        return std::unexpected(refusal(*response));
    }
    return std::move(*response);
}

}  // namespace

Outcome<HttpsResponse> ApiSession::call(std::string_view method, const std::string& path,
                                        std::string_view body, std::string_view content_type) {
    return checked(client_.request(method, path, body, content_type, token_));
}

Outcome<HttpsResponse> ApiSession::download(const std::string& path,
                                            const HttpsClient::BodySink& sink,
                                            std::size_t max_body_bytes) {
    auto options = client_.options();
    options.max_body_bytes = max_body_bytes;
    HttpsClient large(std::move(options));
    return checked(large.download(path, sink, token_));
}

Outcome<nlohmann::json> ApiSession::call_json(std::string_view method, const std::string& path,
                                              std::string_view body,
                                              std::string_view content_type) {
    auto response = call(method, path, body, content_type);
    if (!response) return std::unexpected(response.error());
    auto json = nlohmann::json::parse(response->body, nullptr, false);
    if (!json.is_object()) {
        return failed(fmt::format("the server's answer to {} {} is not a JSON object (status {})",
                                  method, path, response->status));
    }
    return json;
}

Outcome<nlohmann::json> ApiSession::get_all_pages(const std::string& path,
                                                  std::string_view items_key,
                                                  const std::string& query) {
    nlohmann::json all = nlohmann::json::array();
    std::optional<std::string> after;
    for (std::int64_t page = 0; page < kMaxPages; ++page) {
        std::string target = path;
        char sep = '?';
        if (!query.empty()) {
            target += sep + query;
            sep = '&';
        }
        if (after) target += fmt::format("{}after={}", sep, percent_encode(*after));
        auto answer = call_json("GET", target);
        if (!answer) return answer;
        const auto& items = field(*answer, items_key);
        if (!items.is_array()) {
            return failed(
                fmt::format("the server's answer to GET {} has no \"{}\" list", path, items_key));
        }
        for (const auto& item : items) all.push_back(item);
        const auto& next = field(*answer, "next");
        if (next.is_null()) return nlohmann::json{{items_key, std::move(all)}};
        const std::string next_text =
            next.is_string() ? next.get<std::string>() : compact_json(next);
        if (after == next_text) {
            return failed(
                fmt::format("the server's answer to GET {} repeats page {}", path, next_text));
        }
        after = next_text;
    }
    return failed(fmt::format("GET {}: more than {} pages", path, kMaxPages));
}

void print_json(const nlohmann::json& value) { std::cout << pretty_json(value) << '\n'; }

}  // namespace entitle::tools
