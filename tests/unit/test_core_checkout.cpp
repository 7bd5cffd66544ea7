#include "core/checkout.hpp"

#include <doctest/doctest.h>

using namespace entitle;

namespace {

Candidate make(std::string jti, std::string id, SeatModel model, std::optional<std::int64_t> count,
               std::int64_t in_use = 0) {
    Candidate c;
    c.license_jti = std::move(jti);
    c.entitlement.id = std::move(id);
    c.entitlement.feature = "vWS";
    c.entitlement.model = model;
    c.entitlement.count = count;
    c.in_use = in_use;
    if (model == SeatModel::subscription) {
        c.entitlement.not_before = 0;
        c.entitlement.not_after = 2'000'000'000;
    }
    return c;
}

constexpr std::int64_t kNow = 1'800'000'000;

}  // namespace

TEST_CASE("overage limit is floor(count * (1 + percent/100)) for every count 1..10 and percent 0..100") {
    for (std::int64_t count = 1; count <= 10; ++count) {
        for (std::int64_t pct = 0; pct <= 100; ++pct) {
            Entitlement e;
            e.count = count;
            e.overage = {true, pct};
            // Reference computed in exact rational arithmetic.
            const std::int64_t expected = (count * (100 + pct)) / 100;
            CHECK(e.seat_limit() == expected);
            e.overage.allow = false;
            CHECK(e.seat_limit() == count);
        }
    }
    Entitlement unlimited;
    unlimited.model = SeatModel::subscription;
    CHECK_FALSE(unlimited.seat_limit().has_value());
}

TEST_CASE("a window admits from not_before inclusive to not_after exclusive") {
    Entitlement e;
    e.not_before = 100;
    e.not_after = 200;
    CHECK_FALSE(e.valid_at(99));
    CHECK(e.valid_at(100));
    CHECK(e.valid_at(199));
    CHECK_FALSE(e.valid_at(200));
    Entitlement open;
    CHECK(open.valid_at(0));
    CHECK(open.valid_at(INT64_MAX));
}

TEST_CASE("region globs: exact match, trailing star prefix, bare star, empty list means anywhere") {
    CHECK(region_matches("eu-west", "eu-west"));
    CHECK_FALSE(region_matches("eu-west", "eu-west-1"));
    CHECK(region_matches("eu-*", "eu-west"));
    CHECK(region_matches("eu-*", "eu-"));
    CHECK_FALSE(region_matches("eu-*", "us-east"));
    CHECK_FALSE(region_matches("eu-*", "eu"));
    CHECK(region_matches("*", "anything"));
    CHECK(regions_admit({}, "mars"));
    CHECK(regions_admit({"us-*", "eu-west"}, "eu-west"));
    CHECK_FALSE(regions_admit({"us-*", "eu-west"}, "eu-north"));
}

TEST_CASE("no candidates at all is no_entitlement") {
    auto d = decide_checkout({}, "eu-west", "GPU-1", kNow);
    REQUIRE_FALSE(d);
    CHECK(d.error().error.code == ErrorCode::no_entitlement);
}

TEST_CASE("a lapsed or not yet valid entitlement counts as absent") {
    auto c = make("L", "e", SeatModel::concurrent, 5);
    c.entitlement.not_after = kNow;  // exactly at not_after: no longer valid
    auto d = decide_checkout({c}, "eu", "G", kNow);
    REQUIRE_FALSE(d);
    CHECK(d.error().error.code == ErrorCode::no_entitlement);
    c.entitlement.not_after.reset();
    c.entitlement.not_before = kNow + 1;
    d = decide_checkout({c}, "eu", "G", kNow);
    REQUIRE_FALSE(d);
    CHECK(d.error().error.code == ErrorCode::no_entitlement);
    c.entitlement.not_before = kNow;  // exactly at not_before: valid
    CHECK(decide_checkout({c}, "eu", "G", kNow));
}

TEST_CASE("a GPU outside every device lock is no_entitlement, with a message saying so") {
    auto c = make("L", "e", SeatModel::per_device, 5);
    c.entitlement.devices = {"GPU-A", "GPU-B"};
    auto d = decide_checkout({c}, "eu", "GPU-C", kNow);
    REQUIRE_FALSE(d);
    CHECK(d.error().error.code == ErrorCode::no_entitlement);
    CHECK(d.error().error.message.find("device lock") != std::string::npos);
    CHECK(decide_checkout({c}, "eu", "GPU-B", kNow));
}

TEST_CASE("device lock is checked before region: an excluded GPU in a wrong region is no_entitlement") {
    auto c = make("L", "e", SeatModel::per_device, 5);
    c.entitlement.devices = {"GPU-A"};
    c.entitlement.regions = {"us-*"};
    auto d = decide_checkout({c}, "eu-west", "GPU-Z", kNow);
    REQUIRE_FALSE(d);
    CHECK(d.error().error.code == ErrorCode::no_entitlement);
}

TEST_CASE("valid entitlements none of which admits the host region is region_denied") {
    auto c = make("L", "e", SeatModel::concurrent, 5);
    c.entitlement.regions = {"us-*"};
    auto d = decide_checkout({c}, "eu-west", "G", kNow);
    REQUIRE_FALSE(d);
    CHECK(d.error().error.code == ErrorCode::region_denied);
}

TEST_CASE("region_denied comes before oversubscribed") {
    auto full_here = make("L", "a", SeatModel::concurrent, 1, 1);
    auto elsewhere = make("L", "b", SeatModel::concurrent, 5);
    elsewhere.entitlement.regions = {"us-*"};
    full_here.entitlement.regions = {"us-*"};
    auto d = decide_checkout({full_here, elsewhere}, "eu-west", "G", kNow);
    REQUIRE_FALSE(d);
    CHECK(d.error().error.code == ErrorCode::region_denied);
}

TEST_CASE("concurrent: grants while in_use < count, then oversubscribed with the full ones listed") {
    auto c = make("L", "e", SeatModel::concurrent, 3, 2);
    auto d = decide_checkout({c}, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(d->new_seat);
    CHECK_FALSE(d->overage);
    c.in_use = 3;
    d = decide_checkout({c}, "eu", "G", kNow);
    REQUIRE_FALSE(d);
    CHECK(d.error().error.code == ErrorCode::oversubscribed);
    CHECK(d.error().considered == std::vector<std::size_t>{0});
}

TEST_CASE("overage: grants past count up to the rounded-down limit, marked as overage") {
    auto c = make("L", "e", SeatModel::concurrent, 10, 10);
    c.entitlement.overage = {true, 25};  // limit floor(12.5) = 12
    auto d = decide_checkout({c}, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(d->overage);
    c.in_use = 11;
    CHECK(decide_checkout({c}, "eu", "G", kNow));
    c.in_use = 12;
    CHECK_FALSE(decide_checkout({c}, "eu", "G", kNow));
    c.entitlement.overage = {false, 0};
    c.in_use = 10;
    CHECK_FALSE(decide_checkout({c}, "eu", "G", kNow));
}

TEST_CASE("a grant within count anywhere beats an overage grant earlier in the order") {
    auto sub = make("L", "sub", SeatModel::subscription, 2, 2);
    sub.entitlement.overage = {true, 100};
    auto conc = make("L", "conc", SeatModel::concurrent, 5, 1);
    auto d = decide_checkout({sub, conc}, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(d->index == 1);
    CHECK_FALSE(d->overage);
}

TEST_CASE("per_device: a GPU already seated needs no new seat even when the entitlement is full") {
    auto c = make("L", "pd", SeatModel::per_device, 2, 2);
    c.gpu_holds_seat = true;
    auto d = decide_checkout({c}, "eu", "G", kNow);
    REQUIRE(d);
    CHECK_FALSE(d->new_seat);
    c.gpu_holds_seat = false;
    CHECK_FALSE(decide_checkout({c}, "eu", "G", kNow));
}

TEST_CASE("choice order: seated per_device, then subscription ending soonest, then concurrent, then per_device") {
    auto pd_new = make("A", "pd-new", SeatModel::per_device, 5);
    auto conc = make("A", "conc", SeatModel::concurrent, 5);
    auto sub_late = make("A", "sub-late", SeatModel::subscription, 5);
    sub_late.entitlement.not_after = kNow + 1000;
    auto sub_soon = make("B", "sub-soon", SeatModel::subscription, 5);
    sub_soon.entitlement.not_after = kNow + 10;
    auto pd_seated = make("Z", "pd-seated", SeatModel::per_device, 1, 1);
    pd_seated.gpu_holds_seat = true;

    std::vector<Candidate> all{pd_new, conc, sub_late, sub_soon, pd_seated};
    auto d = decide_checkout(all, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(all[d->index].entitlement.id == "pd-seated");

    all.pop_back();
    d = decide_checkout(all, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(all[d->index].entitlement.id == "sub-soon");

    all.pop_back();
    d = decide_checkout(all, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(all[d->index].entitlement.id == "sub-late");

    all.pop_back();
    d = decide_checkout(all, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(all[d->index].entitlement.id == "conc");

    all.pop_back();
    d = decide_checkout(all, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(all[d->index].entitlement.id == "pd-new");
}

TEST_CASE("ties are broken by license jti, then entitlement id") {
    std::vector<Candidate> c{make("B", "a", SeatModel::concurrent, 5), make("A", "z", SeatModel::concurrent, 5),
                             make("A", "b", SeatModel::concurrent, 5)};
    auto d = decide_checkout(c, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(c[d->index].license_jti == "A");
    CHECK(c[d->index].entitlement.id == "b");
}

TEST_CASE("a full entitlement is skipped for the next one in order") {
    std::vector<Candidate> c{make("A", "a", SeatModel::concurrent, 1, 1), make("A", "b", SeatModel::concurrent, 1, 0)};
    auto d = decide_checkout(c, "eu", "G", kNow);
    REQUIRE(d);
    CHECK(d->index == 1);
}

TEST_CASE("a subscription without count is unlimited") {
    auto c = make("L", "s", SeatModel::subscription, std::nullopt, 1'000'000'000);
    CHECK(decide_checkout({c}, "eu", "G", kNow));
}

TEST_CASE("lease expiry: default, capped by max_lease_seconds, never past not_after") {
    Entitlement e;
    CHECK(lease_expiry(e, 1000, 3600) == 4600);
    e.max_lease_seconds = 60;
    CHECK(lease_expiry(e, 1000, 3600) == 1060);
    e.not_after = 1030;
    CHECK(lease_expiry(e, 1000, 3600) == 1030);
    CHECK(renew_after(1000, 4600) == 2800);
}

TEST_CASE("checkout requests: required fields, types and sizes are checked and named") {
    using nlohmann::json;
    const json good = {{"request_id", "r1"}, {"feature", "vWS"}, {"gpu", {{"uuid", "G"}}}, {"vgpu", {{"id", "v"}}}};
    auto ok = parse_checkout_request(good);
    REQUIRE(ok);
    CHECK(ok->gpu_uuid == "G");
    CHECK_FALSE(ok->gpu_model);

    struct Bad {
        json body;
        std::string field;
    };
    const std::vector<Bad> bad = {
        {json::array(), "object"},
        {{{"feature", "vWS"}, {"gpu", {{"uuid", "G"}}}, {"vgpu", {{"id", "v"}}}}, "request_id"},
        {{{"request_id", 5}, {"feature", "vWS"}, {"gpu", {{"uuid", "G"}}}, {"vgpu", {{"id", "v"}}}}, "request_id"},
        {{{"request_id", "r"}, {"gpu", {{"uuid", "G"}}}, {"vgpu", {{"id", "v"}}}}, "feature"},
        {{{"request_id", "r"}, {"feature", "vWS"}, {"gpu", "G"}, {"vgpu", {{"id", "v"}}}}, "gpu"},
        {{{"request_id", "r"}, {"feature", "vWS"}, {"gpu", {{"model", "A"}}}, {"vgpu", {{"id", "v"}}}}, "gpu.uuid"},
        {{{"request_id", "r"}, {"feature", "vWS"}, {"gpu", {{"uuid", "G"}}}}, "vgpu"},
        {{{"request_id", "r"}, {"feature", "vWS"}, {"gpu", {{"uuid", "G"}}}, {"vgpu", {{"id", ""}}}}, "vgpu.id"},
        {{{"request_id", std::string(10'000, 'x')}, {"feature", "vWS"}, {"gpu", {{"uuid", "G"}}}, {"vgpu", {{"id", "v"}}}},
         "request_id"},
        {{{"request_id", "r\n"}, {"feature", "vWS"}, {"gpu", {{"uuid", "G"}}}, {"vgpu", {{"id", "v"}}}}, "request_id"},
    };
    for (const auto& b : bad) {
        auto r = parse_checkout_request(b.body);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::invalid_request);
        CHECK_MESSAGE(r.error().message.find(b.field) != std::string::npos, r.error().message);
    }
}

TEST_CASE("the checkout fingerprint changes with every field and ignores the request_id") {
    CheckoutRequest a{"r1", "vWS", "G", std::nullopt, "v", std::nullopt};
    CheckoutRequest b = a;
    b.request_id = "r2";
    CHECK(checkout_fingerprint(a) == checkout_fingerprint(b));
    for (int i = 0; i < 5; ++i) {
        CheckoutRequest c = a;
        if (i == 0) c.feature = "vPC";
        if (i == 1) c.gpu_uuid = "H";
        if (i == 2) c.gpu_model = "A100";
        if (i == 3) c.vgpu_id = "w";
        if (i == 4) c.vgpu_profile = "A100-4C";
        CHECK(checkout_fingerprint(c) != checkout_fingerprint(a));
    }
}
