#include "http/audit_routes.hpp"

#include <thread>

#include "http/pagination.hpp"
#include "store/audit_log.hpp"

namespace entitle::http {

void register_audit_routes(Router& router, store::Store& store) {
    // GET /v1/backup (admin): a consistent copy of the store, taken online on
    // its own thread so the I/O threads keep serving while it is copied.
    router.add(bhttp::verb::get, "/v1/backup", requires_role(Role::admin), [&store](RequestContext&, Reply reply) {
        std::thread([&store, reply = std::move(reply)]() mutable {
            auto bytes = store.backup_bytes();
            if (!bytes) return reply(error_response(bytes.error()));
            auto res = text_response(bhttp::status::ok, std::move(*bytes), "application/vnd.sqlite3");
            res.set(bhttp::field::content_disposition, "attachment; filename=\"entitle-backup.db\"");
            reply(std::move(res));
        }).detach();
    });

    router.add_sync(bhttp::verb::get, "/v1/audit", requires_role(Role::auditor), [&store](RequestContext& ctx) {
        auto limit = page_limit(ctx);
        if (!limit) return error_response(limit.error());
        auto after = integer_after(ctx);
        if (!after) return error_response(after.error());
        auto page = store.read([&](store::Connection& c) -> Result<nlohmann::json> {
            auto events = store::list_audit(c, *after, *limit + 1);
            const bool more = static_cast<std::int64_t>(events.size()) > *limit;
            if (more) events.pop_back();
            nlohmann::json out = {{"events", nlohmann::json::array()}};
            for (const auto& e : events) out["events"].push_back(audit_event_to_json(e));
            if (more) out["next"] = events.back().seq;
            return out;
        });
        if (!page) return error_response(page.error());
        return json_response(bhttp::status::ok, *page);
    });
}

}  // namespace entitle::http
