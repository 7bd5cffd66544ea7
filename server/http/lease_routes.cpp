#include "http/lease_routes.hpp"

#include <memory>

#include <fmt/format.h>

#include "core/access_token.hpp"
#include "core/checkout.hpp"
#include "core/json_text.hpp"
#include "core/lease_token.hpp"
#include "crypto/base64url.hpp"
#include "crypto/digest.hpp"
#include "http/pagination.hpp"
#include "store/audit_log.hpp"
#include "store/host_table.hpp"
#include "store/lease_table.hpp"
#include "store/token_table.hpp"

namespace entitle::http {

namespace {

using json = nlohmann::json;

json opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

Result<std::string> text_field(const json& body, std::string_view key, std::size_t max, bool region) {
    auto it = body.find(key);
    if (it == body.end() || !it->is_string()) {
        return fail(ErrorCode::invalid_request, fmt::format("\"{}\" is required and must be a string", key));
    }
    auto s = it->get<std::string>();
    if (s.empty() || s.size() > max) {
        return fail(ErrorCode::invalid_request, fmt::format("\"{}\" must be 1 to {} bytes", key, max));
    }
    for (unsigned char ch : s) {
        const bool ok = region ? (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.') : (ch >= 0x20 && ch != 0x7f);
        if (!ok) {
            return fail(ErrorCode::invalid_request,
                        region ? fmt::format("\"{}\" may hold only letters, digits, '-', '_' and '.'", key)
                               : fmt::format("\"{}\" must not contain control characters", key));
        }
    }
    return s;
}

json host_json(const store::HostRecord& h) {
    return {{"id", h.id}, {"name", h.name}, {"region", h.region}, {"created_at", h.created_at},
            {"removed_at", opt(h.removed_at)}};
}

json lease_json(const store::LeaseRecord& l) {
    return {{"lease_id", l.id},
            {"host", l.host_id},
            {"feature", l.feature},
            {"entitlement", l.entitlement_key()},
            {"gpu", {{"uuid", l.gpu_uuid}, {"model", opt(l.gpu_model)}}},
            {"vgpu", {{"id", l.vgpu_id}, {"profile", opt(l.vgpu_profile)}}},
            {"overage", l.overage},
            {"issued_at", l.issued_at},
            {"expires_at", l.expires_at},
            {"renewed_at", opt(l.renewed_at)}};
}

// The nonce of the token of a lease state about to be written: its seed,
// stored with the state, and its point when the pool had one made ahead; a
// fresh seed alone when the pool was empty (the point is then made only if
// a token is signed); neither without a pool (RFC 8032's nonce).
struct NewNonce {
    std::optional<crypto::NonceSeed> seed;
    std::optional<crypto::Ed25519Nonce> made;
};

NewNonce new_nonce(const LeaseSettings& s) {
    if (s.nonces == nullptr) return {};
    if (auto n = s.nonces->take()) return {n->seed, n};
    return {crypto::random_nonce_seed(), std::nullopt};
}

// The checkout/renew answer: {"lease_id","token","expires_at","renew_after","entitlement"}.
// `made`: the nonce made ahead for the state just written, if any; the nonce
// of a lease whose stored seed is another one (a retried checkout), or whose
// point was not made ahead, is made here.
std::string grant_json(const store::LeaseRecord& l, const LeaseSettings& s,
                       const std::optional<crypto::Ed25519Nonce>& made) {
    const std::int64_t iat = l.renewed_at.value_or(l.issued_at);
    const LeaseClaims claims{s.server_id, l.host_id, l.id, l.feature, l.entitlement_key(),
                             l.gpu_uuid,  l.vgpu_id, iat,  l.expires_at};
    std::optional<crypto::Ed25519Nonce> nonce;
    if (l.token_nonce) {
        nonce = made && made->seed == *l.token_nonce ? *made
                                                     : s.signing_key.nonce_of(*l.token_nonce, s.server_id);
    }
    const std::string token = sign_lease_token(claims, s.signing_key, s.kid, nonce ? &*nonce : nullptr);
    // Written directly (members in the order nlohmann would keep them): every
    // checkout and renewal answers with it.
    std::string out;
    out.reserve(token.size() + 160);
    out += "{\"entitlement\":";
    append_json_string(out, claims.ent);
    out += ",\"expires_at\":";
    append_json_int(out, l.expires_at);
    out += ",\"lease_id\":";
    append_json_string(out, l.id);
    out += ",\"overage\":";
    out += l.overage ? "true" : "false";
    out += ",\"renew_after\":";
    append_json_int(out, renew_after(iat, l.expires_at));
    out += ",\"token\":";
    append_json_string(out, token);
    out += '}';
    return out;
}

std::string new_host_id() { return "h_" + crypto::base64url_encode(crypto::random_id_bytes(9)); }

}  // namespace

void register_host_routes(Router& router, store::Store& store, const Clock& clock, const LeaseSettings& settings) {
    router.add(bhttp::verb::post, "/v1/hosts", requires_role(Role::admin),
               [&store, &clock, &settings](RequestContext& ctx, Reply reply) {
                   auto body = parse_json_body(ctx.request);
                   if (!body) return reply(error_response(body.error()));
                   if (!body->is_object()) return reply(error_response({ErrorCode::invalid_request, "body must be a JSON object"}));
                   auto name = text_field(*body, "name", 128, false);
                   if (!name) return reply(error_response(name.error()));
                   auto region = text_field(*body, "region", 64, true);
                   if (!region) return reply(error_response(region.error()));
                   const auto token = mint_access_token();
                   const std::int64_t now_ms = clock.now_ms();
                   auto host = std::make_shared<store::HostRecord>(
                       store::HostRecord{new_host_id(), *name, *region, token.id, now_ms / 1000, std::nullopt});
                   auto taken = std::make_shared<bool>(false);
                   store.submit(
                       [host, taken, token, now_ms, actor = ctx.principal->token_id](store::Connection& c) -> Result<void> {
                           if (store::active_host_name_exists(c, host->name)) {
                               *taken = true;
                               return {};
                           }
                           store::insert_token(c, {token.id, Role::host, "host " + host->name, token.hash,
                                                   now_ms / 1000, std::nullopt, std::nullopt});
                           store::insert_host(c, *host);
                           store::append_audit(c, {now_ms, "host_added", actor, host->id,
                                                   {{"host", host->id}, {"name", host->name}, {"region", host->region}}});
                           return {};
                       },
                       [host, taken, secret = token.secret, &settings, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) return reply(error_response(r.error()));
                           if (*taken) {
                               return reply(error_response(
                                   {ErrorCode::conflict, fmt::format("a host named {} exists already", host->name)}));
                           }
                           // The host configuration file (contract section 3), shown this once.
                           reply(json_response(bhttp::status::created,
                                               {{"server_url", settings.public_url},
                                                {"ca_pem", settings.ca_pem},
                                                {"host_id", host->id},
                                                {"host_token", secret},
                                                {"lease_keys", settings.jwks}}));
                       });
               });

    router.add_sync(bhttp::verb::get, "/v1/hosts", requires_role(Role::auditor), [&store](RequestContext& ctx) {
        auto limit = page_limit(ctx);
        if (!limit) return error_response(limit.error());
        const std::string after = ctx.query_param("after").value_or("");
        const bool removed = ctx.query_param("removed").value_or("") == "true";
        auto page = store.read([&](store::Connection& c) -> Result<json> {
            auto rows = store::list_hosts(c, after, *limit + 1, removed);
            const bool more = static_cast<std::int64_t>(rows.size()) > *limit;
            if (more) rows.pop_back();
            json out = {{"hosts", json::array()}};
            for (const auto& h : rows) out["hosts"].push_back(host_json(h));
            if (more) out["next"] = rows.back().id;
            return out;
        });
        if (!page) return error_response(page.error());
        return json_response(bhttp::status::ok, *page);
    });

    router.add(bhttp::verb::delete_, "/v1/hosts/{id}", requires_role(Role::admin),
               [&store, &clock](RequestContext& ctx, Reply reply) {
                   auto id = ctx.params.at("id");
                   auto found = std::make_shared<bool>(false);
                   store.submit(
                       [id, found, now_ms = clock.now_ms(), actor = ctx.principal->token_id](store::Connection& c) -> Result<void> {
                           auto host = store::find_host(c, id);
                           if (!host) return {};
                           *found = true;
                           if (host->removed_at) return {};
                           store::mark_host_removed(c, id, now_ms / 1000);
                           (void)store::revoke_token(c, host->token_id, now_ms / 1000);
                           const auto ended = store::end_leases_of_host(c, id, "host_removed", actor, now_ms);
                           store::append_audit(c, {now_ms, "host_removed", actor, id,
                                                   {{"host", id}, {"name", host->name}, {"region", host->region},
                                                    {"leases_ended", ended}}});
                           return {};
                       },
                       [id, found, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) return reply(error_response(r.error()));
                           if (!*found) return reply(error_response({ErrorCode::not_found, fmt::format("no host {}", id)}));
                           reply(empty_response(bhttp::status::no_content));
                       });
               });
}

void register_lease_routes(Router& router, store::Store& store, const Clock& clock, const LeaseSettings& settings,
                           Metrics& metrics) {
    router.add(bhttp::verb::post, "/v1/leases", requires_role(Role::host),
               [&store, &clock, &settings, &metrics](RequestContext& ctx, Reply reply) {
                   if (settings.clock_guard) {
                       if (auto behind = settings.clock_guard->paused_behind_ms(clock.now_ms())) {
                           metrics.count_checkout("unavailable");
                           auto res = error_response(
                               {ErrorCode::unavailable,
                                fmt::format("new leases are paused: the server clock is {} s behind the latest "
                                            "time it recorded (clock_rollback); they resume when the clock "
                                            "catches up or an admin acknowledges the time",
                                            (*behind + 999) / 1000)});
                           res.set(bhttp::field::retry_after, "30");
                           return reply(std::move(res));
                       }
                   }
                   auto body = parse_json_body(ctx.request);
                   if (!body) return reply(error_response(body.error()));
                   auto req = parse_checkout_request(*body);
                   if (!req) return reply(error_response(req.error()));
                   struct State {
                       CheckoutRequest request;
                       store::HostRecord host;
                       store::CheckoutOutcome outcome;
                   };
                   auto st = std::make_shared<State>();
                   st->request = std::move(*req);
                   st->host.id = ctx.principal->host_id;
                   st->host.region = ctx.principal->host_region;
                   // The request's fingerprint and the new lease's id are made
                   // here, on the I/O thread: the writer only runs the statements.
                   // So is its token's nonce, ahead of time (crypto/nonce_pool.hpp).
                   const std::int64_t now_ms = clock.now_ms();
                   const NewNonce nonce = new_nonce(settings);
                   store.submit(
                       [st, &settings, actor = ctx.principal->token_id, now_ms,
                        fingerprint = checkout_fingerprint(st->request), lease_id = store::new_lease_id(now_ms),
                        seed = nonce.seed](store::Connection& c) mutable -> Result<void> {
                           st->outcome = store::checkout_lease(
                               c, {st->host, st->request, std::move(fingerprint), actor, now_ms,
                                   settings.default_lease_seconds, settings.kid, std::move(lease_id), seed});
                           return {};
                       },
                       [st, &settings, &metrics, made = nonce.made, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) {
                               metrics.count_checkout(r.error().code_name());
                               return reply(error_response(r.error()));
                           }
                           const auto& o = st->outcome;
                           metrics.count_checkout(o.error ? o.error->code_name()
                                                  : o.kind == store::CheckoutOutcome::Kind::replayed ? "replayed"
                                                                                                     : "granted");
                           if (o.error) return reply(error_response(*o.error));
                           // Signing and rendering run on the I/O thread, not the writer's.
                           reply.build([st, &settings, made] {
                               return json_text_response(bhttp::status::created,
                                                         grant_json(st->outcome.lease, settings, made));
                           });
                       },
                       store::Store::Savepoint::none);  // refusals are outcomes, never a failed unit
               });

    router.add(bhttp::verb::post, "/v1/leases/{id}/renew", requires_role(Role::host),
               [&store, &clock, &settings](RequestContext& ctx, Reply reply) {
                   auto out = std::make_shared<store::RenewOutcome>();
                   const NewNonce nonce = new_nonce(settings);
                   store.submit(
                       [out, &settings, id = ctx.params.at("id"), host = ctx.principal->host_id,
                        now_ms = clock.now_ms(), seed = nonce.seed](store::Connection& c) -> Result<void> {
                           *out = store::renew_lease(c, id, host, now_ms, settings.default_lease_seconds, settings.kid,
                                                     seed);
                           return {};
                       },
                       [out, &settings, made = nonce.made, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) return reply(error_response(r.error()));
                           if (out->error) return reply(error_response(*out->error));
                           reply.build([out, &settings, made] {
                               return json_text_response(bhttp::status::ok, grant_json(*out->lease, settings, made));
                           });
                       },
                       store::Store::Savepoint::none);
               });

    router.add(bhttp::verb::delete_, "/v1/leases/{id}", requires_role(Role::host, {Role::admin}),
               [&store, &clock](RequestContext& ctx, Reply reply) {
                   auto err = std::make_shared<std::optional<Error>>();
                   std::optional<std::string> owner;
                   if (ctx.principal->role == Role::host) owner = ctx.principal->host_id;
                   store.submit(
                       [err, owner, id = ctx.params.at("id"), actor = ctx.principal->token_id,
                        now_ms = clock.now_ms()](store::Connection& c) -> Result<void> {
                           *err = store::release_lease(c, id, owner, actor, now_ms);
                           return {};
                       },
                       [err, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) return reply(error_response(r.error()));
                           if (*err) return reply(error_response(**err));
                           reply.build([] { return empty_response(bhttp::status::no_content); });
                       },
                       store::Store::Savepoint::none);
               });

    router.add_sync(bhttp::verb::get, "/v1/leases", requires_role(Role::auditor, {Role::host}),
                    [&store, &clock](RequestContext& ctx) {
                        auto limit = page_limit(ctx);
                        if (!limit) return error_response(limit.error());
                        store::LeaseFilter f;
                        f.limit = *limit + 1;
                        f.after_id = ctx.query_param("after").value_or("");
                        f.feature = ctx.query_param("feature");
                        f.host_id = ctx.query_param("host");
                        f.now_s = clock.now_s();
                        if (ctx.principal->role == Role::host) f.host_id = ctx.principal->host_id;  // its own only
                        auto page = store.read([&](store::Connection& c) -> Result<json> {
                            auto rows = store::list_active_leases(c, f);
                            const bool more = static_cast<std::int64_t>(rows.size()) > *limit;
                            if (more) rows.pop_back();
                            json out = {{"leases", json::array()}};
                            for (const auto& l : rows) out["leases"].push_back(lease_json(l));
                            if (more) out["next"] = rows.back().id;
                            return out;
                        });
                        if (!page) return error_response(page.error());
                        return json_response(bhttp::status::ok, *page);
                    });
}

}  // namespace entitle::http
