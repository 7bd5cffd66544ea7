// The lock `entitled serve` holds on DATA/entitled.lock for as long as it
// runs: a second server on the same data directory, or `entitled restore`
// into it, sees the lock taken and refuses. flock(2) locks vanish with the
// process, so a crashed server never leaves a stale lock behind.
#pragma once

#include <filesystem>
#include <utility>

#include "app/data_dir.hpp"
#include "core/error.hpp"

namespace entitle::app {

class DataDirLock {
public:
    DataDirLock() = default;
    explicit DataDirLock(int fd) : fd_(fd) {}
    DataDirLock(DataDirLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    DataDirLock& operator=(DataDirLock&& o) noexcept;
    DataDirLock(const DataDirLock&) = delete;
    DataDirLock& operator=(const DataDirLock&) = delete;
    ~DataDirLock();

private:
    int fd_ = -1;
};

[[nodiscard]] inline std::filesystem::path lock_file(const DataDir& dir) { return dir.root / "entitled.lock"; }

// Takes the lock without waiting; `conflict` when a running server holds it.
[[nodiscard]] Result<DataDirLock> lock_data_dir(const DataDir& dir);

}  // namespace entitle::app
