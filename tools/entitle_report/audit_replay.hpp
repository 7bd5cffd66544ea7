// Rebuilds what a report needs from the audit log alone (the API source):
// leases from lease_granted / lease_released / lease_expired / lease_ended /
// lease_moved, hosts from host_added / host_removed, and when each license
// was imported and ended. Pure: feed events in seq order.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/audit_event.hpp"
#include "entitle_report/history.hpp"

namespace entitle::report {

class AuditReplay {
  public:
    // An event at or before the report's head.
    void feed(const AuditEvent& e);
    // An event after the head: only refreshes the expires_at of leases still
    // active at the head (renewals are not audited, but an end event carries
    // the lease's last expires_at).
    void feed_after_head(const AuditEvent& e);
    // The server's current expires_at of an active lease (GET /v1/leases);
    // may come before or after the events.
    void note_expiry(const std::string& lease_id, std::int64_t expires_at);

    [[nodiscard]] std::vector<LeaseRecord> leases() const;
    [[nodiscard]] const std::vector<LeaseMove>& moves() const noexcept { return moves_; }
    [[nodiscard]] std::vector<HostInfo> hosts() const;  // present at the head, by id
    // jti -> seq of its license_imported event (imported at or before the head).
    [[nodiscard]] const std::map<std::string, std::int64_t>& imported() const noexcept {
        return imported_;
    }
    // jti -> Unix seconds it was withdrawn or superseded (at or before the head).
    [[nodiscard]] const std::map<std::string, std::int64_t>& ended() const noexcept {
        return ended_;
    }
    // jti -> "withdrawn" or "superseded", for those in ended().
    [[nodiscard]] const std::map<std::string, std::string>& end_state() const noexcept {
        return end_state_;
    }

  private:
    struct Lease {
        LeaseRecord record;
        bool expiry_refreshed = false;  // expires_at known from after the head or the server
    };
    std::unordered_map<std::string, Lease> leases_;
    std::vector<std::string> order_;  // lease ids as granted, for a stable result
    std::vector<LeaseMove> moves_;
    std::map<std::string, HostInfo> hosts_;
    std::map<std::string, std::int64_t> imported_;
    std::map<std::string, std::int64_t> ended_;
    std::map<std::string, std::string> end_state_;
    std::unordered_map<std::string, std::int64_t> server_expiry_;
};

}  // namespace entitle::report
