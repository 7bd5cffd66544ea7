#include "store/meta_table.hpp"

namespace entitle::store {

std::optional<std::string> get_meta(Connection& c, const std::string& key) {
    auto st = c.cached("SELECT value FROM meta WHERE key = ?1");
    st.bind(1, key);
    if (!st.step()) return std::nullopt;
    return st.text(0);
}

void set_meta(Connection& c, const std::string& key, const std::string& value) {
    auto st = c.cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    st.bind(1, key).bind(2, value).run();
}

}  // namespace entitle::store
