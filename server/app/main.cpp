// entitled: the Entitle license server. `init` prepares a data directory,
// `serve` runs the HTTPS API on it.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app/init_command.hpp"
#include "app/restore_command.hpp"
#include "app/rotate_key_command.hpp"
#include "app/serve_command.hpp"

namespace {

void setup_logging(const std::string& level) {
    auto logger = spdlog::stderr_logger_mt("entitled");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"entitled: Entitle license server for GPU virtualization"};
    app.require_subcommand(1);
    app.set_config("--config", "", "read options from a TOML file (flags win over the file)");
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
        ->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

    entitle::app::InitOptions init;
    auto* init_cmd = app.add_subcommand("init", "create or complete a data directory (keeps existing keys and tokens)");
    init_cmd->add_option("--data", init.data_dir, "data directory")->required();
    init_cmd->add_option("--tls-cert", init.tls_cert, "install this PEM certificate chain instead of a self-signed one");
    init_cmd->add_option("--tls-key", init.tls_key, "private key of --tls-cert (PEM)");

    entitle::app::ServeOptions serve;
    auto& lim = serve.limits;
    std::size_t read_timeout_ms = lim.read_timeout.count(), idle_timeout_ms = lim.idle_timeout.count(),
                drain_timeout_ms = lim.drain_timeout.count();
    auto* serve_cmd = app.add_subcommand("serve", "serve the HTTPS API until SIGTERM or SIGINT");
    serve_cmd->add_option("--data", serve.data_dir, "data directory made by `entitled init`")->required();
    serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on; port 0 picks a free port")
        ->capture_default_str();
    serve_cmd->add_option("--public-url", serve.public_url,
                          "URL hosts use to reach this server (default: https:// and the listen address)");
    serve_cmd->add_option("--tls-cert", serve.tls_cert, "PEM certificate chain (default DATA/tls.crt)");
    serve_cmd->add_option("--tls-key", serve.tls_key, "PEM private key (default DATA/tls.key)");
    serve_cmd->add_option("--threads", serve.threads, "I/O threads (0 = one per core but one, at least one)")
        ->capture_default_str();
    serve_cmd->add_option("--max-body-bytes", lim.max_body_bytes, "largest request body (413 beyond)")
        ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
    serve_cmd->add_option("--max-header-bytes", lim.max_header_bytes, "largest request header block")
        ->capture_default_str()->check(CLI::Range(std::size_t{512}, std::size_t{1} << 20));
    serve_cmd->add_option("--read-timeout-ms", read_timeout_ms, "time to read one whole request")
        ->capture_default_str()->check(CLI::PositiveNumber);
    serve_cmd->add_option("--idle-timeout-ms", idle_timeout_ms, "keep-alive wait for the next request")
        ->capture_default_str()->check(CLI::PositiveNumber);
    serve_cmd->add_option("--max-connections", lim.max_connections, "open client connections at most")
        ->capture_default_str()->check(CLI::PositiveNumber);
    serve_cmd->add_option("--drain-timeout-ms", drain_timeout_ms, "how long shutdown waits for in-flight requests")
        ->capture_default_str()->check(CLI::PositiveNumber);
    serve_cmd->add_flag("!--no-request-log", serve.log_requests, "do not log one line per request");
    serve_cmd->add_option("--lease-seconds", serve.lease_seconds,
                          "lease duration granted (capped by max_lease_seconds and not_after)")
        ->capture_default_str()->check(CLI::Range(std::int64_t{10}, std::int64_t{30 * 86400}));
    serve_cmd->add_option("--host-ca-file", serve.host_ca_file,
                          "PEM that host configuration files trust (default: the TLS certificate)");

    serve_cmd->add_option("--max-connections-per-address", lim.max_connections_per_address,
                          "open connections from one client address at most (0 = no per-address cap)")
        ->capture_default_str();
    serve_cmd->add_option("--rate-per-address", serve.rate_per_address.per_second,
                          "requests per second from one client address (0 = unlimited)")
        ->capture_default_str()->check(CLI::NonNegativeNumber);
    serve_cmd->add_option("--burst-per-address", serve.rate_per_address.burst,
                          "requests one address may send at once before --rate-per-address applies")
        ->capture_default_str()->check(CLI::PositiveNumber);
    serve_cmd->add_option("--rate-per-token", serve.rate_per_token.per_second,
                          "requests per second with one access token (0 = unlimited)")
        ->capture_default_str()->check(CLI::NonNegativeNumber);
    serve_cmd->add_option("--burst-per-token", serve.rate_per_token.burst,
                          "requests one token may send at once before --rate-per-token applies")
        ->capture_default_str()->check(CLI::PositiveNumber);
    serve_cmd->add_flag("--allow-root", serve.allow_root,
                        "serve even when running as root (a dedicated user is safer)")
        ->envname("ENTITLE_ALLOW_ROOT");
    serve_cmd->add_flag("--allow-core-dumps", serve.core_dumps,
                        "let the process write core files (they would hold keys and tokens)");
    serve_cmd->add_option("--clock-rollback-tolerance-ms", serve.clock_rollback_tolerance_ms,
                          "how far the wall clock may step back before grants stop (clock_rollback)")
        ->capture_default_str()->check(CLI::Range(std::int64_t{0}, std::int64_t{86'400'000}));

    std::string rotate_dir;
    auto* rotate_cmd = app.add_subcommand("rotate-key", "retire the lease-signing key and make a new one (restart to use it)");
    rotate_cmd->add_option("--data", rotate_dir, "data directory")->required();

    entitle::app::RestoreOptions restore;
    auto* restore_cmd = app.add_subcommand(
        "restore", "install a backup as the store of a data directory (refused while a server runs on it)");
    restore_cmd->add_option("--data", restore.data_dir, "data directory made by `entitled init`")->required();
    restore_cmd->add_option("--from", restore.from, "backup file (entitlectl backup)")->required();
    restore_cmd->add_flag("--force", restore.force,
                          "replace a store that already holds data (kept as entitle.db.<time>.bak)");

    CLI11_PARSE(app, argc, argv);
    setup_logging(log_level);

    entitle::Result<void> result;
    if (*init_cmd) {
        result = entitle::app::run_init(init);
    } else if (*rotate_cmd) {
        result = entitle::app::run_rotate_key(rotate_dir);
    } else if (*restore_cmd) {
        result = entitle::app::run_restore(restore);
    } else {
        lim.read_timeout = std::chrono::milliseconds(read_timeout_ms);
        lim.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
        lim.drain_timeout = std::chrono::milliseconds(drain_timeout_ms);
        result = entitle::app::run_serve(serve);
    }
    if (!result) {
        std::cerr << "entitled: " << result.error().message << "\n";
        return result.error().code == entitle::ErrorCode::internal ? 70 : 1;
    }
    return 0;
}
