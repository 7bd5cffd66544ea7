#include "app/serve_command.hpp"

#include <charconv>
#include <ctime>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/data_dir.hpp"
#include "app/data_dir_lock.hpp"
#include "app/store_options.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/jwk.hpp"
#include "crypto/nonce_pool.hpp"
#include "http/authenticator.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/system_routes.hpp"
#include "http/token_routes.hpp"
#include "http/audit_routes.hpp"
#include "http/clock_routes.hpp"
#include "http/rate_limiter.hpp"
#include "http/auth_failures.hpp"
#include "http/license_routes.hpp"
#include "http/lease_routes.hpp"
#include "server_url.hpp"
#include "store/clock_watch.hpp"
#include "store/lease_table.hpp"
#include "store/meta_table.hpp"
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include "app/issuer_loader.hpp"
#include "core/clock.hpp"
#include "core/clock_guard.hpp"
#include "http/tls_context.hpp"
#include "store/store.hpp"

namespace entitle::app {

namespace asio = boost::asio;

Result<std::pair<std::string, unsigned short>> parse_listen_address(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return fail(ErrorCode::invalid_request, fmt::format("--listen '{}': expected [IPv6]:PORT", text));
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return fail(ErrorCode::invalid_request, fmt::format("--listen '{}': expected HOST:PORT", text));
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (host.empty() || port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || value > 65535) {
        return fail(ErrorCode::invalid_request, fmt::format("--listen '{}': expected HOST:PORT with a port 0-65535", text));
    }
    if (host == "localhost") host = "127.0.0.1";
    return std::pair{std::string(host), static_cast<unsigned short>(value)};
}

unsigned default_io_threads(unsigned cores) { return cores > 2 ? cores - 1 : 1; }

Result<void> run_serve(const ServeOptions& options) {
    if (::geteuid() == 0 && !options.allow_root) {
        return fail(ErrorCode::forbidden,
                    "refusing to serve as root: run entitled as its own user (examples/systemd/entitled.service "
                    "creates one), or pass --allow-root (ENTITLE_ALLOW_ROOT=1) to serve as root anyway");
    }
    if (!options.core_dumps) {
        // The lease key, TLS key and token hashes are in memory: no core file
        // and no ptrace by other processes of the same user.
        const rlimit none{0, 0};
        ::setrlimit(RLIMIT_CORE, &none);
        ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    const DataDir dir{options.data_dir};
    if (auto r = check_data_dir(dir); !r) return r;
    auto address = parse_listen_address(options.listen);
    if (!address) return std::unexpected(address.error());
    // --public-url becomes every host config's server_url: a URL libentitle
    // would refuse is refused here, before any host is given one.
    if (options.public_url) {
        if (auto u = lib::parse_server_url(*options.public_url, "--public-url"); !u) {
            return fail(ErrorCode::invalid_request, u.error());
        }
    }

    const std::string cert_file = options.tls_cert.value_or(dir.tls_cert().string());
    const std::string key_file = options.tls_key.value_or(dir.tls_key().string());
    if (auto k = read_secret_file(key_file); !k) return std::unexpected(k.error());
    if (auto t = read_secret_file(dir.admin_token()); !t && std::filesystem::exists(dir.admin_token())) {
        return std::unexpected(t.error());
    }
    auto lease_pem = read_secret_file(dir.lease_key());
    if (!lease_pem) return std::unexpected(lease_pem.error());
    auto lease_key = crypto::Ed25519PrivateKey::from_pem(*lease_pem);
    if (!lease_key) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("{}: {}", dir.lease_key().string(), lease_key.error()));
    }
    const auto lease_pub = lease_key->public_key();
    const std::string kid = crypto::jwk_thumbprint(lease_pub);
    nlohmann::json jwks = {{"keys", nlohmann::json::array({crypto::ed25519_jwk(lease_pub, kid)})}};

    auto tls = http::make_server_tls_context(cert_file, key_file);
    if (!tls) return std::unexpected(tls.error());

    // One server per data directory; `entitled restore` checks the same lock.
    auto dir_lock = lock_data_dir(dir);
    if (!dir_lock) return std::unexpected(dir_lock.error());
    // With the lock held, a temporary copy of the store (a backup being
    // answered, a restore being staged) can only be a dead process's.
    for (const auto& left : remove_leftover_copies(dir)) {
        spdlog::warn("event=leftover_copy_removed file={} bytes={} (left by a process that ended mid-copy)",
                     left.path.string(), left.bytes);
    }
    // A failed sync of the store's log stops the store (store.hpp); the server
    // then stops too, so that the next start recovers from what the disk holds.
    struct FailStop {
        std::mutex mutex;
        std::function<void()> stop;  // set once serving; posts the shutdown
        std::optional<std::string> why;
    };
    auto fail_stop = std::make_shared<FailStop>();
    auto store_options = serve_store_options();
    store_options.on_failure = [fail_stop](const Error& e) {
        spdlog::critical("event=store_failed error=\"{}\" action=stopping", e.message);
        std::function<void()> stop;
        {
            std::lock_guard lock(fail_stop->mutex);
            fail_stop->why = e.message;
            stop = fail_stop->stop;
        }
        if (stop) stop();
    };
    auto store = store::Store::open(dir.store().string(), std::move(store_options));
    if (!store) return std::unexpected(store.error());
    auto server_id = (*store)->read([](store::Connection& c) -> Result<std::string> {
        return store::get_meta(c, "server_id").value_or("entitled");
    });
    if (!server_id) return std::unexpected(server_id.error());
    // Publish the retired keys that signed leases still active (see rotate-key).
    auto live_kids = (*store)->read([&](store::Connection& c) -> Result<std::vector<std::string>> {
        return store::active_lease_kids(c);
    });
    if (!live_kids) return std::unexpected(live_kids.error());
    for (const auto& old : *live_kids) {
        if (old == kid) continue;
        auto old_pem = read_secret_file(dir.retired_lease_keys() / (old + ".key"));
        auto old_key = old_pem ? crypto::Ed25519PrivateKey::from_pem(*old_pem)
                               : std::expected<crypto::Ed25519PrivateKey, std::string>(std::unexpected(old_pem.error().message));
        if (!old_key) {
            spdlog::warn("event=retired_key_missing kid={} problem=\"{}\"", old, old_key.error());
            continue;
        }
        jwks["keys"].push_back(crypto::ed25519_jwk(old_key->public_key(), old));
    }
    auto host_ca = read_file(options.host_ca_file.value_or(cert_file));
    if (!host_ca) return std::unexpected(host_ca.error());

    http::Metrics metrics;
    SystemClock clock;
    http::Authenticator auth(**store, &clock);
    http::Router router(auth);
    IssuerRegistry issuers;
    const auto load_issuers = [&] {
        auto loaded = load_issuer_keys(dir.issuers());
        for (const auto& p : loaded.problems) spdlog::warn("event=issuer_skipped problem=\"{}\"", p);
        spdlog::info("event=issuers_loaded count={} dir={}", loaded.keys.by_kid.size(), dir.issuers().string());
        issuers.replace(std::make_shared<const IssuerKeys>(std::move(loaded.keys)));
    };
    load_issuers();
    http::AuthFailureTracker auth_failures(**store, clock);
    router.set_auth_failure_tracker(&auth_failures);
    http::RateLimiter rate_per_address(options.rate_per_address);
    http::RateLimiter rate_per_token(options.rate_per_token);
    router.set_rate_limiters(rate_per_address.enabled() ? &rate_per_address : nullptr,
                             rate_per_token.enabled() ? &rate_per_token : nullptr);
    ClockGuard clock_guard(options.clock_rollback_tolerance_ms);
    auto mark = (*store)->read([](store::Connection& c) -> Result<std::int64_t> {
        return store::recorded_clock_mark(c);
    });
    if (!mark) return std::unexpected(mark.error());
    clock_guard.set_mark(*mark);
    if (auto behind = clock_guard.paused_behind_ms(clock.now_ms())) {
        spdlog::warn("event=clock_rollback behind_ms={} grants=paused", *behind);
    }
    // Lease token nonces made ahead of time, on a thread that runs only
    // when a core would be idle (docs/decisions/0010).
    crypto::NoncePool token_nonces(*lease_key, *server_id);
    http::register_system_routes(router, {**store, metrics, jwks, &token_nonces});
    http::register_token_routes(router, **store, clock);
    http::register_license_routes(router, **store, issuers, clock);
    http::register_audit_routes(router, **store);
    http::register_clock_routes(router, **store, clock, clock_guard);

    const unsigned threads =
        options.threads ? options.threads : default_io_threads(std::thread::hardware_concurrency());
    http::IoPool io(threads);
    asio::io_context& ioc = io.main();  // control work: sweeper, signals
    http::Server server(io, *tls, router, metrics, options.limits, options.log_requests);
    auto endpoint = server.listen(address->first, address->second);
    if (!endpoint) return std::unexpected(endpoint.error());

    const std::string host = endpoint->address().is_v6() ? "[" + endpoint->address().to_string() + "]"
                                                         : endpoint->address().to_string();
    const std::string url = fmt::format("https://{}:{}", host, endpoint->port());
    const std::string public_url = options.public_url.value_or(url);
    const http::LeaseSettings lease_settings{*lease_key, kid, *server_id, options.lease_seconds,
                                             public_url, *host_ca, jwks, &clock_guard, &token_nonces};
    http::register_host_routes(router, **store, clock, lease_settings);
    http::register_lease_routes(router, **store, clock, lease_settings, metrics);

    // The expiry sweeper: ends lapsed leases about once a second, in batches,
    // never two sweeps at once.
    // Signals and the sweeper share one strand: their timers and flags are
    // never touched from two threads at once.
    auto control = asio::make_strand(ioc);
    asio::steady_timer sweep_timer(control);
    bool stopping = false;
    std::function<void()> schedule_sweep = [&] {
        sweep_timer.expires_after(std::chrono::seconds(1));
        sweep_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec || stopping) return;
            auto swept = std::make_shared<std::int64_t>(0);
            (*store)->submit(
                [swept, &clock, &clock_guard](store::Connection& c) -> Result<void> {
                    const auto now_ms = clock.now_ms();
                    const auto seen = store::observe_clock(c, now_ms, clock_guard.tolerance_ms());
                    if (seen.reported) {
                        spdlog::warn("event=clock_rollback now_ms={} recorded_ms={} grants=paused", now_ms,
                                     seen.mark_ms);
                    }
                    clock_guard.set_mark(seen.mark_ms);
                    *swept = store::sweep_expired_leases(c, now_ms, 1000);
                    return {};
                },
                [&, swept](Result<void> r) {
                    if (!r) spdlog::warn("event=sweep_failed error=\"{}\"", r.error().message);
                    else if (*swept > 0) spdlog::info("event=leases_expired count={}", *swept);
                    asio::post(control, [&] {
                        if (!stopping) schedule_sweep();
                    });
                });
        });
    };
    asio::post(control, schedule_sweep);

    // SIGHUP reloads the issuer trust store and the TLS certificate; it waits again after each
    // reload and is cancelled at shutdown so that run() can return.
    asio::signal_set hangups(control, SIGHUP);
    std::function<void(const boost::system::error_code&, int)> on_hangup =
        [&](const boost::system::error_code& ec, int) {
            if (ec) return;  // cancelled
            load_issuers();
            // New connections get the certificate now on disk; open ones keep theirs.
            if (auto fresh = http::make_server_tls_context(cert_file, key_file)) {
                server.replace_tls_context(std::move(*fresh));
                spdlog::info("event=tls_reloaded cert={}", cert_file);
            } else {
                spdlog::warn("event=tls_reload_failed problem=\"{}\" keeping=previous", fresh.error().message);
            }
            hangups.async_wait(on_hangup);
        };
    hangups.async_wait(on_hangup);
    asio::signal_set signals(control, SIGINT, SIGTERM);
    // On the control strand: stop waiting for anything and drain the server.
    const auto shut_down = [&] {
        if (stopping) return;
        hangups.cancel();
        signals.cancel();
        stopping = true;
        sweep_timer.cancel();
        server.begin_shutdown();
    };
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec) return;  // cancelled
        spdlog::info("event=shutdown signal={} draining", signo);
        shut_down();
    });
    {
        std::lock_guard lock(fail_stop->mutex);
        fail_stop->stop = [&] { asio::post(control, shut_down); };
        if (fail_stop->why) fail_stop->stop();  // failed while starting
    }
    server.start();
    spdlog::info("event=start listen={} public_url={} threads={} lease_kid={}", url, public_url, threads, kid);
    std::cout << "listening on " << url << std::endl;  // scripts wait for this line

    io.run();
    signals.cancel();
    {
        std::lock_guard lock(fail_stop->mutex);
        fail_stop->stop = nullptr;  // what it refers to is about to go
    }
    store->reset();  // drains queued writes, checkpoints, closes
    {
        std::lock_guard lock(fail_stop->mutex);
        if (fail_stop->why) {
            spdlog::critical("event=stopped reason=store_failed");
            return fail(ErrorCode::unavailable,
                        fmt::format("{}; stopped without touching the store again: the next start recovers "
                                    "from what the disk holds",
                                    *fail_stop->why));
        }
    }
    spdlog::info("event=stopped");
    return {};
}

}  // namespace entitle::app
