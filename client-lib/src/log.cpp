#include "log.hpp"

#include <mutex>

namespace entitle::lib {

namespace {

struct Handler {
    entitle_log_fn fn = nullptr;
    void* user_data = nullptr;
};

std::mutex& handler_mutex() {
    static std::mutex mu;
    return mu;
}

Handler& handler() {
    static Handler h;
    return h;
}

}  // namespace

void set_log_handler(entitle_log_fn fn, void* user_data) noexcept {
    const std::lock_guard lock(handler_mutex());
    handler() = Handler{fn, user_data};
}

void log_message(int level, const std::string& message) noexcept {
    Handler h;
    {
        const std::lock_guard lock(handler_mutex());
        h = handler();
    }
    if (h.fn != nullptr) h.fn(level, message.c_str(), h.user_data);
}

}  // namespace entitle::lib
