// What every command of the API tools (entitlectl, entitle-report) shares:
// the connection options, the bearer token, the connection to the server and
// the translation of failures into messages and exit codes (0 ok; 1 refused
// by the server or not reached; 2 usage error).
#pragma once

#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/https_client.hpp"

namespace entitle::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // refused by the server, or it could not be reached
inline constexpr int kExitUsage = 2;   // bad command line or local setup (token file, CA file)

// A command that did not succeed. `message` is printed as "<tool>: <message>"
// and never holds the token.
struct Failure {
    int exit_code = kExitFailed;
    std::string message;
};

template <class T = void>
using Outcome = std::expected<T, Failure>;

[[nodiscard]] inline std::unexpected<Failure> usage_error(std::string message) {
    return std::unexpected(Failure{kExitUsage, std::move(message)});
}
[[nodiscard]] inline std::unexpected<Failure> failed(std::string message) {
    return std::unexpected(Failure{kExitFailed, std::move(message)});
}

struct ApiOptions {
    std::string server;      // --server, ENTITLE_SERVER
    std::string token_file;  // --token-file, ENTITLE_TOKEN_FILE
    std::string ca_file;     // --ca, ENTITLE_CA
    bool json = false;       // print the server's JSON answers as they are
    std::int64_t timeout_ms = 30'000;
};

class ApiSession {
  public:
    // Checks the options and reads the token; a missing or unreadable
    // setting is a usage error (exit 2). Nothing is sent yet.
    [[nodiscard]] static Outcome<ApiSession> open(const ApiOptions& options);

    // Sends one authenticated request. A 2xx answer is returned as is; any
    // other status becomes a Failure "<code>: <message>" taken from the
    // error body; a network or TLS problem becomes a Failure naming it.
    [[nodiscard]] Outcome<HttpsResponse> call(std::string_view method, const std::string& path,
                                              std::string_view body = {},
                                              std::string_view content_type = {});

    // GET for a large answer (a store backup): like call(), but the body of
    // a 2xx answer goes to `sink` piece by piece as it arrives (up to
    // `max_body_bytes` in all) instead of into memory; the deadline applies
    // to each piece rather than to the whole body. A sink error is a Failure.
    [[nodiscard]] Outcome<HttpsResponse> download(const std::string& path,
                                                  const HttpsClient::BodySink& sink,
                                                  std::size_t max_body_bytes);

    // call() whose 2xx answer must be a JSON object.
    [[nodiscard]] Outcome<nlohmann::json> call_json(std::string_view method,
                                                    const std::string& path,
                                                    std::string_view body = {},
                                                    std::string_view content_type = {});

    // GETs a list endpoint page by page (contract section 4: items under
    // `items_key`, "next" while more remain) and answers one object holding
    // every item under `items_key`. `query` is appended to each request.
    [[nodiscard]] Outcome<nlohmann::json> get_all_pages(const std::string& path,
                                                        std::string_view items_key,
                                                        const std::string& query = {});

    [[nodiscard]] bool json_output() const noexcept { return json_; }

  private:
    ApiSession(HttpsClient client, std::string token, bool json)
        : client_(std::move(client)), token_(std::move(token)), json_(json) {}

    HttpsClient client_;
    std::string token_;  // a secret: sent in the Authorization header only
    bool json_;
};

// Prints a JSON value indented, for --json.
void print_json(const nlohmann::json& value);

}  // namespace entitle::tools
