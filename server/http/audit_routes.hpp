// GET /v1/audit?after=<seq>&limit=<n> (auditor) and GET /v1/backup (admin).
#pragma once

#include "http/router.hpp"
#include "store/store.hpp"

namespace entitle::http {

void register_audit_routes(Router& router, store::Store& store);

}  // namespace entitle::http
