// Ed25519 keys over OpenSSL EVP. Values are movable, not copyable; every
// EVP_PKEY is owned by a unique_ptr. All member functions are safe to call
// from several threads at once on the same key (each call makes its own
// EVP_MD_CTX).
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/evp.h>

namespace entitle::crypto {

struct PkeyDeleter {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class Ed25519PublicKey {
public:
    // PEM SubjectPublicKeyInfo. Errors name what is wrong (not PEM, not Ed25519).
    [[nodiscard]] static std::expected<Ed25519PublicKey, std::string> from_pem(std::string_view pem);
    // The 32-byte raw key (as in a JWK's "x" after base64url decoding).
    [[nodiscard]] static std::expected<Ed25519PublicKey, std::string> from_raw(std::string_view raw);

    [[nodiscard]] std::string to_pem() const;
    [[nodiscard]] std::string raw() const;  // 32 bytes
    // True only for a valid 64-byte signature of `message` by this key.
    [[nodiscard]] bool verify(std::string_view message, std::string_view signature) const;

private:
    explicit Ed25519PublicKey(PkeyPtr k) : key_(std::move(k)) {}
    PkeyPtr key_;
};

class Ed25519PrivateKey {
public:
    [[nodiscard]] static Ed25519PrivateKey generate();
    // PEM PKCS#8 (an unencrypted "PRIVATE KEY" block).
    [[nodiscard]] static std::expected<Ed25519PrivateKey, std::string> from_pem(std::string_view pem);

    [[nodiscard]] std::string to_pem() const;  // PKCS#8, unencrypted
    [[nodiscard]] Ed25519PublicKey public_key() const;
    [[nodiscard]] std::string sign(std::string_view message) const;  // 64 bytes

private:
    explicit Ed25519PrivateKey(PkeyPtr k) : key_(std::move(k)) {}
    PkeyPtr key_;
};

}  // namespace entitle::crypto
