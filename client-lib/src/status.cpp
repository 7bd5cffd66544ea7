#include "status.hpp"

#include <array>

namespace entitle::lib {

namespace {

struct StatusName {
    entitle_status status;
    const char* name;
};

// Indexed by value: a status is never renumbered, so neither is this table.
constexpr std::array<StatusName, 21> kNames{{
    {ENTITLE_OK, "ok"},
    {ENTITLE_OVERSUBSCRIBED, "oversubscribed"},
    {ENTITLE_REGION_DENIED, "region_denied"},
    {ENTITLE_NO_ENTITLEMENT, "no_entitlement"},
    {ENTITLE_EXPIRED, "expired"},
    {ENTITLE_UNAUTHORIZED, "unauthorized"},
    {ENTITLE_FORBIDDEN, "forbidden"},
    {ENTITLE_NOT_FOUND, "not_found"},
    {ENTITLE_CONFLICT, "conflict"},
    {ENTITLE_INVALID_REQUEST, "invalid_request"},
    {ENTITLE_RATE_LIMITED, "rate_limited"},
    {ENTITLE_UNAVAILABLE, "unavailable"},
    {ENTITLE_TLS_ERROR, "tls_error"},
    {ENTITLE_INVALID_ARGUMENT, "invalid_argument"},
    {ENTITLE_CONFIG_ERROR, "config_error"},
    {ENTITLE_TOKEN_INVALID, "token_invalid"},
    {ENTITLE_PROTOCOL_ERROR, "protocol_error"},
    {ENTITLE_STATE_ERROR, "state_error"},
    {ENTITLE_SERVER_ERROR, "server_error"},
    {ENTITLE_NO_MEMORY, "no_memory"},
    {ENTITLE_INTERNAL, "internal"},
}};

static_assert([] {
    for (std::size_t i = 0; i < kNames.size(); ++i) {
        if (static_cast<std::size_t>(kNames[i].status) != i) return false;
    }
    return true;
}());

struct ApiCode {
    std::string_view code;
    entitle_status status;
};

// The contract's error codes a host can be answered (section 4).
constexpr std::array<ApiCode, 13> kApiCodes{{
    {"invalid_request", ENTITLE_INVALID_REQUEST},
    {"unauthorized", ENTITLE_UNAUTHORIZED},
    {"forbidden", ENTITLE_FORBIDDEN},
    {"region_denied", ENTITLE_REGION_DENIED},
    {"not_found", ENTITLE_NOT_FOUND},
    {"no_entitlement", ENTITLE_NO_ENTITLEMENT},
    {"oversubscribed", ENTITLE_OVERSUBSCRIBED},
    {"conflict", ENTITLE_CONFLICT},
    {"expired", ENTITLE_EXPIRED},
    {"payload_too_large", ENTITLE_INVALID_REQUEST},
    {"rate_limited", ENTITLE_RATE_LIMITED},
    {"unavailable", ENTITLE_UNAVAILABLE},
    {"internal", ENTITLE_SERVER_ERROR},
}};

}  // namespace

const char* status_name(entitle_status status) noexcept {
    const auto index = static_cast<std::size_t>(status);
    if (index >= kNames.size()) return "unknown";
    return kNames[index].name;
}

entitle_status status_from_api_error(int http_status, std::string_view code) noexcept {
    for (const auto& entry : kApiCodes) {
        if (entry.code == code) return entry.status;
    }
    switch (http_status) {
        case 400:
        case 413:
            return ENTITLE_INVALID_REQUEST;
        case 401:
            return ENTITLE_UNAUTHORIZED;
        case 403:
            return ENTITLE_FORBIDDEN;
        case 404:
            return ENTITLE_NOT_FOUND;
        case 409:
            return ENTITLE_CONFLICT;
        case 410:
            return ENTITLE_EXPIRED;
        case 429:
            return ENTITLE_RATE_LIMITED;
        case 502:
        case 503:
        case 504:
            return ENTITLE_UNAVAILABLE;
        default:
            return http_status >= 500 ? ENTITLE_SERVER_ERROR : ENTITLE_PROTOCOL_ERROR;
    }
}

bool is_retryable(entitle_status status) noexcept { return status == ENTITLE_UNAVAILABLE; }

}  // namespace entitle::lib
