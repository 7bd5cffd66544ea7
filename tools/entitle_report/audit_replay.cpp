#include "entitle_report/audit_replay.hpp"

namespace entitle::report {

namespace {

std::string text(const nlohmann::json& d, const char* key) {
    const auto it = d.find(key);
    return it != d.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::int64_t> integer(const nlohmann::json& d, const char* key) {
    const auto it = d.find(key);
    if (it == d.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int64_t>();
}

bool is_lease_end(const std::string& kind) {
    return kind == "lease_released" || kind == "lease_expired" || kind == "lease_ended";
}

}  // namespace

void AuditReplay::feed(const AuditEvent& e) {
    const auto& d = e.detail;
    if (!d.is_object()) return;
    const std::int64_t at = e.ts / 1000;
    if (e.kind == "lease_granted") {
        Lease l;
        l.record.id = e.subject;
        l.record.entitlement_key = text(d, "entitlement");
        l.record.gpu = text(d, "gpu");
        l.record.issued_at = integer(d, "issued_at").value_or(at);
        l.record.expires_at = integer(d, "expires_at").value_or(l.record.issued_at);
        if (leases_.emplace(e.subject, std::move(l)).second) order_.push_back(e.subject);
    } else if (is_lease_end(e.kind)) {
        auto it = leases_.find(e.subject);
        if (it == leases_.end()) {
            // Granted before what was read: the end event carries the whole lease.
            Lease l;
            l.record.id = e.subject;
            l.record.gpu = text(d, "gpu");
            l.record.issued_at = integer(d, "issued_at").value_or(at);
            it = leases_.emplace(e.subject, std::move(l)).first;
            order_.push_back(e.subject);
        }
        auto& r = it->second.record;
        if (r.ended_at) return;  // ended once; a second end changes nothing
        r.entitlement_key = text(d, "entitlement");
        r.expires_at = integer(d, "expires_at").value_or(r.expires_at);
        r.ended_at = integer(d, "ended_at").value_or(at);
    } else if (e.kind == "lease_moved") {
        LeaseMove m{e.subject, e.seq, at, text(d, "from"), text(d, "to")};
        if (auto it = leases_.find(e.subject); it != leases_.end()) {
            it->second.record.entitlement_key = m.to;
        }
        moves_.push_back(std::move(m));
    } else if (e.kind == "host_added") {
        const std::string id = text(d, "host").empty() ? e.subject : text(d, "host");
        hosts_[id] = {id, text(d, "name"), text(d, "region")};
    } else if (e.kind == "host_removed") {
        hosts_.erase(text(d, "host").empty() ? e.subject : text(d, "host"));
    } else if (e.kind == "license_imported") {
        imported_.emplace(e.subject, e.seq);
        const auto superseded = d.find("superseded");
        const std::string old = text(d, "supersedes");
        if (!old.empty() && superseded != d.end() && superseded->is_boolean() &&
            superseded->get<bool>() && !ended_.contains(old)) {
            ended_[old] = at;
            end_state_[old] = "superseded";
        }
    } else if (e.kind == "license_withdrawn") {
        if (!ended_.contains(e.subject)) {
            ended_[e.subject] = at;
            end_state_[e.subject] = "withdrawn";
        }
    }
}

void AuditReplay::feed_after_head(const AuditEvent& e) {
    if (!is_lease_end(e.kind) || !e.detail.is_object()) return;
    auto it = leases_.find(e.subject);
    if (it == leases_.end() || it->second.record.ended_at) return;
    if (const auto exp = integer(e.detail, "expires_at")) {
        it->second.record.expires_at = *exp;
        it->second.expiry_refreshed = true;
    }
}

void AuditReplay::note_expiry(const std::string& lease_id, std::int64_t expires_at) {
    server_expiry_[lease_id] = expires_at;
}

std::vector<LeaseRecord> AuditReplay::leases() const {
    std::vector<LeaseRecord> out;
    out.reserve(order_.size());
    for (const auto& id : order_) {
        const auto& l = leases_.at(id);
        out.push_back(l.record);
        // An end event read after the head knows better than the listing.
        if (l.record.ended_at || l.expiry_refreshed) continue;
        if (auto it = server_expiry_.find(id); it != server_expiry_.end()) {
            out.back().expires_at = it->second;
        }
    }
    return out;
}

std::vector<HostInfo> AuditReplay::hosts() const {
    std::vector<HostInfo> out;
    out.reserve(hosts_.size());
    for (const auto& [id, h] : hosts_) out.push_back(h);
    return out;
}

}  // namespace entitle::report
