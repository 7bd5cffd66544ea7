// The process-wide log handler of entitle_set_log_handler().
#pragma once

#include <string>

#include "entitle/entitle.h"

namespace entitle::lib {

void set_log_handler(entitle_log_fn fn, void* user_data) noexcept;

// Hands one line to the handler, if one is set; never throws, never holds a
// lock of the library while the handler runs. Messages never hold a token.
void log_message(int level, const std::string& message) noexcept;

}  // namespace entitle::lib
