#include "http/tls_context.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>

namespace entitle::http {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> make_server_tls_context(const std::string& cert_file,
                                                              const std::string& key_file) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE);
    // TLS 1.2: ECDHE key exchange with AEAD ciphers only. TLS 1.3 suites are all AEAD.
    SSL_CTX_set_cipher_list(native,
                            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(cert_file, ec);
    if (ec) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("cannot load TLS certificate {}: {}", cert_file, ec.message()));
    }
    ctx->use_private_key_file(key_file, ssl::context::pem, ec);
    if (ec) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("cannot load TLS key {}: {}", key_file, ec.message()));
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("TLS key {} does not match certificate {}", key_file, cert_file));
    }
    return ctx;
}

}  // namespace entitle::http
