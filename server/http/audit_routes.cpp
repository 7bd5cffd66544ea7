#include "http/audit_routes.hpp"

#include "http/pagination.hpp"
#include "store/audit_log.hpp"

namespace entitle::http {

void register_audit_routes(Router& router, store::Store& store) {
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
