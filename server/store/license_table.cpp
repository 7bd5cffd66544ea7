#include "store/license_table.hpp"

#include "crypto/digest.hpp"
#include "store/audit_log.hpp"
#include "store/lease_table.hpp"

namespace entitle::store {

namespace {

using json = nlohmann::json;

constexpr std::string_view kLicenseColumns =
    "jti, iss, sub, iat, kid, supersedes, compact, sha256, imported_at, state, ended_at, superseded_by";

LicenseState parse_state(const std::string& s) {
    if (s == "superseded") return LicenseState::superseded;
    if (s == "withdrawn") return LicenseState::withdrawn;
    return LicenseState::active;
}

std::vector<std::string> json_list(const std::optional<std::string>& text) {
    if (!text) return {};
    auto j = json::parse(*text, nullptr, false);
    if (!j.is_array()) return {};
    return j.get<std::vector<std::string>>();
}

}  // namespace

StoredEntitlement stored_entitlement_row(const Statement& st) {
    StoredEntitlement s;
    s.license_jti = st.text(0);
    auto& e = s.entitlement;
    e.id = st.text(1);
    e.feature = st.text(2);
    e.model = parse_seat_model(st.text(3)).value_or(SeatModel::concurrent);
    e.count = st.opt_int64(4);
    e.not_before = st.opt_int64(5);
    e.not_after = st.opt_int64(6);
    e.regions = json_list(st.opt_text(7));
    e.devices = json_list(st.opt_text(8));
    e.overage.allow = st.int64(9) != 0;
    e.overage.limit_percent = st.int64(10);
    e.max_lease_seconds = st.opt_int64(11);
    s.peak = st.int64(12);
    s.in_use = st.int64(13);
    return s;
}

namespace {

std::vector<StoredEntitlement> entitlements_of(Connection& c, const std::string& jti) {
    auto st = c.cached(std::string("SELECT ") + std::string(kEntitlementColumnsAliased) +
                       " FROM entitlements e WHERE e.license_jti = ?1 ORDER BY e.ordinal");
    st.bind(1, jti);
    std::vector<StoredEntitlement> out;
    while (st.step()) out.push_back(stored_entitlement_row(st));
    return out;
}

StoredLicense row_to_license(Connection& c, const Statement& st) {
    StoredLicense s;
    s.license.jti = st.text(0);
    s.license.iss = st.text(1);
    s.license.sub = st.text(2);
    s.license.iat = st.int64(3);
    s.kid = st.text(4);
    s.license.supersedes = st.opt_text(5);
    s.compact = st.text(6);
    s.sha256 = st.text(7);
    s.imported_at = st.int64(8);
    s.state = parse_state(st.text(9));
    s.ended_at = st.opt_int64(10);
    s.superseded_by = st.opt_text(11);
    for (auto& e : entitlements_of(c, s.license.jti)) {
        s.usage.push_back({e.in_use, e.peak});
        s.license.entitlements.push_back(std::move(e.entitlement));
    }
    return s;
}

void insert_entitlement(Connection& c, const std::string& jti, const Entitlement& e, std::int64_t ordinal) {
    auto st = c.cached(
        "INSERT INTO entitlements (license_jti, id, feature, model, count, not_before, not_after, regions, "
        "devices, overage_allow, overage_limit_percent, max_lease_seconds, peak, ordinal) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13)");
    st.bind(1, jti).bind(2, e.id).bind(3, e.feature).bind(4, seat_model_name(e.model));
    st.bind(5, e.count).bind(6, e.not_before).bind(7, e.not_after);
    st.bind(8, e.regions.empty() ? std::optional<std::string>() : json(e.regions).dump());
    st.bind(9, e.devices.empty() ? std::optional<std::string>() : json(e.devices).dump());
    st.bind(10, std::int64_t{e.overage.allow ? 1 : 0}).bind(11, e.overage.limit_percent);
    st.bind(12, e.max_lease_seconds).bind(13, ordinal);
    st.run();
}

json license_detail(const License& l, const std::string& sha) {
    json ents = json::array();
    for (const auto& e : l.entitlements) ents.push_back(e.id);
    json d = {{"jti", l.jti}, {"iss", l.iss}, {"sub", l.sub}, {"sha256", sha}, {"entitlements", ents}};
    if (l.supersedes) d["supersedes"] = *l.supersedes;
    return d;
}

}  // namespace

std::string_view license_state_name(LicenseState s) noexcept {
    switch (s) {
        case LicenseState::active: return "active";
        case LicenseState::superseded: return "superseded";
        case LicenseState::withdrawn: return "withdrawn";
    }
    return "unknown";
}

std::optional<StoredLicense> find_license(Connection& c, const std::string& jti) {
    auto st = c.cached(std::string("SELECT ") + std::string(kLicenseColumns) + " FROM licenses WHERE jti = ?1");
    st.bind(1, jti);
    if (!st.step()) return std::nullopt;
    return row_to_license(c, st);
}

std::vector<StoredLicense> list_licenses(Connection& c, const std::string& after_jti, std::int64_t limit) {
    auto st = c.cached(std::string("SELECT ") + std::string(kLicenseColumns) +
                       " FROM licenses WHERE jti > ?1 ORDER BY jti LIMIT ?2");
    st.bind(1, after_jti).bind(2, limit);
    std::vector<StoredLicense> out;
    while (st.step()) out.push_back(row_to_license(c, st));
    return out;
}

std::vector<StoredEntitlement> list_active_entitlements(Connection& c) {
    auto st = c.cached(std::string("SELECT ") + std::string(kEntitlementColumnsAliased) +
                       " FROM entitlements e JOIN licenses l ON l.jti = e.license_jti "
                       "WHERE l.state = 'active' ORDER BY e.license_jti, e.ordinal");
    std::vector<StoredEntitlement> out;
    while (st.step()) out.push_back(stored_entitlement_row(st));
    return out;
}

ImportOutcome import_license(Connection& c, const ImportRequest& r) {
    const License& l = r.verified.license;
    const std::string stored_sha = crypto::sha256_hex(r.verified.compact);
    if (auto existing = find_license(c, l.jti)) {
        if (existing->license == l && existing->kid == r.verified.kid) return ImportOutcome::unchanged;
        append_audit(c, {r.now_ms, "license_rejected", r.actor, l.jti,
                         {{"reason", "conflict"},
                          {"message", "a license with this jti exists with other content"},
                          {"sha256", r.file_sha256}}});
        return ImportOutcome::conflict;
    }
    const std::int64_t now_s = r.now_ms / 1000;
    auto st = c.cached(
        "INSERT INTO licenses (jti, iss, sub, iat, kid, supersedes, compact, sha256, imported_at, state) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'active')");
    st.bind(1, l.jti).bind(2, l.iss).bind(3, l.sub).bind(4, l.iat).bind(5, r.verified.kid);
    st.bind(6, l.supersedes).bind(7, r.verified.compact).bind(8, stored_sha).bind(9, now_s);
    st.run();
    std::int64_t ordinal = 0;
    for (const auto& e : l.entitlements) insert_entitlement(c, l.jti, e, ordinal++);

    json detail = license_detail(l, r.file_sha256);
    if (l.supersedes) {
        auto old = find_license(c, *l.supersedes);
        if (old && old->state == LicenseState::active) {
            auto up = c.cached(
                "UPDATE licenses SET state = 'superseded', ended_at = ?2, superseded_by = ?3 WHERE jti = ?1");
            up.bind(1, *l.supersedes).bind(2, now_s).bind(3, l.jti).run();
            detail["superseded"] = true;
            append_audit(c, {r.now_ms, "license_imported", r.actor, l.jti, detail});
            move_leases_to_license(c, *l.supersedes, l.jti, r.actor, r.now_ms);
            return ImportOutcome::created;
        } else {
            // Nothing active to replace: the new license stands on its own.
            detail["superseded"] = false;
        }
    }
    append_audit(c, {r.now_ms, "license_imported", r.actor, l.jti, std::move(detail)});
    return ImportOutcome::created;
}

std::optional<bool> withdraw_license(Connection& c, const std::string& jti, const std::string& actor,
                                     std::int64_t now_ms) {
    auto existing = find_license(c, jti);
    if (!existing) return std::nullopt;
    if (existing->state != LicenseState::active) return false;
    auto st = c.cached("UPDATE licenses SET state = 'withdrawn', ended_at = ?2 WHERE jti = ?1");
    st.bind(1, jti).bind(2, now_ms / 1000).run();
    append_audit(c, {now_ms, "license_withdrawn", actor, jti, {{"jti", jti}, {"sub", existing->license.sub}}});
    end_leases_of_license(c, jti, "license_withdrawn", actor, now_ms);
    return true;
}

}  // namespace entitle::store
