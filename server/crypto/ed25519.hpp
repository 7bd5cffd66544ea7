// Ed25519 keys: loaded, generated and written with OpenSSL EVP (PEM,
// PKCS#8, raw); signatures made and checked by libsodium, which does both
// about twice as fast as OpenSSL 3 (a lease token is signed for every
// checkout and renewal). Ed25519 signatures are deterministic, so either
// library gives the same bytes. Values are movable, not copyable; every
// EVP_PKEY is owned by a unique_ptr, and the private key's libsodium form is
// wiped when the key goes. All member functions are safe to call from
// several threads at once on the same key.
#pragma once

#include <array>
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
    explicit Ed25519PublicKey(PkeyPtr k);
    PkeyPtr key_;
    std::array<unsigned char, 32> raw_{};  // what verify() checks against
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
    explicit Ed25519PrivateKey(PkeyPtr k);
    struct WipeDeleter {
        void operator()(std::array<unsigned char, 64>* secret) const noexcept;
    };
    PkeyPtr key_;
    // libsodium's secret key (seed, then public key), wiped on destruction.
    std::unique_ptr<std::array<unsigned char, 64>, WipeDeleter> signing_key_;
};

}  // namespace entitle::crypto
