#include "crypto/ed25519.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "crypto/base64url.hpp"

using entitle::crypto::base64url_decode;
using entitle::crypto::base64url_encode;
using entitle::crypto::Ed25519PrivateKey;
using entitle::crypto::Ed25519PublicKey;

namespace {

// RFC 8037 Appendix A.1 and A.4 (values as printed in the RFC; the signature
// was also cross-checked with python-cryptography).
constexpr std::string_view kRfcD = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr std::string_view kRfcX = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr std::string_view kRfcSigningInput =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr std::string_view kRfcSignature =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

struct BioDeleter {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};

std::string b64url(std::string_view text) {
    auto decoded = base64url_decode(text);
    REQUIRE(decoded.has_value());
    return *decoded;
}

// PEM "PRIVATE KEY" for a raw 32-byte Ed25519 seed: the fixed PKCS#8 prefix
// of RFC 8410 section 7 followed by the seed.
std::string pkcs8_pem_from_seed(const std::string& seed) {
    REQUIRE(seed.size() == 32);
    const std::string der =
        std::string("\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16) + seed;
    std::string b64 = base64url_encode(der);
    for (char& c : b64) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
    }
    while (b64.size() % 4 != 0) b64.push_back('=');
    return "-----BEGIN " "PRIVATE KEY-----\n" + b64 + "\n-----END PRIVATE KEY-----\n";
}

Ed25519PrivateKey rfc8037_private_key() {
    auto key = Ed25519PrivateKey::from_pem(pkcs8_pem_from_seed(b64url(kRfcD)));
    REQUIRE(key.has_value());
    return std::move(*key);
}

std::string flip_bit(std::string s, std::size_t index) {
    s[index] = static_cast<char>(s[index] ^ 0x01);
    return s;
}

std::string pem_of(EVP_PKEY* key, bool encrypted) {
    std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
    REQUIRE(bio);
    static char passphrase[] = "correct horse";
    const int ok =
        encrypted
            ? PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), passphrase,
                                            sizeof passphrase - 1, nullptr, nullptr)
            : PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    REQUIRE(ok == 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

TEST_CASE("the RFC 8037 private key d has the public key x") {
    const Ed25519PrivateKey key = rfc8037_private_key();
    CHECK(base64url_encode(key.public_key().raw()) == kRfcX);
}

TEST_CASE("sign reproduces the RFC 8037 Appendix A.4 signature") {
    const Ed25519PrivateKey key = rfc8037_private_key();
    const std::string signature = key.sign(kRfcSigningInput);
    CHECK(signature.size() == 64);
    CHECK(base64url_encode(signature) == kRfcSignature);
}

TEST_CASE("verify accepts the RFC 8037 Appendix A.4 signature under the raw key x") {
    const auto pub = Ed25519PublicKey::from_raw(b64url(kRfcX));
    REQUIRE(pub.has_value());
    CHECK(pub->verify(kRfcSigningInput, b64url(kRfcSignature)));
}

TEST_CASE("verify refuses the RFC 8037 signature over a changed message") {
    const auto pub = Ed25519PublicKey::from_raw(b64url(kRfcX));
    REQUIRE(pub.has_value());
    const std::string message(kRfcSigningInput);
    for (std::size_t i : {std::size_t{0}, message.size() / 2, message.size() - 1}) {
        CHECK_FALSE(pub->verify(flip_bit(message, i), b64url(kRfcSignature)));
    }
    CHECK_FALSE(pub->verify(message + ".", b64url(kRfcSignature)));
    CHECK_FALSE(pub->verify("", b64url(kRfcSignature)));
}

TEST_CASE("verify refuses a signature with any bit flipped") {
    const auto pub = Ed25519PublicKey::from_raw(b64url(kRfcX));
    REQUIRE(pub.has_value());
    const std::string signature = b64url(kRfcSignature);
    for (std::size_t i = 0; i < signature.size(); i += 7) {
        CAPTURE(i);
        CHECK_FALSE(pub->verify(kRfcSigningInput, flip_bit(signature, i)));
    }
}

TEST_CASE("verify refuses signatures that are not 64 bytes") {
    const auto pub = Ed25519PublicKey::from_raw(b64url(kRfcX));
    REQUIRE(pub.has_value());
    const std::string signature = b64url(kRfcSignature);
    CHECK_FALSE(pub->verify(kRfcSigningInput, ""));
    CHECK_FALSE(pub->verify(kRfcSigningInput, signature.substr(0, 63)));
    CHECK_FALSE(pub->verify(kRfcSigningInput, signature + '\0'));
    CHECK_FALSE(pub->verify(kRfcSigningInput, signature + signature));
}

TEST_CASE("verify refuses a signature made by another key") {
    const Ed25519PrivateKey signer = Ed25519PrivateKey::generate();
    const Ed25519PrivateKey other = Ed25519PrivateKey::generate();
    const std::string signature = signer.sign("licence");
    CHECK(signer.public_key().verify("licence", signature));
    CHECK_FALSE(other.public_key().verify("licence", signature));
}

TEST_CASE("generate makes distinct keys whose signatures verify") {
    const Ed25519PrivateKey a = Ed25519PrivateKey::generate();
    const Ed25519PrivateKey b = Ed25519PrivateKey::generate();
    CHECK(a.public_key().raw() != b.public_key().raw());
    CHECK(a.public_key().raw().size() == 32);
    CHECK(a.public_key().verify("", a.sign("")));
    const std::string binary("\0\xff\x01", 3);
    CHECK(a.public_key().verify(binary, a.sign(binary)));
}

TEST_CASE("a private key survives a PEM round trip") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    const std::string pem = key.to_pem();
    CHECK(pem.starts_with("-----BEGIN " "PRIVATE KEY-----\n"));
    auto again = Ed25519PrivateKey::from_pem(pem);
    REQUIRE(again.has_value());
    CHECK(again->public_key().raw() == key.public_key().raw());
    CHECK(again->sign("m") == key.sign("m"));  // Ed25519 is deterministic
    CHECK(again->to_pem() == pem);
}

TEST_CASE("a public key survives a PEM round trip") {
    const Ed25519PublicKey pub = Ed25519PrivateKey::generate().public_key();
    const std::string pem = pub.to_pem();
    CHECK(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    auto again = Ed25519PublicKey::from_pem(pem);
    REQUIRE(again.has_value());
    CHECK(again->raw() == pub.raw());
    CHECK(again->to_pem() == pem);
}

TEST_CASE("a public key survives a raw round trip") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    auto pub = Ed25519PublicKey::from_raw(key.public_key().raw());
    REQUIRE(pub.has_value());
    CHECK(pub->verify("x", key.sign("x")));
}

TEST_CASE("from_raw refuses keys that are not 32 bytes") {
    for (std::size_t len : {0, 1, 31, 33, 64}) {
        CAPTURE(len);
        const auto pub = Ed25519PublicKey::from_raw(std::string(len, 'k'));
        REQUIRE_FALSE(pub.has_value());
        CHECK(pub.error().find("32 bytes") != std::string::npos);
    }
}

TEST_CASE("public from_pem refuses text that is not PEM") {
    for (std::string_view text : {"", "hello", "-----BEGIN PUBLIC KEY-----\n!!!\n"}) {
        const auto pub = Ed25519PublicKey::from_pem(text);
        REQUIRE_FALSE(pub.has_value());
        CHECK(pub.error().find("not a PEM public key") != std::string::npos);
    }
}

TEST_CASE("private from_pem refuses text that is not PEM, and a public key PEM") {
    const std::string public_pem = Ed25519PrivateKey::generate().public_key().to_pem();
    for (std::string_view text :
         {std::string_view(""), std::string_view("hello"), std::string_view(public_pem)}) {
        const auto key = Ed25519PrivateKey::from_pem(text);
        REQUIRE_FALSE(key.has_value());
        CHECK(key.error().find("PEM private key") != std::string::npos);
    }
}

TEST_CASE("from_pem refuses keys of other types, naming the type") {
    std::unique_ptr<EVP_PKEY, entitle::crypto::PkeyDeleter> ec(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    REQUIRE(ec);
    const auto key = Ed25519PrivateKey::from_pem(pem_of(ec.get(), false));
    REQUIRE_FALSE(key.has_value());
    CHECK(key.error() == "private key is EC, not Ed25519");

    std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
    REQUIRE(PEM_write_bio_PUBKEY(bio.get(), ec.get()) == 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    const auto pub = Ed25519PublicKey::from_pem(std::string(data, static_cast<std::size_t>(len)));
    REQUIRE_FALSE(pub.has_value());
    CHECK(pub.error() == "public key is EC, not Ed25519");
}

TEST_CASE("private from_pem refuses an encrypted key without prompting for a passphrase") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    // Re-read it through OpenSSL to get an EVP_PKEY we can write encrypted.
    const std::string pem = key.to_pem();
    std::unique_ptr<BIO, BioDeleter> in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    std::unique_ptr<EVP_PKEY, entitle::crypto::PkeyDeleter> raw(
        PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
    REQUIRE(raw);
    const std::string encrypted = pem_of(raw.get(), true);
    REQUIRE(encrypted.starts_with("-----BEGIN ENCRYPTED " "PRIVATE KEY-----"));
    CHECK_FALSE(Ed25519PrivateKey::from_pem(encrypted).has_value());
}

TEST_CASE("one key can sign and verify from several threads at once") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    const Ed25519PublicKey pub = key.public_key();
    const std::string expected = key.sign("shared message");
    std::vector<int> failures(4, 0);
    {
        std::vector<std::jthread> threads;
        for (std::size_t t = 0; t < failures.size(); ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 200; ++i) {
                    const std::string sig = key.sign("shared message");
                    if (sig != expected || !pub.verify("shared message", sig) ||
                        pub.verify("other message", sig)) {
                        ++failures[t];
                    }
                }
            });
        }
    }
    for (int f : failures) CHECK(f == 0);
}

TEST_CASE("signatures agree byte for byte with OpenSSL's own Ed25519, and each library verifies the other's") {
    for (int i = 0; i < 20; ++i) {
        const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
        const auto pem = key.to_pem();
        std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
        std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> evp(
            PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
        REQUIRE(evp);
        const std::string message(static_cast<std::size_t>(i * 37), static_cast<char>('a' + i));
        std::string openssl_sig(64, '\0');
        std::size_t len = openssl_sig.size();
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
        REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, evp.get()) == 1);
        REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(openssl_sig.data()), &len,
                               reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1);
        const std::string ours = key.sign(message);
        CHECK(ours == openssl_sig);
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> vctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
        REQUIRE(EVP_DigestVerifyInit(vctx.get(), nullptr, nullptr, nullptr, evp.get()) == 1);
        CHECK(EVP_DigestVerify(vctx.get(), reinterpret_cast<const unsigned char*>(ours.data()), ours.size(),
                               reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1);
        CHECK(key.public_key().verify(message, openssl_sig));
        CHECK_FALSE(key.public_key().verify(message + "x", openssl_sig));
    }
}

TEST_CASE("a moved-from private key refuses to sign instead of signing with nothing") {
    Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    Ed25519PrivateKey moved = std::move(key);
    CHECK(moved.sign("m").size() == 64);
    CHECK_THROWS_AS((void)key.sign("m"), std::logic_error);  // NOLINT(bugprone-use-after-move): the point
}
