#include "http/authenticator.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "core/access_token.hpp"
#include "core/clock.hpp"
#include "store/host_table.hpp"
#include "store/store.hpp"
#include "store/token_table.hpp"
#include "temp_dir.hpp"

using namespace entitle;
using namespace entitle::http;

namespace {

// A real store file, tokens written through the store code, and an
// authenticator with a clock (so that it records last-used times).
struct AuthFixture {
    test::TempDir dir;
    std::unique_ptr<store::Store> store;
    ManualClock clock{1'800'000'000'000};
    std::unique_ptr<Authenticator> auth;

    AuthFixture() {
        auto s = store::Store::create(dir.file("entitle.db"));
        REQUIRE(s.has_value());
        store = std::move(*s);
        auth = std::make_unique<Authenticator>(*store, &clock);
    }

    MintedToken add_token(Role role) {
        MintedToken t = mint_access_token();
        write([&](store::Connection& c) {
            store::insert_token(c, {t.id, role, std::nullopt, t.hash, 1'700'000'000, std::nullopt, std::nullopt});
        });
        return t;
    }
    MintedToken add_host(const std::string& host_id, const std::string& region) {
        MintedToken t = add_token(Role::host);
        write([&](store::Connection& c) {
            store::insert_host(c, {host_id, "gpu-" + host_id, region, t.id, 1'700'000'000, std::nullopt});
        });
        return t;
    }
    template <class Fn>
    void write(Fn fn) {
        const auto r = store->write_and_wait([&fn](store::Connection& c) -> Result<void> {
            fn(c);
            return {};
        });
        REQUIRE(r.has_value());
    }
    Result<Principal> as(const MintedToken& t) { return auth->authenticate("Bearer " + t.secret); }
    // tokens.last_used_at once every write queued before has committed (the
    // writer runs units in the order they were submitted).
    std::optional<std::int64_t> last_used(const MintedToken& t) {
        write([](store::Connection&) {});
        const auto used = store->read([&](store::Connection& c) -> Result<std::optional<std::int64_t>> {
            return store::find_token(c, t.id)->last_used_at;
        });
        REQUIRE(used.has_value());
        return *used;
    }
};

}  // namespace

TEST_CASE_FIXTURE(AuthFixture, "repeated requests with one token are answered from the cache, with the same principal") {
    const auto t = add_host("h-1", "eu-west");
    const auto first = as(t);
    REQUIRE(first.has_value());
    for (int i = 0; i < 5; ++i) {
        const auto again = as(t);
        REQUIRE(again.has_value());
        CHECK(again->token_id == t.id);
        CHECK(again->role == Role::host);
        CHECK(again->host_id == "h-1");
        CHECK(again->host_region == "eu-west");
    }
    CHECK(auth->cache_stats().misses == 1);
    CHECK(auth->cache_stats().hits == 5);
}

TEST_CASE_FIXTURE(AuthFixture, "a cached token revoked in the store fails on the very next request") {
    const auto admin = add_token(Role::admin);
    REQUIRE(as(admin).has_value());
    REQUIRE(as(admin).has_value());  // now cached
    write([&](store::Connection& c) { CHECK(store::revoke_token(c, admin.id, 1'800'000'000)); });
    const auto after = as(admin);
    REQUIRE_FALSE(after.has_value());
    CHECK(after.error().code == ErrorCode::unauthorized);
}

TEST_CASE_FIXTURE(AuthFixture, "a cached host token fails on the next request once its host is removed") {
    const auto t = add_host("h-2", "us-east");
    REQUIRE(as(t).has_value());
    REQUIRE(as(t).has_value());
    write([&](store::Connection& c) { store::mark_host_removed(c, "h-2", 1'800'000'000); });
    CHECK_FALSE(as(t).has_value());
}

TEST_CASE_FIXTURE(AuthFixture, "a wrong secret for a cached token id is refused: the secret is checked on every request") {
    const auto t = add_token(Role::auditor);
    REQUIRE(as(t).has_value());
    std::string forged = t.secret;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    const auto r = auth->authenticate("Bearer " + forged);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::unauthorized);
}

TEST_CASE_FIXTURE(AuthFixture, "a token unknown at first works once issued: unknown ids are not cached") {
    const MintedToken later = mint_access_token();
    CHECK_FALSE(as(later).has_value());
    write([&](store::Connection& c) {
        store::insert_token(c, {later.id, Role::admin, std::nullopt, later.hash, 1'700'000'000, std::nullopt,
                                std::nullopt});
    });
    CHECK(as(later).has_value());
}

TEST_CASE_FIXTURE(AuthFixture, "last-used bookkeeping does not move the credentials epoch; a revocation does") {
    const auto t = add_token(Role::admin);
    const auto before = store->credentials_epoch();
    REQUIRE(as(t).has_value());  // records last_used_at (a store write)
    write([&](store::Connection& c) { store::note_token_used(c, t.id, 1'800'000'100); });
    const auto used = store->read([&](store::Connection& c) -> Result<std::optional<std::int64_t>> {
        return store::find_token(c, t.id)->last_used_at;
    });
    REQUIRE(used.has_value());
    CHECK(*used == std::optional<std::int64_t>(1'800'000'100));
    CHECK(store->credentials_epoch() == before);
    write([&](store::Connection& c) { (void)store::revoke_token(c, t.id, 1'800'000'200); });
    CHECK(store->credentials_epoch() == before + 1);
}

TEST_CASE_FIXTURE(AuthFixture, "a revocation rolled back with its unit does not revoke, and the token keeps working") {
    const auto t = add_token(Role::admin);
    REQUIRE(as(t).has_value());
    const auto r = store->write_and_wait([&](store::Connection& c) -> Result<void> {
        (void)store::revoke_token(c, t.id, 1'800'000'000);
        return fail(ErrorCode::conflict, "changed my mind");
    });
    CHECK_FALSE(r.has_value());
    CHECK(as(t).has_value());
}

TEST_CASE_FIXTURE(AuthFixture, "a token's use is written at most once a minute, also across a credentials change") {
    const auto t = add_token(Role::admin);
    const auto other = add_token(Role::admin);
    const std::int64_t t0 = clock.now_s();
    REQUIRE(as(t).has_value());
    CHECK(last_used(t) == std::optional<std::int64_t>(t0));

    clock.advance_ms(30'000);
    REQUIRE(as(t).has_value());
    CHECK(last_used(t) == std::optional<std::int64_t>(t0));  // within the minute: not written again

    // Another token's revocation moves the epoch: the entry is read again
    // from the store, and keeps when its use was last written.
    write([&](store::Connection& c) { (void)store::revoke_token(c, other.id, t0 + 31); });
    clock.advance_ms(10'000);
    const auto misses = auth->cache_stats().misses;
    REQUIRE(as(t).has_value());
    CHECK(auth->cache_stats().misses == misses + 1);
    CHECK(last_used(t) == std::optional<std::int64_t>(t0));

    clock.advance_ms(21'000);  // a minute after the first write
    REQUIRE(as(t).has_value());
    CHECK(last_used(t) == std::optional<std::int64_t>(t0 + 61));

    // A refused presentation is never written.
    clock.advance_ms(120'000);
    std::string forged = t.secret;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    REQUIRE_FALSE(auth->authenticate("Bearer " + forged).has_value());
    CHECK(last_used(t) == std::optional<std::int64_t>(t0 + 61));
}
