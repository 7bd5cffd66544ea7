// Writing a file the tools produce (a host configuration file, a store
// backup, a report) so that a reader never sees half of it: the bytes go to
// a temporary file next to the target, created with the final mode from the
// start, then fsync, then a rename into place, then fsync of the directory.
//
// Prepare first, write later: `AtomicFile::prepare` checks the target and
// creates the temporary file before anything irreversible happens (such as
// asking the server to create a host whose token is shown only once), so a
// bad path fails early. If the object is destroyed without `commit`, the
// temporary file is removed and the target is untouched.
//
// Thread rules: one thread per object.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace entitle::tools {

class AtomicFile {
  public:
    enum class Existing { refuse, replace };

    // Creates a temporary file in the target's directory with `mode`
    // (e.g. 0600). With Existing::refuse, a target that already exists is an
    // error now, and again at commit (never overwritten, even in a race).
    // Errors name the path and the reason.
    [[nodiscard]] static std::expected<AtomicFile, std::string> prepare(std::string path,
                                                                        unsigned mode,
                                                                        Existing existing);

    AtomicFile(AtomicFile&& other) noexcept;
    AtomicFile& operator=(AtomicFile&&) = delete;
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    ~AtomicFile();

    // Writes all of `bytes` to the temporary file (for output made piece by
    // piece, such as a download). On error the temporary file is gone and
    // the object is spent.
    [[nodiscard]] std::expected<void, std::string> append(std::string_view bytes);

    // Writes all of `bytes` (after anything appended), fsyncs, and moves the
    // file into place. Afterwards the object is spent; on error the
    // temporary file is gone.
    [[nodiscard]] std::expected<void, std::string> commit(std::string_view bytes = {});

    [[nodiscard]] const std::string& path() const noexcept { return path_; }

  private:
    AtomicFile(std::string path, std::string temp_path, int fd, Existing existing)
        : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd), existing_(existing) {}
    void discard() noexcept;

    std::string path_;
    std::string temp_path_;
    int fd_ = -1;
    Existing existing_ = Existing::refuse;
};

}  // namespace entitle::tools
