#include "entitle_report/chain_check.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

using namespace entitle;
using namespace entitle::report;

namespace {

std::vector<AuditEvent> chain(int n) {
    std::vector<AuditEvent> out;
    std::string prev = kGenesisHash;
    for (int i = 1; i <= n; ++i) {
        AuditEvent e;
        e.seq = i;
        e.ts = 1'767'225'600'000 + i;
        e.kind = "host_added";
        e.actor = "admin";
        e.subject = "h" + std::to_string(i);
        e.detail = {{"host", e.subject}, {"n", i}};
        e.prev_hash = prev;
        e.hash = audit_event_hash(e);
        prev = e.hash;
        out.push_back(e);
    }
    return out;
}

// Checks the events twice, hashing as it goes and with every hash computed
// beforehand (as `entitle-report verify` does on a second thread): both must
// come to the same result, in every test below.
ChainResult check(const std::vector<AuditEvent>& events) {
    ChainCheck c;
    for (const auto& e : events) {
        if (!c.feed(e)) break;
    }
    ChainCheck pre;
    for (const auto& e : events) {
        std::optional<std::string> computed;
        try {
            computed = audit_event_hash(e);
        } catch (const std::exception&) {
        }
        if (!pre.feed(e, computed)) break;
    }
    const auto a = c.result(), b = pre.result();
    CHECK(a.intact == b.intact);
    CHECK(a.events == b.events);
    CHECK(a.head_seq == b.head_seq);
    CHECK(a.head_hash == b.head_hash);
    CHECK(a.broken_seq == b.broken_seq);
    CHECK(a.how == b.how);
    CHECK(a.message == b.message);
    return a;
}

}  // namespace

TEST_CASE("an intact chain reports its count and head") {
    const auto events = chain(10);
    const auto r = check(events);
    CHECK(r.intact);
    CHECK(r.events == 10);
    CHECK(r.head_seq == 10);
    CHECK(r.head_hash == events.back().hash);
}

TEST_CASE("an edited event is named with its seq") {
    auto events = chain(10);
    events[4].detail["n"] = 99;
    const auto r = check(events);
    CHECK_FALSE(r.intact);
    CHECK(r.broken_seq == 5);
    CHECK(r.how == "edited");
    CHECK(r.head_seq == 4);
}

TEST_CASE("a detail that cannot be hashed (a float) is an edit, not a crash") {
    auto events = chain(5);
    events[2].detail["n"] = 1.5;
    const auto r = check(events);
    CHECK(r.broken_seq == 3);
    CHECK(r.how == "edited");
}

TEST_CASE("a deleted event is missing, also when the later ones were renumbered") {
    auto gap = chain(10);
    gap.erase(gap.begin() + 4);
    auto r = check(gap);
    CHECK(r.broken_seq == 5);
    CHECK(r.how == "missing");

    auto renumbered = chain(10);
    renumbered.erase(renumbered.begin() + 4);
    for (std::size_t i = 4; i < renumbered.size(); ++i) renumbered[i].seq -= 1;
    r = check(renumbered);
    CHECK(r.broken_seq == 5);
    CHECK(r.how == "missing");
}

TEST_CASE("two swapped events are reordered, naming both places") {
    auto events = chain(10);
    std::swap(events[4], events[5]);
    std::swap(events[4].seq, events[5].seq);
    const auto r = check(events);
    CHECK(r.broken_seq == 5);
    CHECK(r.how == "reordered");
    CHECK(r.message.find("event 5 is stored as 6") != std::string::npos);
}

TEST_CASE("a replayed copy of an earlier event is reordered") {
    auto events = chain(6);
    auto copy = events[1];
    copy.seq = 7;
    events.push_back(copy);
    const auto r = check(events);
    CHECK(r.broken_seq == 7);
    CHECK(r.how == "reordered");
}

TEST_CASE(
    "an appended event with a made-up hash is edited; one on a wrong predecessor is a bad link") {
    auto events = chain(5);
    AuditEvent extra = events.back();
    extra.seq = 6;
    extra.prev_hash = events.back().hash;
    extra.hash = std::string(64, 'f');
    events.push_back(extra);
    auto r = check(events);
    CHECK(r.broken_seq == 6);
    CHECK(r.how == "edited");

    events.back().prev_hash = std::string(64, 'a');
    events.back().hash = audit_event_hash(events.back());
    r = check(events);
    CHECK(r.broken_seq == 6);
    CHECK(r.how == "bad_link");
}

TEST_CASE("a chain that does not start from 64 zeros is a bad start") {
    auto events = chain(3);
    events[0].prev_hash = std::string(64, '1');
    events[0].hash = audit_event_hash(events[0]);
    const auto r = check(events);
    CHECK(r.broken_seq == 1);
    CHECK(r.how == "bad_start");
}

TEST_CASE("after a break the check stops asking for events once its look ahead is full") {
    auto events = chain(200);
    events[9].detail["n"] = 0;
    ChainCheck c;
    std::size_t fed = 0;
    for (const auto& e : events) {
        ++fed;
        if (!c.feed(e)) break;
    }
    CHECK(fed == 10 + ChainCheck::kLookahead);
}
