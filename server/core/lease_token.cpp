#include "core/lease_token.hpp"

#include "crypto/jws.hpp"

namespace entitle {

std::string sign_lease_token(const LeaseClaims& c, const crypto::Ed25519PrivateKey& key, const std::string& kid) {
    const nlohmann::json header = {{"alg", "EdDSA"}, {"typ", kLeaseTyp}, {"kid", kid}};
    const nlohmann::json claims = {{"iss", c.iss},   {"sub", c.sub},   {"jti", c.jti},
                                   {"feature", c.feature}, {"ent", c.ent}, {"gpu", c.gpu},
                                   {"vgpu", c.vgpu}, {"iat", c.iat},   {"exp", c.exp}};
    return crypto::jws_sign(header, claims.dump(), key);
}

}  // namespace entitle
