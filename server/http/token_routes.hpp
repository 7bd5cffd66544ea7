// POST /v1/tokens, GET /v1/tokens, DELETE /v1/tokens/{id} (admin).
#pragma once

#include "core/clock.hpp"
#include "http/router.hpp"
#include "store/store.hpp"

namespace entitle::http {

void register_token_routes(Router& router, store::Store& store, const Clock& clock);

}  // namespace entitle::http
