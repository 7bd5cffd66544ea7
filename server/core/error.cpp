#include "core/error.hpp"

#include <array>

namespace entitle {

namespace {
constexpr std::array kErrorTable = {
    ErrorInfo{"invalid_request", 400, false},   ErrorInfo{"unauthorized", 401, false},
    ErrorInfo{"forbidden", 403, false},         ErrorInfo{"region_denied", 403, false},
    ErrorInfo{"not_found", 404, false},         ErrorInfo{"no_entitlement", 404, false},
    ErrorInfo{"method_not_allowed", 405, false}, ErrorInfo{"oversubscribed", 409, true},
    ErrorInfo{"conflict", 409, false},          ErrorInfo{"expired", 410, false},
    ErrorInfo{"payload_too_large", 413, false}, ErrorInfo{"invalid_license", 422, false},
    ErrorInfo{"rate_limited", 429, true},       ErrorInfo{"internal", 500, true},
    ErrorInfo{"unavailable", 503, true},
};
static_assert(kErrorTable.size() == static_cast<std::size_t>(ErrorCode::unavailable) + 1);
}  // namespace

const ErrorInfo& error_info(ErrorCode code) noexcept {
    return kErrorTable[static_cast<std::size_t>(code)];
}

}  // namespace entitle
