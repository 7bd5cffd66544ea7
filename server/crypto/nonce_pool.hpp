// Ed25519 nonces made ahead of time for one signing key (docs/decisions/0010).
// A thread of its own keeps up to `capacity` of them ready; it runs at
// SCHED_IDLE, so it uses only the time a core would otherwise spend idle
// (a closed loop of checkouts leaves about a sixth of two cores idle while
// requests wait for their commit's fsync) and yields a core at once to any
// other thread that wakes. A signature whose nonce comes from here costs two
// SHA-512 passes and a few scalar operations instead of a scalar
// multiplication as well.
//
// take() never hands out one nonce twice. When the pool is empty it hands
// out none: the caller then takes a fresh seed (random_nonce_seed) and makes
// its point only if it signs, so a request that is refused costs nothing and
// one that signs costs what it did without the pool. Nothing in the pool is
// secret (seeds and points; crypto/ed25519.hpp).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/ed25519.hpp"

namespace entitle::crypto {

class NoncePool {
public:
    // Starts the thread that fills the pool with nonces of `key` under
    // `context` (Ed25519PrivateKey::make_nonce). `key` must outlive the pool.
    NoncePool(const Ed25519PrivateKey& key, std::string context, std::size_t capacity = 4096);
    ~NoncePool();  // stops the thread
    NoncePool(const NoncePool&) = delete;
    NoncePool& operator=(const NoncePool&) = delete;

    // A nonce of the key not handed out before, or none when the pool is
    // empty. Safe from any thread.
    [[nodiscard]] std::optional<Ed25519Nonce> take();

    struct Stats {
        std::uint64_t ahead = 0;  // taken from the pool
        std::uint64_t empty = 0;  // take() found the pool empty
        std::size_t ready = 0;    // in the pool now
    };
    [[nodiscard]] Stats stats() const;

private:
    void fill();

    const Ed25519PrivateKey& key_;
    const std::string context_;
    const std::size_t capacity_;
    const std::size_t low_;  // the filler is woken when the pool falls below this
    mutable std::mutex mu_;
    std::condition_variable wake_;
    std::vector<Ed25519Nonce> ready_;
    std::uint64_t ahead_ = 0;
    std::uint64_t empty_ = 0;
    bool stop_ = false;
    std::thread filler_;
};

}  // namespace entitle::crypto
