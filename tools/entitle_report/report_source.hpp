// Where entitle-report reads from: a copy of the store (--db, read-only) or
// a running server's API (--server/--token-file/--ca, auditor role). Both
// answer the same two questions, so every report can be made from either and
// the two can be compared for the same audit head.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/api_session.hpp"
#include "core/audit_event.hpp"
#include "entitle_report/history.hpp"

namespace entitle::report {

using tools::Outcome;

// Exit codes of entitle-report: 0 done (verify: the chain is intact); 1 the
// data could not be read (server refused or unreachable, a file that is not
// an Entitle store, an empty store); 2 usage error; 3 the audit chain is
// broken (verify, and compliance, which verifies as it reads).
inline constexpr int kExitChainBroken = 3;

// Sees audit events in seq order; returns false to stop the stream.
using AuditVisitor = std::function<bool(const AuditEvent&)>;

struct HistoryRequest {
    std::int64_t now = 0;                  // Unix seconds: where still-active leases stop
    std::optional<std::int64_t> head_seq;  // report as of this audit event (API only)
};

class ReportSource {
  public:
    virtual ~ReportSource() = default;

    // "store copy FILE" or "server URL", for report headers.
    [[nodiscard]] virtual std::string describe() const = 0;

    // Every audit event in seq order, as stored, for verifying the chain. A
    // stored detail that is not JSON is passed as a JSON string, so
    // verification sees it as edited. The detail may come as `detail_text`
    // only (`detail` null): the hash needs no more.
    [[nodiscard]] virtual Outcome<> stream_audit(const AuditVisitor& visit) = 0;

    // The history as of the audit head. `observer`, when set, sees every
    // audit event up to that head, in seq order, while the history is read.
    [[nodiscard]] virtual Outcome<History> load_history(const HistoryRequest& request,
                                                        const AuditVisitor& observer) = 0;
};

// --db FILE: opened with SQLITE_OPEN_READONLY and PRAGMA query_only; refuses a
// missing file, a file that is not an Entitle store, and a store without
// audit events.
[[nodiscard]] Outcome<std::unique_ptr<ReportSource>> open_store_source(const std::string& path);

// --server/--token-file/--ca.
[[nodiscard]] Outcome<std::unique_ptr<ReportSource>> open_api_source(
    const tools::ApiOptions& options);

}  // namespace entitle::report
