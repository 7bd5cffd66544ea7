#include "common/atomic_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace entitle::tools {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string directory_of(const std::string& path) {
    const auto parent = std::filesystem::path(path).parent_path();
    return parent.empty() ? std::string(".") : parent.string();
}

// Durability of the rename: the directory entry must reach the disk too.
std::expected<void, std::string> sync_directory(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(fmt::format("cannot open {}: {}", dir, errno_text()));
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    if (rc != 0) {
        return std::unexpected(fmt::format("cannot sync {}: {}", dir, std::strerror(saved)));
    }
    return {};
}

}  // namespace

std::expected<AtomicFile, std::string> AtomicFile::prepare(std::string path, unsigned mode,
                                                           Existing existing) {
    if (path.empty()) return std::unexpected(std::string("no output file given"));
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return std::unexpected(fmt::format("{} is a directory", path));
        if (existing == Existing::refuse) {
            return std::unexpected(
                fmt::format("{} exists already; remove it or choose another file", path));
        }
    }
    const std::string dir = directory_of(path);
    std::string pattern = (std::filesystem::path(dir) /
                           fmt::format(".{}.tmp-XXXXXX", std::filesystem::path(path).filename().string()))
                              .string();
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    const int fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) {
        return std::unexpected(fmt::format("cannot create a file in {}: {}", dir, errno_text()));
    }
    std::string temp(name.data());
    // mkostemp makes 0600; set exactly the requested mode (umask does not apply to fchmod).
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
        const std::string why = errno_text();
        ::close(fd);
        ::unlink(temp.c_str());
        return std::unexpected(fmt::format("cannot set the mode of {}: {}", temp, why));
    }
    return AtomicFile(std::move(path), std::move(temp), fd, existing);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      fd_(other.fd_),
      existing_(other.existing_) {
    other.fd_ = -1;
    other.temp_path_.clear();
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
    if (fd_ >= 0) ::close(fd_);  // nothing to keep: the file is being thrown away
    fd_ = -1;
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    temp_path_.clear();
}

std::expected<void, std::string> AtomicFile::append(std::string_view bytes) {
    if (fd_ < 0) return std::unexpected(fmt::format("{}: already written", path_));
    std::size_t done = 0;
    // Bounded: each pass writes at least one byte or fails.
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            std::string message = fmt::format("cannot write {}: {}", temp_path_, errno_text());
            discard();
            return std::unexpected(std::move(message));
        }
        done += static_cast<std::size_t>(n);
    }
    return {};
}

std::expected<void, std::string> AtomicFile::commit(std::string_view bytes) {
    if (fd_ < 0) return std::unexpected(fmt::format("{}: already written", path_));
    auto fail = [this](std::string message) {
        discard();
        return std::unexpected(std::move(message));
    };
    if (auto written = append(bytes); !written) return written;
    if (::fsync(fd_) != 0) return fail(fmt::format("cannot sync {}: {}", temp_path_, errno_text()));
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return fail(fmt::format("cannot close {}: {}", temp_path_, errno_text()));

    if (existing_ == Existing::refuse) {
        // link() never replaces an existing name, so a file that appeared
        // since prepare() is not overwritten either.
        if (::link(temp_path_.c_str(), path_.c_str()) != 0) {
            const std::string why = errno == EEXIST ? "it exists already" : errno_text();
            return fail(fmt::format("cannot create {}: {}", path_, why));
        }
        ::unlink(temp_path_.c_str());  // the data lives on under path_
    } else if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
        return fail(fmt::format("cannot move {} into place: {}", path_, errno_text()));
    }
    temp_path_.clear();
    return sync_directory(directory_of(path_));
}

}  // namespace entitle::tools
