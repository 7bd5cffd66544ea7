#include "app/data_dir_lock.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

namespace entitle::app {

DataDirLock& DataDirLock::operator=(DataDirLock&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

DataDirLock::~DataDirLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Result<DataDirLock> lock_data_dir(const DataDir& dir) {
    const auto path = lock_file(dir);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK) {
            return fail(ErrorCode::conflict,
                        fmt::format("{} is in use by a running entitled (lock {} is held)",
                                    dir.root.string(), path.string()));
        }
        return fail(ErrorCode::invalid_request, fmt::format("cannot lock {}: {}", path.string(), std::strerror(err)));
    }
    return DataDirLock(fd);
}

}  // namespace entitle::app
