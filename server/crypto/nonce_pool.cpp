#include "crypto/nonce_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <utility>

namespace entitle::crypto {

NoncePool::NoncePool(const Ed25519PrivateKey& key, std::string context, std::size_t capacity)
    : key_(key),
      context_(std::move(context)),
      capacity_(std::max<std::size_t>(capacity, 1)),
      low_(capacity_ - capacity_ / 4) {
    ready_.reserve(capacity_);
    filler_ = std::thread([this] { fill(); });
}

NoncePool::~NoncePool() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    wake_.notify_all();
    filler_.join();
}

std::optional<Ed25519Nonce> NoncePool::take() {
    std::unique_lock lock(mu_);
    if (ready_.empty()) {
        ++empty_;  // the filler is awake already: it sleeps only when the pool is full
        return std::nullopt;
    }
    const Ed25519Nonce n = ready_.back();
    ready_.pop_back();
    ++ahead_;
    // Woken once per quarter of the pool, not on every take.
    const bool wake = ready_.size() + 1 == low_;
    lock.unlock();
    if (wake) wake_.notify_one();
    return n;
}

NoncePool::Stats NoncePool::stats() const {
    std::lock_guard lock(mu_);
    return {ahead_, empty_, ready_.size()};
}

void NoncePool::fill() {
    pthread_setname_np(pthread_self(), "nonces");
    // Best effort: without SCHED_IDLE (a seccomp filter, an odd kernel) the
    // thread still works, at the normal priority.
    sched_param none{};
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
    std::unique_lock lock(mu_);
    while (!stop_) {
        if (ready_.size() >= capacity_) {
            wake_.wait(lock, [this] { return stop_ || ready_.size() < low_; });
            continue;
        }
        lock.unlock();
        const Ed25519Nonce n = key_.make_nonce(context_);
        lock.lock();
        ready_.push_back(n);
    }
}

}  // namespace entitle::crypto
