// HTTPS over Boost.Beast and OpenSSL: TLS 1.2+, the server certificate
// verified against the config's ca_pem alone (loaded from memory into the
// context's X509_STORE; the system store is never loaded), the URL's host
// name or IP address checked, one connection (and one TLS context) per
// exchange, a deadline on the whole exchange.
#pragma once

#include <memory>
#include <string_view>

#include "server_url.hpp"
#include "transport.hpp"

namespace entitle::lib {

// ENTITLE_CONFIG_ERROR when ca_pem holds no usable certificate.
[[nodiscard]] Outcome<std::unique_ptr<Transport>> make_https_transport(const ServerUrl& server,
                                                                       std::string_view ca_pem);

}  // namespace entitle::lib
