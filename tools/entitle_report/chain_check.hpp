// Verification of the audit chain for `entitle-report verify` (and the
// compliance report): core's AuditChainVerifier finds the first broken event;
// this adds a diagnosis of what happened there, from a short look ahead.
//
//   edited     the event's hash does not match its content (also: an event
//              appended with a made-up hash)
//   missing    a seq is absent, or the events after a deleted one were renumbered
//   reordered  an event sits at another event's place (e.g. two swapped)
//   bad_link   the event's prev_hash is not the previous event's hash: the
//              previous event was rewritten with a recomputed hash, or this
//              one was forged on a wrong predecessor
//   bad_start  event 1 does not start from 64 zeros
//
// Memory is flat: besides the verifier's state it keeps at most
// kLookahead events after a break.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/audit_event.hpp"

namespace entitle::report {

struct ChainResult {
    bool intact = true;
    std::int64_t events = 0;    // events verified before the break (all, when intact)
    std::int64_t head_seq = 0;  // the last verified event
    std::string head_hash = kGenesisHash;
    std::int64_t broken_seq = 0;  // the first broken seq, when not intact
    std::string how;              // edited | missing | reordered | bad_link | bad_start
    std::string message;          // one sentence for a human
};

class ChainCheck {
  public:
    static constexpr std::size_t kLookahead = 64;

    // Feed events in stream order. Returns false when nothing more is needed
    // (the break is found and the look ahead is full).
    bool feed(const AuditEvent& e);
    // The same with the event's hash computed beforehand (another thread):
    // `computed` is audit_event_hash(e), or nullopt when that threw.
    bool feed(const AuditEvent& e, const std::optional<std::string>& computed);
    [[nodiscard]] ChainResult result() const;

  private:
    AuditChainVerifier verifier_;
    bool broken_ = false;
    AuditChainVerifier::Problem problem_ = AuditChainVerifier::Problem::none;
    std::int64_t broken_seq_ = 0;
    std::string problem_text_;  // when the event could not even be hashed
    AuditEvent at_break_;
    std::vector<AuditEvent> after_break_;
};

// "edited", "missing", ... for a core verifier problem.
[[nodiscard]] std::string problem_name(AuditChainVerifier::Problem p);

}  // namespace entitle::report
