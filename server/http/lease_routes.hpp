// Hosts and leases: POST/GET /v1/hosts, DELETE /v1/hosts/{id},
// POST/GET /v1/leases, POST /v1/leases/{id}/renew, DELETE /v1/leases/{id}.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/clock_guard.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/nonce_pool.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "store/store.hpp"

namespace entitle::http {

struct LeaseSettings {
    const crypto::Ed25519PrivateKey& signing_key;
    std::string kid;                        // of signing_key
    std::string server_id;                  // "iss" of lease tokens
    std::int64_t default_lease_seconds = 3600;
    // What POST /v1/hosts hands a new host (contract section 3).
    std::string public_url;
    std::string ca_pem;
    nlohmann::json jwks;
    // Pauses checkouts while the wall clock is behind the recorded time (optional).
    const ClockGuard* clock_guard = nullptr;
    // Token nonces made ahead of time for signing_key under the context
    // server_id; null: every token is signed with RFC 8032's nonce.
    crypto::NoncePool* nonces = nullptr;
};

void register_host_routes(Router& router, store::Store& store, const Clock& clock, const LeaseSettings& settings);
void register_lease_routes(Router& router, store::Store& store, const Clock& clock, const LeaseSettings& settings,
                           Metrics& metrics);

}  // namespace entitle::http
