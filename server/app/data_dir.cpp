#include "app/data_dir.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace entitle::app {

namespace fs = std::filesystem;

namespace {

Result<void> sys_fail(const fs::path& path, std::string_view what) {
    return fail(ErrorCode::internal, fmt::format("{} {}: {}", what, path.string(), std::strerror(errno)));
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

Result<void> write_file_atomically(const fs::path& path, std::string_view content, unsigned mode) {
    const fs::path tmp = path.string() + ".tmp";
    ::unlink(tmp.c_str());  // a leftover from an interrupted write; absence is fine
    Fd out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)};
    if (out.fd < 0) return sys_fail(tmp, "cannot create");
    if (::fchmod(out.fd, mode) != 0) return sys_fail(tmp, "cannot chmod");  // umask-proof
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(out.fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_fail(tmp, "cannot write");
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(out.fd) != 0) return sys_fail(tmp, "cannot fsync");
    if (::rename(tmp.c_str(), path.c_str()) != 0) return sys_fail(path, "cannot rename onto");
    Fd dir{::open(path.parent_path().empty() ? "." : path.parent_path().c_str(),
                  O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dir.fd >= 0) ::fsync(dir.fd);  // best effort: some filesystems refuse directory fsync
    return {};
}

Result<std::string> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Result<crypto::SecretString> read_secret_file(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
    }
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ErrorCode::invalid_request, fmt::format("{} is not a regular file", path.string()));
    }
    if ((st.st_mode & 077) != 0) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("{} holds a secret but has mode {:04o}, open to group or others; "
                                "run: chmod 600 {}",
                                path.string(), st.st_mode & 07777, path.string()));
    }
    constexpr off_t kMaxSecretBytes = 1 << 20;  // keys and tokens are a few hundred bytes
    if (st.st_size > kMaxSecretBytes) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("{} is {} bytes, too large for a key or token", path.string(), st.st_size));
    }
    // Sized once and filled in place: no intermediate buffer keeps a copy.
    crypto::SecretString out(std::string(static_cast<std::size_t>(st.st_size), '\0'));
    auto* data = const_cast<char*>(out.view().data());
    std::size_t got = 0;
    while (got < out.size()) {
        const auto n = ::read(fd, data + got, out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            return fail(ErrorCode::invalid_request,
                        fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got != out.size()) {
        return fail(ErrorCode::invalid_request, fmt::format("{} changed while being read", path.string()));
    }
    return out;
}

namespace {

bool is_leftover_copy(std::string_view name) {
    if (name.starts_with(".entitle.db.restore-")) return true;
    if (!name.starts_with(".backup-")) return false;
    for (const std::string_view suffix : {".db", ".db-journal", ".db-wal", ".db-shm"}) {
        if (name.ends_with(suffix)) return true;
    }
    return false;
}

}  // namespace

std::vector<LeftoverCopy> remove_leftover_copies(const DataDir& dir) {
    std::vector<LeftoverCopy> removed;
    std::error_code ec;
    // Bounded by the directory's entries; an error ends the walk (nothing is lost by that).
    for (fs::directory_iterator it(dir.root, ec), end; !ec && it != end; it.increment(ec)) {
        const auto& entry = *it;
        std::error_code type_ec, size_ec, remove_ec;
        if (!entry.is_regular_file(type_ec) || !is_leftover_copy(entry.path().filename().string())) {
            continue;
        }
        const auto bytes = entry.file_size(size_ec);
        if (fs::remove(entry.path(), remove_ec)) removed.push_back({entry.path(), size_ec ? 0 : bytes});
    }
    return removed;
}

Result<void> check_data_dir(const DataDir& dir) {
    struct stat st{};
    if (::stat(dir.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("{} is not an Entitle data directory: run `entitled init --data {}`",
                                dir.root.string(), dir.root.string()));
    }
    if (!fs::exists(dir.store())) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("{} has no store ({}): run `entitled init --data {}`",
                                dir.root.string(), dir.store().filename().string(), dir.root.string()));
    }
    if ((st.st_mode & 022) != 0) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("data directory {} has mode {:04o}, writable by group or others; "
                                "run: chmod 700 {}",
                                dir.root.string(), st.st_mode & 07777, dir.root.string()));
    }
    return {};
}

}  // namespace entitle::app
