// Verifying a license file: JWS compact, EdDSA, typ "entitle-license+jwt",
// signed by an issuer in the trust store, with valid claims.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/license.hpp"
#include "crypto/ed25519.hpp"

namespace entitle {

inline constexpr std::string_view kLicenseTyp = "entitle-license+jwt";

// The trusted issuers: key id -> Ed25519 public key. An immutable snapshot;
// the server swaps in a new one when DATA/issuers/ is reloaded (SIGHUP).
struct IssuerKeys {
    std::map<std::string, crypto::Ed25519PublicKey, std::less<>> by_kid;
};

// The current trusted issuers, swapped whole when the trust store is
// reloaded; readers keep the snapshot they took. Thread-safe.
class IssuerRegistry {
public:
    IssuerRegistry() : keys_(std::make_shared<const IssuerKeys>()) {}
    [[nodiscard]] std::shared_ptr<const IssuerKeys> snapshot() const { return keys_.load(); }
    void replace(std::shared_ptr<const IssuerKeys> keys) { keys_.store(std::move(keys)); }

private:
    std::atomic<std::shared_ptr<const IssuerKeys>> keys_;
};

struct VerifiedLicense {
    License license;
    std::string kid;       // the issuer key that signed it
    std::string compact;   // the JWS as stored (surrounding whitespace removed)
};

// `text` is the file as uploaded; leading and trailing ASCII whitespace (a
// final newline) is ignored, nothing else is. Errors are `invalid_license`
// naming the reason: not a JWS, unsupported alg, wrong typ, unknown kid
// ("issuer key 'x' is not trusted"), bad signature, invalid claims.
// Time is not checked here (see License::lapsed_at).
[[nodiscard]] Result<VerifiedLicense> verify_license_file(std::string_view text,
                                                          const IssuerKeys& issuers);

}  // namespace entitle
