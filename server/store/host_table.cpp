#include "store/host_table.hpp"

namespace entitle::store {

namespace {
constexpr std::string_view kCols = "id, name, region, token_id, created_at, removed_at";

HostRecord row(const Statement& st) {
    return HostRecord{st.text(0), st.text(1), st.text(2), st.text(3), st.int64(4), st.opt_int64(5)};
}

std::string select(std::string_view where) {
    return std::string("SELECT ") + std::string(kCols) + " FROM hosts " + std::string(where);
}
}  // namespace

void insert_host(Connection& c, const HostRecord& h) {
    auto st = c.cached(
        "INSERT INTO hosts (id, name, region, token_id, created_at, removed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    st.bind(1, h.id).bind(2, h.name).bind(3, h.region).bind(4, h.token_id).bind(5, h.created_at);
    st.bind(6, h.removed_at).run();
}

std::optional<HostRecord> find_host(Connection& c, const std::string& id) {
    auto st = c.cached(select("WHERE id = ?1"));
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return row(st);
}

std::optional<HostRecord> find_host_by_token(Connection& c, const std::string& token_id) {
    auto st = c.cached(select("WHERE token_id = ?1"));
    st.bind(1, token_id);
    if (!st.step()) return std::nullopt;
    return row(st);
}

bool active_host_name_exists(Connection& c, const std::string& name) {
    auto st = c.cached("SELECT 1 FROM hosts WHERE name = ?1 AND removed_at IS NULL");
    st.bind(1, name);
    return st.step();
}

std::vector<HostRecord> list_hosts(Connection& c, const std::string& after_id, std::int64_t limit,
                                   bool include_removed) {
    auto st = c.cached(select("WHERE id > ?1 AND (?3 OR removed_at IS NULL) ORDER BY id LIMIT ?2"));
    st.bind(1, after_id).bind(2, limit).bind(3, std::int64_t{include_removed ? 1 : 0});
    std::vector<HostRecord> out;
    while (st.step()) out.push_back(row(st));
    return out;
}

void mark_host_removed(Connection& c, const std::string& id, std::int64_t now_s) {
    auto st = c.cached("UPDATE hosts SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL");
    st.bind(1, id).bind(2, now_s).run();
}

}  // namespace entitle::store
