// Rows of `hosts`. Removing a host ends its leases (lease_table) and revokes
// its token in the same transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/sqlite.hpp"

namespace entitle::store {

struct HostRecord {
    std::string id;
    std::string name;
    std::string region;
    std::string token_id;
    std::int64_t created_at = 0;
    std::optional<std::int64_t> removed_at;
};

void insert_host(Connection& c, const HostRecord& h);
[[nodiscard]] std::optional<HostRecord> find_host(Connection& c, const std::string& id);
[[nodiscard]] std::optional<HostRecord> find_host_by_token(Connection& c, const std::string& token_id);
[[nodiscard]] bool active_host_name_exists(Connection& c, const std::string& name);
// Hosts ordered by id after `after_id`, at most `limit`; removed ones too when asked.
[[nodiscard]] std::vector<HostRecord> list_hosts(Connection& c, const std::string& after_id, std::int64_t limit,
                                                 bool include_removed);
// Active hosts per region (for compliance reports).
void mark_host_removed(Connection& c, const std::string& id, std::int64_t now_s);

}  // namespace entitle::store
