// How `entitled serve` opens its store. The environment variable
// ENTITLE_STORE_FAULT_FILE (a testing aid, see docs/operations.md) makes the
// store write through the fault-injecting VFS (store/fault_vfs.hpp), armed
// by the content of that file.
#pragma once

#include "store/store.hpp"

namespace entitle::app {

[[nodiscard]] store::StoreOptions serve_store_options();

}  // namespace entitle::app
