#include "app/store_options.hpp"

#include <cstdlib>

#include <spdlog/spdlog.h>

#include "store/fault_vfs.hpp"

namespace entitle::app {

store::StoreOptions serve_store_options() {
    store::StoreOptions options;
    const char* fault_file = std::getenv("ENTITLE_STORE_FAULT_FILE");
    if (fault_file && *fault_file) {
        store::watch_fault_file(fault_file);
        options.vfs = store::fault_vfs_name;
        spdlog::warn("event=store_fault_injection file={} (testing aid: writes fail while it says full, ioerr "
                     "or readonly)",
                     fault_file);
    }
    return options;
}

}  // namespace entitle::app
