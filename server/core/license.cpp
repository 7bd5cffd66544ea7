#include "core/license.hpp"

#include <limits>
#include <set>

#include <fmt/format.h>

namespace entitle {

namespace {

constexpr std::size_t kMaxStringLength = 256;
constexpr std::size_t kMaxEntitlements = 1000;
constexpr std::size_t kMaxListEntries = 10000;
constexpr int kMaxDepth = 32;

using json = nlohmann::json;

std::unexpected<Error> bad(std::string_view where, std::string_view what) {
    return fail(ErrorCode::invalid_license, fmt::format("{}: {}", where, what));
}

std::string shown(const json& v) {
    std::string s = v.dump(-1, ' ', true, json::error_handler_t::replace);
    if (s.size() > 40) s = s.substr(0, 37) + "...";
    return s;
}

// An integer claim: JSON integer (not float, not string, not bool) fitting int64.
Result<std::int64_t> get_int(const json& v, std::string_view where, std::int64_t lo, std::int64_t hi,
                             std::string_view expect) {
    if (!v.is_number_integer()) return bad(where, fmt::format("must be {}, got {}", expect, shown(v)));
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return bad(where, fmt::format("must be {}, got {}", expect, shown(v)));
    }
    const auto n = v.get<std::int64_t>();
    if (n < lo || n > hi) return bad(where, fmt::format("must be {}, got {}", expect, n));
    return n;
}

Result<std::string> get_string(const json& v, std::string_view where) {
    if (!v.is_string()) return bad(where, fmt::format("must be a string, got {}", shown(v)));
    auto s = v.get<std::string>();
    if (s.empty()) return bad(where, "must not be empty");
    if (s.size() > kMaxStringLength) return bad(where, fmt::format("longer than {} bytes", kMaxStringLength));
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) return bad(where, "must not contain control characters");
    }
    return s;
}

Result<std::vector<std::string>> get_string_list(const json& v, std::string_view where) {
    if (!v.is_array()) return bad(where, fmt::format("must be an array of strings, got {}", shown(v)));
    if (v.empty()) return bad(where, "must not be empty (leave it out instead)");
    if (v.size() > kMaxListEntries) return bad(where, fmt::format("more than {} entries", kMaxListEntries));
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        auto s = get_string(v[i], fmt::format("{}[{}]", where, i));
        if (!s) return std::unexpected(s.error());
        out.push_back(std::move(*s));
    }
    return out;
}

const json* find(const json& obj, std::string_view key) {
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}

Result<Entitlement> parse_entitlement(const json& e, std::string_view where) {
    if (!e.is_object()) return bad(where, fmt::format("must be an object, got {}", shown(e)));
    Entitlement out;
    const auto field = [&](std::string_view k) { return fmt::format("{}.{}", where, k); };

    const json* id = find(e, "id");
    if (!id) return bad(field("id"), "is required");
    auto ids = get_string(*id, field("id"));
    if (!ids) return std::unexpected(ids.error());
    out.id = std::move(*ids);

    const json* feature = find(e, "feature");
    if (!feature) return bad(field("feature"), "is required");
    auto fs = get_string(*feature, field("feature"));
    if (!fs) return std::unexpected(fs.error());
    out.feature = std::move(*fs);

    const json* model = find(e, "model");
    if (!model) return bad(field("model"), "is required (per_device, concurrent or subscription)");
    const auto m = model->is_string() ? parse_seat_model(model->get<std::string>()) : std::nullopt;
    if (!m) {
        return bad(field("model"),
                   fmt::format("must be per_device, concurrent or subscription, got {}", shown(*model)));
    }
    out.model = *m;

    if (const json* count = find(e, "count")) {
        auto c = get_int(*count, field("count"), 1, kMaxSeatCount, "an integer from 1 to 1000000000");
        if (!c) return std::unexpected(c.error());
        out.count = *c;
    } else if (out.model != SeatModel::subscription) {
        return bad(field("count"), "is required for per_device and concurrent");
    }

    for (auto [key, slot] : {std::pair{"not_before", &out.not_before}, std::pair{"not_after", &out.not_after}}) {
        if (const json* t = find(e, key)) {
            auto v = get_int(*t, field(key), 0, std::int64_t{253402300799}, "epoch seconds (an integer)");
            if (!v) return std::unexpected(v.error());
            *slot = *v;
        }
    }
    if (out.model == SeatModel::subscription && (!out.not_before || !out.not_after)) {
        return bad(where, "a subscription needs both not_before and not_after");
    }
    if (out.not_before && out.not_after && *out.not_before >= *out.not_after) {
        return bad(where, fmt::format("not_before ({}) must be before not_after ({})", *out.not_before,
                                      *out.not_after));
    }

    if (const json* regions = find(e, "regions")) {
        auto r = get_string_list(*regions, field("regions"));
        if (!r) return std::unexpected(r.error());
        for (const auto& p : *r) {
            const auto star = p.find('*');
            if (star != std::string::npos && star != p.size() - 1) {
                return bad(field("regions"),
                           fmt::format("'*' may only end a pattern (\"eu-*\"), got \"{}\"", p));
            }
            if (p.find_first_of(" \t") != std::string::npos) {
                return bad(field("regions"), fmt::format("\"{}\" contains white space", p));
            }
        }
        out.regions = std::move(*r);
    }

    if (const json* devices = find(e, "devices")) {
        if (out.model != SeatModel::per_device) {
            return bad(field("devices"), "is only allowed on per_device entitlements");
        }
        auto d = get_string_list(*devices, field("devices"));
        if (!d) return std::unexpected(d.error());
        out.devices = std::move(*d);
    }

    if (const json* overage = find(e, "overage")) {
        if (!overage->is_object()) return bad(field("overage"), "must be an object");
        const json* policy = find(*overage, "policy");
        if (!policy || !policy->is_string() ||
            (policy->get<std::string>() != "deny" && policy->get<std::string>() != "allow")) {
            return bad(field("overage.policy"),
                       fmt::format("must be \"deny\" or \"allow\", got {}", policy ? shown(*policy) : "nothing"));
        }
        out.overage.allow = policy->get<std::string>() == "allow";
        if (const json* pct = find(*overage, "limit_percent")) {
            auto p = get_int(*pct, field("overage.limit_percent"), 0, kMaxOveragePercent,
                             "an integer from 0 to 1000");
            if (!p) return std::unexpected(p.error());
            out.overage.limit_percent = *p;
        } else if (out.overage.allow) {
            return bad(field("overage.limit_percent"), "is required with policy \"allow\"");
        }
    }

    if (const json* mls = find(e, "max_lease_seconds")) {
        auto v = get_int(*mls, field("max_lease_seconds"), 1, std::numeric_limits<std::int32_t>::max(),
                         "a positive integer");
        if (!v) return std::unexpected(v.error());
        out.max_lease_seconds = *v;
    }
    return out;
}

}  // namespace

std::string_view seat_model_name(SeatModel m) noexcept {
    switch (m) {
        case SeatModel::per_device: return "per_device";
        case SeatModel::concurrent: return "concurrent";
        case SeatModel::subscription: return "subscription";
    }
    return "unknown";
}

std::optional<SeatModel> parse_seat_model(std::string_view s) noexcept {
    if (s == "per_device") return SeatModel::per_device;
    if (s == "concurrent") return SeatModel::concurrent;
    if (s == "subscription") return SeatModel::subscription;
    return std::nullopt;
}

bool Entitlement::valid_at(std::int64_t now_s) const noexcept {
    return (!not_before || now_s >= *not_before) && (!not_after || now_s < *not_after);
}

std::optional<std::int64_t> Entitlement::seat_limit() const noexcept {
    if (!count) return std::nullopt;
    if (!overage.allow) return *count;
    return *count * (100 + overage.limit_percent) / 100;  // floor for non-negative values
}

bool License::lapsed_at(std::int64_t now_s) const noexcept {
    for (const auto& e : entitlements) {
        if (!e.not_after || *e.not_after > now_s) return false;
    }
    return true;
}

Result<License> parse_license_claims(const json& claims) {
    if (!claims.is_object()) return bad("claims", "must be a JSON object");
    License out;
    for (auto [key, slot] : {std::pair{"jti", &out.jti}, std::pair{"iss", &out.iss}, std::pair{"sub", &out.sub}}) {
        const json* v = find(claims, key);
        if (!v) return bad(key, "is required");
        auto s = get_string(*v, key);
        if (!s) return std::unexpected(s.error());
        *slot = std::move(*s);
    }
    if (out.jti.find('/') != std::string::npos) return bad("jti", "must not contain '/'");
    const json* iat = find(claims, "iat");
    if (!iat) return bad("iat", "is required");
    auto i = get_int(*iat, "iat", 0, std::int64_t{253402300799}, "epoch seconds (an integer)");
    if (!i) return std::unexpected(i.error());
    out.iat = *i;
    if (const json* sup = find(claims, "supersedes"); sup && !sup->is_null()) {
        auto s = get_string(*sup, "supersedes");
        if (!s) return std::unexpected(s.error());
        if (*s == out.jti) return bad("supersedes", "a license cannot supersede itself");
        out.supersedes = std::move(*s);
    }
    const json* ents = find(claims, "entitlements");
    if (!ents) return bad("entitlements", "is required");
    if (!ents->is_array()) return bad("entitlements", fmt::format("must be an array, got {}", shown(*ents)));
    if (ents->empty()) return bad("entitlements", "must not be empty");
    if (ents->size() > kMaxEntitlements) return bad("entitlements", fmt::format("more than {}", kMaxEntitlements));
    std::set<std::string> seen;
    for (std::size_t k = 0; k < ents->size(); ++k) {
        auto e = parse_entitlement((*ents)[k], fmt::format("entitlements[{}]", k));
        if (!e) return std::unexpected(e.error());
        if (!seen.insert(e->id).second) {
            return bad(fmt::format("entitlements[{}].id", k), fmt::format("\"{}\" is used twice", e->id));
        }
        out.entitlements.push_back(std::move(*e));
    }
    return out;
}

Result<License> parse_license_payload(std::string_view payload) {
    struct TooDeep {};
    json claims;
    try {
        claims = json::parse(payload, [](int depth, json::parse_event_t, json&) {
            if (depth > kMaxDepth) throw TooDeep{};
            return true;
        });
    } catch (const TooDeep&) {
        return bad("claims", fmt::format("JSON nested deeper than {} levels", kMaxDepth));
    } catch (const json::parse_error& e) {
        return bad("claims", fmt::format("not valid JSON (byte {}{})", e.byte,
                                         e.id == 101 && std::string_view(e.what()).find("UTF-8") != std::string_view::npos
                                             ? ", invalid UTF-8"
                                             : ""));
    } catch (const json::exception&) {
        // out_of_range for a number too large for a double (1e400).
        return bad("claims", "not valid JSON (a number is out of range)");
    }
    return parse_license_claims(claims);
}

nlohmann::json entitlement_to_json(const Entitlement& e) {
    json j = {{"id", e.id}, {"feature", e.feature}, {"model", seat_model_name(e.model)}};
    j["count"] = e.count ? json(*e.count) : json(nullptr);
    j["not_before"] = e.not_before ? json(*e.not_before) : json(nullptr);
    j["not_after"] = e.not_after ? json(*e.not_after) : json(nullptr);
    j["regions"] = e.regions.empty() ? json(nullptr) : json(e.regions);
    if (!e.devices.empty()) j["devices"] = e.devices;
    j["overage"] = e.overage.allow ? json{{"policy", "allow"}, {"limit_percent", e.overage.limit_percent}}
                                   : json{{"policy", "deny"}};
    if (e.max_lease_seconds) j["max_lease_seconds"] = *e.max_lease_seconds;
    return j;
}

bool region_matches(std::string_view pattern, std::string_view region) noexcept {
    if (!pattern.empty() && pattern.back() == '*') {
        return region.starts_with(pattern.substr(0, pattern.size() - 1));
    }
    return pattern == region;
}

bool regions_admit(const std::vector<std::string>& regions, std::string_view region) noexcept {
    if (regions.empty()) return true;
    for (const auto& p : regions) {
        if (region_matches(p, region)) return true;
    }
    return false;
}

}  // namespace entitle
