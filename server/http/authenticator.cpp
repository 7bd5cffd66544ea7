#include "http/authenticator.hpp"

#include <algorithm>
#include <cctype>

#include "core/access_token.hpp"
#include "store/host_table.hpp"
#include "store/token_table.hpp"

namespace entitle::http {

Result<Principal> Authenticator::authenticate(std::string_view authorization) {
    if (authorization.empty()) {
        return fail(ErrorCode::unauthorized, "missing Authorization: Bearer token");
    }
    constexpr std::string_view kScheme = "Bearer ";
    if (authorization.size() <= kScheme.size() ||
        !std::equal(kScheme.begin(), kScheme.end(), authorization.begin(),
                    [](unsigned char a, unsigned char b) {
                        return std::tolower(a) == std::tolower(b);
                    })) {
        return fail(ErrorCode::unauthorized, "Authorization header must be 'Bearer <token>'");
    }
    const std::string_view presented = authorization.substr(kScheme.size());
    const auto id = access_token_id(presented);
    if (!id) return fail(ErrorCode::unauthorized, "malformed bearer token");
    struct Found {
        std::optional<store::TokenRecord> token;
        std::optional<store::HostRecord> host;
    };
    auto found = store_.read([&](store::Connection& c) -> Result<Found> {
        Found f{store::find_token(c, *id), std::nullopt};
        if (f.token && f.token->role == Role::host) f.host = store::find_host_by_token(c, f.token->id);
        return f;
    });
    if (!found) return std::unexpected(found.error());
    // Unknown and revoked tokens get the same answer as a wrong secret.
    const auto& token = found->token;
    bool ok = token && !token->revoked_at && access_token_matches(presented, token->hash);
    if (ok && token->role == Role::host) ok = found->host && !found->host->removed_at;
    if (!ok) return fail(ErrorCode::unauthorized, "unknown or revoked bearer token");
    Principal p{token->id, token->role, {}, {}};
    if (found->host) {
        p.host_id = found->host->id;
        p.host_region = found->host->region;
    }
    return p;
}

}  // namespace entitle::http
