#include "crypto/tls_certificate.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace entitle::crypto {
namespace {

struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509Deleter {
    void operator()(X509* p) const noexcept { X509_free(p); }
};
struct X509ExtensionDeleter {
    void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
};
struct GeneralNameDeleter {
    void operator()(GENERAL_NAME* p) const noexcept { GENERAL_NAME_free(p); }
};
struct GeneralNamesDeleter {
    void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
struct Asn1StringDeleter {
    void operator()(ASN1_STRING* p) const noexcept { ASN1_STRING_free(p); }
};
struct Asn1IntegerDeleter {
    void operator()(ASN1_INTEGER* p) const noexcept { ASN1_INTEGER_free(p); }
};
struct BignumDeleter {
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct BioDeleter {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};

using LocalPkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, X509ExtensionDeleter>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, GeneralNameDeleter>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, Asn1StringDeleter>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Asn1IntegerDeleter>;
using BignumPtr = std::unique_ptr<BIGNUM, BignumDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

constexpr long kSecondsPerHour = 3600;

// Throws with `what`, dropping whatever OpenSSL queued on this thread.
[[noreturn]] void fail(const std::string& what) {
    ERR_clear_error();
    throw std::runtime_error("self-signed certificate: " + what);
}

void require(bool ok, const char* what) {
    if (!ok) fail(what);
}

// A random positive 127-bit serial number (RFC 5280 allows up to 20 octets).
Asn1IntegerPtr random_serial() {
    BignumPtr bn(BN_new());
    require(bn && BN_rand(bn.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1,
            "cannot draw a random serial number");
    if (BN_is_zero(bn.get())) require(BN_one(bn.get()) == 1, "cannot set the serial number");
    Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    require(serial != nullptr, "cannot encode the serial number");
    return serial;
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
    require(ext != nullptr, "cannot build an X.509 extension");
    require(X509_add_ext(cert, ext.get(), -1) == 1, "cannot add an X.509 extension");
}

GeneralNamesPtr subject_alt_names(const std::vector<std::string>& dns_names,
                                  const std::vector<std::string>& ip_addresses) {
    GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
    require(names != nullptr, "cannot allocate subjectAltName");
    const auto push = [&](GeneralNamePtr name) {
        require(sk_GENERAL_NAME_push(names.get(), name.get()) > 0,
                "cannot add a subjectAltName entry");
        static_cast<void>(name.release());  // now owned by `names`
    };
    for (const std::string& dns : dns_names) {
        if (dns.empty()) throw std::invalid_argument("empty DNS name for the TLS certificate");
        Asn1StringPtr ia5(ASN1_IA5STRING_new());
        require(ia5 && ASN1_STRING_set(ia5.get(), dns.data(), static_cast<int>(dns.size())) == 1,
                "cannot encode a DNS name");
        GeneralNamePtr name(GENERAL_NAME_new());
        require(name != nullptr, "cannot allocate a subjectAltName entry");
        GENERAL_NAME_set0_value(name.get(), GEN_DNS, ia5.release());
        push(std::move(name));
    }
    for (const std::string& ip : ip_addresses) {
        // a2i_IPADDRESS parses IPv4 and IPv6 literals into 4 or 16 octets.
        Asn1StringPtr octets(a2i_IPADDRESS(ip.c_str()));
        if (!octets) {
            ERR_clear_error();
            throw std::invalid_argument("not an IP address literal: \"" + ip + "\"");
        }
        GeneralNamePtr name(GENERAL_NAME_new());
        require(name != nullptr, "cannot allocate a subjectAltName entry");
        GENERAL_NAME_set0_value(name.get(), GEN_IPADD, octets.release());
        push(std::move(name));
    }
    return names;
}

std::string bio_contents(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    require(len > 0 && data != nullptr, "PEM output is empty");
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

// Caller errors (an empty common or DNS name, an IP literal that does not
// parse, days < 1) throw std::invalid_argument; OpenSSL failures throw
// std::runtime_error as the header says.
SelfSignedCertificate make_self_signed_certificate(const std::string& common_name,
                                                   const std::vector<std::string>& dns_names,
                                                   const std::vector<std::string>& ip_addresses,
                                                   int days) {
    if (common_name.empty()) {
        throw std::invalid_argument("the TLS certificate needs a non-empty common name");
    }
    if (days < 1) throw std::invalid_argument("the TLS certificate must be valid for >= 1 day");

    LocalPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    require(key != nullptr, "cannot generate an ECDSA P-256 key");

    X509Ptr cert(X509_new());
    require(cert != nullptr, "cannot allocate a certificate");
    require(X509_set_version(cert.get(), X509_VERSION_3) == 1, "cannot set version 3");
    require(X509_set_serialNumber(cert.get(), random_serial().get()) == 1,
            "cannot set the serial number");

    X509_NAME* name = X509_get_subject_name(cert.get());  // owned by cert
    require(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(common_name.data()),
                                       static_cast<int>(common_name.size()), -1, 0) == 1,
            "cannot set the common name (at most 64 characters)");
    require(X509_set_issuer_name(cert.get(), name) == 1, "cannot set the issuer name");

    require(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kSecondsPerHour) != nullptr,
            "cannot set notBefore");
    require(X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, -kSecondsPerHour, nullptr) !=
                nullptr,
            "cannot set notAfter");
    require(X509_set_pubkey(cert.get(), key.get()) == 1, "cannot set the public key");

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    // A leaf certificate, CA:FALSE, as the header promises. Checked on Debian 12
    // (OpenSSL 3.0) against `openssl s_server`: Python's ssl module
    // (create_default_context(cafile=...), also with VERIFY_X509_STRICT, which
    // Python 3.13 turns on by default) and `curl --cacert` both accept it for
    // https://127.0.0.1 and https://localhost, so the CA:TRUE + keyCertSign
    // fallback is not needed. OpenSSL trusts a self-signed certificate found in
    // the trust store as its own anchor regardless of CA:FALSE.
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");

    if (!dns_names.empty() || !ip_addresses.empty()) {
        GeneralNamesPtr names = subject_alt_names(dns_names, ip_addresses);
        require(X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0,
                                  X509V3_ADD_DEFAULT) == 1,
                "cannot add subjectAltName");
    }

    require(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "cannot sign the certificate");

    SelfSignedCertificate out;
    BioPtr key_bio(BIO_new(BIO_s_mem()));
    require(key_bio && PEM_write_bio_PKCS8PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0,
                                                     nullptr, nullptr) == 1,
            "cannot write the private key");
    out.key_pem = bio_contents(key_bio.get());
    BioPtr cert_bio(BIO_new(BIO_s_mem()));
    require(cert_bio && PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1,
            "cannot write the certificate");
    out.cert_pem = bio_contents(cert_bio.get());
    return out;
}

}  // namespace entitle::crypto
