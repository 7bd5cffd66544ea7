// The server's TLS configuration: TLS 1.2 and 1.3 only, AEAD ciphers with
// forward secrecy for 1.2, server cipher preference, no compression or
// renegotiation.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "core/error.hpp"

namespace entitle::http {

// Loads the PEM certificate chain and private key; errors name the file.
[[nodiscard]] Result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls_context(
    const std::string& cert_file, const std::string& key_file);

}  // namespace entitle::http
