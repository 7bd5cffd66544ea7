// libentitle for C++: a header-only RAII layer over the C ABI of entitle.h
// (the "hourglass" shape), so the shared library exports only entitle_* C
// symbols and a program built with another compiler or standard library
// still links against it. C++17 or newer.
//
// Errors: every call that fails throws entitle::client::Error, whose status() is the
// entitle_status (oversubscribed, region_denied, unavailable, ...) and whose
// what() is entitle_last_error(). Refusals a caller expects (a full
// entitlement) are errors too: catch entitle::client::Error, look at status().
//
// Threads: one entitle::client::Client may be used by many threads at once,
// as the C handle may. Moving a Client while another thread uses it is not
// allowed.
//
// Names live in entitle::client (not entitle::) so that they never meet the
// server's own entitle:: types in one program.
#ifndef ENTITLE_ENTITLE_HPP
#define ENTITLE_ENTITLE_HPP

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "entitle/entitle.h"

namespace entitle::client {

enum class Status : int {
    ok = ENTITLE_OK,
    oversubscribed = ENTITLE_OVERSUBSCRIBED,
    region_denied = ENTITLE_REGION_DENIED,
    no_entitlement = ENTITLE_NO_ENTITLEMENT,
    expired = ENTITLE_EXPIRED,
    unauthorized = ENTITLE_UNAUTHORIZED,
    forbidden = ENTITLE_FORBIDDEN,
    not_found = ENTITLE_NOT_FOUND,
    conflict = ENTITLE_CONFLICT,
    invalid_request = ENTITLE_INVALID_REQUEST,
    rate_limited = ENTITLE_RATE_LIMITED,
    unavailable = ENTITLE_UNAVAILABLE,
    tls_error = ENTITLE_TLS_ERROR,
    invalid_argument = ENTITLE_INVALID_ARGUMENT,
    config_error = ENTITLE_CONFIG_ERROR,
    token_invalid = ENTITLE_TOKEN_INVALID,
    protocol_error = ENTITLE_PROTOCOL_ERROR,
    state_error = ENTITLE_STATE_ERROR,
    server_error = ENTITLE_SERVER_ERROR,
    no_memory = ENTITLE_NO_MEMORY,
    internal = ENTITLE_INTERNAL,
};

// "oversubscribed", "unavailable", ...: entitle_status_str().
inline const char* to_string(Status s) noexcept {
    return entitle_status_str(static_cast<entitle_status>(s));
}

inline std::string version() { return entitle_version(); }

class Error : public std::runtime_error {
  public:
    Error(Status status, const std::string& message)
        : std::runtime_error(message.empty() ? std::string(to_string(status)) : message),
          status_(status) {}
    Status status() const noexcept { return status_; }
    // The contract's code, e.g. "oversubscribed": what a script matches on.
    const char* code() const noexcept { return to_string(status_); }

  private:
    Status status_;
};

struct Lease {
    std::string lease_id;
    std::string token;
    std::string feature;
    std::string entitlement;
    std::string gpu_uuid;
    std::string vgpu_id;
    std::optional<std::string> profile;
    std::int64_t issued_at = 0;
    std::int64_t expires_at = 0;
    std::int64_t renew_after = 0;
    std::int64_t seconds_left = 0;  // by the monotonic clock, when this was made
    bool overage = false;
    bool token_verified = false;
};

namespace detail {

inline Lease to_lease(const entitle_lease& l) {
    Lease out;
    out.lease_id = l.lease_id;
    out.token = l.token;
    out.feature = l.feature;
    out.entitlement = l.entitlement;
    out.gpu_uuid = l.gpu_uuid;
    out.vgpu_id = l.vgpu_id;
    if (l.profile != nullptr) out.profile = std::string(l.profile);
    out.issued_at = l.issued_at;
    out.expires_at = l.expires_at;
    out.renew_after = l.renew_after;
    out.seconds_left = l.seconds_left;
    out.overage = l.overage != 0;
    out.token_verified = l.token_verified != 0;
    return out;
}

struct LeaseDeleter {
    void operator()(entitle_lease* l) const noexcept { entitle_lease_free(l); }
};
struct LeaseListDeleter {
    void operator()(entitle_lease_list* l) const noexcept { entitle_lease_list_free(l); }
};
struct StringDeleter {
    void operator()(char* s) const noexcept { entitle_free(s); }
};
struct ClientDeleter {
    void operator()(entitle_client* c) const noexcept { entitle_client_close(c); }
};

inline std::vector<Lease> to_leases(entitle_lease_list* raw) {
    std::unique_ptr<entitle_lease_list, LeaseListDeleter> list(raw);
    std::vector<Lease> out;
    if (!list) return out;
    out.reserve(list->count);
    for (std::size_t i = 0; i < list->count; ++i) out.push_back(to_lease(*list->items[i]));
    return out;
}

}  // namespace detail

class Client {
  public:
    using LostCallback =
        std::function<void(const std::string& lease_id, const std::string& vgpu_id, Status why)>;
    using ClockFunction = std::function<std::int64_t()>;

    // Opens a host configuration file; throws Error (config_error, ...).
    explicit Client(const std::string& config_path) {
        entitle_client* raw = nullptr;
        const entitle_status s = entitle_client_open(config_path.c_str(), &raw);
        handle_.reset(raw);
        if (s != ENTITLE_OK) {
            throw Error(static_cast<Status>(s), raw != nullptr ? entitle_last_error(raw)
                                                               : to_string(static_cast<Status>(s)));
        }
    }

    Client(Client&&) noexcept = default;
    Client& operator=(Client&& other) noexcept {
        if (this != &other) {
            handle_.reset();  // stops the renewer before its callback goes away
            handle_ = std::move(other.handle_);
            hooks_ = std::move(other.hooks_);
        }
        return *this;
    }
    ~Client() { handle_.reset(); }

    entitle_client* native_handle() const noexcept { return handle_.get(); }

    std::string host_id() const { return take_string(&entitle_host_id); }
    std::string server_url() const { return take_string(&entitle_server_url); }

    void set_timeout_ms(std::int64_t timeout_ms) {
        check(entitle_client_set_timeout(handle_.get(), timeout_ms));
    }
    void set_retry(int max_attempts, std::int64_t base_delay_ms, std::int64_t max_delay_ms) {
        check(entitle_client_set_retry(handle_.get(), max_attempts, base_delay_ms, max_delay_ms));
    }
    void set_state_dir(const std::string& dir) {
        check(entitle_client_set_state_dir(handle_.get(), dir.c_str()));
    }
    // For tests: empty functions restore the system clocks.
    void set_clock(ClockFunction monotonic_ms, ClockFunction wall_ms) {
        hooks_->monotonic = std::move(monotonic_ms);
        hooks_->wall = std::move(wall_ms);
        check(entitle_client_set_clock(handle_.get(),
                                       hooks_->monotonic ? &Hooks::call_monotonic : nullptr,
                                       hooks_->wall ? &Hooks::call_wall : nullptr, hooks_.get()));
    }

    Lease checkout(const std::string& feature, const std::string& gpu_uuid,
                   const std::string& vgpu_id,
                   const std::optional<std::string>& profile = std::nullopt) {
        entitle_lease* raw = nullptr;
        check(entitle_checkout(handle_.get(), feature.c_str(), gpu_uuid.c_str(), vgpu_id.c_str(),
                               profile ? profile->c_str() : nullptr, &raw));
        return take_lease(raw);
    }

    Lease renew(const std::string& lease_id) {
        entitle_lease* raw = nullptr;
        check(entitle_renew(handle_.get(), lease_id.c_str(), &raw));
        return take_lease(raw);
    }

    void release(const std::string& lease_id) {
        check(entitle_release(handle_.get(), lease_id.c_str()));
    }

    std::size_t release_vgpu(const std::string& vgpu_id) {
        std::size_t released = 0;
        check(entitle_release_vgpu(handle_.get(), vgpu_id.c_str(), &released));
        return released;
    }

    std::vector<Lease> held_leases() {
        entitle_lease_list* raw = nullptr;
        check(entitle_held_leases(handle_.get(), &raw));
        return detail::to_leases(raw);
    }

    // Seconds left; throws Error(expired | token_invalid | not_found).
    std::int64_t verify(const std::string& lease_id) {
        std::int64_t left = 0;
        check(entitle_lease_verify(handle_.get(), lease_id.c_str(), &left));
        return left;
    }

    Lease verify_token(const std::string& token) {
        entitle_lease* raw = nullptr;
        check(entitle_token_verify(handle_.get(), token.c_str(), &raw));
        return take_lease(raw);
    }

    // Released leases (lease_id, feature, gpu, vGPU, expires_at).
    std::vector<Lease> reconcile(const std::vector<std::string>& existing_vgpu_ids) {
        std::vector<const char*> ids;
        ids.reserve(existing_vgpu_ids.size());
        for (const auto& id : existing_vgpu_ids) ids.push_back(id.c_str());
        entitle_lease_list* raw = nullptr;
        check(entitle_reconcile(handle_.get(), ids.data(), ids.size(), &raw));
        return detail::to_leases(raw);
    }

    std::optional<std::int64_t> clock_skew() const {
        std::int64_t skew = 0;
        if (entitle_clock_skew(handle_.get(), &skew) != ENTITLE_OK) return std::nullopt;
        return skew;
    }

    // The callback runs on the renewer thread; an exception it throws is
    // swallowed (it must not cross the C ABI).
    void start_renewer(LostCallback lost = {}) {
        hooks_->lost = std::move(lost);
        check(entitle_renewer_start(handle_.get(), &Hooks::call_lost, hooks_.get()));
    }
    void stop_renewer() { check(entitle_renewer_stop(handle_.get())); }

  private:
    // Owned apart from the handle so that a moved Client keeps valid pointers.
    struct Hooks {
        ClockFunction monotonic;
        ClockFunction wall;
        LostCallback lost;

        static std::int64_t call_monotonic(void* self) noexcept {
            try {
                return static_cast<Hooks*>(self)->monotonic();
            } catch (...) {
                std::terminate();  // a clock cannot fail; this is a test's bug
            }
        }
        static std::int64_t call_wall(void* self) noexcept {
            try {
                return static_cast<Hooks*>(self)->wall();
            } catch (...) {
                std::terminate();
            }
        }
        static void call_lost(const char* lease_id, const char* vgpu_id, entitle_status why,
                              void* self) noexcept {
            try {
                auto& hooks = *static_cast<Hooks*>(self);
                if (hooks.lost) hooks.lost(lease_id, vgpu_id, static_cast<Status>(why));
            } catch (...) {
                // Swallowed on purpose: an exception must not cross the C ABI.
            }
        }
    };

    void check(entitle_status s) const {
        if (s != ENTITLE_OK) {
            throw Error(static_cast<Status>(s), entitle_last_error(handle_.get()));
        }
    }
    static Lease take_lease(entitle_lease* raw) {
        std::unique_ptr<entitle_lease, detail::LeaseDeleter> owned(raw);
        return detail::to_lease(*owned);
    }
    std::string take_string(entitle_status (*fn)(entitle_client*, char**)) const {
        char* raw = nullptr;
        check(fn(handle_.get(), &raw));
        std::unique_ptr<char, detail::StringDeleter> owned(raw);
        return std::string(owned.get());
    }

    // Declared before handle_ so that it outlives it: the handle's renewer
    // may call into the hooks until the handle is closed.
    std::unique_ptr<Hooks> hooks_ = std::make_unique<Hooks>();
    std::unique_ptr<entitle_client, detail::ClientDeleter> handle_;
};

}  // namespace entitle::client

#endif  // ENTITLE_ENTITLE_HPP
