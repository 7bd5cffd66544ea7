#include "store/clock_watch.hpp"

#include <algorithm>
#include <string>

#include "store/audit_log.hpp"
#include "store/meta_table.hpp"

namespace entitle::store {

std::int64_t recorded_clock_mark(Connection& c) {
    const auto mark_text = get_meta(c, "clock_high_water_ms");
    std::int64_t mark = mark_text ? std::stoll(*mark_text) : 0;
    // The newest audit event is a recorded time too (e.g. a store restored elsewhere).
    const auto head = list_audit(c, audit_head(c).first - 1, 1);
    if (!head.empty()) mark = std::max(mark, head.front().ts);
    return mark;
}

ClockObservation observe_clock(Connection& c, std::int64_t now_ms, std::int64_t tolerance_ms) {
    const std::int64_t mark = recorded_clock_mark(c);
    if (now_ms + tolerance_ms < mark) {
        bool reported = false;
        const auto episode = get_meta(c, "clock_rollback_reported_mark");
        if (!episode || std::stoll(*episode) != mark) {
            append_audit(c, {now_ms, "clock_rollback", "system", "server",
                             {{"recorded_ms", mark}, {"now_ms", now_ms}, {"behind_ms", mark - now_ms}}});
            set_meta(c, "clock_rollback_reported_mark", std::to_string(mark));
            reported = true;
        }
        set_meta(c, "clock_high_water_ms", std::to_string(mark));
        return {reported, mark};
    }
    const auto next = std::max(mark, now_ms);
    set_meta(c, "clock_high_water_ms", std::to_string(next));
    return {false, next};
}

std::int64_t acknowledge_clock(Connection& c, std::int64_t now_ms, const std::string& actor) {
    const std::int64_t mark = recorded_clock_mark(c);
    append_audit(c, {now_ms, "clock_rollback", actor, "server",
                     {{"recorded_ms", mark},
                      {"now_ms", now_ms},
                      {"behind_ms", std::max<std::int64_t>(0, mark - now_ms)},
                      {"acknowledged_by", actor}}});
    set_meta(c, "clock_high_water_ms", std::to_string(now_ms));
    set_meta(c, "clock_rollback_reported_mark", std::to_string(now_ms));
    return mark;
}

}  // namespace entitle::store
