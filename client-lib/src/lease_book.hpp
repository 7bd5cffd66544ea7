// The leases a host holds, and the checkouts whose answer it has not seen
// yet, as one value that can be kept in memory or in a state file.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "status.hpp"

namespace entitle::lib {

// When a lease runs out and when to renew it, on this host's monotonic
// clock (milliseconds of CLOCK_BOOTTIME, or of the test clock) in the boot
// `boot_id`. After a reboot those are meaningless; then the wall clock
// corrected by the skew seen at the grant stands in.
struct LeaseTiming {
    std::int64_t lapse_mono_ms = 0;
    std::int64_t renew_mono_ms = 0;
    std::string boot_id;
    std::int64_t skew_s = 0;  // server minus host, measured at the grant
};

struct HeldLease {
    std::string lease_id;
    std::string token;
    std::string request_id;  // of the checkout; "" when the lease was adopted by a renewal
    std::string feature;
    std::string entitlement;
    std::string gpu_uuid;
    std::string vgpu_id;
    std::optional<std::string> profile;
    std::int64_t issued_at = 0;   // token iat
    std::int64_t expires_at = 0;  // token exp
    std::int64_t renew_after = 0;
    bool overage = false;
    bool releasing = false;  // a release failed for want of the server: retry it, never renew
    LeaseTiming timing;
};

// A checkout sent but not answered (the server may have granted it): the
// next checkout of the same vGPU with the same values reuses request_id.
struct PendingCheckout {
    std::string request_id;
    std::string feature;
    std::string gpu_uuid;
    std::string vgpu_id;
    std::optional<std::string> profile;
};

struct LeaseBook {
    std::string host_id;
    std::vector<HeldLease> leases;
    std::vector<PendingCheckout> pending;

    [[nodiscard]] HeldLease* find_lease(std::string_view lease_id);
    [[nodiscard]] HeldLease* find_lease_for_vgpu(std::string_view vgpu_id);
    [[nodiscard]] PendingCheckout* find_pending(std::string_view vgpu_id);
    // Adds, or replaces the lease with the same id or vGPU.
    void put_lease(HeldLease lease);
    bool remove_lease(std::string_view lease_id);
    void remove_pending(std::string_view vgpu_id);

    [[nodiscard]] nlohmann::json to_json() const;
    // ENTITLE_STATE_ERROR naming what is wrong.
    [[nodiscard]] static Outcome<LeaseBook> from_json(const nlohmann::json& json);
};

// DIR/leases.json, shared by processes. Every change is: lock DIR/leases.lock
// (flock, exclusive), read the file, change it, write a temporary file,
// fsync, rename over the file, fsync DIR, unlock.
class LeaseStateFile {
  public:
    // Creates DIR (0700) if missing. ENTITLE_STATE_ERROR if it cannot.
    [[nodiscard]] static Outcome<LeaseStateFile> open(std::string dir);

    // An exclusive lock of the state; released by the destructor.
    class Lock {
      public:
        explicit Lock(int fd) : fd_(fd) {}
        Lock(Lock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
        Lock& operator=(Lock&&) = delete;
        ~Lock();

      private:
        int fd_;
    };
    [[nodiscard]] Outcome<Lock> lock() const;

    // The book in the file; an empty book for `host_id` when there is none.
    // ENTITLE_STATE_ERROR for an unreadable or malformed file, or one of another host.
    [[nodiscard]] Outcome<LeaseBook> read(const std::string& host_id) const;
    [[nodiscard]] Outcome<void> write(const LeaseBook& book) const;

    [[nodiscard]] const std::string& path() const noexcept { return path_; }

  private:
    LeaseStateFile(std::string dir, std::string path, std::string lock_path)
        : dir_(std::move(dir)), path_(std::move(path)), lock_path_(std::move(lock_path)) {}
    std::string dir_;
    std::string path_;
    std::string lock_path_;
};

}  // namespace entitle::lib
