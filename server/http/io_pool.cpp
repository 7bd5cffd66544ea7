#include "http/io_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <string>
#include <thread>

namespace entitle::http {

IoPool::IoPool(unsigned threads) {
    contexts_.reserve(std::max(1u, threads));
    // Concurrency hint 1: each context is run by one thread only.
    for (unsigned i = 0; i < std::max(1u, threads); ++i) {
        contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    }
}

IoPool::~IoPool() {
    release();  // while every context still exists
    // Last to first: handlers a stopped context still holds may post to
    // context 0 as they are destroyed (a session ending), so it goes last.
    while (!contexts_.empty()) contexts_.pop_back();
}

void IoPool::hold() {
    std::lock_guard lock(guards_mutex_);
    if (!guards_.empty()) return;
    for (auto& c : contexts_) guards_.push_back(boost::asio::make_work_guard(*c));
}

void IoPool::release() {
    std::vector<WorkGuard> released;
    {
        std::lock_guard lock(guards_mutex_);
        released.swap(guards_);
    }
    // Destroyed here, outside the lock: a context left without work stops.
}

boost::asio::io_context& IoPool::next() {
    return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void IoPool::run() {
    std::vector<std::thread> threads;
    threads.reserve(contexts_.size() - 1);
    for (std::size_t i = 1; i < contexts_.size(); ++i) {
        threads.emplace_back([ctx = contexts_[i].get(), i] {
            // Named for top -H and perf; context 0 runs on the caller's thread.
            const std::string name = "io-" + std::to_string(i);
            pthread_setname_np(pthread_self(), name.c_str());
            ctx->run();
        });
    }
    contexts_.front()->run();
    for (auto& t : threads) t.join();
}

void IoPool::stop() {
    for (auto& c : contexts_) c->stop();
}

}  // namespace entitle::http
