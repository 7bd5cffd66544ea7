// Routes that need no token: GET /healthz, GET /v1/keys, GET /metrics.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "crypto/nonce_pool.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "store/store.hpp"

namespace entitle::http {

struct SystemRoutesDeps {
    store::Store& store;
    Metrics& metrics;
    nlohmann::json jwks;  // {"keys":[...]} of the lease-signing keys
    const crypto::NoncePool* token_nonces = nullptr;  // counted in /metrics when given
};

void register_system_routes(Router& router, SystemRoutesDeps deps);

}  // namespace entitle::http
