// Bearer-token authentication: `Authorization: Bearer <token>` -> who is
// calling. Looks the token up by its public id and compares hashes in
// constant time (core/access_token.hpp).
#pragma once

#include <string>
#include <string_view>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/role.hpp"
#include "store/store.hpp"

namespace entitle::http {

struct Principal {
    std::string token_id;
    Role role = Role::auditor;
    // For role host: the host this token belongs to and its region (set by the admin).
    std::string host_id;
    std::string host_region;
};

// Credentials read from the store are kept in a small cache, keyed by token
// id and tagged with Store::credentials_epoch as it was before the read: an
// entry is used only while the epoch has not moved, so a revoked token or a
// removed host's token fails on the next request, as before. The presented
// secret is hashed and compared with the stored hash on every request; only
// tokens that exist are cached (a flood of made-up ids cannot fill it).
class Authenticator {
public:
    // With a clock, successful use is recorded in tokens.last_used_at, at most
    // once a minute per token (a write per request would cost an fsync each);
    // when it was last written is kept in the token's cache entry.
    explicit Authenticator(store::Store& store, const Clock* clock = nullptr) : store_(store), clock_(clock) {}
    // `authorization` is the raw header value (empty when absent). Errors are
    // `unauthorized` with a message that never echoes the token.
    [[nodiscard]] Result<Principal> authenticate(std::string_view authorization);

    struct Stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
    };
    [[nodiscard]] Stats cache_stats() const noexcept {
        return {hits_.load(std::memory_order_relaxed), misses_.load(std::memory_order_relaxed)};
    }

private:
    // What authentication needs of a token and its host; no secret.
    struct Credential {
        std::string hash;
        Role role = Role::auditor;
        bool usable = false;  // not revoked, and for a host token its host registered
        std::string host_id;
        std::string host_region;
        std::uint64_t epoch = 0;
        std::int64_t noted_s = kNeverNoted;  // when last_used_at was last written for it
    };
    static constexpr std::int64_t kNeverNoted = INT64_MIN;
    static constexpr std::int64_t kNoteEverySeconds = 60;
    // What one presentation of a token comes to: who it is (nullopt: revoked,
    // or the wrong secret), and whether its use is to be written now.
    struct Check {
        std::optional<Principal> principal;
        bool note = false;
    };
    struct Shard {
        std::mutex mutex;
        std::unordered_map<std::string, Credential> entries;
    };
    static constexpr std::size_t kShards = 16;
    static constexpr std::size_t kMaxEntriesPerShard = 8192;

    // nullopt: no such token (not cached).
    [[nodiscard]] Result<std::optional<Check>> lookup(const std::string& id, std::string_view presented);
    // Under the shard's lock: the secret against the entry, and the use noted in it.
    [[nodiscard]] Check check(Credential& c, const std::string& id, std::string_view presented) const;
    void note_use(const std::string& token_id) const;

    store::Store& store_;
    const Clock* clock_;
    std::array<Shard, kShards> shards_;
    std::atomic<std::uint64_t> hits_{0}, misses_{0};
};

}  // namespace entitle::http
