// Ed25519 keys: loaded, generated and written with OpenSSL EVP (PEM,
// PKCS#8, raw); signatures made and checked by libsodium, which does both
// about twice as fast as OpenSSL 3 (a lease token is signed for every
// checkout and renewal). sign(message) is RFC 8032's deterministic
// signature, so either library gives the same bytes. Values are movable, not
// copyable; every EVP_PKEY is owned by a unique_ptr, and the private key's
// libsodium form is wiped when the key goes. All member functions are safe
// to call from several threads at once on the same key.
//
// Signatures with a nonce made ahead of time (docs/decisions/0010): RFC 8032
// derives the nonce r from the key and the message, so the costly half of a
// signature, the point R = r*B, can only be computed once the message is
// known. sign(message, nonce, context) takes r = SHA-512(a label, the key's
// secret prefix, the context, a 16-byte seed) mod L instead, so R can be
// made before the message exists (crypto/nonce_pool.hpp makes them while a
// core would be idle). Any Ed25519 verifier accepts these signatures; the
// same (message, seed, context) always gives the same bytes, so whoever
// keeps the seed with what it signed can sign it again identically. The one
// rule that keeps the key safe: under one context, a seed must never sign
// two different messages (two signatures with one r and two messages give
// the private key away). The context names what all messages signed with a
// seed share (a lease token's issuer), so that the rule holds even where two
// signers share a key. Neither the seed nor the point is secret: r cannot be
// had from them without the key.
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

using NonceSeed = std::array<unsigned char, 16>;

// A nonce's seed and its point R = r*B (encoded as in a signature). Nothing
// in it is secret.
struct Ed25519Nonce {
    NonceSeed seed{};
    std::array<unsigned char, 32> point{};
};

// A fresh seed: 16 bytes of crypto::random_id_bytes (unique and unguessable;
// a seed needs no secrecy, since r also takes the key's secret prefix).
[[nodiscard]] NonceSeed random_nonce_seed();

class Ed25519PrivateKey {
public:
    [[nodiscard]] static Ed25519PrivateKey generate();
    // PEM PKCS#8 (an unencrypted "PRIVATE KEY" block).
    [[nodiscard]] static std::expected<Ed25519PrivateKey, std::string> from_pem(std::string_view pem);

    [[nodiscard]] std::string to_pem() const;  // PKCS#8, unencrypted
    [[nodiscard]] Ed25519PublicKey public_key() const;
    [[nodiscard]] std::string sign(std::string_view message) const;  // 64 bytes, RFC 8032

    // A nonce with a fresh random seed, and its point (one scalar
    // multiplication, most of what a signature costs).
    [[nodiscard]] Ed25519Nonce make_nonce(std::string_view context) const;
    // The nonce of a seed kept from before, with its point.
    [[nodiscard]] Ed25519Nonce nonce_of(const NonceSeed& seed, std::string_view context) const;
    // The signature of `message` with the nonce of (`nonce.seed`, `context`)
    // (64 bytes). `nonce.point` must be the point make_nonce or nonce_of made
    // for them with this key; any other point gives a signature that fails
    // verification (and gives nothing away). Never sign two different
    // messages with one seed and context.
    [[nodiscard]] std::string sign(std::string_view message, const Ed25519Nonce& nonce,
                                   std::string_view context) const;

private:
    explicit Ed25519PrivateKey(PkeyPtr k);
    struct Secret {
        std::array<unsigned char, 64> sodium{};  // libsodium's secret key: seed, then public key
        std::array<unsigned char, 32> scalar{};  // the secret scalar a, reduced mod L
        std::array<unsigned char, 32> prefix{};  // the second half of SHA-512(seed)
    };
    struct WipeDeleter {
        void operator()(Secret* secret) const noexcept;
    };
    [[nodiscard]] const Secret& secret() const;
    [[nodiscard]] std::array<unsigned char, 32> nonce_scalar(const NonceSeed& seed, std::string_view context) const;

    PkeyPtr key_;
    // Wiped on destruction.
    std::unique_ptr<Secret, WipeDeleter> signing_key_;
};

}  // namespace entitle::crypto
