#include "common/read_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace entitle::tools {

std::expected<std::string, std::string> read_file_limited(const std::string& path,
                                                          std::size_t max_bytes) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::unexpected(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    std::string out;
    char chunk[16 * 1024];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int saved = errno;
            ::close(fd);
            return std::unexpected(fmt::format("cannot read {}: {}", path, std::strerror(saved)));
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
            ::close(fd);
            return std::unexpected(fmt::format("{} is larger than {} bytes", path, max_bytes));
        }
        out.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);  // read-only: nothing to lose if close reports an error
    return out;
}

}  // namespace entitle::tools
