#include "http/token_routes.hpp"

#include <memory>

#include <fmt/format.h>

#include "core/access_token.hpp"
#include "core/token_request.hpp"
#include "store/audit_log.hpp"
#include "store/token_table.hpp"

namespace entitle::http {

namespace {

nlohmann::json token_json(const store::TokenRecord& t) {
    return {{"id", t.id},
            {"role", role_name(t.role)},
            {"name", t.name ? nlohmann::json(*t.name) : nlohmann::json(nullptr)},
            {"created_at", t.created_at},
            {"last_used_at", t.last_used_at ? nlohmann::json(*t.last_used_at) : nlohmann::json(nullptr)},
            {"revoked_at", t.revoked_at ? nlohmann::json(*t.revoked_at) : nlohmann::json(nullptr)}};
}

}  // namespace

void register_token_routes(Router& router, store::Store& store, const Clock& clock) {
    router.add(bhttp::verb::post, "/v1/tokens", requires_role(Role::admin),
               [&store, &clock](RequestContext& ctx, Reply reply) {
                   auto body = parse_json_body(ctx.request);
                   if (!body) return reply(error_response(body.error()));
                   auto req = parse_new_token_request(*body);
                   if (!req) return reply(error_response(req.error()));
                   auto record = std::make_shared<store::TokenRecord>();
                   const auto minted = mint_access_token();
                   *record = {minted.id, req->role, req->name, minted.hash, clock.now_s(),
                              std::nullopt, std::nullopt};
                   store.submit(
                       [record, actor = ctx.principal->token_id, now_ms = clock.now_ms()](
                           store::Connection& c) -> Result<void> {
                           store::insert_token(c, *record);
                           store::append_audit(c, {now_ms, "token_created", actor, record->id,
                                                   {{"id", record->id},
                                                    {"role", role_name(record->role)},
                                                    {"name", record->name ? nlohmann::json(*record->name)
                                                                          : nlohmann::json(nullptr)}}});
                           return {};
                       },
                       [record, secret = minted.secret, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) return reply(error_response(r.error()));
                           auto j = token_json(*record);
                           j["token"] = secret;  // shown this once
                           reply(json_response(bhttp::status::created, j));
                       });
               });

    router.add_sync(bhttp::verb::get, "/v1/tokens", requires_role(Role::admin),
                    [&store](RequestContext&) {
                        auto tokens = store.read([](store::Connection& c) -> Result<nlohmann::json> {
                            nlohmann::json items = nlohmann::json::array();
                            for (const auto& t : store::list_tokens(c)) items.push_back(token_json(t));
                            return items;
                        });
                        if (!tokens) return error_response(tokens.error());
                        return json_response(bhttp::status::ok, {{"tokens", std::move(*tokens)}});
                    });

    router.add(bhttp::verb::delete_, "/v1/tokens/{id}", requires_role(Role::admin),
               [&store, &clock](RequestContext& ctx, Reply reply) {
                   auto id = ctx.params.at("id");
                   auto found = std::make_shared<bool>(false);
                   store.submit(
                       [id, found, actor = ctx.principal->token_id, now_ms = clock.now_ms()](
                           store::Connection& c) -> Result<void> {
                           auto before = store::find_token(c, id);
                           *found = store::revoke_token(c, id, now_ms / 1000);
                           if (*found && before && !before->revoked_at) {
                               store::append_audit(c, {now_ms, "token_revoked", actor, id, {{"id", id}}});
                           }
                           return {};
                       },
                       [id, found, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) return reply(error_response(r.error()));
                           if (!*found) {
                               return reply(error_response(
                                   {ErrorCode::not_found, fmt::format("no token with id {}", id)}));
                           }
                           reply(empty_response(bhttp::status::no_content));
                       });
               });
}

}  // namespace entitle::http
