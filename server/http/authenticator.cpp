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
    auto seen = lookup(*id, presented);
    if (!seen) return std::unexpected(seen.error());
    // Unknown and revoked tokens get the same answer as a wrong secret.
    if (!*seen || !(*seen)->principal) return fail(ErrorCode::unauthorized, "unknown or revoked bearer token");
    if ((*seen)->note) note_use(*id);
    return std::move(*(*seen)->principal);
}

Authenticator::Check Authenticator::check(Credential& c, const std::string& id, std::string_view presented) const {
    if (!c.usable || !access_token_matches(presented, c.hash)) return {};
    Check out{Principal{id, c.role, c.host_id, c.host_region}, false};
    if (clock_) {
        const std::int64_t now = clock_->now_s();
        if (c.noted_s == kNeverNoted || now - c.noted_s >= kNoteEverySeconds) {
            c.noted_s = now;
            out.note = true;
        }
    }
    return out;
}

Result<std::optional<Authenticator::Check>> Authenticator::lookup(const std::string& id, std::string_view presented) {
    Shard& shard = shards_[std::hash<std::string>{}(id) % kShards];
    // Read before the store: a revocation committed after this read moves
    // the epoch, so what is cached below is then never used.
    const std::uint64_t epoch = store_.credentials_epoch();
    {
        std::lock_guard lock(shard.mutex);
        auto it = shard.entries.find(id);
        if (it != shard.entries.end() && it->second.epoch == epoch) {
            hits_.fetch_add(1, std::memory_order_relaxed);
            return std::optional<Check>(check(it->second, id, presented));
        }
    }
    misses_.fetch_add(1, std::memory_order_relaxed);
    struct Found {
        std::optional<store::TokenRecord> token;
        std::optional<store::HostRecord> host;
    };
    auto found = store_.read([&](store::Connection& c) -> Result<Found> {
        Found f{store::find_token(c, id), std::nullopt};
        if (f.token && f.token->role == Role::host) f.host = store::find_host_by_token(c, f.token->id);
        return f;
    });
    if (!found) return std::unexpected(found.error());
    if (!found->token) return std::optional<Check>();  // unknown ids are not cached
    const auto& token = *found->token;
    Credential c{token.hash, token.role, !token.revoked_at, {}, {}, epoch};
    if (token.role == Role::host) c.usable = c.usable && found->host && !found->host->removed_at;
    if (found->host) {
        c.host_id = found->host->id;
        c.host_region = found->host->region;
    }
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(id);
    if (it != shard.entries.end()) {
        // A stale entry replaced: its token's use was noted at the same time
        // whatever else changed (a revocation elsewhere is no reason to write again).
        c.noted_s = it->second.noted_s;
        it->second = std::move(c);
    } else {
        if (shard.entries.size() >= kMaxEntriesPerShard) shard.entries.clear();  // bounded; refills on use
        it = shard.entries.emplace(id, std::move(c)).first;
    }
    return std::optional<Check>(check(it->second, id, presented));
}

void Authenticator::note_use(const std::string& token_id) const {
    const std::int64_t now = clock_->now_s();
    store_.submit(
        [token_id, now](store::Connection& c) -> Result<void> {
            store::note_token_used(c, token_id, now);
            return {};
        },
        [](Result<void>) {
            // Best effort: a missed last-used time is not worth failing a request for.
        });
}

}  // namespace entitle::http
