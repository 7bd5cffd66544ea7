#include "http/system_routes.hpp"

#include <fmt/format.h>

namespace entitle::http {

namespace {

std::string store_metrics(const store::StoreStats& s) {
    return fmt::format(
        "# HELP entitle_store_commits_total Write transactions committed (one WAL fsync each).\n"
        "# TYPE entitle_store_commits_total counter\n"
        "entitle_store_commits_total {}\n"
        "# HELP entitle_store_write_units_total Write units committed; units / commits is the "
        "average group-commit batch.\n"
        "# TYPE entitle_store_write_units_total counter\n"
        "entitle_store_write_units_total {}\n"
        "# HELP entitle_store_failed_commits_total Commits the store refused (disk full, I/O "
        "error, read-only).\n"
        "# TYPE entitle_store_failed_commits_total counter\n"
        "entitle_store_failed_commits_total {}\n",
        s.commits, s.units, s.failed_commits);
}

}  // namespace

void register_system_routes(Router& router, SystemRoutesDeps deps) {
    router.add_sync(bhttp::verb::get, "/healthz", public_route, [&store = deps.store](RequestContext&) {
        if (!store.healthy()) {
            return error_response({ErrorCode::unavailable, "the store does not answer"});
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
                    [&metrics = deps.metrics, &store = deps.store](RequestContext&) {
                        return text_response(bhttp::status::ok,
                                             metrics.render() + store_metrics(store.stats()),
                                             "text/plain; version=0.0.4");
                    });
}

}  // namespace entitle::http
