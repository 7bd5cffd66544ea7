#include "http/license_routes.hpp"

#include <memory>

#include <fmt/format.h>

#include "crypto/digest.hpp"
#include "http/pagination.hpp"
#include "store/audit_log.hpp"
#include "store/license_table.hpp"

namespace entitle::http {

namespace {

using json = nlohmann::json;

json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }
json opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

json license_json(const store::StoredLicense& s) {
    json ents = json::array();
    for (std::size_t i = 0; i < s.license.entitlements.size(); ++i) {
        const auto& e = s.license.entitlements[i];
        json j = entitlement_to_json(e);
        j["key"] = s.license.jti + "/" + e.id;
        j["in_use"] = i < s.usage.size() ? s.usage[i].in_use : 0;
        j["peak"] = i < s.usage.size() ? s.usage[i].peak : 0;
        ents.push_back(std::move(j));
    }
    return {{"jti", s.license.jti},
            {"iss", s.license.iss},
            {"sub", s.license.sub},
            {"iat", s.license.iat},
            {"kid", s.kid},
            {"supersedes", opt(s.license.supersedes)},
            {"sha256", s.sha256},
            {"imported_at", s.imported_at},
            {"state", store::license_state_name(s.state)},
            {"ended_at", opt(s.ended_at)},
            {"superseded_by", opt(s.superseded_by)},
            {"entitlements", std::move(ents)}};
}

// A refused import leaves only its license_rejected event behind.
void reject_import(store::Store& store, const Clock& clock, const std::string& actor, const Error& error,
                   std::string subject, const std::string& file_sha256, Reply reply) {
    store.submit(
        [entry = store::AuditEntry{clock.now_ms(), "license_rejected", actor, std::move(subject),
                                   {{"reason", error.code_name()},
                                    {"message", error.message},
                                    {"sha256", file_sha256}}}](store::Connection& c) mutable -> Result<void> {
            store::append_audit(c, std::move(entry));
            return {};
        },
        [error, reply = std::move(reply)](Result<void> r) mutable {
            if (!r) return reply(error_response(r.error()));  // not even the refusal could be recorded
            reply(error_response(error));
        });
}

}  // namespace

void register_license_routes(Router& router, store::Store& store, const IssuerRegistry& issuers,
                             const Clock& clock) {
    router.add(bhttp::verb::post, "/v1/licenses", requires_role(Role::admin),
               [&store, &issuers, &clock](RequestContext& ctx, Reply reply) {
                   const std::string& body = ctx.request.body();
                   const std::string file_sha = crypto::sha256_hex(body);
                   const std::string actor = ctx.principal->token_id;
                   auto verified = verify_license_file(body, *issuers.snapshot());
                   if (!verified) {
                       return reject_import(store, clock, actor, verified.error(), file_sha, file_sha,
                                            std::move(reply));
                   }
                   const std::int64_t now_ms = clock.now_ms();
                   if (verified->license.lapsed_at(now_ms / 1000)) {
                       return reject_import(store, clock, actor,
                                            {ErrorCode::invalid_license,
                                             "the license has lapsed: every entitlement's not_after is past"},
                                            verified->license.jti, file_sha, std::move(reply));
                   }
                   struct Outcome {
                       store::ImportOutcome outcome{};
                       std::optional<store::StoredLicense> stored;
                   };
                   auto out = std::make_shared<Outcome>();
                   auto v = std::make_shared<VerifiedLicense>(std::move(*verified));
                   store.submit(
                       [v, out, actor, now_ms, file_sha](store::Connection& c) -> Result<void> {
                           out->outcome = store::import_license(c, {*v, actor, now_ms, file_sha});
                           out->stored = store::find_license(c, v->license.jti);
                           return {};
                       },
                       [v, out, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) return reply(error_response(r.error()));
                           switch (out->outcome) {
                               case store::ImportOutcome::conflict:
                                   return reply(error_response(
                                       {ErrorCode::conflict,
                                        fmt::format("license {} already exists with other content",
                                                    v->license.jti)}));
                               case store::ImportOutcome::unchanged:
                                   return reply(json_response(bhttp::status::ok, license_json(*out->stored)));
                               case store::ImportOutcome::created:
                                   return reply(json_response(bhttp::status::created, license_json(*out->stored)));
                           }
                       });
               });

    router.add_sync(bhttp::verb::get, "/v1/licenses", requires_role(Role::auditor), [&store](RequestContext& ctx) {
        auto limit = page_limit(ctx);
        if (!limit) return error_response(limit.error());
        const std::string after = ctx.query_param("after").value_or("");
        auto page = store.read([&](store::Connection& c) -> Result<json> {
            auto rows = store::list_licenses(c, after, *limit + 1);
            json out = {{"licenses", json::array()}};
            const bool more = static_cast<std::int64_t>(rows.size()) > *limit;
            if (more) rows.pop_back();
            for (const auto& l : rows) out["licenses"].push_back(license_json(l));
            if (more) out["next"] = rows.back().license.jti;
            return out;
        });
        if (!page) return error_response(page.error());
        return json_response(bhttp::status::ok, *page);
    });

    router.add_sync(bhttp::verb::get, "/v1/licenses/{jti}", requires_role(Role::auditor),
                    [&store](RequestContext& ctx) {
                        const auto& jti = ctx.params.at("jti");
                        auto found = store.read([&](store::Connection& c) -> Result<std::optional<store::StoredLicense>> {
                            return store::find_license(c, jti);
                        });
                        if (!found) return error_response(found.error());
                        if (!*found) return error_response({ErrorCode::not_found, fmt::format("no license {}", jti)});
                        return json_response(bhttp::status::ok, license_json(**found));
                    });

    router.add(bhttp::verb::delete_, "/v1/licenses/{jti}", requires_role(Role::admin),
               [&store, &clock](RequestContext& ctx, Reply reply) {
                   auto jti = ctx.params.at("jti");
                   auto found = std::make_shared<std::optional<bool>>();
                   store.submit(
                       [jti, found, actor = ctx.principal->token_id, now = clock.now_ms()](
                           store::Connection& c) -> Result<void> {
                           *found = store::withdraw_license(c, jti, actor, now);
                           return {};
                       },
                       [jti, found, reply = std::move(reply)](Result<void> r) mutable {
                           if (!r) return reply(error_response(r.error()));
                           if (!found->has_value()) {
                               return reply(error_response({ErrorCode::not_found, fmt::format("no license {}", jti)}));
                           }
                           reply(empty_response(bhttp::status::no_content));
                       });
               });

    router.add_sync(bhttp::verb::get, "/v1/entitlements", requires_role(Role::auditor), [&store](RequestContext&) {
        auto list = store.read([](store::Connection& c) -> Result<json> {
            json items = json::array();
            for (const auto& s : store::list_active_entitlements(c)) {
                const auto& e = s.entitlement;
                json j = {{"id", s.key()},
                          {"license", s.license_jti},
                          {"feature", e.feature},
                          {"model", seat_model_name(e.model)},
                          {"count", opt(e.count)},
                          {"in_use", s.in_use},
                          {"peak", s.peak},
                          {"not_before", opt(e.not_before)},
                          {"not_after", opt(e.not_after)},
                          {"regions", e.regions.empty() ? json(nullptr) : json(e.regions)},
                          {"overage", entitlement_to_json(e)["overage"]}};
                if (!e.devices.empty()) j["devices"] = e.devices;
                if (e.max_lease_seconds) j["max_lease_seconds"] = *e.max_lease_seconds;
                items.push_back(std::move(j));
            }
            return items;
        });
        if (!list) return error_response(list.error());
        return json_response(bhttp::status::ok, {{"entitlements", std::move(*list)}});
    });
}

}  // namespace entitle::http
