// `entitled rotate-key --data DIR`: retires the lease-signing key (kept in
// DIR/retired-lease-keys/<kid>.key) and makes a new one. A server started
// afterwards signs with the new key and keeps publishing in GET /v1/keys every
// retired key that signed a lease still active, until those leases end or are
// renewed (renewal re-signs with the new key).
#pragma once

#include <string>

#include "core/error.hpp"

namespace entitle::app {

[[nodiscard]] Result<void> run_rotate_key(const std::string& data_dir);

}  // namespace entitle::app
