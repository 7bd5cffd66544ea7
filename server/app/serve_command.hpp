// `entitled serve --data DIR --listen HOST:PORT`: loads the data directory,
// serves HTTPS until SIGTERM/SIGINT, drains, closes the store, returns.
#pragma once

#include <optional>
#include <string>

#include "core/error.hpp"
#include "http/rate_limiter.hpp"
#include "http/server.hpp"

namespace entitle::app {

struct ServeOptions {
    std::string data_dir;
    std::string listen = "127.0.0.1:8443";
    std::optional<std::string> public_url;  // default: https://<actual listen address>
    std::optional<std::string> tls_cert;    // default: DIR/tls.crt
    std::optional<std::string> tls_key;     // default: DIR/tls.key
    unsigned threads = 0;                   // 0 = default_io_threads(cores)
    bool log_requests = true;
    std::int64_t lease_seconds = 3600;       // default lease duration
    std::optional<std::string> host_ca_file;  // ca_pem handed to hosts (default: the TLS certificate)
    http::ServerLimits limits;
    // Requests per second and burst per client address and per access token
    // (429 rate_limited beyond; per_second 0 turns a limit off). Sized so a
    // fleet behind one NAT address and a host renewing all its leases at once
    // pass, while one client cannot take the whole server.
    http::RateLimit rate_per_address{2000, 4000};
    http::RateLimit rate_per_token{500, 1000};
    bool allow_root = false;   // serving as root needs an explicit yes
    bool core_dumps = false;   // keys and tokens live in memory: no core files unless asked
    std::int64_t clock_rollback_tolerance_ms = 2000;
};

// I/O threads when --threads is 0: one per core but one, at least one. The
// store's writer runs every write in turn, and on a small machine it needs a
// core of its own more than the I/O threads need another one (on 2 cores,
// one I/O thread answered 6 to 7% more checkouts and renewals than two, at
// less CPU per request: docs/performance.md, change 36). `cores` 0 (unknown)
// counts as one.
[[nodiscard]] unsigned default_io_threads(unsigned cores);

// Splits "HOST:PORT" / "[V6]:PORT"; the error names the flag.
[[nodiscard]] Result<std::pair<std::string, unsigned short>> parse_listen_address(std::string_view text);

[[nodiscard]] Result<void> run_serve(const ServeOptions& options);

}  // namespace entitle::app
