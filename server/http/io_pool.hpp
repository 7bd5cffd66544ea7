// The I/O threads: one io_context per thread. A connection is placed on one
// context when it is accepted and stays there, so the thread that waits in
// that context's epoll also runs its handlers: a readable socket is never
// handed from one thread to another, and no two threads share a scheduler
// lock or wake each other for socket work. Work from other threads (the
// store's replies) is posted to the connection's context. Sessions rely on
// each context being run by its one thread only (they use no strand): never
// run a context of the pool from another thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace entitle::http {

class IoPool {
public:
    explicit IoPool(unsigned threads);
    ~IoPool();
    IoPool(const IoPool&) = delete;
    IoPool& operator=(const IoPool&) = delete;

    [[nodiscard]] unsigned size() const { return static_cast<unsigned>(contexts_.size()); }
    // Context 0: the acceptor, timers and signals live here (and connections too).
    [[nodiscard]] boost::asio::io_context& main() { return *contexts_.front(); }
    [[nodiscard]] boost::asio::io_context& at(unsigned i) { return *contexts_.at(i); }
    // The context for a new connection, round-robin.
    [[nodiscard]] boost::asio::io_context& next();

    // Runs every context on a thread of its own (context 0 on the calling
    // thread) and returns once all have returned: when they run out of work
    // or stop() is called.
    void run();
    // Stops every context (handlers still queued are dropped).
    void stop();

    // hold(): every context keeps running with nothing to do (no connection
    // yet) until release(); run() then returns once the work left is done.
    // The pool owns these guards, not its users: a guard must not outlive
    // its context, and a user's state may be freed while a context is
    // destroyed (by a handler that held the last reference to it).
    void hold();
    void release();

private:
    using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
    std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
    std::atomic<unsigned> next_{0};
    std::mutex guards_mutex_;
    std::vector<WorkGuard> guards_;  // under guards_mutex_
};

}  // namespace entitle::http
