#include "store/clock_watch.hpp"

#include <string>

#include "store/audit_log.hpp"
#include "store/meta_table.hpp"

namespace entitle::store {

bool observe_clock(Connection& c, std::int64_t now_ms) {
    const auto mark_text = get_meta(c, "clock_high_water_ms");
    std::int64_t mark = mark_text ? std::stoll(*mark_text) : 0;
    // The newest audit event is a recorded time too (e.g. a store restored elsewhere).
    const auto head = list_audit(c, audit_head(c).first - 1, 1);
    if (!head.empty()) mark = std::max(mark, head.front().ts);
    bool reported = false;
    if (now_ms + kClockRollbackToleranceMs < mark) {
        const auto episode = get_meta(c, "clock_rollback_reported_mark");
        if (!episode || std::stoll(*episode) != mark) {
            append_audit(c, {now_ms, "clock_rollback", "system", "server",
                             {{"recorded_ms", mark}, {"now_ms", now_ms}, {"behind_ms", mark - now_ms}}});
            set_meta(c, "clock_rollback_reported_mark", std::to_string(mark));
            reported = true;
        }
        set_meta(c, "clock_high_water_ms", std::to_string(mark));
        return reported;
    }
    set_meta(c, "clock_high_water_ms", std::to_string(std::max(mark, now_ms)));
    return false;
}

}  // namespace entitle::store
