// The library's one real object: a host configuration, its transport, the
// held leases (in memory or in a state directory), and the renewer thread.
// The C ABI (c_api.cpp) is a thin barrier over it; tests may use it directly
// with a Transport of their own.
//
// Thread rules: every public member may be called from any thread at once.
// `mu_` guards the settings and the lease book and is never held across a
// network exchange, a sleep or a callback.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "entitle/entitle.h"
#include "host_config.hpp"
#include "lease_book.hpp"
#include "lease_token.hpp"
#include "retry_policy.hpp"
#include "status.hpp"
#include "transport.hpp"

namespace entitle::lib {

// Where time comes from; null functions mean the system clocks.
struct Clocks {
    entitle_clock_fn monotonic = nullptr;  // ms; default CLOCK_BOOTTIME
    entitle_clock_fn wall = nullptr;       // Unix ms; default the system clock
    void* user_data = nullptr;

    [[nodiscard]] std::int64_t monotonic_ms() const;
    [[nodiscard]] std::int64_t wall_ms() const;
};

struct CheckoutArgs {
    std::string feature;
    std::string gpu_uuid;
    std::string vgpu_id;
    std::optional<std::string> profile;
};

// A lease judged now: time left by the monotonic clock, token checked offline.
struct LeaseView {
    HeldLease lease;
    std::int64_t seconds_left = 0;
    bool token_verified = false;
    std::string token_problem;  // why it does not verify
};

// lease id, vGPU id, why.
using LostLeaseCallback =
    std::function<void(const std::string&, const std::string&, entitle_status)>;

class Client {
  public:
    // Reads and checks the config file and prepares TLS. A config readable
    // by group or others is accepted with a warning to the log handler.
    [[nodiscard]] static Outcome<std::unique_ptr<Client>> open(const std::string& config_path);

    Client(HostConfig config, std::unique_ptr<Transport> transport);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void set_timeout(std::chrono::milliseconds timeout);
    void set_retry(const RetryPolicy& policy);
    void set_clocks(const Clocks& clocks);
    [[nodiscard]] Outcome<void> set_state_dir(const std::string& dir);

    [[nodiscard]] const HostConfig& config() const noexcept { return config_; }

    [[nodiscard]] Outcome<LeaseView> checkout(const CheckoutArgs& args);
    [[nodiscard]] Outcome<LeaseView> renew(const std::string& lease_id);
    [[nodiscard]] Outcome<void> release(const std::string& lease_id);
    [[nodiscard]] Outcome<std::size_t> release_vgpu(const std::string& vgpu_id);
    [[nodiscard]] Outcome<std::vector<LeaseView>> held();
    [[nodiscard]] Outcome<LeaseView> verify_held(const std::string& lease_id);
    [[nodiscard]] Outcome<LeaseView> verify_token(const std::string& token);
    [[nodiscard]] Outcome<std::vector<HeldLease>> reconcile(
        const std::vector<std::string>& vgpu_ids);
    [[nodiscard]] std::optional<std::int64_t> clock_skew() const;

    [[nodiscard]] Outcome<void> start_renewer(LostLeaseCallback lost);
    [[nodiscard]] Outcome<void> stop_renewer();
    [[nodiscard]] bool on_renewer_thread() const;

    // The lease-lost callback without the thread, for tests that drive
    // renew_due_leases() themselves with a fake clock. Not while a renewer runs.
    void set_lost_callback(LostLeaseCallback lost) { lost_ = std::move(lost); }

    // One renewer pass: renews what is due, retries releases, reports lapsed
    // leases. Returns how long to wait before the next pass.
    [[nodiscard]] std::chrono::milliseconds renew_due_leases();

  private:
    struct RetryState {
        int failures = 0;
        std::int64_t next_try_mono_ms = 0;
    };

    // The book after reading the state file (under its lock), changed by `fn`
    // and written back when `fn` returns true. `fn` runs under mu_.
    [[nodiscard]] Outcome<void> with_book(const std::function<Outcome<bool>(LeaseBook&)>& fn);

    // One request with retries of unavailable; any HTTP status is returned.
    [[nodiscard]] Outcome<HttpResponse> call(const std::string& method, const std::string& target,
                                             const std::string& body, int attempts);
    [[nodiscard]] Outcome<HeldLease> accept_grant(const HttpResponse& response,
                                                  std::int64_t start_mono_ms,
                                                  const CheckoutArgs* expected);
    // `adopt`: a lease not held here becomes held; otherwise (the renewer) a
    // lease released meanwhile stays released and *dropped_meanwhile is set.
    [[nodiscard]] Outcome<LeaseView> renew_lease(const std::string& lease_id, int attempts,
                                                 bool adopt, bool* dropped_meanwhile = nullptr);
    // One checkout; `stale_pending` is set when a reused pending request_id
    // turned out to stand for a lease that has ended (checkout() then tries
    // once more without it).
    [[nodiscard]] Outcome<LeaseView> checkout_once(const CheckoutArgs& args, bool reuse_pending,
                                                   bool& stale_pending);
    [[nodiscard]] Outcome<HeldLease> send_checkout(const CheckoutArgs& args,
                                                   const std::string& request_id);
    [[nodiscard]] Outcome<void> delete_lease(const std::string& lease_id, int attempts);
    // The host's active leases on the server (lease_id, feature, entitlement,
    // gpu, vgpu, profile, expires_at), every page.
    [[nodiscard]] Outcome<std::vector<HeldLease>> list_server_leases();
    [[nodiscard]] std::expected<LeaseClaims, TokenError> verify_with_keys(const std::string& token,
                                                                          bool may_fetch);
    void refresh_keys();
    void note_skew(std::int64_t server_s);

    [[nodiscard]] LeaseView judge(const HeldLease& lease);
    [[nodiscard]] std::int64_t ms_left(const HeldLease& lease, bool until_renew) const;
    [[nodiscard]] int attempts() const;
    [[nodiscard]] std::string current_boot_id() const;
    void renewer_loop();

    HostConfig config_;
    std::unique_ptr<Transport> transport_;
    std::string boot_id_;  // of this boot, read once

    mutable std::mutex mu_;
    std::chrono::milliseconds timeout_{10'000};
    RetryPolicy retry_;
    Clocks clocks_;
    std::shared_ptr<const KeySet> keys_;
    std::int64_t keys_fetched_mono_ms_ = INT64_MIN;
    std::optional<LeaseStateFile> state_;
    LeaseBook book_;

    std::atomic<bool> has_skew_{false};
    std::atomic<std::int64_t> skew_s_{0};
    std::atomic<std::int64_t> warned_skew_s_{0};

    std::mutex renewer_mu_;
    std::condition_variable renewer_cv_;
    bool renewer_stop_ = false;
    std::thread renewer_;
    std::atomic<std::thread::id> renewer_id_{};
    LostLeaseCallback lost_;
    std::map<std::string, RetryState> renewer_retries_;  // renewer thread only
};

}  // namespace entitle::lib
