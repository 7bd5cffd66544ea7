// Rows of `licenses` and `entitlements`, and the license use cases that need
// one transaction (import with supersede, withdraw). Functions take the
// connection of the caller's write unit or read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/license.hpp"
#include "core/license_file.hpp"
#include "store/sqlite.hpp"

namespace entitle::store {

enum class LicenseState { active, superseded, withdrawn };
[[nodiscard]] std::string_view license_state_name(LicenseState s) noexcept;

struct StoredLicense {
    License license;
    std::string kid;
    std::string compact;
    std::string sha256;  // of the compact JWS
    std::int64_t imported_at = 0;
    LicenseState state = LicenseState::active;
    std::optional<std::int64_t> ended_at;
    std::optional<std::string> superseded_by;
    struct Usage {
        std::int64_t in_use = 0;
        std::int64_t peak = 0;
    };
    std::vector<Usage> usage;  // parallel to license.entitlements
};

[[nodiscard]] std::optional<StoredLicense> find_license(Connection& c, const std::string& jti);
// Ordered by jti, those after `after_jti` (exclusive), at most `limit`.
[[nodiscard]] std::vector<StoredLicense> list_licenses(Connection& c, const std::string& after_jti,
                                                       std::int64_t limit);

struct StoredEntitlement {
    std::string license_jti;
    Entitlement entitlement;
    std::int64_t peak = 0;
    std::int64_t in_use = 0;  // seats held (expired leases leave within about a second)
    [[nodiscard]] std::string key() const { return license_jti + "/" + entitlement.id; }
};
// The entitlement columns, table alias `e`, in the order
// `stored_entitlement_row` reads them.
inline constexpr std::string_view kEntitlementColumnsAliased =
    "e.license_jti, e.id, e.feature, e.model, e.count, e.not_before, e.not_after, e.regions, e.devices, "
    "e.overage_allow, e.overage_limit_percent, e.max_lease_seconds, e.peak, e.in_use";
[[nodiscard]] StoredEntitlement stored_entitlement_row(const Statement& st);

// Entitlements of active licenses, ordered by license and id.
[[nodiscard]] std::vector<StoredEntitlement> list_active_entitlements(Connection& c);

enum class ImportOutcome { created, unchanged, conflict };

struct ImportRequest {
    const VerifiedLicense& verified;
    std::string actor;
    std::int64_t now_ms = 0;
    std::string file_sha256;  // of the body as uploaded
};

// Imports (or recognises an identical re-import, or finds a conflicting
// license with the same jti). On `created`, replaces the license named by
// `supersedes` in the same transaction and appends `license_imported`; on
// `conflict`, appends `license_rejected` and changes nothing else.
[[nodiscard]] ImportOutcome import_license(Connection& c, const ImportRequest& request);

// Marks an active license withdrawn and appends `license_withdrawn`.
// nullopt when there is no such license; false when it was already ended.
[[nodiscard]] std::optional<bool> withdraw_license(Connection& c, const std::string& jti,
                                                   const std::string& actor, std::int64_t now_ms);

}  // namespace entitle::store
