// Loads the issuer trust store: DATA/issuers/*.pem, Ed25519
// SubjectPublicKeyInfo, key id = file name without ".pem".
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/license_file.hpp"

namespace entitle::app {

struct LoadedIssuers {
    IssuerKeys keys;
    std::vector<std::string> problems;  // one line per skipped file, naming it
};

// Never fails as a whole: a file that is not an Ed25519 public key is
// reported and skipped, so one bad file cannot lock out every issuer.
[[nodiscard]] LoadedIssuers load_issuer_keys(const std::filesystem::path& dir);

}  // namespace entitle::app
