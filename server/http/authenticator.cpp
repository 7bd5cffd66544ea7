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
    note_use(token->id);
    Principal p{token->id, token->role, {}, {}};
    if (found->host) {
        p.host_id = found->host->id;
        p.host_region = found->host->region;
    }
    return p;
}

void Authenticator::note_use(const std::string& token_id) {
    if (!clock_) return;
    constexpr std::int64_t kEverySeconds = 60;
    const std::int64_t now = clock_->now_s();
    {
        std::lock_guard lock(used_mutex_);
        auto [it, fresh] = last_noted_s_.try_emplace(token_id, now);
        if (!fresh && now - it->second < kEverySeconds) return;
        it->second = now;
        if (last_noted_s_.size() > 100'000) last_noted_s_.clear();  // bounded; worst case a few extra writes
    }
    store_.submit(
        [token_id, now](store::Connection& c) -> Result<void> {
            auto st = c.cached("UPDATE tokens SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1");
            st.bind(1, token_id).bind(2, now).run();
            return {};
        },
        [](Result<void>) {
            // Best effort: a missed last-used time is not worth failing a request for.
        });
}

}  // namespace entitle::http
