#include "store/token_table.hpp"

namespace entitle::store {

namespace {
constexpr std::string_view kColumns =
    "id, role, name, hash, created_at, last_used_at, revoked_at";

TokenRecord row_to_token(const Statement& st) {
    TokenRecord t;
    t.id = st.text(0);
    t.role = parse_role(st.text(1)).value_or(Role::auditor);
    t.name = st.opt_text(2);
    t.hash = st.text(3);
    t.created_at = st.int64(4);
    t.last_used_at = st.opt_int64(5);
    t.revoked_at = st.opt_int64(6);
    return t;
}
}  // namespace

void insert_token(Connection& c, const TokenRecord& t) {
    auto st = c.cached(
        "INSERT INTO tokens (id, role, name, hash, created_at, last_used_at, revoked_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    st.bind(1, t.id).bind(2, role_name(t.role)).bind(3, t.name).bind(4, t.hash);
    st.bind(5, t.created_at).bind(6, t.last_used_at).bind(7, t.revoked_at);
    st.run();
}

std::optional<TokenRecord> find_token(Connection& c, const std::string& id) {
    auto st = c.cached(std::string("SELECT ") + std::string(kColumns) +
                       " FROM tokens WHERE id = ?1");
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return row_to_token(st);
}

std::vector<TokenRecord> list_tokens(Connection& c) {
    auto st = c.cached(std::string("SELECT ") + std::string(kColumns) +
                       " FROM tokens ORDER BY created_at, id");
    std::vector<TokenRecord> out;
    while (st.step()) out.push_back(row_to_token(st));
    return out;
}

bool token_hash_exists(Connection& c, const std::string& hash) {
    auto st = c.cached("SELECT 1 FROM tokens WHERE hash = ?1");
    st.bind(1, hash);
    return st.step();
}

bool revoke_token(Connection& c, const std::string& id, std::int64_t now_s) {
    auto st = c.cached("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1");
    st.bind(1, id).bind(2, now_s).run();
    return c.changes() > 0;
}

void note_token_used(Connection& c, const std::string& id, std::int64_t now_s) {
    Connection::QuietCredentialWrite quiet(c);
    auto st = c.cached("UPDATE tokens SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1");
    st.bind(1, id).bind(2, now_s).run();
}

}  // namespace entitle::store
