#include "entitle_report/chain_check.hpp"

#include <fmt/format.h>

#include <optional>
#include <stdexcept>

namespace entitle::report {

namespace {

using Problem = AuditChainVerifier::Problem;

// How far around the break a misplaced event's true seq is looked for.
constexpr std::int64_t kSeqSearch = 64;

// The hash `e` would carry were it event `seq`; nullopt when its detail
// cannot be put in canonical form (a float, say: never written by a server).
std::optional<std::string> hash_as(const AuditEvent& e, std::int64_t seq) {
    AuditEvent copy = e;
    copy.seq = seq;
    try {
        return audit_event_hash(copy);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// The seq whose content `e` really holds, if it is near `around` and not `around`.
std::optional<std::int64_t> true_seq(const AuditEvent& e, std::int64_t around) {
    for (std::int64_t s = std::max<std::int64_t>(1, around - kSeqSearch); s <= around + kSeqSearch;
         ++s) {
        if (s == around) continue;
        if (hash_as(e, s) == e.hash) return s;
    }
    return std::nullopt;
}

}  // namespace

std::string problem_name(Problem p) {
    switch (p) {
        case Problem::none:
            return "none";
        case Problem::edited:
            return "edited";
        case Problem::missing:
            return "missing";
        case Problem::reordered:
            return "reordered";
        case Problem::bad_link:
            return "bad_link";
        case Problem::bad_start:
            return "bad_start";
    }
    return "unknown";
}

bool ChainCheck::feed(const AuditEvent& e, const std::optional<std::string>& computed) {
    // Not hashable: the verifier's own path finds the same exception (or
    // a seq problem before it) and the handling below reports it.
    if (!computed || broken_) return feed(e);
    if (verifier_.feed(e, *computed)) return true;
    broken_ = true;
    problem_ = verifier_.problem();
    broken_seq_ = verifier_.broken_seq();
    at_break_ = e;
    return true;
}

bool ChainCheck::feed(const AuditEvent& e) {
    if (broken_) {
        if (after_break_.size() < kLookahead) after_break_.push_back(e);
        return after_break_.size() < kLookahead;
    }
    bool ok = false;
    try {
        ok = verifier_.feed(e);
    } catch (const std::exception& ex) {
        // The detail holds something no server writes (e.g. a float).
        broken_ = true;
        problem_ = Problem::edited;
        broken_seq_ = e.seq;
        problem_text_ = ex.what();
        at_break_ = e;
        return true;
    }
    if (ok) return true;
    broken_ = true;
    problem_ = verifier_.problem();
    broken_seq_ = verifier_.broken_seq();
    at_break_ = e;
    return true;
}

ChainResult ChainCheck::result() const {
    ChainResult r;
    r.events = verifier_.count();
    r.head_seq = verifier_.head_seq();
    r.head_hash = verifier_.head_hash();
    if (!broken_) return r;
    r.intact = false;
    r.broken_seq = broken_seq_;
    r.how = problem_name(problem_);
    const std::int64_t expected = r.head_seq + 1;

    switch (problem_) {
        case Problem::missing:
            r.message = fmt::format("event {} is missing: event {} follows event {}", expected,
                                    at_break_.seq, r.head_seq);
            break;
        case Problem::reordered:
            r.message = fmt::format("event {} is out of order: it follows event {}", at_break_.seq,
                                    r.head_seq);
            break;
        case Problem::bad_start:
            r.message = fmt::format(
                "event {} does not start the chain: its prev_hash is not 64 zeros", at_break_.seq);
            break;
        case Problem::bad_link:
            r.message = fmt::format(
                "event {} does not link to event {}: its prev_hash is not event {}'s hash (event "
                "{} "
                "was rewritten with a recomputed hash, or event {} was forged)",
                at_break_.seq, r.head_seq, r.head_seq, r.head_seq, at_break_.seq);
            break;
        case Problem::edited: {
            if (!problem_text_.empty()) {
                r.message = fmt::format("event {} was edited: its detail cannot be hashed ({})",
                                        at_break_.seq, problem_text_);
                break;
            }
            // Is it another event, out of place?
            const auto really = true_seq(at_break_, expected);
            if (really && *really > expected) {
                bool found_later = false;
                std::int64_t found_at = 0;
                for (const auto& later : after_break_) {
                    if (hash_as(later, expected) == later.hash) {
                        found_later = true;
                        found_at = later.seq;
                        break;
                    }
                }
                if (found_later) {
                    r.how = "reordered";
                    r.message = fmt::format(
                        "event {} is out of place: the event stored as {} is event {}, and event "
                        "{} is stored as {} (events swapped)",
                        expected, expected, *really, expected, found_at);
                } else {
                    r.how = "missing";
                    r.message = fmt::format(
                        "event {} is missing: the event stored as {} is event {} (the events after "
                        "the deleted one were renumbered)",
                        expected, expected, *really);
                }
            } else if (really) {
                r.how = "reordered";
                r.message = fmt::format("event {} is out of place: it holds event {} again",
                                        expected, *really);
            } else if (after_break_.empty()) {
                r.message = fmt::format(
                    "event {} was edited or appended with a wrong hash: its hash does not match "
                    "its "
                    "content (it is the last event)",
                    at_break_.seq);
            } else {
                r.message = fmt::format("event {} was edited: its hash does not match its content",
                                        at_break_.seq);
            }
            break;
        }
        case Problem::none:
            break;
    }
    return r;
}

}  // namespace entitle::report
