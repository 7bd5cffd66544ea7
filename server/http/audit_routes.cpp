#include "http/audit_routes.hpp"

#include <atomic>
#include <filesystem>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "http/pagination.hpp"
#include "store/audit_log.hpp"

namespace entitle::http {

void register_audit_routes(Router& router, store::Store& store) {
    // GET /v1/backup (admin): a consistent copy of the store, taken online on
    // its own thread so the I/O threads keep serving while it is copied.
    router.add(bhttp::verb::get, "/v1/backup", requires_role(Role::admin), [&store](RequestContext&, Reply reply) {
        std::thread([&store, reply = std::move(reply)]() mutable {
            // The copy is made on disk, next to the store, a few MB at a time,
            // and sent from that file as it is read: neither the copy nor the
            // answer is ever held in memory as a whole. The file's name goes
            // when this thread ends; its open descriptor keeps the bytes
            // until the answer is sent (or the connection is gone).
            static std::atomic<unsigned> serial{0};
            const auto temp = std::filesystem::path(store.path()).parent_path() /
                              fmt::format(".backup-{}-{}.db", ::getpid(), serial.fetch_add(1));
            struct Remove {
                std::filesystem::path p;
                ~Remove() {
                    std::error_code ec;
                    std::filesystem::remove(p, ec);
                }
            } remove{temp};
            if (auto r = store.backup_to_file(temp.string()); !r) return reply(error_response(r.error()));
            FileResponse res{bhttp::status::ok, 11};
            boost::beast::error_code ec;
            res.body().open(temp.c_str(), boost::beast::file_mode::scan, ec);
            if (ec) return reply(error_response({ErrorCode::unavailable, "backup: cannot read the copy"}));
            res.set(bhttp::field::content_type, "application/vnd.sqlite3");
            res.set(bhttp::field::content_disposition, "attachment; filename=\"entitle-backup.db\"");
            res.prepare_payload();
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
