// The audit log table (contract section 5). `append_audit` runs inside the
// caller's write unit, so an event commits or rolls back with the state
// change it records. Only the store's writer appends, so reading the head
// and inserting after it cannot race.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/audit_event.hpp"
#include "store/sqlite.hpp"

namespace entitle::store {

struct AuditEntry {
    std::int64_t ts_ms = 0;
    std::string kind;
    std::string actor;  // token id or "system"
    std::string subject;
    nlohmann::json detail = nlohmann::json::object();
    // When not empty: the detail already written as canonical JSON text
    // (CanonicalObject, core/json_text.hpp), used instead of `detail`; the
    // returned event then carries it as detail_text and a null `detail`.
    std::string detail_text{};
};

// Appends the event after the current head and returns it with seq and hashes.
AuditEvent append_audit(Connection& c, AuditEntry entry);

// Events with seq > after, ascending, at most `limit`.
[[nodiscard]] std::vector<AuditEvent> list_audit(Connection& c, std::int64_t after, std::int64_t limit);

// The newest event's seq and hash (0 and 64 zeros for an empty log).
[[nodiscard]] std::pair<std::int64_t, std::string> audit_head(Connection& c);

}  // namespace entitle::store
