#include "http/router.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/access_token.hpp"
#include "http/authenticator.hpp"
#include "http/message.hpp"
#include "store/host_table.hpp"
#include "store/store.hpp"
#include "store/token_table.hpp"
#include "temp_dir.hpp"

using namespace entitle;
using namespace entitle::http;
using entitle::test::TempDir;

namespace {

// What a handler saw, copied out of the RequestContext.
struct Seen {
    int calls = 0;
    std::string path;
    std::string query;
    std::map<std::string, std::string, std::less<>> params;
    std::optional<Principal> principal;
    std::optional<std::string> name, flag, empty, missing, encoded_key;
};

struct Outcome {
    int replies = 0;
    Response res;
    DispatchInfo info;

    [[nodiscard]] int status() const { return static_cast<int>(res.result_int()); }
    [[nodiscard]] nlohmann::json json() const { return nlohmann::json::parse(res.body()); }
    [[nodiscard]] std::string error_code() const {
        return json().at("error").at("code").get<std::string>();
    }
};

class RouterFixture {
  public:
    RouterFixture() {
        auto s = store::Store::create(dir_.file("entitle.db"));
        REQUIRE(s.has_value());
        store_ = std::move(*s);
        admin = add_token(Role::admin, std::nullopt);
        auditor = add_token(Role::auditor, std::nullopt);
        host = add_token(Role::host, std::nullopt);
        add_host(host, "h-live", std::nullopt);
        removed_host = add_token(Role::host, std::nullopt);
        add_host(removed_host, "h-gone", 1'700'000'000);
        revoked = add_token(Role::admin, 1'700'000'000);
        auth_ = std::make_unique<Authenticator>(*store_);
        router = std::make_unique<Router>(*auth_);

        auto record = [this](const char* body) {
            return [this, body](RequestContext& ctx) {
                ++seen.calls;
                seen.path = std::string(ctx.path);
                seen.query = std::string(ctx.query);
                seen.params = ctx.params;
                seen.principal = ctx.principal;
                seen.name = ctx.query_param("name");
                seen.flag = ctx.query_param("flag");
                seen.empty = ctx.query_param("empty");
                seen.missing = ctx.query_param("missing");
                seen.encoded_key = ctx.query_param("a b");
                return json_response(bhttp::status::ok, {{"handler", body}});
            };
        };
        router->add_sync(bhttp::verb::get, "/public", public_route, record("public"));
        router->add_sync(bhttp::verb::get, "/v1/admin", requires_role(Role::admin),
                         record("admin"));
        router->add_sync(bhttp::verb::get, "/v1/audit", requires_role(Role::auditor),
                         record("audit"));
        router->add_sync(bhttp::verb::get, "/v1/things/{id}", requires_role(Role::auditor),
                         record("get thing"));
        router->add_sync(bhttp::verb::delete_, "/v1/things/{id}", requires_role(Role::admin),
                         record("delete thing"));
        router->add_sync(bhttp::verb::post, "/v1/leases/{lease}/renew",
                         requires_role(Role::admin, {Role::host}), record("renew"));
        router->add(bhttp::verb::post, "/v1/later", requires_role(Role::auditor),
                    [this](RequestContext&, Reply reply) { parked = std::move(reply); });
    }

    Outcome call(bhttp::verb method, std::string_view target,
                 std::optional<std::string> authorization = std::nullopt) {
        Request req{method, target, 11};
        if (authorization) req.set(bhttp::field::authorization, *authorization);
        Outcome out;
        router->dispatch(req, out.info, [&out](Response res) {
            ++out.replies;
            out.res = std::move(res);
        });
        return out;
    }
    static std::string bearer(const MintedToken& t) { return "Bearer " + t.secret; }

    MintedToken admin, auditor, host, removed_host, revoked;
    std::unique_ptr<Router> router;
    Seen seen;
    Reply parked;

  private:
    MintedToken add_token(Role role, std::optional<std::int64_t> revoked_at) {
        MintedToken t = mint_access_token();
        const store::TokenRecord rec{t.id,          role,         std::nullopt, t.hash,
                                     1'600'000'000, std::nullopt, revoked_at};
        const auto r = store_->write_and_wait([rec](store::Connection& c) -> Result<void> {
            store::insert_token(c, rec);
            return {};
        });
        REQUIRE(r.has_value());
        return t;
    }

    // A host token is only valid while its host is registered (hosts table).
    void add_host(const MintedToken& t, const std::string& id,
                  std::optional<std::int64_t> removed_at) {
        const store::HostRecord rec{id, "gpu-" + id, "eu-west", t.id, 1'600'000'000, removed_at};
        const auto r = store_->write_and_wait([rec](store::Connection& c) -> Result<void> {
            store::insert_host(c, rec);
            return {};
        });
        REQUIRE(r.has_value());
    }

    TempDir dir_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<Authenticator> auth_;
};

}  // namespace

TEST_CASE_FIXTURE(RouterFixture, "an unknown path gets 404 with the contract's JSON error body") {
    const auto out = call(bhttp::verb::get, "/v1/nothing-here", bearer(admin));
    CHECK(out.replies == 1);
    CHECK(out.status() == 404);
    CHECK(out.res[bhttp::field::content_type] == "application/json");
    const auto body = out.json();
    CHECK(body.at("error").at("code") == "not_found");
    CHECK_FALSE(body.at("error").at("message").get<std::string>().empty());
    CHECK(out.info.route == "unmatched");
    CHECK(out.info.token_id.empty());
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "paths that only resemble a route are not found") {
    CHECK(call(bhttp::verb::get, "/v1/admin/", bearer(admin)).status() == 404);
    CHECK(call(bhttp::verb::get, "/v1/things", bearer(admin)).status() == 404);
    CHECK(call(bhttp::verb::get, "/v1/things/", bearer(admin)).status() == 404);  // empty {id}
    CHECK(call(bhttp::verb::get, "/v1/things/a/b", bearer(admin)).status() == 404);
    CHECK(call(bhttp::verb::get, "/V1/ADMIN", bearer(admin)).status() == 404);
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "a request target that is not an absolute path is a 400") {
    const auto out = call(bhttp::verb::get, "*");
    CHECK(out.replies == 1);
    CHECK(out.status() == 400);
    CHECK(out.error_code() == "invalid_request");
}

TEST_CASE_FIXTURE(RouterFixture,
                  "a known path with the wrong method gets 405 and an Allow header") {
    const auto out = call(bhttp::verb::put, "/v1/things/42", bearer(admin));
    CHECK(out.replies == 1);
    CHECK(out.status() == 405);
    CHECK(out.error_code() == "method_not_allowed");
    CHECK(out.res[bhttp::field::allow] == "GET, DELETE");
    CHECK(out.info.route == "/v1/things/{id}");
    CHECK(seen.calls == 0);

    const auto single = call(bhttp::verb::get, "/v1/later");
    CHECK(single.status() == 405);
    CHECK(single.res[bhttp::field::allow] == "POST");
}

TEST_CASE_FIXTURE(RouterFixture, "a missing Authorization header gets 401 with WWW-Authenticate") {
    const auto out = call(bhttp::verb::get, "/v1/audit");
    CHECK(out.replies == 1);
    CHECK(out.status() == 401);
    CHECK(out.error_code() == "unauthorized");
    CHECK(out.res[bhttp::field::www_authenticate] == "Bearer");
    CHECK(out.info.route == "/v1/audit");
    CHECK(out.info.token_id.empty());
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "an Authorization header that is not a Bearer token gets 401") {
    const std::vector<std::string> headers = {
        "Basic dXNlcjpwYXNz", "Bearer",     "Bearer ",
        "Token abc",          admin.secret, "Bearer\t" + admin.secret};
    for (const auto& header : headers) {
        CAPTURE(header);
        const auto out = call(bhttp::verb::get, "/v1/audit", header);
        CHECK(out.status() == 401);
        CHECK(out.error_code() == "unauthorized");
        CHECK(out.res[bhttp::field::www_authenticate] == "Bearer");
    }
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "a malformed bearer token gets 401 and is not echoed back") {
    const std::vector<std::string> tokens = {"abc", admin.secret + "=", admin.secret + "A",
                                             admin.secret.substr(0, 58),
                                             "!" + admin.secret.substr(1)};
    for (const auto& token : tokens) {
        CAPTURE(token);
        const auto out = call(bhttp::verb::get, "/v1/audit", "Bearer " + token);
        CHECK(out.status() == 401);
        CHECK(out.error_code() == "unauthorized");
        CHECK(out.res.body().find(token) == std::string::npos);
    }
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "a well-formed token that was never issued gets 401") {
    const MintedToken stranger = mint_access_token();
    const auto out = call(bhttp::verb::get, "/v1/audit", bearer(stranger));
    CHECK(out.status() == 401);
    CHECK(out.error_code() == "unauthorized");
    CHECK(out.info.token_id.empty());
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "a known token id with a wrong secret gets 401") {
    std::string forged = admin.secret;
    forged[30] = forged[30] == 'A' ? 'B' : 'A';  // same id part, different secret
    REQUIRE(access_token_id(forged) == admin.id);
    const auto out = call(bhttp::verb::get, "/v1/audit", "Bearer " + forged);
    CHECK(out.status() == 401);
    CHECK(out.error_code() == "unauthorized");
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "a revoked token gets 401") {
    const auto out = call(bhttp::verb::get, "/v1/audit", bearer(revoked));
    CHECK(out.status() == 401);
    CHECK(out.error_code() == "unauthorized");
    CHECK(out.res[bhttp::field::www_authenticate] == "Bearer");
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "a host token whose host was removed gets 401") {
    const auto out = call(bhttp::verb::post, "/v1/leases/L1/renew", bearer(removed_host));
    CHECK(out.status() == 401);
    CHECK(out.error_code() == "unauthorized");
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "an auditor token on an admin route gets 403 forbidden") {
    const auto out = call(bhttp::verb::get, "/v1/admin", bearer(auditor));
    CHECK(out.replies == 1);
    CHECK(out.status() == 403);
    CHECK(out.error_code() == "forbidden");
    CHECK(out.info.route == "/v1/admin");
    CHECK(out.info.token_id == auditor.id);  // filled before the reply
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "a host token is forbidden on auditor and admin routes") {
    CHECK(call(bhttp::verb::get, "/v1/audit", bearer(host)).status() == 403);
    CHECK(call(bhttp::verb::get, "/v1/admin", bearer(host)).status() == 403);
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "an admin token on an auditor route runs the handler") {
    const auto out = call(bhttp::verb::get, "/v1/audit", bearer(admin));
    CHECK(out.replies == 1);
    CHECK(out.status() == 200);
    CHECK(out.json().at("handler") == "audit");
    CHECK(seen.calls == 1);
    REQUIRE(seen.principal.has_value());
    CHECK(seen.principal->token_id == admin.id);
    CHECK(seen.principal->role == Role::admin);
    CHECK(out.info.route == "/v1/audit");
    CHECK(out.info.token_id == admin.id);
}

TEST_CASE_FIXTURE(RouterFixture, "the Bearer scheme name is matched case-insensitively") {
    CHECK(call(bhttp::verb::get, "/v1/audit", "bearer " + auditor.secret).status() == 200);
    CHECK(call(bhttp::verb::get, "/v1/audit", "BEARER " + auditor.secret).status() == 200);
    CHECK(seen.calls == 2);
}

TEST_CASE_FIXTURE(RouterFixture, "a route's extra roles admit a host token besides the main role") {
    const auto as_host = call(bhttp::verb::post, "/v1/leases/L1/renew", bearer(host));
    CHECK(as_host.status() == 200);
    REQUIRE(seen.principal.has_value());
    CHECK(seen.principal->role == Role::host);
    CHECK(seen.principal->token_id == host.id);
    CHECK(seen.principal->host_id == "h-live");
    CHECK(seen.principal->host_region == "eu-west");
    CHECK(call(bhttp::verb::post, "/v1/leases/L1/renew", bearer(admin)).status() == 200);
    CHECK(call(bhttp::verb::post, "/v1/leases/L1/renew", bearer(auditor)).status() == 403);
    CHECK(seen.calls == 2);
}

TEST_CASE_FIXTURE(RouterFixture, "a public route runs without a token and has no principal") {
    const auto out = call(bhttp::verb::get, "/public");
    CHECK(out.status() == 200);
    CHECK(seen.calls == 1);
    CHECK_FALSE(seen.principal.has_value());
    CHECK(out.info.route == "/public");
    CHECK(out.info.token_id.empty());
}

TEST_CASE_FIXTURE(RouterFixture, "{id} parameters are extracted and percent-decoded") {
    const auto out = call(bhttp::verb::get, "/v1/things/a%20b%2Fc%C3%A9?x=1", bearer(auditor));
    CHECK(out.status() == 200);
    CHECK(seen.params.size() == 1);
    CHECK(seen.params["id"] == "a b/c\xc3\xa9");
    CHECK(seen.path == "/v1/things/a%20b%2Fc%C3%A9");  // the path stays undecoded
    CHECK(seen.query == "x=1");
    CHECK(out.info.route == "/v1/things/{id}");  // the pattern, never the raw path

    call(bhttp::verb::post, "/v1/leases/x+y/renew", bearer(admin));
    CHECK(seen.params["lease"] == "x+y");  // '+' is only a space in queries
}

TEST_CASE_FIXTURE(RouterFixture, "a path parameter with broken percent-encoding is a 400") {
    for (const char* target : {"/v1/things/%zz", "/v1/things/abc%4", "/v1/things/%"}) {
        CAPTURE(target);
        const auto out = call(bhttp::verb::delete_, target, bearer(admin));
        CHECK(out.replies == 1);
        CHECK(out.status() == 400);
        CHECK(out.error_code() == "invalid_request");
    }
    CHECK(seen.calls == 0);
}

TEST_CASE_FIXTURE(RouterFixture, "query_param decodes names and values") {
    const auto out = call(bhttp::verb::get,
                          "/public?name=J%C3%B6rg+X%26Co&flag&empty=&a%20b=spaced&name=second");
    CHECK(out.status() == 200);
    CHECK(seen.name == std::optional<std::string>("J\xc3\xb6rg X&Co"));  // first one wins
    CHECK(seen.flag == std::optional<std::string>(""));
    CHECK(seen.empty == std::optional<std::string>(""));
    CHECK(seen.encoded_key == std::optional<std::string>("spaced"));
    CHECK_FALSE(seen.missing.has_value());
}

TEST_CASE_FIXTURE(RouterFixture, "query_param finds nothing in an empty or absent query") {
    call(bhttp::verb::get, "/public");
    CHECK(seen.query.empty());
    CHECK_FALSE(seen.name.has_value());
    call(bhttp::verb::get, "/public?");
    CHECK_FALSE(seen.name.has_value());
    CHECK_FALSE(seen.flag.has_value());
}

TEST_CASE_FIXTURE(RouterFixture, "an asynchronous handler may reply after dispatch returns") {
    Request req{bhttp::verb::post, "/v1/later", 11};
    req.set(bhttp::field::authorization, bearer(auditor));
    DispatchInfo info;
    int replies = 0;
    std::optional<Response> got;
    router->dispatch(req, info, [&](Response r) {
        ++replies;
        got = std::move(r);
    });
    CHECK(replies == 0);
    CHECK(info.route == "/v1/later");
    CHECK(info.token_id == auditor.id);
    REQUIRE(parked);
    parked(empty_response(bhttp::status::no_content));
    CHECK(replies == 1);
    REQUIRE(got.has_value());
    CHECK(got->result_int() == 204);
}

TEST_CASE("parse_json_body gives invalid_request for malformed JSON") {
    for (const char* body : {"", "{", "{\"a\":}", "[1,2", "nope", "{\"a\":1} trailing"}) {
        CAPTURE(body);
        Request req{bhttp::verb::post, "/x", 11};
        req.body() = body;
        const auto r = parse_json_body(req);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::invalid_request);
        CHECK(r.error().message.find("not valid JSON") != std::string::npos);
    }
}

TEST_CASE("parse_json_body gives invalid_request for a number too large for a double") {
    for (const char* body : {R"({"name":1e400})", "[-1e999]", R"({"a":[176721e325]})"}) {
        CAPTURE(body);
        Request req{bhttp::verb::post, "/x", 11};
        req.body() = body;
        const auto r = parse_json_body(req);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::invalid_request);
        CHECK(r.error().message.find("out of range") != std::string::npos);
    }
}

TEST_CASE("parse_json_body parses a well-formed body") {
    Request req{bhttp::verb::post, "/x", 11};
    req.body() = R"({"role":"host","n":[1,2]})";
    const auto r = parse_json_body(req);
    REQUIRE(r.has_value());
    CHECK(r->at("role") == "host");
    CHECK(r->at("n").size() == 2);
}

TEST_CASE("error_response uses the error's status and the contract's body shape") {
    const auto res = error_response({ErrorCode::oversubscribed, "all seats taken"});
    CHECK(res.result_int() == 409);
    CHECK(res[bhttp::field::content_type] == "application/json");
    CHECK(res[bhttp::field::www_authenticate].empty());
    const auto body = nlohmann::json::parse(res.body());
    CHECK(body ==
          nlohmann::json{{"error", {{"code", "oversubscribed"}, {"message", "all seats taken"}}}});
}
