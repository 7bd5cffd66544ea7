// The one error type that crosses layers. Each code maps to exactly one of
// the contract's API error codes and HTTP statuses (error.cpp holds the only
// table), and says whether a client should retry the same call.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace entitle {

enum class ErrorCode {
    invalid_request,     // 400
    unauthorized,        // 401
    forbidden,           // 403
    region_denied,       // 403
    not_found,           // 404
    no_entitlement,      // 404
    method_not_allowed,  // 405 (not in the contract's list; see docs/api.md)
    oversubscribed,      // 409
    conflict,            // 409
    expired,             // 410
    payload_too_large,   // 413
    invalid_license,     // 422
    rate_limited,        // 429
    internal,            // 500 (a bug or an unexpected failure; never a client's fault)
    unavailable,         // 503
};

struct ErrorInfo {
    std::string_view code;  // the contract's "code" string
    int http_status;
    bool retryable;  // the same request may succeed later without change
};

[[nodiscard]] const ErrorInfo& error_info(ErrorCode code) noexcept;

struct Error {
    ErrorCode code;
    std::string message;  // for a human; never contains a secret

    [[nodiscard]] std::string_view code_name() const noexcept { return error_info(code).code; }
    [[nodiscard]] int http_status() const noexcept { return error_info(code).http_status; }
};

template <class T>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
    return std::unexpected(Error{code, std::move(message)});
}

}  // namespace entitle
