#include "http/system_routes.hpp"

#include <fmt/format.h>

namespace entitle::http {

namespace {

std::string nonce_metrics(const crypto::NoncePool* pool) {
    if (pool == nullptr) return {};
    const auto s = pool->stats();
    return fmt::format(
        "# HELP entitle_token_nonces_total Lease token nonces taken for checkouts and renewals: made ahead, "
        "by the thread that runs while a core is idle, or on_demand because none was ready (made on the "
        "request's thread if a token is signed; docs/decisions/0010).\n"
        "# TYPE entitle_token_nonces_total counter\n"
        "entitle_token_nonces_total{{made=\"ahead\"}} {}\n"
        "entitle_token_nonces_total{{made=\"on_demand\"}} {}\n",
        s.ahead, s.empty);
}

std::string store_metrics(const store::StoreStats& s) {
    return fmt::format(
        "# HELP entitle_store_commits_total Write transactions committed and synced.\n"
        "# TYPE entitle_store_commits_total counter\n"
        "entitle_store_commits_total {}\n"
        "# HELP entitle_store_write_units_total Write units committed; units / commits is the "
        "average group-commit batch.\n"
        "# TYPE entitle_store_write_units_total counter\n"
        "entitle_store_write_units_total {}\n"
        "# HELP entitle_store_failed_commits_total Commits the store refused (disk full, I/O "
        "error, read-only).\n"
        "# TYPE entitle_store_failed_commits_total counter\n"
        "entitle_store_failed_commits_total {}\n"
        "# HELP entitle_store_commit_seconds_total Time the writer spent in batches (work and COMMIT; the "
        "sync is the syncer's).\n"
        "# TYPE entitle_store_commit_seconds_total counter\n"
        "entitle_store_commit_seconds_total {:.6f}\n"
        "# HELP entitle_store_max_batch Largest group-commit batch so far.\n"
        "# TYPE entitle_store_max_batch gauge\n"
        "entitle_store_max_batch {}\n"
        "# HELP entitle_store_writes_failing 1 while the last write batch failed for a disk reason "
        "(full, I/O error, read-only).\n"
        "# TYPE entitle_store_writes_failing gauge\n"
        "entitle_store_writes_failing {}\n"
        "# HELP entitle_store_checkpoints_total WAL checkpoint passes completed (pages copied back "
        "into the database file and synced).\n"
        "# TYPE entitle_store_checkpoints_total counter\n"
        "entitle_store_checkpoints_total {}\n"
        "# HELP entitle_store_syncs_total fdatasync calls of the WAL that made commits durable; one covers "
        "every commit made before it started.\n"
        "# TYPE entitle_store_syncs_total counter\n"
        "entitle_store_syncs_total {}\n"
        "# HELP entitle_store_sync_seconds_total Time spent in those syncs.\n"
        "# TYPE entitle_store_sync_seconds_total counter\n"
        "entitle_store_sync_seconds_total {:.6f}\n",
        s.commits, s.units, s.failed_commits, s.commit_seconds, s.max_batch, s.writes_failing ? 1 : 0,
        s.checkpoints, s.syncs, s.sync_seconds);
}

// Live usage from the store: one indexed pass over the active leases.
std::string usage_metrics(store::Store& store) {
    auto text = store.read([](store::Connection& c) -> Result<std::string> {
        std::string out =
            "# HELP entitle_leases_active Active leases by entitlement and feature.\n"
            "# TYPE entitle_leases_active gauge\n";
        auto st = c.cached(
            "SELECT license_jti || '/' || entitlement_id, feature, count(*) FROM leases "
            "WHERE ended_at IS NULL GROUP BY license_jti, entitlement_id, feature");
        while (st.step()) {
            out += fmt::format("entitle_leases_active{{entitlement=\"{}\",feature=\"{}\"}} {}\n", prometheus_label(st.text(0)),
                               prometheus_label(st.text(1)), st.int64(2));
        }
        out +=
            "# HELP entitle_seats_in_use Seats held by entitlement (GPUs for per_device).\n"
            "# TYPE entitle_seats_in_use gauge\n";
        auto seats = c.cached(
            "SELECT e.license_jti || '/' || e.id, e.feature, e.in_use FROM entitlements e "
            "JOIN licenses l ON l.jti = e.license_jti WHERE l.state = 'active'");
        while (seats.step()) {
            out += fmt::format("entitle_seats_in_use{{entitlement=\"{}\",feature=\"{}\"}} {}\n", prometheus_label(seats.text(0)),
                               prometheus_label(seats.text(1)), seats.int64(2));
        }
        return out;
    });
    return text ? *text : std::string();
}

}  // namespace

void register_system_routes(Router& router, SystemRoutesDeps deps) {
    router.add_sync(bhttp::verb::get, "/healthz", public_route, [&store = deps.store](RequestContext&) {
        if (!store.healthy()) {
            return error_response({ErrorCode::unavailable, "the store does not answer"});
        }
        // Still 200 while writes fail: the server reads, verifies and answers,
        // and a load balancer that pulled it would only move the full disk's
        // problem elsewhere. The body tells a monitor.
        if (store.stats().writes_failing) {
            return json_response(bhttp::status::ok, {{"status", "degraded"}, {"store_writes", "failing"}});
        }
        return json_response(bhttp::status::ok, {{"status", "ok"}});
    });

    router.add_sync(bhttp::verb::get, "/v1/keys", public_route,
                    [body = deps.jwks.dump()](RequestContext&) {
                        auto res = text_response(bhttp::status::ok, body, "application/json");
                        res.set(bhttp::field::cache_control, "public, max-age=300");
                        return res;
                    });

    router.add_sync(bhttp::verb::get, "/metrics", public_route,
                    [&metrics = deps.metrics, &store = deps.store, nonces = deps.token_nonces](RequestContext&) {
                        return text_response(bhttp::status::ok,
                                             metrics.render() + store_metrics(store.stats()) + usage_metrics(store) +
                                                 nonce_metrics(nonces),
                                             "text/plain; version=0.0.4");
                    });
}

}  // namespace entitle::http
