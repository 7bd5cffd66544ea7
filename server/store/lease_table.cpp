#include "store/lease_table.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "core/access_token.hpp"
#include "core/json_text.hpp"
#include "crypto/ordered_id.hpp"
#include "store/audit_log.hpp"
#include "store/license_table.hpp"

namespace entitle::store {

namespace {

using json = nlohmann::json;

constexpr std::string_view kLeaseCols =
    "id, host_id, request_id, request_hash, license_jti, entitlement_id, feature, gpu_uuid, gpu_model, vgpu_id, "
    "vgpu_profile, overage, issued_at, expires_at, renewed_at, ended_at, end_reason, kid, token_nonce";

// `where`: what follows `FROM leases` (a WHERE clause, or INDEXED BY and one).
std::string lease_select(std::string_view where) {
    return std::string("SELECT ") + std::string(kLeaseCols) + " FROM leases " + std::string(where);
}

// A stored nonce seed; anything but 16 bytes (a store edited by hand) counts
// as none, and the token is then signed with RFC 8032's nonce.
std::optional<crypto::NonceSeed> nonce_seed(const std::optional<std::string>& blob) {
    crypto::NonceSeed seed{};
    if (!blob || blob->size() != seed.size()) return std::nullopt;
    std::copy(blob->begin(), blob->end(), seed.begin());
    return seed;
}

void bind_nonce_seed(Statement& st, int index, const std::optional<crypto::NonceSeed>& seed) {
    if (!seed) {
        st.bind_null(index);
    } else {
        st.bind_blob(index, std::string_view(reinterpret_cast<const char*>(seed->data()), seed->size()));
    }
}

LeaseRecord lease_row(const Statement& st) {
    LeaseRecord l;
    l.id = st.text(0);
    l.host_id = st.text(1);
    l.request_id = st.text(2);
    l.request_hash = st.text(3);
    l.license_jti = st.text(4);
    l.entitlement_id = st.text(5);
    l.feature = st.text(6);
    l.gpu_uuid = st.text(7);
    l.gpu_model = st.opt_text(8);
    l.vgpu_id = st.text(9);
    l.vgpu_profile = st.opt_text(10);
    l.overage = st.int64(11) != 0;
    l.issued_at = st.int64(12);
    l.expires_at = st.int64(13);
    l.renewed_at = st.opt_int64(14);
    l.ended_at = st.opt_int64(15);
    l.end_reason = st.opt_text(16);
    l.kid = st.text(17);
    l.token_nonce = nonce_seed(st.opt_blob(18));
    return l;
}

std::string candidate_select(std::string_view where) {
    return std::string("SELECT ") + std::string(kEntitlementColumnsAliased) +
           " FROM entitlements e JOIN licenses l ON l.jti = e.license_jti " + std::string(where);
}

Candidate candidate_row(const Statement& st) {
    auto s = stored_entitlement_row(st);
    return Candidate{std::move(s.license_jti), std::move(s.entitlement), s.in_use, false};
}

std::vector<Candidate> candidates_for(Connection& c, const std::string& feature, const std::string& jti = {}) {
    auto st = jti.empty() ? c.cached(candidate_select("WHERE e.feature = ?1 AND l.state = 'active'"))
                          : c.cached(candidate_select("WHERE e.feature = ?1 AND e.license_jti = ?2"));
    st.bind(1, feature);
    if (!jti.empty()) st.bind(2, jti);
    std::vector<Candidate> out;
    while (st.step()) out.push_back(candidate_row(st));
    return out;
}

bool gpu_holds_seat(Connection& c, const std::string& jti, const std::string& ent, const std::string& gpu) {
    auto st = c.cached(
        "SELECT 1 FROM device_seats WHERE license_jti = ?1 AND entitlement_id = ?2 AND gpu_uuid = ?3");
    st.bind(1, jti).bind(2, ent).bind(3, gpu);
    return st.step();
}

std::optional<SeatModel> model_of(Connection& c, const std::string& jti, const std::string& ent) {
    auto st = c.cached("SELECT model FROM entitlements WHERE license_jti = ?1 AND id = ?2");
    st.bind(1, jti).bind(2, ent);
    if (!st.step()) return std::nullopt;
    return parse_seat_model(st.text(0));
}

void add_in_use(Connection& c, const std::string& jti, const std::string& ent, std::int64_t delta) {
    auto st = c.cached(
        "UPDATE entitlements SET in_use = max(0, in_use + ?3), peak = max(peak, in_use + ?3) "
        "WHERE license_jti = ?1 AND id = ?2");
    st.bind(1, jti).bind(2, ent).bind(3, delta).run();
}

// Takes the seat a lease needs; returns true when a new seat was counted.
bool take_seat(Connection& c, const std::string& jti, const std::string& ent, SeatModel model,
               const std::string& gpu) {
    if (model == SeatModel::per_device) {
        auto up = c.cached(
            "UPDATE device_seats SET leases = leases + 1 "
            "WHERE license_jti = ?1 AND entitlement_id = ?2 AND gpu_uuid = ?3");
        up.bind(1, jti).bind(2, ent).bind(3, gpu).run();
        if (c.changes() > 0) return false;
        auto ins = c.cached(
            "INSERT INTO device_seats (license_jti, entitlement_id, gpu_uuid, leases) VALUES (?1, ?2, ?3, 1)");
        ins.bind(1, jti).bind(2, ent).bind(3, gpu).run();
    }
    add_in_use(c, jti, ent, 1);
    return true;
}

void free_seat(Connection& c, const LeaseRecord& l) {
    const auto model = model_of(c, l.license_jti, l.entitlement_id);
    if (model == SeatModel::per_device) {
        auto up = c.cached(
            "UPDATE device_seats SET leases = leases - 1 "
            "WHERE license_jti = ?1 AND entitlement_id = ?2 AND gpu_uuid = ?3");
        up.bind(1, l.license_jti).bind(2, l.entitlement_id).bind(3, l.gpu_uuid).run();
        auto del = c.cached(
            "DELETE FROM device_seats WHERE license_jti = ?1 AND entitlement_id = ?2 AND gpu_uuid = ?3 "
            "AND leases <= 0");
        del.bind(1, l.license_jti).bind(2, l.entitlement_id).bind(3, l.gpu_uuid).run();
        if (c.changes() == 0) return;  // the GPU still holds the seat through another lease
    }
    add_in_use(c, l.license_jti, l.entitlement_id, -1);
}

// What every lease event's detail holds, written as canonical text directly:
// these events come with every checkout and release.
CanonicalObject lease_detail(const LeaseRecord& l) {
    CanonicalObject d;
    d.add("lease", l.id).add("host", l.host_id).add("feature", l.feature).add("entitlement", l.entitlement_key());
    d.add("gpu", l.gpu_uuid).add("vgpu", l.vgpu_id).add("issued_at", l.issued_at).add("expires_at", l.expires_at);
    return d;
}

void append_lease_event(Connection& c, std::int64_t now_ms, std::string kind, const std::string& actor,
                        const std::string& lease_id, const CanonicalObject& detail) {
    AuditEntry e{now_ms, std::move(kind), actor, lease_id};
    e.detail_text = detail.text();
    append_audit(c, std::move(e));
}

// Marks the lease ended, frees its seat, audits `kind` with `reason`; false
// when it had ended already.
bool end_lease(Connection& c, const LeaseRecord& l, std::string_view reason, std::string kind,
               const std::string& actor, std::int64_t now_ms) {
    // An expired lease stopped holding its seat at expires_at, whenever it is swept.
    const std::int64_t end_s = std::string_view(kind) == "lease_expired" ? l.expires_at : now_ms / 1000;
    auto st = c.cached("UPDATE leases SET ended_at = ?2, end_reason = ?3 WHERE id = ?1 AND ended_at IS NULL");
    st.bind(1, l.id).bind(2, end_s).bind(3, reason).run();
    if (c.changes() == 0) return false;
    free_seat(c, l);
    auto d = lease_detail(l);
    d.add("reason", reason).add("ended_at", end_s);
    append_lease_event(c, now_ms, std::move(kind), actor, l.id, d);
    return true;
}

// Ends leases past their expires_at, whoever finds them (the sweeper, a
// checkout reclaiming seats, a late renewal or release, a license
// replacement). A lease cut short by its entitlement's not_after ends with
// the window (reason entitlement_expired), and each entitlement whose window
// closed on leases gets one entitlement_expired event counting them.
std::int64_t end_lapsed(Connection& c, const std::vector<LeaseRecord>& lapsed, std::int64_t now_ms) {
    std::map<std::string, std::int64_t> closed_windows;  // entitlement key -> leases ended
    std::int64_t ended = 0;
    for (const auto& l : lapsed) {
        auto w = c.cached("SELECT not_after FROM entitlements WHERE license_jti = ?1 AND id = ?2");
        w.bind(1, l.license_jti).bind(2, l.entitlement_id);
        const bool window_closed = w.step() && !w.is_null(0) && w.int64(0) <= l.expires_at;
        w.reset();
        if (!end_lease(c, l, window_closed ? "entitlement_expired" : "expired", "lease_expired", "system", now_ms)) {
            continue;
        }
        ++ended;
        if (window_closed) ++closed_windows[l.entitlement_key()];
    }
    for (const auto& [key, n] : closed_windows) {
        append_audit(c, {now_ms, "entitlement_expired", "system", key, {{"entitlement", key}, {"leases_ended", n}}});
    }
    return ended;
}

// Ends the leases of one entitlement that are past expires_at; returns how many.
std::int64_t reclaim_expired(Connection& c, const std::string& jti, const std::string& ent, std::int64_t now_ms) {
    // Through the expiry index: it holds only the few leases past their
    // expiry that the sweeper has not ended yet, where the entitlement's own
    // index would walk every live lease of it.
    auto st = c.cached(lease_select(
        "INDEXED BY leases_active_by_expiry "
        "WHERE ended_at IS NULL AND expires_at <= ?3 AND license_jti = ?1 AND entitlement_id = ?2"));
    st.bind(1, jti).bind(2, ent).bind(3, now_ms / 1000);
    std::vector<LeaseRecord> expired;
    while (st.step()) expired.push_back(lease_row(st));
    st.reset();
    return end_lapsed(c, expired, now_ms);
}

}  // namespace

// "l_", the issue time and 72 random bits (crypto::time_ordered_id): ids
// issued later sort later, so a new lease's key lands on the last page of the
// primary-key index instead of a random one, and listings by id run in issue
// order.
std::string new_lease_id(std::int64_t now_ms) { return crypto::time_ordered_id("l_", now_ms, 9); }

std::optional<LeaseRecord> find_lease(Connection& c, const std::string& id) {
    auto st = c.cached(lease_select("WHERE id = ?1"));
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return lease_row(st);
}

std::vector<LeaseRecord> list_active_leases(Connection& c, const LeaseFilter& f) {
    auto st = c.cached(lease_select(
        "WHERE ended_at IS NULL AND expires_at > ?1 AND id > ?2 AND (?3 IS NULL OR host_id = ?3) "
        "AND (?4 IS NULL OR feature = ?4) ORDER BY id LIMIT ?5"));
    st.bind(1, f.now_s).bind(2, f.after_id).bind(3, f.host_id).bind(4, f.feature).bind(5, f.limit);
    std::vector<LeaseRecord> out;
    while (st.step()) out.push_back(lease_row(st));
    return out;
}

CheckoutOutcome checkout_lease(Connection& c, const CheckoutInput& in) {
    const auto& req = in.request;
    const std::int64_t now_s = in.now_ms / 1000;
    {
        auto st = c.cached(lease_select("WHERE host_id = ?1 AND request_id = ?2"));
        st.bind(1, in.host.id).bind(2, req.request_id);
        if (st.step()) {
            auto prior = lease_row(st);
            if (prior.request_hash != in.fingerprint) {
                return {CheckoutOutcome::Kind::conflict, {},
                        Error{ErrorCode::conflict,
                              fmt::format("request_id {} was already used with another body", req.request_id)}};
            }
            if (prior.ended_at || now_s >= prior.expires_at) {
                // Never hand out a token for a lease that holds no seat.
                return {CheckoutOutcome::Kind::refused, {},
                        Error{ErrorCode::expired,
                              fmt::format("request_id {} was lease {}, which has ended ({}); check out with a new "
                                          "request_id",
                                          req.request_id, prior.id, prior.end_reason.value_or("expired"))}};
            }
            return {CheckoutOutcome::Kind::replayed, std::move(prior), std::nullopt};
        }
    }

    auto candidates = candidates_for(c, req.feature);
    for (auto& cand : candidates) {
        if (!cand.entitlement.valid_at(now_s)) continue;
        cand.in_use -= reclaim_expired(c, cand.license_jti, cand.entitlement.id, in.now_ms);
        if (cand.entitlement.model == SeatModel::per_device) {
            cand.gpu_holds_seat = gpu_holds_seat(c, cand.license_jti, cand.entitlement.id, req.gpu_uuid);
            // in_use for per_device counts GPUs; reclaiming leases may or may not free one.
            auto st = c.cached("SELECT in_use FROM entitlements WHERE license_jti = ?1 AND id = ?2");
            st.bind(1, cand.license_jti).bind(2, cand.entitlement.id);
            if (st.step()) cand.in_use = st.int64(0);
        }
    }

    auto decision = decide_checkout(candidates, in.host.region, req.gpu_uuid, now_s);
    if (!decision) {
        const auto& err = decision.error().error;
        json d = {{"host", in.host.id},  {"region", in.host.region}, {"feature", req.feature},
                  {"gpu", req.gpu_uuid}, {"vgpu", req.vgpu_id},     {"request_id", req.request_id}};
        if (err.code == ErrorCode::region_denied) {
            append_audit(c, {in.now_ms, "region_denied", in.actor, in.host.id, std::move(d)});
        } else if (err.code == ErrorCode::oversubscribed) {
            json full = json::array();
            for (auto i : decision.error().considered) {
                const auto& cand = candidates[i];
                full.push_back({{"entitlement", cand.license_jti + "/" + cand.entitlement.id},
                                {"in_use", cand.in_use},
                                {"count", cand.entitlement.count ? json(*cand.entitlement.count) : json(nullptr)},
                                {"limit", cand.entitlement.seat_limit() ? json(*cand.entitlement.seat_limit())
                                                                        : json(nullptr)}});
            }
            d["entitlements"] = std::move(full);
            append_audit(c, {in.now_ms, "oversubscription_denied", in.actor, in.host.id, std::move(d)});
        }
        return {CheckoutOutcome::Kind::refused, {}, err};
    }

    const auto& chosen = candidates[decision->index];
    LeaseRecord l;
    l.id = in.lease_id.empty() ? new_lease_id(in.now_ms) : in.lease_id;
    l.host_id = in.host.id;
    l.request_id = req.request_id;
    l.request_hash = in.fingerprint;
    l.license_jti = chosen.license_jti;
    l.entitlement_id = chosen.entitlement.id;
    l.feature = req.feature;
    l.gpu_uuid = req.gpu_uuid;
    l.gpu_model = req.gpu_model;
    l.vgpu_id = req.vgpu_id;
    l.vgpu_profile = req.vgpu_profile;
    l.overage = decision->overage;
    l.issued_at = now_s;
    l.expires_at = lease_expiry(chosen.entitlement, now_s, in.default_lease_seconds);
    l.kid = in.kid;
    l.token_nonce = in.token_nonce;

    auto ins = c.cached(
        "INSERT INTO leases (id, host_id, request_id, request_hash, license_jti, entitlement_id, feature, gpu_uuid, "
        "gpu_model, vgpu_id, vgpu_profile, overage, issued_at, expires_at, kid, token_nonce) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    ins.bind(1, l.id).bind(2, l.host_id).bind(3, l.request_id).bind(4, l.request_hash).bind(5, l.license_jti);
    ins.bind(6, l.entitlement_id).bind(7, l.feature).bind(8, l.gpu_uuid).bind(9, l.gpu_model).bind(10, l.vgpu_id);
    ins.bind(11, l.vgpu_profile).bind(12, std::int64_t{l.overage ? 1 : 0}).bind(13, l.issued_at);
    ins.bind(14, l.expires_at).bind(15, l.kid);
    bind_nonce_seed(ins, 16, l.token_nonce);
    ins.run();
    take_seat(c, l.license_jti, l.entitlement_id, chosen.entitlement.model, l.gpu_uuid);

    auto d = lease_detail(l);
    d.add("region", in.host.region).add("overage", l.overage);
    d.add("in_use", chosen.in_use + (decision->new_seat ? 1 : 0));
    append_lease_event(c, in.now_ms, "lease_granted", in.actor, l.id, d);
    if (l.overage) {
        d.add("count", std::int64_t{*chosen.entitlement.count});
        d.add("limit", std::int64_t{*chosen.entitlement.seat_limit()});
        append_lease_event(c, in.now_ms, "overage_granted", in.actor, l.id, d);
    }
    return {CheckoutOutcome::Kind::granted, std::move(l), std::nullopt};
}

RenewOutcome renew_lease(Connection& c, const std::string& lease_id, const std::string& host_id,
                         std::int64_t now_ms, std::int64_t default_lease_seconds, const std::string& kid,
                         const std::optional<crypto::NonceSeed>& token_nonce) {
    auto l = find_lease(c, lease_id);
    if (!l) return {std::nullopt, Error{ErrorCode::not_found, fmt::format("no lease {}", lease_id)}};
    if (l->host_id != host_id) {
        return {std::nullopt, Error{ErrorCode::forbidden, fmt::format("lease {} belongs to another host", lease_id)}};
    }
    const std::int64_t now_s = now_ms / 1000;
    if (l->ended_at) {
        return {std::nullopt, Error{ErrorCode::expired, fmt::format("lease {} has ended ({})", lease_id,
                                                                    l->end_reason.value_or("ended"))}};
    }
    if (now_s >= l->expires_at) {
        end_lapsed(c, {*l}, now_ms);
        return {std::nullopt, Error{ErrorCode::expired, fmt::format("lease {} expired at {}", lease_id, l->expires_at)}};
    }
    // The lease's own entitlement, by its key (one seek, no join).
    auto ent = c.cached(std::string("SELECT ") + std::string(kEntitlementColumnsAliased) +
                        " FROM entitlements e WHERE e.license_jti = ?1 AND e.id = ?2");
    ent.bind(1, l->license_jti).bind(2, l->entitlement_id);
    if (!ent.step()) return {std::nullopt, Error{ErrorCode::expired, "the lease's entitlement no longer exists"}};
    const auto stored = stored_entitlement_row(ent);
    ent.reset();
    const std::int64_t exp = std::max(l->expires_at, lease_expiry(stored.entitlement, now_s, default_lease_seconds));
    // The signing key is written only when it changed (after a rotation):
    // a renewal then touches no index but the two ordered by expiry.
    // The token nonce's seed is new with every renewal (schema/0007).
    if (kid == l->kid) {
        auto st = c.cached("UPDATE leases SET expires_at = ?2, renewed_at = ?3, token_nonce = ?4 WHERE id = ?1");
        st.bind(1, l->id).bind(2, exp).bind(3, now_s);
        bind_nonce_seed(st, 4, token_nonce);
        st.run();
    } else {
        auto st = c.cached(
            "UPDATE leases SET expires_at = ?2, renewed_at = ?3, kid = ?4, token_nonce = ?5 WHERE id = ?1");
        st.bind(1, l->id).bind(2, exp).bind(3, now_s).bind(4, kid);
        bind_nonce_seed(st, 5, token_nonce);
        st.run();
    }
    l->expires_at = exp;
    l->renewed_at = now_s;
    l->kid = kid;
    l->token_nonce = token_nonce;
    return {std::move(l), std::nullopt};
}

std::optional<Error> release_lease(Connection& c, const std::string& lease_id,
                                   const std::optional<std::string>& owner_host_id, const std::string& actor,
                                   std::int64_t now_ms) {
    auto l = find_lease(c, lease_id);
    if (!l || (owner_host_id && l->host_id != *owner_host_id)) {
        return Error{ErrorCode::not_found, fmt::format("no lease {}", lease_id)};
    }
    if (l->ended_at) return std::nullopt;
    if (now_ms / 1000 >= l->expires_at) {
        end_lapsed(c, {*l}, now_ms);
        return std::nullopt;
    }
    end_lease(c, *l, "released", "lease_released", actor, now_ms);
    return std::nullopt;
}

std::int64_t sweep_expired_leases(Connection& c, std::int64_t now_ms, std::int64_t limit) {
    auto st = c.cached(lease_select("WHERE ended_at IS NULL AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2"));
    st.bind(1, now_ms / 1000).bind(2, limit);
    std::vector<LeaseRecord> expired;
    while (st.step()) expired.push_back(lease_row(st));
    st.reset();
    return end_lapsed(c, expired, now_ms);
}

namespace {
std::int64_t end_where(Connection& c, std::string_view where, const std::string& value, const std::string& reason,
                       const std::string& actor, std::int64_t now_ms) {
    auto st = c.cached(lease_select(std::string("WHERE ended_at IS NULL AND ") + std::string(where)));
    st.bind(1, value);
    std::vector<LeaseRecord> active;
    while (st.step()) active.push_back(lease_row(st));
    for (const auto& l : active) end_lease(c, l, reason, "lease_ended", actor, now_ms);
    return static_cast<std::int64_t>(active.size());
}
}  // namespace

std::int64_t end_leases_of_license(Connection& c, const std::string& jti, const std::string& reason,
                                   const std::string& actor, std::int64_t now_ms) {
    return end_where(c, "license_jti = ?1", jti, reason, actor, now_ms);
}

std::int64_t end_leases_of_host(Connection& c, const std::string& host_id, const std::string& reason,
                                const std::string& actor, std::int64_t now_ms) {
    return end_where(c, "host_id = ?1", host_id, reason, actor, now_ms);
}

void move_leases_to_license(Connection& c, const std::string& old_jti, const std::string& new_jti,
                            const std::string& actor, std::int64_t now_ms) {
    const std::int64_t now_s = now_ms / 1000;
    auto st = c.cached(lease_select("WHERE ended_at IS NULL AND license_jti = ?1 ORDER BY issued_at, id"));
    st.bind(1, old_jti);
    std::vector<LeaseRecord> active;
    while (st.step()) active.push_back(lease_row(st));
    for (const auto& l : active) {
        if (now_s >= l.expires_at) {
            end_lapsed(c, {l}, now_ms);
            continue;
        }
        const auto host = find_host(c, l.host_id);
        auto cands = candidates_for(c, l.feature, new_jti);
        // Same entitlement id first, then the order every checkout uses.
        std::stable_sort(cands.begin(), cands.end(), [&](const Candidate& a, const Candidate& b) {
            return (a.entitlement.id == l.entitlement_id) > (b.entitlement.id == l.entitlement_id);
        });
        std::optional<std::size_t> target;
        for (std::size_t i = 0; i < cands.size() && !target; ++i) {
            auto& cand = cands[i];
            if (cand.entitlement.model == SeatModel::per_device) {
                cand.gpu_holds_seat = gpu_holds_seat(c, new_jti, cand.entitlement.id, l.gpu_uuid);
            }
            std::vector<Candidate> one{cand};
            auto d = decide_checkout(one, host ? host->region : std::string(), l.gpu_uuid, now_s);
            if (d && !d->overage) target = i;
        }
        if (!target) {
            end_lease(c, l, "superseded", "lease_ended", actor, now_ms);
            continue;
        }
        const auto& to = cands[*target];
        free_seat(c, l);
        // What the lease's token says changes: its nonce seed goes (schema/0007).
        auto up = c.cached(
            "UPDATE leases SET license_jti = ?2, entitlement_id = ?3, expires_at = ?4, token_nonce = NULL "
            "WHERE id = ?1");
        const std::int64_t exp = to.entitlement.not_after ? std::min(l.expires_at, *to.entitlement.not_after)
                                                          : l.expires_at;
        up.bind(1, l.id).bind(2, new_jti).bind(3, to.entitlement.id).bind(4, exp).run();
        take_seat(c, new_jti, to.entitlement.id, to.entitlement.model, l.gpu_uuid);
        auto d = lease_detail(l);
        d.add("from", l.entitlement_key()).add("to", new_jti + "/" + to.entitlement.id);
        append_lease_event(c, now_ms, "lease_moved", actor, l.id, d);
    }
}

std::vector<std::string> active_lease_kids(Connection& c) {
    // A skip scan over leases_active_by_kid: one seek to each next distinct
    // key. A million active leases signed by one or two keys cost a handful
    // of page reads, not a read of every lease.
    std::vector<std::string> out;
    std::string after;  // "" sorts before every kid
    for (;;) {
        auto next = c.cached("SELECT kid FROM leases WHERE ended_at IS NULL AND kid > ?1 ORDER BY kid LIMIT 1");
        next.bind(1, after);
        if (!next.step()) break;
        after = next.text(0);
        out.push_back(after);
    }
    return out;
}

std::int64_t count_active_leases(Connection& c, std::int64_t now_s) {
    auto st = c.cached("SELECT count(*) FROM leases WHERE ended_at IS NULL AND expires_at > ?1");
    st.bind(1, now_s);
    return st.step() ? st.int64(0) : 0;
}

}  // namespace entitle::store
