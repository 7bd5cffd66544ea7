#include "client.hpp"

#include <time.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "crypto/ordered_id.hpp"
#include "http_date.hpp"
#include "https_transport.hpp"
#include "log.hpp"

namespace entitle::lib {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr std::int64_t kSkewWarningSeconds = 120;
constexpr std::size_t kMaxIdBytes = 256;  // the server's limit for every id
constexpr int kLeasePageSize = 500;
constexpr int kMaxLeasePages = 1000;
// The renewer's own backoff while the server is away, and how often it
// re-reads a shared state file for leases other processes checked out.
constexpr RetryPolicy kRenewerBackoff{0, 1'000, 60'000};
constexpr milliseconds kRenewerMaxSleep{30'000};
constexpr milliseconds kRenewerMinSleep{50};
// A JWKS fetched for an unknown key id is fetched again at most this often.
constexpr std::int64_t kKeyRefreshIntervalMs = 60'000;

std::uint64_t random_u64() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng();
}

std::string percent_encode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

Outcome<void> check_id(const char* what, const std::string& value) {
    if (value.empty() || value.size() > kMaxIdBytes) {
        return fail(ENTITLE_INVALID_ARGUMENT, std::string(what) + " must be 1 to 256 bytes");
    }
    for (const unsigned char c : value) {
        if (c < 0x20 || c == 0x7f) {
            return fail(ENTITLE_INVALID_ARGUMENT,
                        std::string(what) + " must not contain control characters");
        }
    }
    // Ids travel in JSON, which holds only valid UTF-8.
    const auto checked =
        json::parse(json(value).dump(-1, ' ', false, json::error_handler_t::replace));
    if (checked.get<std::string>() != value) {
        return fail(ENTITLE_INVALID_ARGUMENT, std::string(what) + " must be valid UTF-8");
    }
    return {};
}

// "rq_", this host's wall clock in milliseconds and 96 random bits: unique
// without coordination, and in the order the server's request index is kept
// (crypto::time_ordered_id), so the checkouts of many hosts add their keys at
// its end instead of each on a page of its own.
std::string new_request_id(std::int64_t wall_ms) {
    return crypto::time_ordered_id("rq_", wall_ms, 12);
}

// Text from the server, made safe for a one-line message.
std::string printable(std::string_view text) {
    std::string out;
    for (const char ch : text.substr(0, 500)) {
        const auto c = static_cast<unsigned char>(ch);
        out.push_back(c < 0x20 || c == 0x7f ? '?' : ch);
    }
    return out;
}

// The failure a non-2xx answer stands for.
Failure api_failure(const HttpResponse& response) {
    const auto body = json::parse(response.body, nullptr, false);
    std::string code;
    std::string message;
    if (body.is_object() && body.contains("error") && body["error"].is_object()) {
        const auto& error = body["error"];
        code = error.value("code", "");
        message = error.value("message", "");
    }
    const entitle_status status = status_from_api_error(response.status, code);
    if (message.empty()) message = "the server answered HTTP " + std::to_string(response.status);
    return Failure{status, printable(message)};
}

bool same_values(const CheckoutArgs& a, const std::string& feature, const std::string& gpu,
                 const std::optional<std::string>& profile) {
    return a.feature == feature && a.gpu_uuid == gpu && a.profile == profile;
}

std::string read_boot_id() {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(in, id);
    return id.empty() ? "unknown-boot" : id;
}

}  // namespace

// ---------------------------------------------------------------- clocks

std::int64_t Clocks::monotonic_ms() const {
    if (monotonic != nullptr) return monotonic(user_data);
    timespec ts{};
    // CLOCK_BOOTTIME keeps counting while the host is suspended, as a lease does.
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::int64_t Clocks::wall_ms() const {
    if (wall != nullptr) return wall(user_data);
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---------------------------------------------------------------- set-up

Outcome<std::unique_ptr<Client>> Client::open(const std::string& config_path) {
    auto loaded = load_host_config(config_path);
    if (!loaded) return std::unexpected(loaded.error());
    if (loaded->readable_by_others) {
        log_message(ENTITLE_LOG_WARNING,
                    "host configuration " + config_path +
                        " is readable by group or others, but it holds the host token: chmod "
                        "600 it");
    }
    auto transport = make_https_transport(loaded->config.server, loaded->config.ca_pem);
    if (!transport) return std::unexpected(transport.error());
    return std::make_unique<Client>(std::move(loaded->config), std::move(*transport));
}

Client::Client(HostConfig config, std::unique_ptr<Transport> transport)
    : config_(std::move(config)),
      transport_(std::move(transport)),
      boot_id_(read_boot_id()),
      keys_(config_.lease_keys) {
    book_.host_id = config_.host_id;
}

Client::~Client() { (void)stop_renewer(); }

void Client::set_timeout(milliseconds timeout) {
    const std::lock_guard lock(mu_);
    timeout_ = timeout;
}

void Client::set_retry(const RetryPolicy& policy) {
    const std::lock_guard lock(mu_);
    retry_ = policy;
}

void Client::set_clocks(const Clocks& clocks) {
    const std::lock_guard lock(mu_);
    clocks_ = clocks;
}

Outcome<void> Client::set_state_dir(const std::string& dir) {
    auto file = LeaseStateFile::open(dir);
    if (!file) return std::unexpected(file.error());
    auto lock = file->lock();
    if (!lock) return std::unexpected(lock.error());
    auto book = file->read(config_.host_id);
    if (!book) return std::unexpected(book.error());
    const std::lock_guard guard(mu_);
    state_ = std::move(*file);
    book_ = std::move(*book);
    return {};
}

int Client::attempts() const {
    const std::lock_guard lock(mu_);
    return retry_.max_attempts;
}

std::string Client::current_boot_id() const {
    // A test clock has its own time line: leases timed by it must not be
    // judged by the real one in another process, and the other way round.
    return clocks_.monotonic != nullptr ? "test-clock" : boot_id_;
}

std::optional<std::int64_t> Client::clock_skew() const {
    if (!has_skew_.load()) return std::nullopt;
    return skew_s_.load();
}

Outcome<void> Client::with_book(const std::function<Outcome<bool>(LeaseBook&)>& fn) {
    const std::lock_guard guard(mu_);
    if (!state_) {
        auto changed = fn(book_);
        if (!changed) return std::unexpected(changed.error());
        return {};
    }
    auto lock = state_->lock();
    if (!lock) return std::unexpected(lock.error());
    auto book = state_->read(config_.host_id);
    if (!book) return std::unexpected(book.error());
    book_ = std::move(*book);
    auto changed = fn(book_);
    if (!changed) return std::unexpected(changed.error());
    if (*changed) return state_->write(book_);
    return {};
}

// ---------------------------------------------------------------- network

void Client::note_skew(std::int64_t server_s) {
    std::int64_t wall_ms = 0;
    {
        const std::lock_guard lock(mu_);
        wall_ms = clocks_.wall_ms();
    }
    const std::int64_t skew = server_s - wall_ms / 1000;
    skew_s_.store(skew);
    has_skew_.store(true);
    // Warns once per distinct skew (0 = not warned), not on every answer.
    const std::int64_t warned = warned_skew_s_.load();
    if (std::abs(skew) > kSkewWarningSeconds && std::abs(skew - warned) > kSkewWarningSeconds / 2) {
        warned_skew_s_.store(skew);
        log_message(ENTITLE_LOG_WARNING,
                    "the server's clock and this host's differ by " + std::to_string(skew) +
                        " s (server minus host); leases are timed by the monotonic clock and "
                        "are not affected, but fix the host's time (NTP)");
    } else if (std::abs(skew) <= kSkewWarningSeconds) {
        warned_skew_s_.store(0);
    }
}

Outcome<HttpResponse> Client::call(const std::string& method, const std::string& target,
                                   const std::string& body, int attempts) {
    milliseconds timeout{};
    RetryPolicy policy;
    {
        const std::lock_guard lock(mu_);
        timeout = timeout_;
        policy = retry_;
    }
    const HttpRequest request{method, target, body, config_.host_token};
    attempts = std::clamp(attempts, 1, 100);
    Failure last{ENTITLE_INTERNAL, "no attempt made"};
    for (int attempt = 0; attempt < attempts; ++attempt) {
        if (attempt > 0) {
            const auto pause = backoff_delay_ms(policy, attempt - 1, random_u64());
            log_message(ENTITLE_LOG_INFO, method + " " + target + ": " + last.message +
                                              "; trying again in " + std::to_string(pause) +
                                              " ms (attempt " + std::to_string(attempt + 1) +
                                              " of " + std::to_string(attempts) + ")");
            std::this_thread::sleep_for(milliseconds(pause));
        }
        auto response = transport_->exchange(request, timeout);
        if (response) {
            if (response->date) {
                if (const auto date = parse_http_date(*response->date)) note_skew(*date);
            }
            const bool gateway =
                response->status == 502 || response->status == 503 || response->status == 504;
            if (!gateway || attempt + 1 == attempts) return response;
            last = api_failure(*response);
            continue;
        }
        last = std::move(response.error());
        if (!is_retryable(last.status)) break;
    }
    return std::unexpected(last);
}

std::expected<LeaseClaims, TokenError> Client::verify_with_keys(const std::string& token,
                                                                bool may_fetch) {
    std::shared_ptr<const KeySet> keys;
    {
        const std::lock_guard lock(mu_);
        keys = keys_;
    }
    auto claims = verify_lease_token(token, *keys, config_.host_id);
    if (claims || claims.error().kind != TokenError::Kind::unknown_key || !may_fetch) {
        return claims;
    }
    // The server may have a new signing key since the config was written:
    // GET /v1/keys over the same pinned TLS is as trustworthy as the file.
    refresh_keys();
    {
        const std::lock_guard lock(mu_);
        keys = keys_;
    }
    return verify_lease_token(token, *keys, config_.host_id);
}

void Client::refresh_keys() {
    {
        const std::lock_guard lock(mu_);
        const std::int64_t now = clocks_.monotonic_ms();
        if (keys_fetched_mono_ms_ != INT64_MIN &&
            now - keys_fetched_mono_ms_ < kKeyRefreshIntervalMs) {
            return;
        }
        keys_fetched_mono_ms_ = now;
    }
    auto response = call("GET", "/v1/keys", "", 1);
    if (!response || response->status != 200) return;
    const auto body = json::parse(response->body, nullptr, false);
    auto fetched = parse_jwks(body, "GET /v1/keys");
    if (!fetched) {
        log_message(ENTITLE_LOG_WARNING, fetched.error().message);
        return;
    }
    const std::lock_guard lock(mu_);
    KeySet merged;
    for (const auto& [kid, key] : *config_.lease_keys) {
        auto copy = crypto::Ed25519PublicKey::from_raw(key.raw());
        if (copy) merged.insert_or_assign(kid, std::move(*copy));
    }
    for (auto& [kid, key] : *fetched) merged.insert_or_assign(kid, std::move(key));
    keys_ = std::make_shared<const KeySet>(std::move(merged));
}

Outcome<HeldLease> Client::accept_grant(const HttpResponse& response, std::int64_t start_mono_ms,
                                        const CheckoutArgs* expected) {
    const auto body = json::parse(response.body, nullptr, false);
    const auto text = [&](const char* name) -> std::optional<std::string> {
        if (!body.is_object() || !body.contains(name) || !body[name].is_string()) {
            return std::nullopt;
        }
        return body[name].get<std::string>();
    };
    const auto number = [&](const char* name) -> std::optional<std::int64_t> {
        if (!body.is_object() || !body.contains(name) || !body[name].is_number_integer()) {
            return std::nullopt;
        }
        return body[name].get<std::int64_t>();
    };
    const auto lease_id = text("lease_id");
    const auto token = text("token");
    const auto expires_at = number("expires_at");
    const auto renew_after = number("renew_after");
    if (!lease_id || !token || !expires_at || !renew_after) {
        return fail(ENTITLE_PROTOCOL_ERROR,
                    "the server's grant lacks lease_id, token, expires_at or renew_after");
    }
    auto claims = verify_with_keys(*token, true);
    if (!claims) return fail(ENTITLE_TOKEN_INVALID, claims.error().message);
    if (claims->jti != *lease_id || claims->exp != *expires_at) {
        return fail(ENTITLE_TOKEN_INVALID,
                    "lease token: jti/exp do not match the grant's lease_id/expires_at");
    }
    if (expected != nullptr &&
        (claims->vgpu != expected->vgpu_id || claims->gpu != expected->gpu_uuid ||
         claims->feature != expected->feature)) {
        return fail(ENTITLE_TOKEN_INVALID,
                    "lease token: feature/gpu/vgpu do not match the checkout");
    }

    HeldLease lease;
    lease.lease_id = *lease_id;
    lease.token = *token;
    lease.feature = claims->feature;
    lease.entitlement = text("entitlement").value_or(claims->ent);
    lease.gpu_uuid = claims->gpu;
    lease.vgpu_id = claims->vgpu;
    if (expected != nullptr) lease.profile = expected->profile;
    lease.issued_at = claims->iat;
    lease.expires_at = claims->exp;
    lease.renew_after = std::clamp(*renew_after, claims->iat, claims->exp);
    lease.overage = body.is_object() && body.value("overage", false);

    // Timed from the start of the first attempt: the server granted after it,
    // so the lease never seems to last longer here than on the server.
    std::int64_t received = 0;
    {
        const std::lock_guard lock(mu_);
        received = clocks_.monotonic_ms();
        lease.timing.boot_id = current_boot_id();
    }
    std::int64_t lapse = start_mono_ms + (claims->exp - claims->iat) * 1000;
    if (response.date) {
        if (const auto date = parse_http_date(*response.date)) {
            lapse = std::min(lapse, received + (claims->exp - *date) * 1000);
        }
    } else {
        note_skew(claims->iat);  // the server's clock at the grant, to a second or so
    }
    lease.timing.lapse_mono_ms = lapse;
    lease.timing.renew_mono_ms =
        std::min(lapse, start_mono_ms + (lease.renew_after - claims->iat) * 1000);
    lease.timing.skew_s = clock_skew().value_or(0);
    return lease;
}

Outcome<std::vector<HeldLease>> Client::list_server_leases() {
    std::vector<HeldLease> out;
    std::string after;
    for (int page = 0; page < kMaxLeasePages; ++page) {
        std::string target = "/v1/leases?limit=" + std::to_string(kLeasePageSize);
        if (!after.empty()) target += "&after=" + percent_encode(after);
        auto response = call("GET", target, "", attempts());
        if (!response) return std::unexpected(response.error());
        if (response->status != 200) return std::unexpected(api_failure(*response));
        const auto body = json::parse(response->body, nullptr, false);
        if (!body.is_object() || !body.contains("leases") || !body["leases"].is_array()) {
            return fail(ENTITLE_PROTOCOL_ERROR, "GET /v1/leases: no \"leases\" list");
        }
        for (const auto& item : body["leases"]) {
            if (!item.is_object()) continue;
            HeldLease l;
            l.lease_id = item.value("lease_id", "");
            l.feature = item.value("feature", "");
            l.entitlement = item.value("entitlement", "");
            if (item.contains("gpu") && item["gpu"].is_object()) {
                l.gpu_uuid = item["gpu"].value("uuid", "");
            }
            if (item.contains("vgpu") && item["vgpu"].is_object()) {
                const auto& v = item["vgpu"];
                l.vgpu_id = v.value("id", "");
                if (v.contains("profile") && v["profile"].is_string()) {
                    l.profile = v["profile"].get<std::string>();
                }
            }
            if (item.contains("expires_at") && item["expires_at"].is_number_integer()) {
                l.expires_at = item["expires_at"].get<std::int64_t>();
            }
            if (!l.lease_id.empty()) out.push_back(std::move(l));
        }
        if (!body.contains("next") || !body["next"].is_string()) return out;
        after = body["next"].get<std::string>();
    }
    return fail(ENTITLE_PROTOCOL_ERROR, "GET /v1/leases did not end after 1000 pages");
}

// ---------------------------------------------------------------- judging

std::int64_t Client::ms_left(const HeldLease& lease, bool until_renew) const {
    const std::lock_guard lock(mu_);
    if (lease.timing.boot_id == current_boot_id()) {
        const std::int64_t at =
            until_renew ? lease.timing.renew_mono_ms : lease.timing.lapse_mono_ms;
        return at - clocks_.monotonic_ms();
    }
    // Another boot (or clock): the monotonic marks mean nothing here; the
    // server's time is estimated by the wall clock and the skew seen at the grant.
    const std::int64_t server_now_ms = clocks_.wall_ms() + lease.timing.skew_s * 1000;
    return (until_renew ? lease.renew_after : lease.expires_at) * 1000 - server_now_ms;
}

LeaseView Client::judge(const HeldLease& lease) {
    LeaseView view;
    view.lease = lease;
    const std::int64_t left = ms_left(lease, false);
    view.seconds_left = left > 0 ? left / 1000 : (left - 999) / 1000;  // rounded down
    auto claims = verify_with_keys(lease.token, false);
    if (!claims) {
        view.token_problem = claims.error().message;
    } else if (claims->jti != lease.lease_id || claims->vgpu != lease.vgpu_id) {
        view.token_problem = "lease token: jti/vgpu do not match the held lease";
    } else {
        view.token_verified = true;
    }
    return view;
}

// ---------------------------------------------------------------- operations

Outcome<HeldLease> Client::send_checkout(const CheckoutArgs& args, const std::string& request_id) {
    json body = {{"request_id", request_id},
                 {"feature", args.feature},
                 {"gpu", {{"uuid", args.gpu_uuid}}},
                 {"vgpu", {{"id", args.vgpu_id}}}};
    if (args.profile) body["vgpu"]["profile"] = *args.profile;
    std::int64_t start = 0;
    {
        const std::lock_guard lock(mu_);
        start = clocks_.monotonic_ms();
    }
    auto response = call("POST", "/v1/leases", body.dump(), attempts());
    if (!response) return std::unexpected(response.error());  // pending stays: retry-safe
    if (response->status != 201 && response->status != 200) {
        const Failure refused = api_failure(*response);
        (void)with_book([&](LeaseBook& book) -> Outcome<bool> {
            book.remove_pending(args.vgpu_id);
            return true;
        });
        return std::unexpected(refused);
    }
    auto lease = accept_grant(*response, start, &args);
    if (!lease) {
        // A grant whose token does not verify is of no use: give the seat back.
        const auto parsed = json::parse(response->body, nullptr, false);
        if (parsed.is_object() && parsed.contains("lease_id") && parsed["lease_id"].is_string()) {
            (void)delete_lease(parsed["lease_id"].get<std::string>(), 1);
        }
        (void)with_book([&](LeaseBook& book) -> Outcome<bool> {
            book.remove_pending(args.vgpu_id);
            return true;
        });
        return std::unexpected(lease.error());
    }
    lease->request_id = request_id;
    return lease;
}

Outcome<LeaseView> Client::checkout(const CheckoutArgs& args) {
    bool stale_pending = false;
    auto lease = checkout_once(args, true, stale_pending);
    if (!lease && stale_pending) {
        // The pending request was answered with a lease that has ended since:
        // check out anew, this time never reusing a pending request.
        lease = checkout_once(args, false, stale_pending);
    }
    return lease;
}

Outcome<LeaseView> Client::checkout_once(const CheckoutArgs& args, bool reuse_pending,
                                         bool& stale_pending) {
    for (const auto& [what, value] :
         {std::pair<const char*, const std::string*>{"feature", &args.feature},
          {"gpu_uuid", &args.gpu_uuid},
          {"vgpu_id", &args.vgpu_id}}) {
        if (auto ok = check_id(what, *value); !ok) return std::unexpected(ok.error());
    }
    if (args.profile) {
        if (auto ok = check_id("profile", *args.profile); !ok) return std::unexpected(ok.error());
    }

    // The plan, decided under the state lock: answer the lease the vGPU holds,
    // or send a checkout with a request_id remembered before it is sent.
    std::optional<HeldLease> held;
    std::string request_id;
    bool reused_pending = false;
    auto plan = [&](LeaseBook& book) -> Outcome<bool> {
        if (HeldLease* h = book.find_lease_for_vgpu(args.vgpu_id)) {
            if (!same_values(args, h->feature, h->gpu_uuid, h->profile)) {
                return fail(ENTITLE_CONFLICT, "vGPU " + args.vgpu_id + " already holds lease " +
                                                  h->lease_id + " for feature " + h->feature +
                                                  " on GPU " + h->gpu_uuid + ": release it first");
            }
            held = *h;
            return false;
        }
        if (PendingCheckout* p = book.find_pending(args.vgpu_id)) {
            if (reuse_pending && same_values(args, p->feature, p->gpu_uuid, p->profile)) {
                request_id = p->request_id;
                reused_pending = true;
                return false;
            }
            book.remove_pending(args.vgpu_id);
        }
        request_id = new_request_id(clocks_.wall_ms());
        book.pending.push_back(
            PendingCheckout{request_id, args.feature, args.gpu_uuid, args.vgpu_id, args.profile});
        return true;
    };
    if (auto ok = with_book(plan); !ok) return std::unexpected(ok.error());

    if (held) {
        // The vGPU holds a lease already (a hook run twice, a restarted VM):
        // renewing it proves it is still active and extends it.
        auto renewed = renew_lease(held->lease_id, attempts(), true);
        if (renewed) return renewed;
        if (renewed.error().status == ENTITLE_UNAVAILABLE && !held->releasing) {
            LeaseView view = judge(*held);
            if (view.seconds_left > 0 && view.token_verified) {
                log_message(ENTITLE_LOG_WARNING, "the server is unreachable; vGPU " + args.vgpu_id +
                                                     " keeps its lease " + held->lease_id + " (" +
                                                     std::to_string(view.seconds_left) +
                                                     " s left)");
                return view;
            }
        }
        if (renewed.error().status != ENTITLE_EXPIRED &&
            renewed.error().status != ENTITLE_NOT_FOUND) {
            return std::unexpected(renewed.error());
        }
        held.reset();  // it ended: check out anew
        if (auto ok = with_book(plan); !ok) return std::unexpected(ok.error());
        if (held) {
            return fail(ENTITLE_CONFLICT,
                        "vGPU " + args.vgpu_id + " got a lease from another process meanwhile");
        }
    }

    auto lease = send_checkout(args, request_id);
    if (!lease && reused_pending && lease.error().status == ENTITLE_EXPIRED) {
        // The server answers a request_id whose lease has ended with 410.
        stale_pending = true;
        return fail(ENTITLE_EXPIRED, "the pending checkout's lease has ended");
    }
    if (!lease) return std::unexpected(lease.error());
    if (reused_pending) {
        // The grant answers a checkout sent earlier, perhaps by a process that
        // died long ago: the lease may have ended since. A renewal tells.
        auto renewed = renew_lease(lease->lease_id, attempts(), true);
        if (!renewed && (renewed.error().status == ENTITLE_EXPIRED ||
                         renewed.error().status == ENTITLE_NOT_FOUND)) {
            (void)with_book([&](LeaseBook& book) -> Outcome<bool> {
                book.remove_pending(args.vgpu_id);
                return true;
            });
            stale_pending = true;
            return fail(ENTITLE_EXPIRED, "the pending checkout's lease has ended");
        }
    }
    auto stored = with_book([&](LeaseBook& book) -> Outcome<bool> {
        book.remove_pending(args.vgpu_id);
        if (HeldLease* renewed = book.find_lease(lease->lease_id)) {
            lease->token = renewed->token;  // a confirming renewal above stored a newer token
            lease->issued_at = renewed->issued_at;
            lease->expires_at = renewed->expires_at;
            lease->renew_after = renewed->renew_after;
            lease->timing = renewed->timing;
        }
        book.put_lease(*lease);
        return true;
    });
    if (!stored) return std::unexpected(stored.error());
    return judge(*lease);
}

Outcome<LeaseView> Client::renew_lease(const std::string& lease_id, int attempts, bool adopt,
                                       bool* dropped_meanwhile) {
    std::int64_t start = 0;
    {
        const std::lock_guard lock(mu_);
        start = clocks_.monotonic_ms();
    }
    auto response = call("POST", "/v1/leases/" + percent_encode(lease_id) + "/renew", "", attempts);
    if (!response) return std::unexpected(response.error());
    if (response->status != 200 && response->status != 201) {
        const Failure refused = api_failure(*response);
        if (refused.status == ENTITLE_EXPIRED || refused.status == ENTITLE_NOT_FOUND ||
            refused.status == ENTITLE_FORBIDDEN) {
            (void)with_book(
                [&](LeaseBook& book) -> Outcome<bool> { return book.remove_lease(lease_id); });
        }
        return std::unexpected(refused);
    }
    auto lease = accept_grant(*response, start, nullptr);
    if (!lease) return std::unexpected(lease.error());
    bool kept = adopt;
    auto stored = with_book([&](LeaseBook& book) -> Outcome<bool> {
        if (HeldLease* previous = book.find_lease(lease_id)) {
            lease->request_id = previous->request_id;
            lease->profile = previous->profile;
            kept = true;
        }
        if (!kept) return false;  // released meanwhile: do not bring it back
        book.put_lease(*lease);
        return true;
    });
    if (!stored) return std::unexpected(stored.error());
    if (!kept) {
        if (dropped_meanwhile != nullptr) *dropped_meanwhile = true;
        return fail(ENTITLE_NOT_FOUND, "lease " + lease_id + " is no longer held here");
    }
    return judge(*lease);
}

Outcome<LeaseView> Client::renew(const std::string& lease_id) {
    if (auto ok = check_id("lease_id", lease_id); !ok) return std::unexpected(ok.error());
    return renew_lease(lease_id, attempts(), true);
}

Outcome<void> Client::delete_lease(const std::string& lease_id, int attempts) {
    auto response = call("DELETE", "/v1/leases/" + percent_encode(lease_id), "", attempts);
    if (!response) return std::unexpected(response.error());
    if (response->status == 204 || response->status == 200) return {};
    return std::unexpected(api_failure(*response));
}

Outcome<void> Client::release(const std::string& lease_id) {
    if (auto ok = check_id("lease_id", lease_id); !ok) return std::unexpected(ok.error());
    auto deleted = delete_lease(lease_id, attempts());
    if (!deleted && deleted.error().status == ENTITLE_UNAVAILABLE) {
        // Remember the intent: the renewer or a later reconcile releases it,
        // and nothing renews it meanwhile.
        (void)with_book([&](LeaseBook& book) -> Outcome<bool> {
            HeldLease* held = book.find_lease(lease_id);
            if (held == nullptr) return false;
            held->releasing = true;
            return true;
        });
        return fail(ENTITLE_UNAVAILABLE,
                    deleted.error().message +
                        " (the lease is marked for release; the renewer or the next reconcile "
                        "releases it)");
    }
    if (!deleted && deleted.error().status != ENTITLE_NOT_FOUND) {
        return std::unexpected(deleted.error());
    }
    auto dropped =
        with_book([&](LeaseBook& book) -> Outcome<bool> { return book.remove_lease(lease_id); });
    if (!dropped) return std::unexpected(dropped.error());
    if (!deleted) return std::unexpected(deleted.error());
    return {};
}

Outcome<std::size_t> Client::release_vgpu(const std::string& vgpu_id) {
    if (auto ok = check_id("vgpu_id", vgpu_id); !ok) return std::unexpected(ok.error());
    std::set<std::string> ids;
    auto local = with_book([&](LeaseBook& book) -> Outcome<bool> {
        for (const auto& l : book.leases) {
            if (l.vgpu_id == vgpu_id) ids.insert(l.lease_id);
        }
        return false;
    });
    if (!local) return std::unexpected(local.error());
    auto server = list_server_leases();
    if (!server) {
        if (server.error().status == ENTITLE_UNAVAILABLE) {
            // Marked for release: the renewer or a later reconcile releases them.
            (void)with_book([&](LeaseBook& book) -> Outcome<bool> {
                bool changed = false;
                for (auto& l : book.leases) {
                    if (l.vgpu_id == vgpu_id && !l.releasing) changed = l.releasing = true;
                }
                return changed;
            });
        }
        return std::unexpected(server.error());
    }
    for (const auto& l : *server) {
        if (l.vgpu_id == vgpu_id) ids.insert(l.lease_id);
    }
    std::size_t released = 0;
    std::optional<Failure> first_failure;
    for (const auto& id : ids) {
        auto done = release(id);
        if (done || done.error().status == ENTITLE_NOT_FOUND) {
            ++released;
        } else if (!first_failure) {
            first_failure = done.error();
        }
    }
    auto dropped = with_book([&](LeaseBook& book) -> Outcome<bool> {
        const bool had = book.find_pending(vgpu_id) != nullptr;
        book.remove_pending(vgpu_id);
        return had;
    });
    if (!dropped) return std::unexpected(dropped.error());
    if (first_failure) return std::unexpected(*first_failure);
    return released;
}

Outcome<std::vector<LeaseView>> Client::held() {
    std::vector<HeldLease> leases;
    auto read = with_book([&](LeaseBook& book) -> Outcome<bool> {
        leases = book.leases;
        return false;
    });
    if (!read) return std::unexpected(read.error());
    std::vector<LeaseView> out;
    out.reserve(leases.size());
    for (const auto& l : leases) out.push_back(judge(l));
    return out;
}

Outcome<LeaseView> Client::verify_held(const std::string& lease_id) {
    std::optional<HeldLease> lease;
    auto read = with_book([&](LeaseBook& book) -> Outcome<bool> {
        if (const HeldLease* l = book.find_lease(lease_id)) lease = *l;
        return false;
    });
    if (!read) return std::unexpected(read.error());
    if (!lease) return fail(ENTITLE_NOT_FOUND, "lease " + lease_id + " is not held here");
    LeaseView view = judge(*lease);
    if (!view.token_verified) return fail(ENTITLE_TOKEN_INVALID, view.token_problem);
    if (view.seconds_left <= 0) {
        return fail(ENTITLE_EXPIRED, "lease " + lease_id + " ran out " +
                                         std::to_string(-view.seconds_left) + " s ago");
    }
    return view;
}

Outcome<LeaseView> Client::verify_token(const std::string& token) {
    auto claims = verify_with_keys(token, false);
    if (!claims) return fail(ENTITLE_TOKEN_INVALID, claims.error().message);
    LeaseView view;
    view.lease.lease_id = claims->jti;
    view.lease.token = token;
    view.lease.feature = claims->feature;
    view.lease.entitlement = claims->ent;
    view.lease.gpu_uuid = claims->gpu;
    view.lease.vgpu_id = claims->vgpu;
    view.lease.issued_at = claims->iat;
    view.lease.expires_at = claims->exp;
    view.lease.renew_after = claims->iat + (claims->exp - claims->iat) / 2;
    view.token_verified = true;
    std::int64_t server_now_ms = 0;
    {
        const std::lock_guard lock(mu_);
        server_now_ms = clocks_.wall_ms();
    }
    server_now_ms += clock_skew().value_or(0) * 1000;
    const std::int64_t left = claims->exp * 1000 - server_now_ms;
    view.seconds_left = left > 0 ? left / 1000 : (left - 999) / 1000;
    if (left <= 0) {
        return fail(ENTITLE_EXPIRED, "lease token " + claims->jti + " expired " +
                                         std::to_string(-view.seconds_left) + " s ago");
    }
    return view;
}

Outcome<std::vector<HeldLease>> Client::reconcile(const std::vector<std::string>& vgpu_ids) {
    const std::set<std::string> keep(vgpu_ids.begin(), vgpu_ids.end());
    // Leases held before the server is asked: one checked out meanwhile is
    // not on the server's list yet and must not be dropped for that.
    std::set<std::string> held_before;
    auto snapshot = with_book([&](LeaseBook& book) -> Outcome<bool> {
        for (const auto& l : book.leases) held_before.insert(l.lease_id);
        return false;
    });
    if (!snapshot) return std::unexpected(snapshot.error());

    auto server = list_server_leases();
    if (!server) return std::unexpected(server.error());
    std::set<std::string> active;
    std::vector<HeldLease> released;
    std::optional<Failure> first_failure;
    for (const auto& l : *server) {
        if (keep.contains(l.vgpu_id)) {
            active.insert(l.lease_id);
            continue;
        }
        auto done = delete_lease(l.lease_id, attempts());
        if (done || done.error().status == ENTITLE_NOT_FOUND) {
            released.push_back(l);
            log_message(ENTITLE_LOG_INFO, "reconcile: released lease " + l.lease_id + " of vGPU " +
                                              l.vgpu_id + ", which no longer exists");
        } else {
            active.insert(l.lease_id);  // still there: keep it until it is released
            if (!first_failure) first_failure = done.error();
        }
    }
    auto pruned = with_book([&](LeaseBook& book) -> Outcome<bool> {
        const auto before = book.leases.size() + book.pending.size();
        std::erase_if(book.leases, [&](const HeldLease& l) {
            if (!keep.contains(l.vgpu_id)) return !active.contains(l.lease_id);
            return held_before.contains(l.lease_id) && !active.contains(l.lease_id);
        });
        std::erase_if(book.pending,
                      [&](const PendingCheckout& p) { return !keep.contains(p.vgpu_id); });
        return book.leases.size() + book.pending.size() != before;
    });
    if (!pruned) return std::unexpected(pruned.error());
    if (first_failure) return std::unexpected(*first_failure);
    return released;
}

// ---------------------------------------------------------------- renewer

bool Client::on_renewer_thread() const { return renewer_id_.load() == std::this_thread::get_id(); }

Outcome<void> Client::start_renewer(LostLeaseCallback lost) {
    const std::lock_guard lock(renewer_mu_);
    if (renewer_.joinable()) return fail(ENTITLE_CONFLICT, "the renewer runs already");
    renewer_stop_ = false;
    lost_ = std::move(lost);
    renewer_retries_.clear();
    renewer_ = std::thread([this] { renewer_loop(); });
    return {};
}

Outcome<void> Client::stop_renewer() {
    if (on_renewer_thread()) {
        return fail(ENTITLE_INVALID_ARGUMENT,
                    "the renewer cannot be stopped from its own lease-lost callback");
    }
    std::thread thread;
    {
        const std::lock_guard lock(renewer_mu_);
        renewer_stop_ = true;
        thread = std::move(renewer_);
    }
    renewer_cv_.notify_all();
    if (thread.joinable()) thread.join();
    return {};
}

void Client::renewer_loop() {
    renewer_id_.store(std::this_thread::get_id());
    // Runs until stop_renewer(); every pass is bounded by the held leases.
    for (;;) {
        milliseconds pause = kRenewerMaxSleep;
        try {
            pause = renew_due_leases();
        } catch (const std::exception& e) {
            log_message(ENTITLE_LOG_ERROR, std::string("renewer: ") + e.what());
        }
        std::unique_lock lock(renewer_mu_);
        if (renewer_cv_.wait_for(lock, pause, [this] { return renewer_stop_; })) break;
    }
    renewer_id_.store(std::thread::id{});
}

std::chrono::milliseconds Client::renew_due_leases() {
    std::vector<HeldLease> leases;
    auto read = with_book([&](LeaseBook& book) -> Outcome<bool> {
        leases = book.leases;
        return false;
    });
    if (!read) {
        log_message(ENTITLE_LOG_ERROR, "renewer: " + read.error().message);
        return kRenewerMaxSleep;
    }
    std::int64_t now = 0;
    {
        const std::lock_guard lock(mu_);
        now = clocks_.monotonic_ms();
    }
    std::int64_t wake_in = kRenewerMaxSleep.count();
    std::set<std::string> seen;
    const auto lose = [&](const HeldLease& l, entitle_status why, const std::string& message) {
        (void)with_book([&](LeaseBook& book) -> Outcome<bool> {
            const HeldLease* current = book.find_lease(l.lease_id);
            if (current == nullptr || current->token != l.token) return false;  // changed meanwhile
            return book.remove_lease(l.lease_id);
        });
        renewer_retries_.erase(l.lease_id);
        log_message(ENTITLE_LOG_WARNING,
                    "lease " + l.lease_id + " of vGPU " + l.vgpu_id + " is lost: " + message);
        if (lost_) lost_(l.lease_id, l.vgpu_id, why);
    };
    const auto schedule_retry = [&](const HeldLease& l, const Failure& failure) {
        RetryState& r = renewer_retries_[l.lease_id];
        // Backoff with jitter, but never more than a quarter of the time the
        // lease has left, so that a server back shortly before the end still
        // sees a few tries in time.
        const std::int64_t quarter_left = ms_left(l, false) / 4;
        const auto pause = std::max<std::int64_t>(
            std::min(backoff_delay_ms(kRenewerBackoff, r.failures, random_u64()), quarter_left),
            kRenewerMinSleep.count());
        r.failures = std::min(r.failures + 1, 30);
        r.next_try_mono_ms = now + pause;
        log_message(ENTITLE_LOG_WARNING, "renewer: lease " + l.lease_id + ": " + failure.message +
                                             "; trying again in " + std::to_string(pause) + " ms");
    };

    for (const auto& l : leases) {
        seen.insert(l.lease_id);
        const RetryState retry =
            renewer_retries_.contains(l.lease_id) ? renewer_retries_[l.lease_id] : RetryState{};
        const std::int64_t lapse_in = ms_left(l, false);
        if (l.releasing) {
            if (lapse_in <= 0) {
                (void)with_book(
                    [&](LeaseBook& b) -> Outcome<bool> { return b.remove_lease(l.lease_id); });
                continue;  // ended on the server by itself
            }
            if (now >= retry.next_try_mono_ms) {
                auto done = delete_lease(l.lease_id, 1);
                if (done || done.error().status != ENTITLE_UNAVAILABLE) {
                    (void)with_book(
                        [&](LeaseBook& b) -> Outcome<bool> { return b.remove_lease(l.lease_id); });
                    renewer_retries_.erase(l.lease_id);
                    continue;
                }
                schedule_retry(l, done.error());
            }
            wake_in = std::min(wake_in, renewer_retries_[l.lease_id].next_try_mono_ms - now);
            continue;
        }
        if (lapse_in <= 0) {
            lose(l, ENTITLE_EXPIRED, "it ran out before the server could be reached");
            continue;
        }
        const std::int64_t renew_in = ms_left(l, true);
        if (renew_in <= 0 && now >= retry.next_try_mono_ms) {
            bool dropped_meanwhile = false;
            auto renewed = renew_lease(l.lease_id, 1, false, &dropped_meanwhile);
            if (renewed) {
                renewer_retries_.erase(l.lease_id);
                wake_in = std::min(wake_in, ms_left(renewed->lease, true));
                continue;
            }
            const entitle_status why = renewed.error().status;
            if (why == ENTITLE_UNAVAILABLE || why == ENTITLE_SERVER_ERROR ||
                why == ENTITLE_RATE_LIMITED || why == ENTITLE_TLS_ERROR ||
                why == ENTITLE_PROTOCOL_ERROR || why == ENTITLE_STATE_ERROR) {
                schedule_retry(l, renewed.error());
            } else if (dropped_meanwhile) {
                renewer_retries_.erase(l.lease_id);  // released by someone else meanwhile
                continue;
            } else {
                lose(l, why, renewed.error().message);
                continue;
            }
        }
        const auto retry_at = renewer_retries_.contains(l.lease_id)
                                  ? renewer_retries_[l.lease_id].next_try_mono_ms - now
                                  : renew_in;
        wake_in = std::min({wake_in, std::max(renew_in, retry_at), lapse_in});
    }
    std::erase_if(renewer_retries_, [&](const auto& entry) { return !seen.contains(entry.first); });
    return milliseconds(
        std::clamp<std::int64_t>(wake_in, kRenewerMinSleep.count(), kRenewerMaxSleep.count()));
}

}  // namespace entitle::lib
