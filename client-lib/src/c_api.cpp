// The C ABI of entitle.h: a barrier that turns every C++ outcome and
// exception into an entitle_status and a per-thread message, and copies
// results into malloc'd structs the caller frees with the named functions.
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "client.hpp"
#include "entitle/entitle.h"
#include "log.hpp"
#include "status.hpp"

using entitle::lib::Client;
using entitle::lib::Failure;
using entitle::lib::HeldLease;
using entitle::lib::LeaseView;
using entitle::lib::Outcome;

struct entitle_client {
    std::unique_ptr<Client> impl;  // null when the config could not be opened
    std::string open_error;

    std::mutex errors_mu;
    // The last failure message of each thread whose last call failed; a
    // success erases the thread's entry, so the map holds only failures.
    std::unordered_map<std::thread::id, std::string> errors;
};

namespace {

void set_error(entitle_client* h, const std::string& message) noexcept {
    try {
        const std::lock_guard lock(h->errors_mu);
        if (message.empty()) {
            h->errors.erase(std::this_thread::get_id());
        } else {
            h->errors[std::this_thread::get_id()] = message;
        }
    } catch (...) {
        // Out of memory for the message: the status still says what happened.
    }
}

// Runs `fn` (returning Outcome<void>) behind the barrier.
template <class Fn>
entitle_status guarded(entitle_client* h, Fn&& fn) noexcept {
    if (h == nullptr) return ENTITLE_INVALID_ARGUMENT;
    try {
        if (!h->impl) {
            set_error(h, h->open_error);
            return ENTITLE_CONFIG_ERROR;
        }
        Outcome<void> result = fn(*h->impl);
        if (result) {
            set_error(h, "");
            return ENTITLE_OK;
        }
        set_error(h, result.error().message);
        return result.error().status;
    } catch (const std::bad_alloc&) {
        set_error(h, "out of memory");
        return ENTITLE_NO_MEMORY;
    } catch (const std::exception& e) {
        set_error(h, std::string("internal error: ") + e.what());
        return ENTITLE_INTERNAL;
    } catch (...) {
        set_error(h, "internal error");
        return ENTITLE_INTERNAL;
    }
}

Outcome<void> invalid(const char* message) {
    return entitle::lib::fail(ENTITLE_INVALID_ARGUMENT, message);
}

char* copy_string(const std::string& s) {
    char* out = static_cast<char*>(std::malloc(s.size() + 1));
    if (out == nullptr) throw std::bad_alloc();
    std::memcpy(out, s.c_str(), s.size() + 1);
    return out;
}

void free_lease_fields(entitle_lease* l) noexcept {
    for (const char* s :
         {l->lease_id, l->token, l->feature, l->entitlement, l->gpu_uuid, l->vgpu_id, l->profile}) {
        std::free(const_cast<char*>(s));
    }
}

entitle_lease* make_lease(const LeaseView& view) {
    auto* out = static_cast<entitle_lease*>(std::calloc(1, sizeof(entitle_lease)));
    if (out == nullptr) throw std::bad_alloc();
    try {
        const HeldLease& l = view.lease;
        out->lease_id = copy_string(l.lease_id);
        out->token = copy_string(l.token);
        out->feature = copy_string(l.feature);
        out->entitlement = copy_string(l.entitlement);
        out->gpu_uuid = copy_string(l.gpu_uuid);
        out->vgpu_id = copy_string(l.vgpu_id);
        out->profile = l.profile ? copy_string(*l.profile) : nullptr;
    } catch (...) {
        free_lease_fields(out);
        std::free(out);
        throw;
    }
    out->issued_at = view.lease.issued_at;
    out->expires_at = view.lease.expires_at;
    out->renew_after = view.lease.renew_after;
    out->seconds_left = view.seconds_left;
    out->overage = view.lease.overage ? 1 : 0;
    out->token_verified = view.token_verified ? 1 : 0;
    return out;
}

entitle_lease_list* make_list(const std::vector<LeaseView>& views) {
    auto* list = static_cast<entitle_lease_list*>(std::calloc(1, sizeof(entitle_lease_list)));
    if (list == nullptr) throw std::bad_alloc();
    if (!views.empty()) {
        list->items = static_cast<entitle_lease**>(std::calloc(views.size(), sizeof(void*)));
        if (list->items == nullptr) {
            std::free(list);
            throw std::bad_alloc();
        }
    }
    try {
        for (const auto& view : views) {
            list->items[list->count] = make_lease(view);
            ++list->count;
        }
    } catch (...) {
        entitle_lease_list_free(list);
        throw;
    }
    return list;
}

bool valid_text(const char* s) { return s != nullptr && *s != '\0'; }

}  // namespace

extern "C" {

const char* entitle_version(void) { return ENTITLE_VERSION_STRING; }

unsigned entitle_version_num(void) { return ENTITLE_VERSION_NUM; }

const char* entitle_status_str(entitle_status status) { return entitle::lib::status_name(status); }

void entitle_set_log_handler(entitle_log_fn fn, void* user_data) {
    entitle::lib::set_log_handler(fn, user_data);
}

void entitle_free(void* p) { std::free(p); }

void entitle_lease_free(entitle_lease* lease) {
    if (lease == nullptr) return;
    free_lease_fields(lease);
    std::free(lease);
}

void entitle_lease_list_free(entitle_lease_list* list) {
    if (list == nullptr) return;
    for (std::size_t i = 0; i < list->count; ++i) entitle_lease_free(list->items[i]);
    std::free(list->items);
    std::free(list);
}

entitle_status entitle_client_open(const char* config_path, entitle_client** out) {
    if (out == nullptr) return ENTITLE_INVALID_ARGUMENT;
    *out = nullptr;
    if (!valid_text(config_path)) return ENTITLE_INVALID_ARGUMENT;
    entitle_client* h = new (std::nothrow) entitle_client;
    if (h == nullptr) return ENTITLE_NO_MEMORY;
    try {
        auto client = Client::open(config_path);
        *out = h;
        if (!client) {
            h->open_error = client.error().message;
            set_error(h, h->open_error);
            return client.error().status;
        }
        h->impl = std::move(*client);
        return ENTITLE_OK;
    } catch (const std::bad_alloc&) {
        delete h;
        *out = nullptr;
        return ENTITLE_NO_MEMORY;
    } catch (const std::exception& e) {
        h->open_error = std::string("internal error: ") + e.what();
        *out = h;
        return ENTITLE_INTERNAL;
    } catch (...) {
        h->open_error = "internal error";
        *out = h;
        return ENTITLE_INTERNAL;
    }
}

void entitle_client_close(entitle_client* client) {
    if (client == nullptr) return;
    try {
        if (client->impl && client->impl->on_renewer_thread()) {
            // Closing from the lease-lost callback would join the thread that
            // runs it; refusing (and leaking) is the only safe answer.
            entitle::lib::log_message(ENTITLE_LOG_ERROR,
                                      "entitle_client_close called from the lease-lost "
                                      "callback: the handle is not closed");
            return;
        }
        delete client;
    } catch (...) {
        // Nothing can be reported from here; the handle is gone either way.
    }
}

const char* entitle_last_error(entitle_client* client) {
    if (client == nullptr) return "no handle (NULL)";
    try {
        const std::lock_guard lock(client->errors_mu);
        const auto it = client->errors.find(std::this_thread::get_id());
        if (it != client->errors.end()) return it->second.c_str();
        if (!client->impl) return client->open_error.c_str();
        return "";
    } catch (...) {
        return "cannot read the last error";
    }
}

entitle_status entitle_host_id(entitle_client* client, char** out) {
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (out == nullptr) return invalid("out is NULL");
        *out = copy_string(c.config().host_id);
        return {};
    });
}

entitle_status entitle_server_url(entitle_client* client, char** out) {
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (out == nullptr) return invalid("out is NULL");
        *out = copy_string(c.config().server_url);
        return {};
    });
}

entitle_status entitle_client_set_timeout(entitle_client* client, int64_t timeout_ms) {
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (timeout_ms < 100 || timeout_ms > 600'000) {
            return invalid("timeout_ms must be 100 to 600000");
        }
        c.set_timeout(std::chrono::milliseconds(timeout_ms));
        return {};
    });
}

entitle_status entitle_client_set_retry(entitle_client* client, int max_attempts,
                                        int64_t base_delay_ms, int64_t max_delay_ms) {
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (max_attempts < 1 || max_attempts > 100) return invalid("max_attempts must be 1 to 100");
        if (base_delay_ms < 0 || base_delay_ms > 600'000 || max_delay_ms < 0 ||
            max_delay_ms > 600'000) {
            return invalid("delays must be 0 to 600000 ms");
        }
        c.set_retry({max_attempts, base_delay_ms, max_delay_ms});
        return {};
    });
}

entitle_status entitle_client_set_state_dir(entitle_client* client, const char* dir) {
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (!valid_text(dir)) return invalid("dir is NULL or empty");
        return c.set_state_dir(dir);
    });
}

entitle_status entitle_client_set_clock(entitle_client* client, entitle_clock_fn monotonic_ms,
                                        entitle_clock_fn wall_ms, void* user_data) {
    return guarded(client, [&](Client& c) -> Outcome<void> {
        c.set_clocks({monotonic_ms, wall_ms, user_data});
        return {};
    });
}

entitle_status entitle_checkout(entitle_client* client, const char* feature, const char* gpu_uuid,
                                const char* vgpu_id, const char* profile, entitle_lease** out) {
    if (out != nullptr) *out = nullptr;
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (!valid_text(feature) || !valid_text(gpu_uuid) || !valid_text(vgpu_id)) {
            return invalid("feature, gpu_uuid and vgpu_id must be non-empty strings");
        }
        entitle::lib::CheckoutArgs args{feature, gpu_uuid, vgpu_id, std::nullopt};
        if (profile != nullptr) args.profile = std::string(profile);
        auto lease = c.checkout(args);
        if (!lease) return std::unexpected(lease.error());
        if (out != nullptr) *out = make_lease(*lease);
        return {};
    });
}

entitle_status entitle_renew(entitle_client* client, const char* lease_id, entitle_lease** out) {
    if (out != nullptr) *out = nullptr;
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (!valid_text(lease_id)) return invalid("lease_id must be a non-empty string");
        auto lease = c.renew(lease_id);
        if (!lease) return std::unexpected(lease.error());
        if (out != nullptr) *out = make_lease(*lease);
        return {};
    });
}

entitle_status entitle_release(entitle_client* client, const char* lease_id) {
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (!valid_text(lease_id)) return invalid("lease_id must be a non-empty string");
        return c.release(lease_id);
    });
}

entitle_status entitle_release_vgpu(entitle_client* client, const char* vgpu_id, size_t* released) {
    if (released != nullptr) *released = 0;
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (!valid_text(vgpu_id)) return invalid("vgpu_id must be a non-empty string");
        auto count = c.release_vgpu(vgpu_id);
        if (!count) return std::unexpected(count.error());
        if (released != nullptr) *released = *count;
        return {};
    });
}

entitle_status entitle_held_leases(entitle_client* client, entitle_lease_list** out) {
    if (out != nullptr) *out = nullptr;
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (out == nullptr) return invalid("out is NULL");
        auto views = c.held();
        if (!views) return std::unexpected(views.error());
        *out = make_list(*views);
        return {};
    });
}

entitle_status entitle_lease_verify(entitle_client* client, const char* lease_id,
                                    int64_t* seconds_left) {
    if (seconds_left != nullptr) *seconds_left = 0;
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (!valid_text(lease_id)) return invalid("lease_id must be a non-empty string");
        auto view = c.verify_held(lease_id);
        if (!view) return std::unexpected(view.error());
        if (seconds_left != nullptr) *seconds_left = view->seconds_left;
        return {};
    });
}

entitle_status entitle_token_verify(entitle_client* client, const char* token,
                                    entitle_lease** out) {
    if (out != nullptr) *out = nullptr;
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (!valid_text(token)) return invalid("token must be a non-empty string");
        auto view = c.verify_token(token);
        if (!view) return std::unexpected(view.error());
        if (out != nullptr) *out = make_lease(*view);
        return {};
    });
}

entitle_status entitle_reconcile(entitle_client* client, const char* const* vgpu_ids, size_t count,
                                 entitle_lease_list** released) {
    if (released != nullptr) *released = nullptr;
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (count > 0 && vgpu_ids == nullptr) return invalid("vgpu_ids is NULL");
        std::vector<std::string> ids;
        ids.reserve(count);
        for (size_t i = 0; i < count; ++i) {
            if (!valid_text(vgpu_ids[i])) return invalid("a vGPU id is NULL or empty");
            ids.emplace_back(vgpu_ids[i]);
        }
        auto done = c.reconcile(ids);
        if (!done) return std::unexpected(done.error());
        if (released != nullptr) {
            std::vector<LeaseView> views;
            for (auto& l : *done) views.push_back(LeaseView{std::move(l), 0, false, {}});
            *released = make_list(views);
        }
        return {};
    });
}

entitle_status entitle_clock_skew(entitle_client* client, int64_t* server_minus_host) {
    return guarded(client, [&](Client& c) -> Outcome<void> {
        if (server_minus_host == nullptr) return invalid("server_minus_host is NULL");
        const auto skew = c.clock_skew();
        if (!skew) {
            return entitle::lib::fail(ENTITLE_NOT_FOUND, "no server answer seen yet");
        }
        *server_minus_host = *skew;
        return {};
    });
}

entitle_status entitle_renewer_start(entitle_client* client, entitle_lease_lost_fn lost,
                                     void* user_data) {
    return guarded(client, [&](Client& c) -> Outcome<void> {
        entitle::lib::LostLeaseCallback callback;
        if (lost != nullptr) {
            callback = [lost, user_data](const std::string& lease_id, const std::string& vgpu_id,
                                         entitle_status why) {
                lost(lease_id.c_str(), vgpu_id.c_str(), why, user_data);
            };
        }
        return c.start_renewer(std::move(callback));
    });
}

entitle_status entitle_renewer_stop(entitle_client* client) {
    return guarded(client, [&](Client& c) -> Outcome<void> { return c.stop_renewer(); });
}

}  // extern "C"
