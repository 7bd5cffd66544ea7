#include "http/clock_routes.hpp"

#include <memory>

#include "store/clock_watch.hpp"

namespace entitle::http {

namespace {

nlohmann::json clock_json(std::int64_t now_ms, const ClockGuard& guard) {
    const auto behind = guard.paused_behind_ms(now_ms);
    return {{"now", now_ms / 1000},
            {"recorded", guard.mark_ms() / 1000},
            {"tolerance_ms", guard.tolerance_ms()},
            {"grants_paused", behind.has_value()},
            {"behind_ms", behind.value_or(0)}};
}

}  // namespace

void register_clock_routes(Router& router, store::Store& store, const Clock& clock, ClockGuard& guard) {
    router.add_sync(bhttp::verb::get, "/v1/clock", requires_role(Role::auditor),
                    [&clock, &guard](RequestContext&) {
                        return json_response(bhttp::status::ok, clock_json(clock.now_ms(), guard));
                    });

    router.add(bhttp::verb::post, "/v1/clock/acknowledge", requires_role(Role::admin),
               [&store, &clock, &guard](RequestContext& ctx, Reply reply) {
                   auto given_up = std::make_shared<std::int64_t>(0);
                   const auto now_ms = clock.now_ms();
                   store.submit(
                       [given_up, now_ms, actor = ctx.principal->token_id](store::Connection& c) -> Result<void> {
                           *given_up = store::acknowledge_clock(c, now_ms, actor);
                           return {};
                       },
                       [given_up, now_ms, &guard, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) return reply(error_response(r.error()));
                           guard.set_mark(now_ms);
                           auto j = clock_json(now_ms, guard);
                           j["previous_recorded"] = *given_up / 1000;
                           reply(json_response(bhttp::status::ok, j));
                       });
               });
}

}  // namespace entitle::http
