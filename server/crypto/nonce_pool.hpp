// Ed25519 nonces made ahead of time for one signing key (docs/decisions/0010).
// A thread of its own keeps up to `capacity` of them ready; it runs at
// SCHED_IDLE, so it uses only the time a core would otherwise spend idle
// (a closed loop of checkouts leaves about a sixth of two cores idle while
// requests wait for their commit's fsync) and yields a core at once to any
// other thread that wakes. A signature whose nonce comes from here costs two
// SHA-512 passes and a few scalar operations instead of a scalar
// multiplication as well.
//
// take() never hands out one nonce twice, and when the pool is empty it makes
// one on the spot: the signer is never slower than without the pool. Nothing
// in the pool is secret (seeds and points; crypto/ed25519.hpp).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
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

    // A nonce of the key not handed out before. Safe from any thread.
    [[nodiscard]] Ed25519Nonce take();

    struct Stats {
        std::uint64_t ahead = 0;      // taken from the pool
        std::uint64_t on_demand = 0;  // made by take() because the pool was empty
        std::size_t ready = 0;        // in the pool now
    };
    [[nodiscard]] Stats stats() const;

    [[nodiscard]] const Ed25519PrivateKey& key() const { return key_; }
    [[nodiscard]] const std::string& context() const { return context_; }

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
    std::uint64_t on_demand_ = 0;
    bool stop_ = false;
    std::thread filler_;
};

}  // namespace entitle::crypto
