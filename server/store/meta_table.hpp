// The `meta` key/value table: facts about this server such as its id.
#pragma once

#include <optional>
#include <string>

#include "store/sqlite.hpp"

namespace entitle::store {

[[nodiscard]] std::optional<std::string> get_meta(Connection& c, const std::string& key);
void set_meta(Connection& c, const std::string& key, const std::string& value);

}  // namespace entitle::store
