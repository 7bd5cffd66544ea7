#include "core/access_token.hpp"

#include <openssl/crypto.h>

#include "crypto/base64url.hpp"
#include "crypto/digest.hpp"

namespace entitle {

namespace {
constexpr std::size_t kIdBytes = 12;
constexpr std::size_t kSecretBytes = 32;
}  // namespace

MintedToken mint_access_token() {
    std::string raw = crypto::random_bytes(kIdBytes + kSecretBytes);
    MintedToken t;
    t.id = crypto::base64url_encode(std::string_view(raw).substr(0, kIdBytes));
    t.secret = crypto::base64url_encode(raw);
    t.hash = crypto::sha256_hex(t.secret);
    OPENSSL_cleanse(raw.data(), raw.size());  // the secret leaves only in t.secret
    return t;
}

std::optional<std::string> access_token_id(std::string_view presented) {
    auto raw = crypto::base64url_decode(presented);
    if (!raw || raw->size() != kIdBytes + kSecretBytes) return std::nullopt;
    return crypto::base64url_encode(std::string_view(*raw).substr(0, kIdBytes));
}

bool access_token_matches(std::string_view presented, std::string_view stored_hash) {
    return crypto::constant_time_equal(crypto::sha256_hex(presented), stored_hash);
}

}  // namespace entitle
