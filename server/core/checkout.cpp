#include "core/checkout.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "core/audit_event.hpp"
#include "crypto/digest.hpp"

namespace entitle {

namespace {

using json = nlohmann::json;

Result<std::string> required_id(const json& obj, std::string_view key, std::string_view where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return fail(ErrorCode::invalid_request, fmt::format("\"{}\" is required", where));
    }
    if (!it->is_string()) return fail(ErrorCode::invalid_request, fmt::format("\"{}\" must be a string", where));
    auto s = it->get<std::string>();
    if (s.empty()) return fail(ErrorCode::invalid_request, fmt::format("\"{}\" must not be empty", where));
    if (s.size() > kMaxIdLength) {
        return fail(ErrorCode::invalid_request, fmt::format("\"{}\" is longer than {} bytes", where, kMaxIdLength));
    }
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) {
            return fail(ErrorCode::invalid_request, fmt::format("\"{}\" contains control characters", where));
        }
    }
    return s;
}

Result<std::optional<std::string>> optional_id(const json& obj, std::string_view key, std::string_view where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::optional<std::string>{};
    auto s = required_id(obj, key, where);
    if (!s) return std::unexpected(s.error());
    return std::optional<std::string>(std::move(*s));
}

int model_rank(SeatModel m) {
    switch (m) {
        case SeatModel::subscription: return 1;
        case SeatModel::concurrent: return 2;
        case SeatModel::per_device: return 3;
    }
    return 4;
}

bool devices_admit(const Entitlement& e, const std::string& gpu) {
    return e.devices.empty() || std::ranges::find(e.devices, gpu) != e.devices.end();
}

}  // namespace

Result<CheckoutRequest> parse_checkout_request(const json& body) {
    if (!body.is_object()) return fail(ErrorCode::invalid_request, "body must be a JSON object");
    CheckoutRequest r;
    auto rid = required_id(body, "request_id", "request_id");
    if (!rid) return std::unexpected(rid.error());
    r.request_id = std::move(*rid);
    auto feature = required_id(body, "feature", "feature");
    if (!feature) return std::unexpected(feature.error());
    r.feature = std::move(*feature);

    const auto gpu = body.find("gpu");
    if (gpu == body.end() || !gpu->is_object()) {
        return fail(ErrorCode::invalid_request, "\"gpu\" must be an object {\"uuid\",\"model\"?}");
    }
    auto uuid = required_id(*gpu, "uuid", "gpu.uuid");
    if (!uuid) return std::unexpected(uuid.error());
    r.gpu_uuid = std::move(*uuid);
    auto model = optional_id(*gpu, "model", "gpu.model");
    if (!model) return std::unexpected(model.error());
    r.gpu_model = std::move(*model);

    const auto vgpu = body.find("vgpu");
    if (vgpu == body.end() || !vgpu->is_object()) {
        return fail(ErrorCode::invalid_request, "\"vgpu\" must be an object {\"id\",\"profile\"?}");
    }
    auto vid = required_id(*vgpu, "id", "vgpu.id");
    if (!vid) return std::unexpected(vid.error());
    r.vgpu_id = std::move(*vid);
    auto profile = optional_id(*vgpu, "profile", "vgpu.profile");
    if (!profile) return std::unexpected(profile.error());
    r.vgpu_profile = std::move(*profile);
    return r;
}

std::string checkout_fingerprint(const CheckoutRequest& r) {
    const json canonical = {
        {"feature", r.feature},
        {"gpu", {{"uuid", r.gpu_uuid}, {"model", r.gpu_model ? json(*r.gpu_model) : json(nullptr)}}},
        {"vgpu", {{"id", r.vgpu_id}, {"profile", r.vgpu_profile ? json(*r.vgpu_profile) : json(nullptr)}}}};
    return crypto::sha256_hex(canonical_json(canonical));
}

std::expected<Grant, Refusal> decide_checkout(const std::vector<Candidate>& candidates,
                                              const std::string& host_region, const std::string& gpu_uuid,
                                              std::int64_t now_s) {
    std::vector<std::size_t> usable;  // valid now and admitting the GPU
    bool any_valid = false;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const auto& e = candidates[i].entitlement;
        if (!e.valid_at(now_s)) continue;
        any_valid = true;
        if (devices_admit(e, gpu_uuid)) usable.push_back(i);
    }
    if (usable.empty()) {
        return std::unexpected(Refusal{
            {ErrorCode::no_entitlement,
             any_valid ? fmt::format("GPU {} is outside the device lock of every valid entitlement for "
                                     "this feature",
                                     gpu_uuid)
                       : std::string("no entitlement for this feature is valid now")},
            {}});
    }
    std::vector<std::size_t> admissible;
    for (auto i : usable) {
        if (regions_admit(candidates[i].entitlement.regions, host_region)) admissible.push_back(i);
    }
    if (admissible.empty()) {
        return std::unexpected(
            Refusal{{ErrorCode::region_denied,
                     fmt::format("no valid entitlement for this feature may be used in region {}", host_region)},
                    {}});
    }
    std::ranges::sort(admissible, [&](std::size_t a, std::size_t b) {
        const auto& ca = candidates[a];
        const auto& cb = candidates[b];
        const auto key = [](const Candidate& c) {
            const auto& e = c.entitlement;
            const bool seated = e.model == SeatModel::per_device && c.gpu_holds_seat;
            return std::tuple<int, std::int64_t, const std::string&, const std::string&>(
                seated ? 0 : model_rank(e.model),
                e.model == SeatModel::subscription ? e.not_after.value_or(INT64_MAX) : 0, c.license_jti,
                e.id);
        };
        return key(ca) < key(cb);
    });
    for (auto i : admissible) {
        const auto& c = candidates[i];
        if (c.entitlement.model == SeatModel::per_device && c.gpu_holds_seat) return Grant{i, false, false};
        if (!c.entitlement.count || c.in_use < *c.entitlement.count) return Grant{i, true, false};
    }
    for (auto i : admissible) {
        const auto limit = candidates[i].entitlement.seat_limit();
        if (!limit || candidates[i].in_use < *limit) return Grant{i, true, true};
    }
    Refusal full{{ErrorCode::oversubscribed,
                  "every entitlement for this feature that admits this host and GPU is in full use"},
                 std::move(admissible)};
    return std::unexpected(std::move(full));
}

std::int64_t lease_expiry(const Entitlement& e, std::int64_t now_s, std::int64_t default_seconds) {
    std::int64_t duration = default_seconds;
    if (e.max_lease_seconds) duration = std::min(duration, *e.max_lease_seconds);
    std::int64_t exp = now_s + duration;
    if (e.not_after) exp = std::min(exp, *e.not_after);
    return exp;
}

}  // namespace entitle
