// POST/GET /v1/licenses, GET/DELETE /v1/licenses/{jti}, GET /v1/entitlements.
#pragma once

#include "core/clock.hpp"
#include "core/license_file.hpp"
#include "http/router.hpp"
#include "store/store.hpp"

namespace entitle::http {

void register_license_routes(Router& router, store::Store& store, const IssuerRegistry& issuers,
                             const Clock& clock);

}  // namespace entitle::http
