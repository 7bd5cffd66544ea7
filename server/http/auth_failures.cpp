#include "http/auth_failures.hpp"

#include "store/audit_log.hpp"

namespace entitle::http {

namespace {
const std::string kOverflow = "(other addresses)";
}

AuthFailureTracker::Window& AuthFailureTracker::window_for(const std::string& address, std::int64_t now) {
    auto it = windows_.find(address);
    if (it != windows_.end()) return it->second;
    if (windows_.size() >= limits_.max_addresses) {
        std::erase_if(windows_, [&](const auto& kv) { return now - kv.second.start_ms >= limits_.window_ms; });
    }
    if (windows_.size() >= limits_.max_addresses) return windows_[kOverflow];
    return windows_[address];
}

std::optional<std::int64_t> AuthFailureTracker::retry_after(const std::string& address) {
    const auto now = clock_.now_ms();
    std::lock_guard lock(mutex_);
    auto it = windows_.find(address);
    if (it == windows_.end() && windows_.size() >= limits_.max_addresses) it = windows_.find(kOverflow);
    if (it == windows_.end()) return std::nullopt;
    const auto& w = it->second;
    const auto end = w.start_ms + limits_.window_ms;
    if (now >= end || w.failures < limits_.max_failures) return std::nullopt;
    return (end - now + 999) / 1000;
}

void AuthFailureTracker::record_failure(const std::string& address, const std::string& reason) {
    const auto now = clock_.now_ms();
    std::int64_t previous_unaudited = -1;  // -1: no event due
    {
        std::lock_guard lock(mutex_);
        auto& w = window_for(address, now);
        if (w.failures == 0 || now - w.start_ms >= limits_.window_ms) {
            previous_unaudited = w.failures > 0 ? w.failures - 1 : 0;
            w.start_ms = now;
            w.failures = 0;
        }
        ++w.failures;
    }
    if (previous_unaudited < 0) return;
    store_.submit(
        [entry = store::AuditEntry{now, "auth_failed", "system", address,
                                   {{"address", address},
                                    {"reason", reason},
                                    {"window_seconds", limits_.window_ms / 1000},
                                    {"previous_window_unaudited_failures", previous_unaudited}}}](
            store::Connection& c) mutable -> Result<void> {
            store::append_audit(c, std::move(entry));
            return {};
        },
        [](Result<void>) {
            // Best effort: a store that cannot write answers other requests 503 already.
        });
}

}  // namespace entitle::http
