// `entitled init --data DIR`: creates or completes a data directory. Every
// existing key and token is kept; only what is missing is made.
#pragma once

#include <optional>
#include <string>

#include "core/error.hpp"

namespace entitle::app {

struct InitOptions {
    std::string data_dir;
    std::optional<std::string> tls_cert;  // operator's certificate chain (PEM), copied in
    std::optional<std::string> tls_key;   // its private key (PEM), copied in with mode 0600
};

// Prints what it did on stdout (never a secret). Errors say what to fix.
[[nodiscard]] Result<void> run_init(const InitOptions& options);

}  // namespace entitle::app
