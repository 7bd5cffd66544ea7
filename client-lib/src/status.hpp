// The one table between what happens (a server answer, a local failure) and
// the C ABI's entitle_status, and the failure type every internal call uses.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

#include "entitle/entitle.h"

namespace entitle::lib {

// A failed call: the status the C ABI returns and a message for a person
// (never a token or a key).
struct Failure {
    entitle_status status = ENTITLE_INTERNAL;
    std::string message;
};

template <class T>
using Outcome = std::expected<T, Failure>;

[[nodiscard]] inline std::unexpected<Failure> fail(entitle_status status, std::string message) {
    return std::unexpected(Failure{status, std::move(message)});
}

// entitle_status_str(): "ok", the contract's code for server answers, a name
// for local outcomes; "unknown" for a value this version does not know.
[[nodiscard]] const char* status_name(entitle_status status) noexcept;

// The status for a server's error answer: by the contract's error code when
// it is one (contract section 4), else by the HTTP status (a proxy's 502, a
// bare 503, ...).
[[nodiscard]] entitle_status status_from_api_error(int http_status, std::string_view code) noexcept;

// True for the outcomes a retry of the same request may change: the server
// could not be reached or said it is unavailable. Everything else is an
// answer that a retry would only repeat.
[[nodiscard]] bool is_retryable(entitle_status status) noexcept;

}  // namespace entitle::lib
