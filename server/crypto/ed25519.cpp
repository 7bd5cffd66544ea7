#include "crypto/ed25519.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "crypto/digest.hpp"

namespace entitle::crypto {
namespace {

constexpr std::size_t kRawKeySize = 32;
constexpr std::size_t kSignatureSize = 64;

struct BioDeleter {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;


// A read-only memory BIO over `text` (OpenSSL does not copy it).
BioPtr memory_bio(std::string_view text) {
    if (text.size() > static_cast<std::size_t>(INT_MAX)) return nullptr;
    return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Everything written to a memory BIO, as a string.
std::string bio_contents(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == nullptr) return {};
    return std::string(data, static_cast<std::size_t>(len));
}

// Never prompts on a terminal for a passphrase: encrypted keys simply fail.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

bool is_ed25519(const EVP_PKEY* key) { return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519; }

std::string key_type_name(const EVP_PKEY* key) {
    const char* name = EVP_PKEY_get0_type_name(key);
    return name != nullptr ? name : "unknown";
}

void require_sodium() {
    // sodium_init picks the implementations for this CPU; thread-safe, once.
    static const int rc = sodium_init();
    if (rc < 0) throw std::runtime_error("libsodium could not be initialised");
}

EVP_PKEY* checked(const PkeyPtr& key) {
    if (!key) throw std::logic_error("use of a moved-from Ed25519 key");
    return key.get();
}

std::string raw_public(const EVP_PKEY* key) {
    std::string raw(kRawKeySize, '\0');
    std::size_t len = raw.size();
    if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
        len != kRawKeySize) {
        ERR_clear_error();
        throw std::runtime_error("OpenSSL could not export the Ed25519 public key");
    }
    return raw;
}

}  // namespace

// ---- Ed25519PublicKey -------------------------------------------------------

Ed25519PublicKey::Ed25519PublicKey(PkeyPtr k) : key_(std::move(k)) {
    require_sodium();
    const std::string raw = raw_public(checked(key_));
    std::copy(raw.begin(), raw.end(), raw_.begin());
}

std::expected<Ed25519PublicKey, std::string> Ed25519PublicKey::from_pem(std::string_view pem) {
    BioPtr bio = memory_bio(pem);
    if (!bio) return std::unexpected("public key PEM is too large");
    PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr));
    ERR_clear_error();
    if (!key) return std::unexpected("not a PEM public key (expected \"BEGIN PUBLIC KEY\")");
    if (!is_ed25519(key.get())) {
        return std::unexpected("public key is " + key_type_name(key.get()) + ", not Ed25519");
    }
    return Ed25519PublicKey(std::move(key));
}

std::expected<Ed25519PublicKey, std::string> Ed25519PublicKey::from_raw(std::string_view raw) {
    if (raw.size() != kRawKeySize) {
        return std::unexpected("raw Ed25519 public key must be 32 bytes, got " +
                               std::to_string(raw.size()));
    }
    PkeyPtr key(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
    ERR_clear_error();
    if (!key) return std::unexpected("OpenSSL rejected the raw Ed25519 public key");
    return Ed25519PublicKey(std::move(key));
}

std::string Ed25519PublicKey::to_pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), checked(key_)) != 1) {
        ERR_clear_error();
        throw std::runtime_error("OpenSSL could not write the Ed25519 public key as PEM");
    }
    return bio_contents(bio.get());
}

std::string Ed25519PublicKey::raw() const { return raw_public(checked(key_)); }

bool Ed25519PublicKey::verify(std::string_view message, std::string_view signature) const {
    checked(key_);
    if (signature.size() != kSignatureSize) return false;
    return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                       raw_.data()) == 0;
}

// ---- Ed25519PrivateKey ------------------------------------------------------

void Ed25519PrivateKey::WipeDeleter::operator()(Secret* secret) const noexcept {
    OPENSSL_cleanse(secret, sizeof(Secret));
    delete secret;
}

Ed25519PrivateKey::Ed25519PrivateKey(PkeyPtr k) : key_(std::move(k)) {
    require_sodium();
    std::array<unsigned char, 32> seed{};
    std::size_t len = seed.size();
    if (EVP_PKEY_get_raw_private_key(checked(key_), seed.data(), &len) != 1 || len != seed.size()) {
        ERR_clear_error();
        OPENSSL_cleanse(seed.data(), seed.size());
        throw std::runtime_error("OpenSSL could not export the Ed25519 private key");
    }
    signing_key_.reset(new Secret{});
    std::array<unsigned char, 32> pk{};
    const int rc = crypto_sign_seed_keypair(pk.data(), signing_key_->sodium.data(), seed.data());
    // The expanded key of RFC 8032 5.1.5: the scalar from the first half of
    // SHA-512(seed) (clamped, then reduced: a signature only needs it mod L),
    // the prefix from the second.
    std::array<unsigned char, 64> h{};
    crypto_hash_sha512(h.data(), seed.data(), seed.size());
    OPENSSL_cleanse(seed.data(), seed.size());
    h[0] &= 248;
    h[31] &= 127;
    h[31] |= 64;
    std::array<unsigned char, 64> wide{};
    std::copy_n(h.begin(), 32, wide.begin());
    crypto_core_ed25519_scalar_reduce(signing_key_->scalar.data(), wide.data());
    std::copy_n(h.begin() + 32, 32, signing_key_->prefix.begin());
    OPENSSL_cleanse(h.data(), h.size());
    OPENSSL_cleanse(wide.data(), wide.size());
    if (rc != 0) throw std::runtime_error("libsodium could not derive the Ed25519 signing key");
}

const Ed25519PrivateKey::Secret& Ed25519PrivateKey::secret() const {
    if (!signing_key_) throw std::logic_error("use of a moved-from Ed25519 key");
    return *signing_key_;
}

Ed25519PrivateKey Ed25519PrivateKey::generate() {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!key) {
        ERR_clear_error();
        throw std::runtime_error("OpenSSL could not generate an Ed25519 key");
    }
    return Ed25519PrivateKey(std::move(key));
}

std::expected<Ed25519PrivateKey, std::string> Ed25519PrivateKey::from_pem(std::string_view pem) {
    BioPtr bio = memory_bio(pem);
    if (!bio) return std::unexpected("private key PEM is too large");
    PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    ERR_clear_error();
    if (!key) {
        return std::unexpected(
            "not an unencrypted PEM private key (expected a PKCS#8 \"PRIVATE KEY\" PEM block)");
    }
    if (!is_ed25519(key.get())) {
        return std::unexpected("private key is " + key_type_name(key.get()) + ", not Ed25519");
    }
    return Ed25519PrivateKey(std::move(key));
}

std::string Ed25519PrivateKey::to_pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), checked(key_), nullptr, nullptr, 0,
                                              nullptr, nullptr) != 1) {
        ERR_clear_error();
        throw std::runtime_error("OpenSSL could not write the Ed25519 private key as PEM");
    }
    return bio_contents(bio.get());
}

Ed25519PublicKey Ed25519PrivateKey::public_key() const {
    auto pub = Ed25519PublicKey::from_raw(raw_public(checked(key_)));
    if (!pub) throw std::runtime_error(pub.error());
    return std::move(*pub);
}

std::string Ed25519PrivateKey::sign(std::string_view message) const {
    const Secret& key = secret();
    std::string sig(kSignatureSize, '\0');
    unsigned long long len = 0;
    if (crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), &len,
                             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                             key.sodium.data()) != 0 ||
        len != kSignatureSize) {
        throw std::runtime_error("libsodium could not make an Ed25519 signature");
    }
    return sig;
}

std::array<unsigned char, 32> Ed25519PrivateKey::nonce_scalar(const NonceSeed& seed, std::string_view context) const {
    // A label of its own, so that this hash never equals one RFC 8032's
    // nonce takes (SHA-512 of the prefix and a message).
    static constexpr std::string_view kDomain = "entitle ed25519 nonce v1";
    const Secret& key = secret();
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(kDomain.data()), kDomain.size());
    crypto_hash_sha512_update(&st, key.prefix.data(), key.prefix.size());
    // The context's length first: no two (context, seed) pairs hash alike.
    const auto length = static_cast<std::uint64_t>(context.size());
    std::array<unsigned char, 8> length_bytes{};
    for (std::size_t i = 0; i < length_bytes.size(); ++i) {
        length_bytes[i] = static_cast<unsigned char>(length >> (8 * i));
    }
    crypto_hash_sha512_update(&st, length_bytes.data(), length_bytes.size());
    crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(context.data()), context.size());
    crypto_hash_sha512_update(&st, seed.data(), seed.size());
    std::array<unsigned char, 64> h{};
    crypto_hash_sha512_final(&st, h.data());
    std::array<unsigned char, 32> r{};
    crypto_core_ed25519_scalar_reduce(r.data(), h.data());
    OPENSSL_cleanse(h.data(), h.size());
    OPENSSL_cleanse(&st, sizeof st);
    return r;
}

Ed25519Nonce Ed25519PrivateKey::nonce_of(const NonceSeed& seed, std::string_view context) const {
    Ed25519Nonce n;
    n.seed = seed;
    std::array<unsigned char, 32> r = nonce_scalar(seed, context);
    // Fails only for r = 0, which no hash output reduces to in practice.
    const int rc = crypto_scalarmult_ed25519_base_noclamp(n.point.data(), r.data());
    OPENSSL_cleanse(r.data(), r.size());
    if (rc != 0) throw std::runtime_error("libsodium could not make an Ed25519 nonce");
    return n;
}

NonceSeed random_nonce_seed() {
    NonceSeed seed{};
    const std::string bytes = random_id_bytes(seed.size());
    std::copy(bytes.begin(), bytes.end(), seed.begin());
    return seed;
}

Ed25519Nonce Ed25519PrivateKey::make_nonce(std::string_view context) const {
    return nonce_of(random_nonce_seed(), context);
}

std::string Ed25519PrivateKey::sign(std::string_view message, const Ed25519Nonce& nonce,
                                    std::string_view context) const {
    const Secret& key = secret();
    // RFC 8032 5.1.6 from step 3 on, with the nonce's r and R: k = SHA-512(R,
    // A, M) mod L, S = r + k * a mod L, the signature R || S.
    std::array<unsigned char, 64> h{};
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, nonce.point.data(), nonce.point.size());
    crypto_hash_sha512_update(&st, key.sodium.data() + 32, 32);  // the public key A
    crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(message.data()), message.size());
    crypto_hash_sha512_final(&st, h.data());
    std::array<unsigned char, 32> k{};
    crypto_core_ed25519_scalar_reduce(k.data(), h.data());
    std::array<unsigned char, 32> r = nonce_scalar(nonce.seed, context);
    std::array<unsigned char, 32> s{};
    crypto_core_ed25519_scalar_mul(s.data(), k.data(), key.scalar.data());
    crypto_core_ed25519_scalar_add(s.data(), s.data(), r.data());
    OPENSSL_cleanse(r.data(), r.size());
    std::string sig(kSignatureSize, '\0');
    std::copy(nonce.point.begin(), nonce.point.end(), sig.begin());
    std::copy(s.begin(), s.end(), sig.begin() + 32);
    OPENSSL_cleanse(s.data(), s.size());
    return sig;
}

}  // namespace entitle::crypto
