#include "entitle_report/audit_replay.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

using namespace entitle;
using namespace entitle::report;

namespace {

AuditEvent event(std::int64_t seq, std::int64_t ts_s, std::string kind, std::string subject,
                 nlohmann::json detail) {
    AuditEvent e;
    e.seq = seq;
    e.ts = ts_s * 1000 + 123;
    e.kind = std::move(kind);
    e.subject = std::move(subject);
    e.detail = std::move(detail);
    return e;
}

nlohmann::json lease(const std::string& ent, std::int64_t issued, std::int64_t expires) {
    return {{"entitlement", ent}, {"gpu", "G1"}, {"issued_at", issued}, {"expires_at", expires}};
}

}  // namespace

TEST_CASE("replaying lease events rebuilds leases, ends and moves") {
    AuditReplay r;
    r.feed(event(1, 100, "license_imported", "OLD", {{"jti", "OLD"}}));
    r.feed(event(2, 110, "lease_granted", "a", lease("OLD/c", 110, 3'710)));
    r.feed(event(3, 120, "lease_granted", "b", lease("OLD/c", 120, 3'720)));
    auto ended = lease("OLD/c", 120, 3'720);
    ended["ended_at"] = 130;
    r.feed(event(4, 130, "lease_released", "b", ended));
    r.feed(event(5, 140, "license_imported", "NEW", {{"supersedes", "OLD"}, {"superseded", true}}));
    r.feed(event(6, 140, "lease_moved", "a", {{"from", "OLD/c"}, {"to", "NEW/c"}}));
    r.note_expiry("a", 9'999);

    const auto leases = r.leases();
    REQUIRE(leases.size() == 2);
    CHECK(leases[0].id == "a");
    CHECK(leases[0].entitlement_key == "NEW/c");
    CHECK_FALSE(leases[0].ended_at.has_value());
    CHECK(leases[0].expires_at == 9'999);  // the server's current expiry of an active lease
    CHECK(leases[1].ended_at == 130);
    REQUIRE(r.moves().size() == 1);
    CHECK(r.moves()[0].at == 140);
    CHECK(r.imported().size() == 2);
    CHECK(r.ended().at("OLD") == 140);
    CHECK(r.end_state().at("OLD") == "superseded");
}

TEST_CASE("events after the head only refresh the expiry of leases open at the head") {
    AuditReplay r;
    r.feed(event(1, 100, "lease_granted", "a", lease("L/c", 100, 3'700)));
    auto end = lease("L/c", 100, 7'300);
    end["ended_at"] = 5'000;
    r.feed_after_head(event(2, 5'000, "lease_released", "a", end));
    r.feed_after_head(event(3, 5'001, "lease_granted", "b", lease("L/c", 5'001, 8'601)));
    r.note_expiry("a", 1);  // an older listing does not win over the end event
    const auto leases = r.leases();
    REQUIRE(leases.size() == 1);
    CHECK_FALSE(leases[0].ended_at.has_value());
    CHECK(leases[0].expires_at == 7'300);
}

TEST_CASE("hosts come and go with host_added and host_removed; withdrawals end licenses") {
    AuditReplay r;
    r.feed(event(1, 10, "host_added", "h1", {{"host", "h1"}, {"name", "a"}, {"region", "eu"}}));
    r.feed(event(2, 11, "host_added", "h2", {{"host", "h2"}, {"name", "b"}, {"region", "us"}}));
    r.feed(event(3, 12, "host_removed", "h1", {{"host", "h1"}}));
    r.feed(event(4, 13, "license_withdrawn", "L", {{"jti", "L"}}));
    const auto hosts = r.hosts();
    REQUIRE(hosts.size() == 1);
    CHECK(hosts[0].id == "h2");
    CHECK(hosts[0].region == "us");
    CHECK(r.ended().at("L") == 13);
    CHECK(r.end_state().at("L") == "withdrawn");
}
