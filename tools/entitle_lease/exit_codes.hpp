// entitle-lease's exit codes: one per refusal a hook acts on, stable across
// releases (docs/client.md lists them).
#pragma once

#include "entitle/entitle.h"

namespace entitle::lease_cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // anything not listed below
inline constexpr int kExitUsage = 2;   // bad flags or arguments
inline constexpr int kExitOversubscribed = 3;
inline constexpr int kExitRegionDenied = 4;
inline constexpr int kExitNoEntitlement = 5;
inline constexpr int kExitExpired = 6;
inline constexpr int kExitUnauthorized = 7;  // also forbidden: the host token is refused
inline constexpr int kExitNotFound = 8;
inline constexpr int kExitConflict = 9;
inline constexpr int kExitUnavailable = 10;  // also rate_limited: try again later
inline constexpr int kExitTlsError = 11;
inline constexpr int kExitConfigError = 12;
inline constexpr int kExitTokenInvalid = 13;
inline constexpr int kExitInvalidRequest = 14;

[[nodiscard]] constexpr int exit_code_for(entitle_status status) noexcept {
    switch (status) {
        case ENTITLE_OK:
            return kExitOk;
        case ENTITLE_OVERSUBSCRIBED:
            return kExitOversubscribed;
        case ENTITLE_REGION_DENIED:
            return kExitRegionDenied;
        case ENTITLE_NO_ENTITLEMENT:
            return kExitNoEntitlement;
        case ENTITLE_EXPIRED:
            return kExitExpired;
        case ENTITLE_UNAUTHORIZED:
        case ENTITLE_FORBIDDEN:
            return kExitUnauthorized;
        case ENTITLE_NOT_FOUND:
            return kExitNotFound;
        case ENTITLE_CONFLICT:
            return kExitConflict;
        case ENTITLE_UNAVAILABLE:
        case ENTITLE_RATE_LIMITED:
            return kExitUnavailable;
        case ENTITLE_TLS_ERROR:
            return kExitTlsError;
        case ENTITLE_CONFIG_ERROR:
            return kExitConfigError;
        case ENTITLE_TOKEN_INVALID:
            return kExitTokenInvalid;
        case ENTITLE_INVALID_REQUEST:
            return kExitInvalidRequest;
        case ENTITLE_INVALID_ARGUMENT:
            return kExitUsage;
        default:
            return kExitFailed;
    }
}

}  // namespace entitle::lease_cli
