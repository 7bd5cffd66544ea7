#include "http/audit_routes.hpp"

#include <atomic>
#include <filesystem>
#include <fstream>
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
            // The copy is made on disk, next to the store, a few MB at a time;
            // only the finished file is held in memory for the answer (once,
            // not the three times an in-memory copy and its serialisation took).
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
            std::string bytes;
            {
                std::ifstream in(temp, std::ios::binary);
                std::error_code ec;
                const auto size = std::filesystem::file_size(temp, ec);
                if (!in || ec) {
                    return reply(error_response({ErrorCode::unavailable, "backup: cannot read the copy"}));
                }
                bytes.resize(static_cast<std::size_t>(size));
                if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
                    return reply(error_response({ErrorCode::unavailable, "backup: cannot read the copy"}));
                }
            }
            auto res = text_response(bhttp::status::ok, std::move(bytes), "application/vnd.sqlite3");
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
