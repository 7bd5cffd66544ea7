#include "lease_book.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

namespace entitle::lib {

namespace {

using json = nlohmann::json;

constexpr int kFormat = 1;
constexpr std::size_t kMaxStateBytes = 64u << 20;
// Lock holders never wait on the network, so the lock is held for
// milliseconds; 30 s without it means something is stuck.
constexpr int kLockAttempts = 3000;
constexpr auto kLockPause = std::chrono::milliseconds(10);

std::string errno_text() { return std::strerror(errno); }

json optional_text(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

// Reads members of one state entry; the first problem is remembered.
struct EntryReader {
    const json& entry;
    std::string problem;

    std::string text(const char* name, bool required = true) {
        const auto it = entry.find(name);
        if (it != entry.end() && it->is_string()) return it->get<std::string>();
        if (required && problem.empty()) problem = std::string("\"") + name + "\" is missing";
        return {};
    }
    std::optional<std::string> optional(const char* name) {
        const auto it = entry.find(name);
        if (it == entry.end() || it->is_null()) return std::nullopt;
        if (it->is_string()) return it->get<std::string>();
        if (problem.empty()) problem = std::string("\"") + name + "\" is not a string";
        return std::nullopt;
    }
    std::int64_t number(const char* name) {
        const auto it = entry.find(name);
        if (it != entry.end() && it->is_number_integer()) return it->get<std::int64_t>();
        if (problem.empty()) problem = std::string("\"") + name + "\" is not an integer";
        return 0;
    }
    bool flag(const char* name) {
        const auto it = entry.find(name);
        return it != entry.end() && it->is_boolean() && it->get<bool>();
    }
};

Outcome<void> fsync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(ENTITLE_STATE_ERROR, "cannot open " + dir + ": " + errno_text());
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    if (rc != 0) {
        return fail(ENTITLE_STATE_ERROR, "cannot sync " + dir + ": " + std::strerror(saved));
    }
    return {};
}

}  // namespace

HeldLease* LeaseBook::find_lease(std::string_view lease_id) {
    const auto it = std::find_if(leases.begin(), leases.end(),
                                 [&](const HeldLease& l) { return l.lease_id == lease_id; });
    return it == leases.end() ? nullptr : &*it;
}

HeldLease* LeaseBook::find_lease_for_vgpu(std::string_view vgpu_id) {
    const auto it = std::find_if(leases.begin(), leases.end(),
                                 [&](const HeldLease& l) { return l.vgpu_id == vgpu_id; });
    return it == leases.end() ? nullptr : &*it;
}

PendingCheckout* LeaseBook::find_pending(std::string_view vgpu_id) {
    const auto it = std::find_if(pending.begin(), pending.end(),
                                 [&](const PendingCheckout& p) { return p.vgpu_id == vgpu_id; });
    return it == pending.end() ? nullptr : &*it;
}

void LeaseBook::put_lease(HeldLease lease) {
    std::erase_if(leases, [&](const HeldLease& l) {
        return l.lease_id == lease.lease_id || l.vgpu_id == lease.vgpu_id;
    });
    leases.push_back(std::move(lease));
}

bool LeaseBook::remove_lease(std::string_view lease_id) {
    return std::erase_if(leases, [&](const HeldLease& l) { return l.lease_id == lease_id; }) > 0;
}

void LeaseBook::remove_pending(std::string_view vgpu_id) {
    std::erase_if(pending, [&](const PendingCheckout& p) { return p.vgpu_id == vgpu_id; });
}

json LeaseBook::to_json() const {
    json out = {{"format", kFormat},
                {"host_id", host_id},
                {"leases", json::array()},
                {"pending", json::array()}};
    for (const auto& l : leases) {
        out["leases"].push_back({{"lease_id", l.lease_id},
                                 {"token", l.token},
                                 {"request_id", l.request_id},
                                 {"feature", l.feature},
                                 {"entitlement", l.entitlement},
                                 {"gpu_uuid", l.gpu_uuid},
                                 {"vgpu_id", l.vgpu_id},
                                 {"profile", optional_text(l.profile)},
                                 {"issued_at", l.issued_at},
                                 {"expires_at", l.expires_at},
                                 {"renew_after", l.renew_after},
                                 {"overage", l.overage},
                                 {"releasing", l.releasing},
                                 {"lapse_mono_ms", l.timing.lapse_mono_ms},
                                 {"renew_mono_ms", l.timing.renew_mono_ms},
                                 {"boot_id", l.timing.boot_id},
                                 {"skew_s", l.timing.skew_s}});
    }
    for (const auto& p : pending) {
        out["pending"].push_back({{"request_id", p.request_id},
                                  {"feature", p.feature},
                                  {"gpu_uuid", p.gpu_uuid},
                                  {"vgpu_id", p.vgpu_id},
                                  {"profile", optional_text(p.profile)}});
    }
    return out;
}

Outcome<LeaseBook> LeaseBook::from_json(const json& in) {
    if (!in.is_object() || in.value("format", 0) != kFormat) {
        return fail(ENTITLE_STATE_ERROR, "not a lease state file of format 1");
    }
    LeaseBook book;
    if (!in.contains("host_id") || !in["host_id"].is_string()) {
        return fail(ENTITLE_STATE_ERROR, "\"host_id\" is missing");
    }
    book.host_id = in["host_id"].get<std::string>();
    const auto list = [&](const char* name) -> const json* {
        const auto it = in.find(name);
        return it != in.end() && it->is_array() ? &*it : nullptr;
    };
    const json* leases = list("leases");
    const json* pending = list("pending");
    if (leases == nullptr || pending == nullptr) {
        return fail(ENTITLE_STATE_ERROR, "\"leases\" or \"pending\" is not a list");
    }
    for (const auto& entry : *leases) {
        if (!entry.is_object()) return fail(ENTITLE_STATE_ERROR, "a lease entry is not an object");
        EntryReader r{entry, {}};
        HeldLease l;
        l.lease_id = r.text("lease_id");
        l.token = r.text("token");
        l.request_id = r.text("request_id", false);
        l.feature = r.text("feature");
        l.entitlement = r.text("entitlement", false);
        l.gpu_uuid = r.text("gpu_uuid");
        l.vgpu_id = r.text("vgpu_id");
        l.profile = r.optional("profile");
        l.issued_at = r.number("issued_at");
        l.expires_at = r.number("expires_at");
        l.renew_after = r.number("renew_after");
        l.overage = r.flag("overage");
        l.releasing = r.flag("releasing");
        l.timing.lapse_mono_ms = r.number("lapse_mono_ms");
        l.timing.renew_mono_ms = r.number("renew_mono_ms");
        l.timing.boot_id = r.text("boot_id", false);
        l.timing.skew_s = r.number("skew_s");
        if (!r.problem.empty()) return fail(ENTITLE_STATE_ERROR, "a lease entry: " + r.problem);
        book.leases.push_back(std::move(l));
    }
    for (const auto& entry : *pending) {
        if (!entry.is_object()) {
            return fail(ENTITLE_STATE_ERROR, "a pending entry is not an object");
        }
        EntryReader r{entry, {}};
        PendingCheckout p;
        p.request_id = r.text("request_id");
        p.feature = r.text("feature");
        p.gpu_uuid = r.text("gpu_uuid");
        p.vgpu_id = r.text("vgpu_id");
        p.profile = r.optional("profile");
        if (!r.problem.empty()) return fail(ENTITLE_STATE_ERROR, "a pending entry: " + r.problem);
        book.pending.push_back(std::move(p));
    }
    return book;
}

LeaseStateFile::Lock::~Lock() {
    if (fd_ >= 0) ::close(fd_);  // closing drops the flock
}

Outcome<LeaseStateFile> LeaseStateFile::open(std::string dir) {
    if (dir.empty()) return fail(ENTITLE_INVALID_ARGUMENT, "the state directory is empty");
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return fail(ENTITLE_STATE_ERROR,
                    "cannot create state directory " + dir + ": " + errno_text());
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return fail(ENTITLE_STATE_ERROR, "state directory " + dir + " is not a directory");
    }
    LeaseStateFile file(dir, dir + "/leases.json", dir + "/leases.lock");
    return file;
}

Outcome<LeaseStateFile::Lock> LeaseStateFile::lock() const {
    const int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return fail(ENTITLE_STATE_ERROR, "cannot open " + lock_path_ + ": " + errno_text());
    }
    Lock lock(fd);
    for (int attempt = 0; attempt < kLockAttempts; ++attempt) {
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return lock;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            return fail(ENTITLE_STATE_ERROR, "cannot lock " + lock_path_ + ": " + errno_text());
        }
        std::this_thread::sleep_for(kLockPause);
    }
    return fail(ENTITLE_STATE_ERROR, "another process has held " + lock_path_ + " for 30 s");
}

Outcome<LeaseBook> LeaseStateFile::read(const std::string& host_id) const {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return LeaseBook{host_id, {}, {}};
        return fail(ENTITLE_STATE_ERROR, "cannot read " + path_ + ": " + errno_text());
    }
    std::string text;
    char buffer[65536];
    // Bounded by kMaxStateBytes.
    while (text.size() <= kMaxStateBytes) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int saved = errno;
            ::close(fd);
            if (n < 0) {
                return fail(ENTITLE_STATE_ERROR,
                            "cannot read " + path_ + ": " + std::strerror(saved));
            }
            break;
        }
        text.append(buffer, static_cast<std::size_t>(n));
    }
    if (text.size() > kMaxStateBytes) {
        ::close(fd);
        return fail(ENTITLE_STATE_ERROR, path_ + " is larger than 64 MiB");
    }
    const auto parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return fail(ENTITLE_STATE_ERROR, path_ + " is not valid JSON");
    auto book = LeaseBook::from_json(parsed);
    if (!book) return fail(ENTITLE_STATE_ERROR, path_ + ": " + book.error().message);
    if (book->host_id != host_id) {
        return fail(ENTITLE_STATE_ERROR, path_ + " holds the leases of host '" + book->host_id +
                                             "', not of this host '" + host_id +
                                             "': use another state directory");
    }
    return book;
}

Outcome<void> LeaseStateFile::write(const LeaseBook& book) const {
    const std::string tmp = path_ + ".tmp";
    const std::string text = book.to_json().dump(1) + "\n";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return fail(ENTITLE_STATE_ERROR, "cannot write " + tmp + ": " + errno_text());
    bool ok = ::fchmod(fd, 0600) == 0;
    std::size_t done = 0;
    // Bounded: every round writes at least one byte or fails.
    while (ok && done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ok = false;
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    const int saved = errno;
    ok = (::close(fd) == 0) && ok;
    if (!ok) {
        ::unlink(tmp.c_str());
        return fail(ENTITLE_STATE_ERROR, "cannot write " + tmp + ": " + std::strerror(saved));
    }
    if (::rename(tmp.c_str(), path_.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        return fail(ENTITLE_STATE_ERROR, "cannot replace " + path_ + ": " + std::strerror(e));
    }
    return fsync_dir(dir_);
}

}  // namespace entitle::lib
