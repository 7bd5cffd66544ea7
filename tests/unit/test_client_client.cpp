#include "client.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "client_test_support.hpp"
#include "crypto/ordered_id.hpp"
#include "temp_dir.hpp"

using entitle::lib::CheckoutArgs;
using entitle::lib::Client;
using entitle::lib::HostConfig;
using entitle::lib::HttpRequest;
using entitle::lib::HttpResponse;
using entitle::lib::Outcome;
using entitle::lib::Transport;
using json = nlohmann::json;
using namespace entitle::test;

namespace {

// An in-memory lease server speaking the contract's HTTP API, with faults to
// inject. Its clock is `now_s`, independent of the client's.
class FakeServer {
  public:
    std::mutex mu;
    std::int64_t now_s = 1'800'000'000;
    std::int64_t lease_seconds = 100;
    int unreachable_next = 0;  // fail before the request reaches the server
    int lose_next = 0;         // handle the request, then lose the answer
    int status_503_next = 0;
    std::string refuse_code;  // answer every checkout with this error
    bool sign_with_other_key = false;
    bool send_date = false;
    bool replay_ended = false;  // answer an ended lease's request_id with the lease (201)
    std::vector<HttpRequest> seen;

    struct Lease {
        std::string id, request_id, feature, gpu, vgpu, host = kHostId;
        std::int64_t iat = 0, exp = 0;
        bool active = true;
    };
    std::map<std::string, Lease> leases;

    int count(const std::string& method, const std::string& prefix) {
        const std::lock_guard lock(mu);
        int n = 0;
        for (const auto& r : seen) n += r.method == method && r.target.starts_with(prefix);
        return n;
    }
    std::set<std::string> request_ids() {
        const std::lock_guard lock(mu);
        std::set<std::string> ids;
        for (const auto& r : seen) {
            if (r.method == "POST" && r.target == "/v1/leases") {
                ids.insert(json::parse(r.body).at("request_id").get<std::string>());
            }
        }
        return ids;
    }
    int active() {
        const std::lock_guard lock(mu);
        int n = 0;
        for (const auto& [id, l] : leases) n += l.active && l.exp > now_s;
        return n;
    }
    // A lease made for this host by someone else (a process whose state is lost).
    void add_foreign_lease(const std::string& id, const std::string& vgpu) {
        const std::lock_guard lock(mu);
        leases[id] =
            Lease{id, "rq-x", "vWS", "GPU-0", vgpu, kHostId, now_s, now_s + lease_seconds, true};
    }

    Outcome<HttpResponse> exchange(const HttpRequest& request) {
        const std::lock_guard lock(mu);
        seen.push_back(request);
        if (unreachable_next > 0) {
            --unreachable_next;
            return entitle::lib::fail(ENTITLE_UNAVAILABLE, "connection refused (fake)");
        }
        if (status_503_next > 0) {
            --status_503_next;
            return HttpResponse{503, R"({"error":{"code":"unavailable","message":"busy"}})", {}};
        }
        HttpResponse response = handle(request);
        if (send_date) response.date = http_date(now_s);
        if (lose_next > 0) {
            --lose_next;
            return entitle::lib::fail(ENTITLE_UNAVAILABLE, "answer lost (fake)");
        }
        return response;
    }

  private:
    static std::string http_date(std::int64_t t) {
        const std::time_t tt = static_cast<std::time_t>(t);
        std::tm tm{};
        gmtime_r(&tt, &tm);
        char buf[64];
        std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        return buf;
    }
    static HttpResponse error(int status, const std::string& code) {
        return {
            status, json{{"error", {{"code", code}, {"message", code + " (fake)"}}}}.dump(), {}};
    }
    HttpResponse grant(int status, const Lease& l) {
        const auto& key = sign_with_other_key ? other_key() : lease_key();
        json claims = {{"iss", "fake"},        {"sub", l.host},      {"jti", l.id},
                       {"feature", l.feature}, {"ent", "lic/seats"}, {"gpu", l.gpu},
                       {"vgpu", l.vgpu},       {"iat", l.iat},       {"exp", l.exp}};
        return {status,
                json{{"lease_id", l.id},
                     {"token", sign_lease(claims, key)},
                     {"expires_at", l.exp},
                     {"renew_after", l.iat + (l.exp - l.iat) / 2},
                     {"entitlement", "lic/seats"},
                     {"overage", false}}
                    .dump(),
                {}};
    }
    HttpResponse handle(const HttpRequest& r) {
        if (r.method == "POST" && r.target == "/v1/leases") {
            if (!refuse_code.empty()) return error(409, refuse_code);
            const auto body = json::parse(r.body);
            const auto rid = body.at("request_id").get<std::string>();
            for (const auto& [id, l] : leases) {
                if (l.request_id != rid) continue;
                // entitled answers 410 for the request_id of an ended lease;
                // docs/leases.md describes a replay with the past expires_at.
                if (!replay_ended && (!l.active || l.exp <= now_s)) return error(410, "expired");
                return grant(201, l);
            }
            Lease l{"l_" + std::to_string(leases.size() + 1),
                    rid,
                    body.at("feature"),
                    body.at("gpu").at("uuid"),
                    body.at("vgpu").at("id"),
                    kHostId,
                    now_s,
                    now_s + lease_seconds,
                    true};
            leases[l.id] = l;
            return grant(201, l);
        }
        if (r.method == "POST" && r.target.ends_with("/renew")) {
            const auto id = r.target.substr(11, r.target.size() - 11 - 6);
            auto it = leases.find(id);
            if (it == leases.end()) return error(404, "not_found");
            if (!it->second.active || it->second.exp <= now_s) return error(410, "expired");
            it->second.iat = now_s;
            it->second.exp = now_s + lease_seconds;
            return grant(200, it->second);
        }
        if (r.method == "DELETE") {
            const auto id = r.target.substr(11);
            auto it = leases.find(id);
            if (it == leases.end()) return error(404, "not_found");
            it->second.active = false;
            return {204, "", {}};
        }
        if (r.method == "GET" && r.target.starts_with("/v1/leases")) {
            json out = {{"leases", json::array()}};
            for (const auto& [id, l] : leases) {
                if (!l.active || l.exp <= now_s) continue;
                out["leases"].push_back({{"lease_id", l.id},
                                         {"feature", l.feature},
                                         {"entitlement", "lic/seats"},
                                         {"gpu", {{"uuid", l.gpu}}},
                                         {"vgpu", {{"id", l.vgpu}, {"profile", nullptr}}},
                                         {"expires_at", l.exp}});
            }
            return {200, out.dump(), {}};
        }
        return error(404, "not_found");
    }
};

class FakeTransport final : public Transport {
  public:
    explicit FakeTransport(std::shared_ptr<FakeServer> server) : server_(std::move(server)) {}
    Outcome<HttpResponse> exchange(const HttpRequest& request, std::chrono::milliseconds) override {
        return server_->exchange(request);
    }

  private:
    std::shared_ptr<FakeServer> server_;
};

// Clocks the test moves by hand.
struct TestClock {
    std::atomic<std::int64_t> mono_ms{5'000'000};
    std::atomic<std::int64_t> wall_ms{1'800'000'000'000};
    static std::int64_t mono(void* self) { return static_cast<TestClock*>(self)->mono_ms.load(); }
    static std::int64_t wall(void* self) { return static_cast<TestClock*>(self)->wall_ms.load(); }
};

HostConfig test_config() {
    return std::move(*entitle::lib::parse_host_config(host_config_json().dump()));
}

struct Fixture {
    std::shared_ptr<FakeServer> server = std::make_shared<FakeServer>();
    TestClock clock;
    std::unique_ptr<Client> client = make_client();

    std::unique_ptr<Client> make_client() {
        auto c = std::make_unique<Client>(test_config(), std::make_unique<FakeTransport>(server));
        c->set_clocks({&TestClock::mono, &TestClock::wall, &clock});
        c->set_retry({5, 0, 0});  // no pauses in unit tests
        return c;
    }
    void advance(std::int64_t seconds) {
        clock.mono_ms += seconds * 1000;
        clock.wall_ms += seconds * 1000;
        const std::lock_guard lock(server->mu);
        server->now_s += seconds;
    }
};

const CheckoutArgs kArgs{"vWS", "GPU-0", "vgpu-1", std::nullopt};

}  // namespace

TEST_CASE("a checkout whose answer was lost is retried with the same request_id: one seat") {
    Fixture f;
    f.server->lose_next = 1;
    auto lease = f.client->checkout(kArgs);
    REQUIRE(lease);
    CHECK(f.server->count("POST", "/v1/leases") == 2);
    CHECK(f.server->request_ids().size() == 1);
    CHECK(f.server->leases.size() == 1);
    CHECK(lease->lease.lease_id == "l_1");
    CHECK(lease->token_verified);
}

TEST_CASE(
    "a request_id is rq_, the host's wall clock and 96 random bits: later checkouts sort later") {
    Fixture f;
    REQUIRE(f.client->checkout(kArgs));
    f.clock.wall_ms += 1;  // one millisecond later, by the wall clock only
    REQUIRE(f.client->checkout({"vWS", "GPU-0", "vgpu-2", std::nullopt}));
    std::vector<std::string> sent;
    {
        const std::lock_guard lock(f.server->mu);
        for (const auto& r : f.server->seen) {
            if (r.method == "POST" && r.target == "/v1/leases") {
                sent.push_back(json::parse(r.body).at("request_id").get<std::string>());
            }
        }
    }
    REQUIRE(sent.size() == 2);
    for (std::size_t i = 0; i < sent.size(); ++i) {
        CAPTURE(sent[i]);
        CHECK(sent[i].size() == 3 + 8 + 16);
        // The time part is the clock the client was given, in the server's index order.
        const auto wall_ms = 1'800'000'000'000 + static_cast<std::int64_t>(i);
        CHECK(sent[i].substr(0, 11) ==
              entitle::crypto::time_ordered_id("rq_", wall_ms, 12).substr(0, 11));
    }
    CHECK(sent[0] < sent[1]);
}

TEST_CASE("an unreachable server is tried max_attempts times; the next checkout reuses the id") {
    Fixture f;
    f.client->set_retry({3, 0, 0});
    f.server->lose_next = 100;
    auto failed = f.client->checkout(kArgs);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().status == ENTITLE_UNAVAILABLE);
    CHECK(f.server->count("POST", "/v1/leases") == 3);
    f.server->lose_next = 0;
    auto lease = f.client->checkout(kArgs);
    REQUIRE(lease);
    CHECK(f.server->request_ids().size() == 1);  // still the first request_id
    CHECK(f.server->leases.size() == 1);
    CHECK(f.server->active() == 1);
}

TEST_CASE("a pending checkout answered by a lease that has ended since checks out anew") {
    for (const bool replay_ended : {false, true}) {
        CAPTURE(replay_ended);
        Fixture f;
        f.server->replay_ended = replay_ended;
        f.client->set_retry({2, 0, 0});
        f.server->lose_next = 100;
        REQUIRE_FALSE(f.client->checkout(kArgs));
        f.server->lose_next = 0;
        f.server->leases["l_1"].active = false;  // ended (released by an admin, say)
        auto lease = f.client->checkout(kArgs);
        REQUIRE(lease);
        CHECK(lease->lease.lease_id == "l_2");
        CHECK(f.server->request_ids().size() == 2);
        CHECK(f.server->active() == 1);
        auto held = f.client->held();
        REQUIRE(held->size() == 1);
        CHECK(held->at(0).lease.lease_id == "l_2");
    }
}

TEST_CASE("a refusal is answered at once and leaves no pending checkout") {
    Fixture f;
    f.server->refuse_code = "oversubscribed";
    auto refused = f.client->checkout(kArgs);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().status == ENTITLE_OVERSUBSCRIBED);
    CHECK(refused.error().message == "oversubscribed (fake)");
    CHECK(f.server->count("POST", "/v1/leases") == 1);
    f.server->refuse_code.clear();
    REQUIRE(f.client->checkout(kArgs));
    CHECK(f.server->request_ids().size() == 2);  // a fresh request_id after a refusal
}

TEST_CASE("a 503 answer is retried like an unreachable server") {
    Fixture f;
    f.server->status_503_next = 2;
    REQUIRE(f.client->checkout(kArgs));
    CHECK(f.server->count("POST", "/v1/leases") == 3);
}

TEST_CASE("checkout arguments are checked before anything is sent") {
    Fixture f;
    for (const auto& bad : {CheckoutArgs{"", "G", "V", std::nullopt},
                            CheckoutArgs{"vWS", std::string(257, 'g'), "V", std::nullopt},
                            CheckoutArgs{"vWS", "G", "V\n", std::nullopt},
                            CheckoutArgs{"vWS", "G", "V", std::string("")},
                            CheckoutArgs{"vWS", "G", "v\xff\xfe", std::nullopt}}) {
        auto r = f.client->checkout(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().status == ENTITLE_INVALID_ARGUMENT);
    }
    CHECK(f.server->seen.empty());
}

TEST_CASE("a grant whose token does not verify is released and refused") {
    Fixture f;
    f.server->sign_with_other_key = true;
    auto r = f.client->checkout(kArgs);
    REQUIRE_FALSE(r);
    CHECK(r.error().status == ENTITLE_TOKEN_INVALID);
    CHECK(f.server->count("DELETE", "/v1/leases/l_1") == 1);
    CHECK(f.server->active() == 0);
    CHECK(f.client->held()->empty());
}

TEST_CASE("a lease is timed by the monotonic clock from its grant, not by the wall clock") {
    Fixture f;
    f.clock.wall_ms += 3'600'000;  // the host's wall clock is an hour ahead
    auto lease = f.client->checkout(kArgs);
    REQUIRE(lease);
    CHECK(lease->seconds_left == 100);
    CHECK(f.client->clock_skew() == -3600);
    auto fresh = f.client->verify_held("l_1");
    REQUIRE(fresh);
    CHECK(fresh->seconds_left == 100);

    f.clock.mono_ms += 60'000;
    f.clock.wall_ms -= 7'200'000;  // now an hour behind: a wall-clock check would say "alive"
    CHECK(f.client->verify_held("l_1")->seconds_left == 40);
    f.clock.mono_ms += 40'000;
    auto old = f.client->verify_held("l_1");
    REQUIRE_FALSE(old);
    CHECK(old.error().status == ENTITLE_EXPIRED);
    CHECK(f.client->verify_held("l_nope").error().status == ENTITLE_NOT_FOUND);
}

TEST_CASE("skew comes from the Date header when the server sends one") {
    Fixture f;
    f.server->send_date = true;
    f.clock.wall_ms -= 250'000;  // host 250 s behind
    REQUIRE(f.client->checkout(kArgs));
    CHECK(f.client->clock_skew() == 250);
    // A lone token is judged by the wall clock corrected by that skew.
    const auto token = f.client->held()->at(0).lease.token;
    auto judged = f.client->verify_token(token);
    REQUIRE(judged);
    CHECK(judged->seconds_left == 100);
    f.clock.wall_ms += 101'000;
    CHECK(f.client->verify_token(token).error().status == ENTITLE_EXPIRED);
    CHECK(f.client->verify_token("garbage").error().status == ENTITLE_TOKEN_INVALID);
}

TEST_CASE("the renewer renews at renew_after and reports a lease the server ended") {
    Fixture f;
    std::vector<std::pair<std::string, entitle_status>> lost;
    f.client->set_lost_callback([&](const std::string& id, const std::string&, entitle_status why) {
        lost.emplace_back(id, why);
    });
    REQUIRE(f.client->checkout(kArgs));
    (void)f.client->renew_due_leases();
    CHECK(f.server->count("POST", "/v1/leases/l_1/renew") == 0);  // not due yet
    f.advance(51);
    (void)f.client->renew_due_leases();
    CHECK(f.server->count("POST", "/v1/leases/l_1/renew") == 1);
    CHECK(f.client->verify_held("l_1")->seconds_left == 100);  // from the renewal
    CHECK(lost.empty());

    f.server->leases["l_1"].active = false;  // withdrawn on the server
    f.advance(51);
    (void)f.client->renew_due_leases();
    REQUIRE(lost.size() == 1);
    CHECK(lost[0] == std::make_pair(std::string("l_1"), ENTITLE_EXPIRED));
    CHECK(f.client->held()->empty());
}

TEST_CASE("the renewer retries an unreachable server, then reports a lease that ran out") {
    Fixture f;
    std::vector<entitle_status> lost;
    f.client->set_lost_callback(
        [&](const std::string&, const std::string&, entitle_status why) { lost.push_back(why); });
    REQUIRE(f.client->checkout(kArgs));
    f.server->unreachable_next = 1'000'000;
    f.advance(51);
    const auto pause = f.client->renew_due_leases();
    CHECK(pause.count() <= 1000);  // the first retry comes within the backoff base
    CHECK(lost.empty());
    CHECK(f.client->verify_held("l_1"));  // still usable offline
    f.advance(50);
    (void)f.client->renew_due_leases();
    CHECK(lost == std::vector<entitle_status>{ENTITLE_EXPIRED});
    CHECK(f.client->held()->empty());
}

TEST_CASE("a release while the server is unreachable is finished later by the renewer") {
    Fixture f;
    REQUIRE(f.client->checkout(kArgs));
    f.server->unreachable_next = 5;
    auto r = f.client->release("l_1");
    REQUIRE_FALSE(r);
    CHECK(r.error().status == ENTITLE_UNAVAILABLE);
    CHECK(f.client->held()->at(0).lease.releasing);
    f.server->unreachable_next = 0;
    (void)f.client->renew_due_leases();
    CHECK(f.server->count("DELETE", "/v1/leases/l_1") >= 1);
    CHECK(f.server->count("POST", "/v1/leases/l_1/renew") == 0);  // never renewed
    CHECK(f.server->active() == 0);
    CHECK(f.client->held()->empty());
}

TEST_CASE("reconcile releases every lease of a vGPU that is gone, held here or not") {
    Fixture f;
    REQUIRE(f.client->checkout({"vWS", "GPU-0", "vgpu-1", std::nullopt}));
    REQUIRE(f.client->checkout({"vWS", "GPU-0", "vgpu-2", std::nullopt}));
    f.server->add_foreign_lease("l_foreign", "vgpu-3");
    auto released = f.client->reconcile({"vgpu-2"});
    REQUIRE(released);
    std::set<std::string> ids;
    for (const auto& l : *released) ids.insert(l.lease_id);
    CHECK(ids == std::set<std::string>{"l_1", "l_foreign"});
    CHECK(f.server->active() == 1);
    auto held = f.client->held();
    REQUIRE(held->size() == 1);
    CHECK(held->at(0).lease.vgpu_id == "vgpu-2");

    f.server->unreachable_next = 100;
    auto offline = f.client->reconcile({});
    REQUIRE_FALSE(offline);
    CHECK(offline.error().status == ENTITLE_UNAVAILABLE);
    CHECK(f.client->held()->size() == 1);  // nothing changes without the server
}

TEST_CASE("a checkout of a vGPU that holds a lease renews it; other values are a conflict") {
    Fixture f;
    REQUIRE(f.client->checkout(kArgs));
    auto again = f.client->checkout(kArgs);
    REQUIRE(again);
    CHECK(again->lease.lease_id == "l_1");
    CHECK(f.server->count("POST", "/v1/leases/l_1/renew") == 1);
    auto other = f.client->checkout({"vPC", "GPU-0", "vgpu-1", std::nullopt});
    REQUIRE_FALSE(other);
    CHECK(other.error().status == ENTITLE_CONFLICT);
    // Offline, the held lease is answered as it is while it has time left.
    f.server->unreachable_next = 100;
    auto offline = f.client->checkout(kArgs);
    REQUIRE(offline);
    CHECK(offline->lease.lease_id == "l_1");
    CHECK(f.server->leases.size() == 1);
}

TEST_CASE("two handles on one state directory share the held leases") {
    TempDir dir;
    Fixture f;
    auto second = f.make_client();
    REQUIRE(f.client->set_state_dir(dir.file("state")));
    REQUIRE(second->set_state_dir(dir.file("state")));
    REQUIRE(f.client->checkout(kArgs));
    auto seen = second->held();
    REQUIRE(seen->size() == 1);
    CHECK(seen->at(0).lease.lease_id == "l_1");
    CHECK(seen->at(0).seconds_left == 100);
    REQUIRE(second->release("l_1"));
    CHECK(f.client->held()->empty());
    CHECK(f.server->active() == 0);
}

TEST_CASE("the C ABI copies leases out and frees them with the named functions") {
    entitle_lease_list_free(nullptr);
    entitle_lease_free(nullptr);
    entitle_free(nullptr);
    entitle_status s = entitle_renew(nullptr, "l_1", nullptr);
    CHECK(s == ENTITLE_INVALID_ARGUMENT);
}
