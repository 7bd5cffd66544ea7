#include "store/audit_log.hpp"

namespace entitle::store {

std::pair<std::int64_t, std::string> audit_head(Connection& c) {
    auto st = c.cached("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
    if (!st.step()) return {0, kGenesisHash};
    return {st.int64(0), st.text(1)};
}

AuditEvent append_audit(Connection& c, AuditEntry entry) {
    auto [head_seq, head_hash] = audit_head(c);
    AuditEvent e;
    e.seq = head_seq + 1;
    e.ts = entry.ts_ms;
    e.kind = std::move(entry.kind);
    e.actor = std::move(entry.actor);
    e.subject = std::move(entry.subject);
    e.prev_hash = std::move(head_hash);
    // Stored as is, and hashed without serialising again.
    if (entry.detail_text.empty()) {
        e.detail = std::move(entry.detail);
        e.detail_text = canonical_json(e.detail);
    } else {
        e.detail = nullptr;
        e.detail_text = std::move(entry.detail_text);
    }
    e.hash = audit_event_hash(e);
    auto st = c.cached(
        "INSERT INTO audit_events (seq, ts, kind, actor, subject, detail, prev_hash, hash) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    st.bind(1, e.seq).bind(2, e.ts).bind(3, e.kind).bind(4, e.actor).bind(5, e.subject);
    st.bind(6, e.detail_text).bind(7, e.prev_hash).bind(8, e.hash);
    st.run();
    return e;
}

std::vector<AuditEvent> list_audit(Connection& c, std::int64_t after, std::int64_t limit) {
    auto st = c.cached(
        "SELECT seq, ts, kind, actor, subject, detail, prev_hash, hash FROM audit_events "
        "WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    st.bind(1, after).bind(2, limit);
    std::vector<AuditEvent> out;
    while (st.step()) {
        AuditEvent e;
        e.seq = st.int64(0);
        e.ts = st.int64(1);
        e.kind = st.text(2);
        e.actor = st.text(3);
        e.subject = st.text(4);
        e.detail_text = st.text(5);
        e.detail = nlohmann::json::parse(e.detail_text, nullptr, false);
        e.prev_hash = st.text(6);
        e.hash = st.text(7);
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace entitle::store
