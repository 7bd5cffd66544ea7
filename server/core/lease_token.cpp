#include "core/lease_token.hpp"

#include <nlohmann/json.hpp>

#include "core/json_text.hpp"
#include "crypto/base64url.hpp"
#include "crypto/jws.hpp"

namespace entitle {

std::string lease_claims_json(const LeaseClaims& c) {
    // Members in byte order of their names, as nlohmann's objects keep them.
    std::string out;
    out.reserve(96 + c.ent.size() + c.feature.size() + c.gpu.size() + c.iss.size() + c.jti.size() +
                c.sub.size() + c.vgpu.size());
    out += "{\"ent\":";
    append_json_string(out, c.ent);
    out += ",\"exp\":";
    append_json_int(out, c.exp);
    out += ",\"feature\":";
    append_json_string(out, c.feature);
    out += ",\"gpu\":";
    append_json_string(out, c.gpu);
    out += ",\"iat\":";
    append_json_int(out, c.iat);
    out += ",\"iss\":";
    append_json_string(out, c.iss);
    out += ",\"jti\":";
    append_json_string(out, c.jti);
    out += ",\"sub\":";
    append_json_string(out, c.sub);
    out += ",\"vgpu\":";
    append_json_string(out, c.vgpu);
    out += '}';
    return out;
}

std::string lease_token_header(const std::string& kid) {
    return nlohmann::json{{"alg", "EdDSA"}, {"typ", kLeaseTyp}, {"kid", kid}}.dump();
}

std::string sign_lease_token(const LeaseClaims& c, const crypto::Ed25519PrivateKey& key, const std::string& kid,
                             const crypto::Ed25519Nonce* nonce) {
    // One signing key signs every token of a thread for a long while: its
    // header is encoded once per thread and key.
    thread_local std::string cached_kid;
    thread_local std::string cached_header_b64;
    if (cached_header_b64.empty() || cached_kid != kid) {
        cached_header_b64 = crypto::base64url_encode(lease_token_header(kid));
        cached_kid = kid;
    }
    // The nonce's context is the issuer: the claims that can change for
    // one lease are all columns of its row, whose changes write a new seed.
    return crypto::jws_sign_encoded(cached_header_b64, lease_claims_json(c), key, nonce, c.iss);
}

}  // namespace entitle
