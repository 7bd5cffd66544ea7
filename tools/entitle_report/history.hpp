// What a report is computed from, whatever the source (a store copy or the
// API): the entitlements of every license, the seat-holding history of every
// lease as time spans, the hosts, and the audit head the data corresponds to.
// Plain values; no I/O here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/audit_event.hpp"

namespace entitle::report {

struct EntitlementInfo {
    std::string key;  // "<license jti>/<entitlement id>", as in audit events
    std::string license_jti;
    std::string id;
    std::string feature;
    std::string model;                  // per_device | concurrent | subscription
    std::string customer;               // the license's `sub`
    std::string issuer;                 // the license's `iss`
    std::optional<std::int64_t> count;  // none: unlimited (subscription)
    std::optional<std::int64_t> not_before;
    std::optional<std::int64_t> not_after;
    bool overage_allow = false;
    std::int64_t overage_limit_percent = 0;
    std::vector<std::string> regions;              // empty: anywhere
    std::int64_t license_imported_at = 0;          // Unix seconds
    std::optional<std::int64_t> license_ended_at;  // withdrawn or superseded, Unix seconds
    std::string license_state = "active";          // as of the audit head

    // Seats that may be held: count, or floor(count * (100 + limit%) / 100)
    // with overage allowed (contract section 1). None when unlimited.
    [[nodiscard]] std::optional<std::int64_t> seat_limit() const;
    // The span [first, end) in which the entitlement granted seats: the license
    // was active and the window open. `end` absent: still open.
    [[nodiscard]] std::int64_t in_force_from() const;
    [[nodiscard]] std::optional<std::int64_t> in_force_until() const;
};

// One lease holding a seat of one entitlement over [start, end), whole Unix
// seconds. A lease moved by a supersede has one span per entitlement.
struct LeaseSpan {
    std::string lease_id;
    std::string entitlement_key;
    std::string gpu;  // per_device counts distinct GPUs
    std::int64_t start = 0;
    std::int64_t end = 0;
};

struct HostInfo {
    std::string id;
    std::string name;
    std::string region;
};

struct AuditHead {
    std::int64_t seq = 0;
    std::string hash = kGenesisHash;
    std::int64_t ts_ms = 0;
};

struct History {
    AuditHead head;
    std::optional<std::int64_t> first_event_ms;  // ts of audit event 1, if any
    std::vector<EntitlementInfo> entitlements;   // ordered by key
    std::vector<LeaseSpan> spans;
    std::vector<HostInfo> hosts;  // present (not removed) as of the head, ordered by id
};

// A lease as a source knows it, before it is cut into spans.
struct LeaseRecord {
    std::string id;
    std::string entitlement_key;  // the entitlement it holds now (after any move)
    std::string gpu;
    std::int64_t issued_at = 0;
    std::int64_t expires_at = 0;           // the latest known
    std::optional<std::int64_t> ended_at;  // none: still active
};

// A `lease_moved` audit event: the lease left `from` for `to` at `at` (seconds).
struct LeaseMove {
    std::string lease_id;
    std::int64_t seq = 0;
    std::int64_t at = 0;
    std::string from;
    std::string to;
};

// Cuts leases into spans. A lease still active holds its seat until its
// expires_at or `now`, whichever comes first (the server ends a lapsed lease
// at its expires_at). Moves are applied in seq order. Spans of zero length
// are kept (they count as leases, not as seat time).
[[nodiscard]] std::vector<LeaseSpan> lease_spans(const std::vector<LeaseRecord>& leases,
                                                 std::vector<LeaseMove> moves, std::int64_t now);

}  // namespace entitle::report
