// A unique, private (0700) scratch directory under ENTITLE_TEST_TMPDIR,
// removed with everything in it when the object goes out of scope.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

namespace entitle::test {

class TempDir {
  public:
    TempDir() {
        const std::filesystem::path base(ENTITLE_TEST_TMPDIR);
        std::filesystem::create_directories(base);
        std::random_device rd;
        std::uniform_int_distribution<unsigned long long> dist;
        for (int attempt = 0; attempt < 100; ++attempt) {
            auto candidate = base / ("t-" + std::to_string(dist(rd)));
            if (std::filesystem::create_directory(candidate)) {
                path_ = candidate;
                ::chmod(path_.c_str(), 0700);  // independent of the umask
                return;
            }
        }
        throw std::runtime_error("cannot create a unique temporary directory");
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    [[nodiscard]] std::filesystem::path operator/(std::string_view name) const {
        return path_ / name;
    }
    [[nodiscard]] std::string file(std::string_view name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

}  // namespace entitle::test
