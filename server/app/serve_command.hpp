// `entitled serve --data DIR --listen HOST:PORT`: loads the data directory,
// serves HTTPS until SIGTERM/SIGINT, drains, closes the store, returns.
#pragma once

#include <optional>
#include <string>

#include "core/error.hpp"
#include "http/server.hpp"

namespace entitle::app {

struct ServeOptions {
    std::string data_dir;
    std::string listen = "127.0.0.1:8443";
    std::optional<std::string> public_url;  // default: https://<actual listen address>
    std::optional<std::string> tls_cert;    // default: DIR/tls.crt
    std::optional<std::string> tls_key;     // default: DIR/tls.key
    unsigned threads = 0;                   // 0 = one per core
    bool log_requests = true;
    std::int64_t lease_seconds = 3600;       // default lease duration
    std::optional<std::string> host_ca_file;  // ca_pem handed to hosts (default: the TLS certificate)
    http::ServerLimits limits;
};

// Splits "HOST:PORT" / "[V6]:PORT"; the error names the flag.
[[nodiscard]] Result<std::pair<std::string, unsigned short>> parse_listen_address(std::string_view text);

[[nodiscard]] Result<void> run_serve(const ServeOptions& options);

}  // namespace entitle::app
