// Audit events (contract section 5) and their hash chain. Pure functions:
// the store appends rows, the report tools and tests verify them.
//
// hash = lowercase hex SHA-256 of UTF-8( prev_hash + "\n" + canonical )
// canonical = RFC 8785 JSON of {"actor","detail","kind","seq","subject","ts"}
// (keys sorted, no whitespace; numbers in events are integers). The first
// event's prev_hash is 64 zeros. docs/audit.md spells this out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace entitle {

inline const std::string kGenesisHash(64, '0');

struct AuditEvent {
    std::int64_t seq = 0;
    std::int64_t ts = 0;  // Unix milliseconds
    std::string kind;
    std::string actor;    // token id or "system"
    std::string subject;  // what the event is about (license jti, lease id, ...)
    nlohmann::json detail = nlohmann::json::object();
    std::string prev_hash;
    std::string hash;
    // When not empty: the stored text of `detail` (a store row), which the
    // hash is then computed from: as it is when it already is canonical
    // JSON (no parse, no re-serialisation), else from what it parses to
    // (text that is not JSON counts as a JSON string). A reader that only
    // verifies may leave `detail` unparsed (null).
    std::string detail_text;  // last: positional initialisers leave it empty
};

// RFC 8785 canonical JSON of a value made of objects, arrays, strings,
// integers, booleans and null (floating-point numbers are not used in events).
[[nodiscard]] std::string canonical_json(const nlohmann::json& value);

// True when `text` is, byte for byte, the canonical JSON of the value it
// holds, for the plain shapes the server writes: ASCII without escapes,
// integers of at most 18 digits, member names in increasing order, nesting
// at most 32 deep. False says only "not plain": parse and canonicalise.
[[nodiscard]] bool is_plain_canonical_json(std::string_view text) noexcept;

// The hash an event must carry given its fields and prev_hash.
[[nodiscard]] std::string audit_event_hash(const AuditEvent& e);

// The event as the API answers it: {"seq","ts","kind","actor","subject","detail","prev_hash","hash"}.
[[nodiscard]] nlohmann::json audit_event_to_json(const AuditEvent& e);

// Streaming verification of a chain read in seq order. Feed every event;
// the first problem found is kept and later events are ignored.
class AuditChainVerifier {
public:
    enum class Problem { none, edited, missing, reordered, bad_link, bad_start };
    // Returns false once a problem has been found.
    bool feed(const AuditEvent& e);
    // The same, with audit_event_hash(e) computed by the caller (for
    // instance on another thread, while the next events are read).
    bool feed(const AuditEvent& e, std::string_view computed_hash);
    [[nodiscard]] bool intact() const noexcept { return problem_ == Problem::none; }
    [[nodiscard]] Problem problem() const noexcept { return problem_; }
    [[nodiscard]] std::int64_t broken_seq() const noexcept { return broken_seq_; }
    [[nodiscard]] std::string description() const;
    [[nodiscard]] std::int64_t count() const noexcept { return count_; }
    [[nodiscard]] const std::string& head_hash() const noexcept { return head_hash_; }
    [[nodiscard]] std::int64_t head_seq() const noexcept { return head_seq_; }
    // Start from a known point (e.g. verifying from `after` = seq with hash).
    void start_after(std::int64_t seq, std::string hash);

private:
    Problem problem_ = Problem::none;
    std::int64_t broken_seq_ = 0;
    std::int64_t count_ = 0;
    std::int64_t head_seq_ = 0;
    std::string head_hash_ = kGenesisHash;
};

}  // namespace entitle
