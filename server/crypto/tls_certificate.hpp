// Creating the self-signed TLS certificate `entitled init` writes.
#pragma once

#include <string>
#include <vector>

namespace entitle::crypto {

struct SelfSignedCertificate {
    std::string key_pem;   // PKCS#8 private key (ECDSA P-256): a secret
    std::string cert_pem;  // X.509 v3 certificate
};

// A fresh ECDSA P-256 key and a self-signed certificate for `common_name`,
// with subjectAltName entries for every DNS name and IP address given
// (IPv4 or IPv6 literals), basicConstraints CA:FALSE, keyUsage
// digitalSignature, extendedKeyUsage serverAuth, valid from now minus one
// hour for `days` days. Throws std::runtime_error if OpenSSL fails.
[[nodiscard]] SelfSignedCertificate make_self_signed_certificate(
    const std::string& common_name, const std::vector<std::string>& dns_names,
    const std::vector<std::string>& ip_addresses, int days);

}  // namespace entitle::crypto
