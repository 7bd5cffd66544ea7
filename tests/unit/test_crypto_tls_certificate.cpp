#include "crypto/tls_certificate.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using entitle::crypto::make_self_signed_certificate;
using entitle::crypto::SelfSignedCertificate;

namespace {

struct BioDeleter {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct X509Deleter {
    void operator()(X509* p) const noexcept { X509_free(p); }
};
struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct GeneralNamesDeleter {
    void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
struct StoreDeleter {
    void operator()(X509_STORE* p) const noexcept { X509_STORE_free(p); }
};
struct StoreCtxDeleter {
    void operator()(X509_STORE_CTX* p) const noexcept { X509_STORE_CTX_free(p); }
};
struct BasicConstraintsDeleter {
    void operator()(BASIC_CONSTRAINTS* p) const noexcept { BASIC_CONSTRAINTS_free(p); }
};

using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

std::unique_ptr<BIO, BioDeleter> bio_of(const std::string& pem) {
    return std::unique_ptr<BIO, BioDeleter>(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

X509Ptr parse_cert(const std::string& pem) {
    auto bio = bio_of(pem);
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    REQUIRE(cert);
    return cert;
}

PkeyPtr parse_key(const std::string& pem) {
    auto bio = bio_of(pem);
    PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    REQUIRE(key);
    return key;
}

struct Sans {
    std::vector<std::string> dns;
    std::vector<std::string> ips;  // raw 4 or 16 octets
};

Sans subject_alt_names(X509* cert) {
    Sans out;
    std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    REQUIRE(names);
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
        const ASN1_STRING* value = nullptr;
        if (name->type == GEN_DNS) value = name->d.dNSName;
        if (name->type == GEN_IPADD) value = name->d.iPAddress;
        REQUIRE(value != nullptr);
        std::string bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                          static_cast<std::size_t>(ASN1_STRING_length(value)));
        (name->type == GEN_DNS ? out.dns : out.ips).push_back(std::move(bytes));
    }
    return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    for (const auto& e : v) {
        if (e == s) return true;
    }
    return false;
}

// Verifies `cert` for TLS server use with itself as the only trust anchor,
// the way a client given --cacert does. Returns the X509_V_* result.
int verify_as_own_anchor(X509* cert, const char* host, const char* ip) {
    std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
    REQUIRE(store);
    REQUIRE(X509_STORE_add_cert(store.get(), cert) == 1);
    std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
    REQUIRE(ctx);
    REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) == 1);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    REQUIRE(X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER) == 1);
    if (host != nullptr) REQUIRE(X509_VERIFY_PARAM_set1_host(param, host, 0) == 1);
    if (ip != nullptr) REQUIRE(X509_VERIFY_PARAM_set1_ip_asc(param, ip) == 1);
    X509_verify_cert(ctx.get());
    return X509_STORE_CTX_get_error(ctx.get());
}

const SelfSignedCertificate& certificate() {
    static const SelfSignedCertificate c = make_self_signed_certificate(
        "entitled", {"localhost", "licence.example"}, {"127.0.0.1", "::1"}, 825);
    return c;
}

}  // namespace

TEST_CASE("make_self_signed_certificate returns a PKCS#8 key and an X.509 certificate in PEM") {
    CHECK(certificate().key_pem.starts_with("-----BEGIN " "PRIVATE KEY-----\n"));
    CHECK(certificate().cert_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
}

TEST_CASE("the certificate has the localhost DNS SAN and the 127.0.0.1 and ::1 IP SANs") {
    const X509Ptr cert = parse_cert(certificate().cert_pem);
    const Sans sans = subject_alt_names(cert.get());
    CHECK(contains(sans.dns, "localhost"));
    CHECK(contains(sans.dns, "licence.example"));
    CHECK(sans.dns.size() == 2);
    CHECK(contains(sans.ips, std::string("\x7f\x00\x00\x01", 4)));
    CHECK(contains(sans.ips, std::string(15, '\0') + "\x01"));
    CHECK(sans.ips.size() == 2);
    CHECK(X509_check_host(cert.get(), "localhost", 0, 0, nullptr) == 1);
    CHECK(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
    CHECK(X509_check_ip_asc(cert.get(), "::1", 0) == 1);
    CHECK(X509_check_host(cert.get(), "example.com", 0, 0, nullptr) == 0);
    CHECK(X509_check_ip_asc(cert.get(), "10.0.0.1", 0) == 0);
}

TEST_CASE("the certificate key is ECDSA P-256 and matches the certificate") {
    const X509Ptr cert = parse_cert(certificate().cert_pem);
    const PkeyPtr key = parse_key(certificate().key_pem);
    CHECK(EVP_PKEY_is_a(key.get(), "EC"));
    char group[64] = {};
    std::size_t group_len = 0;
    REQUIRE(EVP_PKEY_get_utf8_string_param(key.get(), "group", group, sizeof group, &group_len) ==
            1);
    CHECK(std::string(group) == "prime256v1");
    CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
    CHECK(X509_verify(cert.get(), key.get()) == 1);  // self-signed by that key
}

TEST_CASE("the certificate is v3, named by its common name, and a non-CA server certificate") {
    const X509Ptr cert = parse_cert(certificate().cert_pem);
    CHECK(X509_get_version(cert.get()) == X509_VERSION_3);
    char cn[128] = {};
    REQUIRE(X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn,
                                      sizeof cn) > 0);
    CHECK(std::string(cn) == "entitled");
    CHECK(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0);

    int critical = -1;
    std::unique_ptr<BASIC_CONSTRAINTS, BasicConstraintsDeleter> bc(static_cast<BASIC_CONSTRAINTS*>(
        X509_get_ext_d2i(cert.get(), NID_basic_constraints, &critical, nullptr)));
    REQUIRE(bc);
    CHECK(bc->ca == 0);
    CHECK(critical == 1);
    CHECK(X509_check_ca(cert.get()) == 0);
    CHECK((X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE) != 0);
    CHECK((X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN) == 0);
    CHECK((X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER) != 0);
    CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1);
}

TEST_CASE("the certificate is valid from an hour ago for the given number of days") {
    const X509Ptr cert = parse_cert(certificate().cert_pem);
    int days = 0;
    int seconds = 0;
    // notBefore is about one hour before now.
    REQUIRE(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert.get()), nullptr) == 1);
    CHECK(days == 0);
    CHECK(seconds >= 3600);
    CHECK(seconds < 3600 + 300);
    // notAfter is 825 days after notBefore.
    REQUIRE(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert.get()),
                           X509_get0_notAfter(cert.get())) == 1);
    CHECK(days == 825);
    CHECK(seconds == 0);
}

TEST_CASE("the certificate verifies as its own trust anchor for its names, and not for others") {
    const X509Ptr cert = parse_cert(certificate().cert_pem);
    CHECK(verify_as_own_anchor(cert.get(), "localhost", nullptr) == X509_V_OK);
    CHECK(verify_as_own_anchor(cert.get(), "licence.example", nullptr) == X509_V_OK);
    CHECK(verify_as_own_anchor(cert.get(), nullptr, "127.0.0.1") == X509_V_OK);
    CHECK(verify_as_own_anchor(cert.get(), nullptr, "::1") == X509_V_OK);
    CHECK(verify_as_own_anchor(cert.get(), "example.com", nullptr) == X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(verify_as_own_anchor(cert.get(), nullptr, "127.0.0.2") == X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST_CASE("each certificate gets a fresh key and serial number") {
    const SelfSignedCertificate other = make_self_signed_certificate("entitled", {}, {}, 1);
    CHECK(other.key_pem != certificate().key_pem);
    const X509Ptr a = parse_cert(certificate().cert_pem);
    const X509Ptr b = parse_cert(other.cert_pem);
    CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(a.get()), X509_get0_serialNumber(b.get())) != 0);
    // With no names at all there is no subjectAltName extension.
    CHECK(X509_get_ext_by_NID(b.get(), NID_subject_alt_name, -1) < 0);
}

TEST_CASE("make_self_signed_certificate refuses bad IP literals, empty names and days < 1") {
    CHECK_THROWS_AS((void)make_self_signed_certificate("e", {}, {"localhost"}, 1),
                    std::invalid_argument);
    CHECK_THROWS_AS((void)make_self_signed_certificate("e", {}, {"127.0.0.256"}, 1),
                    std::invalid_argument);
    CHECK_THROWS_AS((void)make_self_signed_certificate("e", {}, {""}, 1), std::invalid_argument);
    CHECK_THROWS_AS((void)make_self_signed_certificate("e", {""}, {}, 1), std::invalid_argument);
    CHECK_THROWS_AS((void)make_self_signed_certificate("", {}, {}, 1), std::invalid_argument);
    CHECK_THROWS_AS((void)make_self_signed_certificate("e", {}, {}, 0), std::invalid_argument);
}

TEST_CASE(
    "make_self_signed_certificate throws runtime_error for a common name over 64 characters") {
    CHECK_THROWS_AS((void)make_self_signed_certificate(std::string(65, 'a'), {}, {}, 1),
                    std::runtime_error);
}
