// Shared by the fuzz targets: the public keys the seeds were signed with
// (tests/fuzz/keys/, written by make_seeds.py), and a hard stop for broken
// invariants that libFuzzer reports as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "crypto/ed25519.hpp"

namespace entitle::fuzz {

[[noreturn]] inline void invariant_failed(const char* what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}

#define ENTITLE_FUZZ_CHECK(cond) \
    do {                         \
        if (!(cond)) ::entitle::fuzz::invariant_failed(#cond); \
    } while (0)

// The issuer key the seed licenses are signed with; its private half was
// thrown away after signing.
inline crypto::Ed25519PublicKey seed_issuer_key() {
    const std::string path = std::string(ENTITLE_FUZZ_KEYS_DIR) + "/fuzz-issuer.pem";
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    auto key = crypto::Ed25519PublicKey::from_pem(text.str());
    if (!key) {
        std::fprintf(stderr, "cannot load %s: %s\n", path.c_str(), key.error().c_str());
        std::abort();
    }
    return std::move(*key);
}

inline constexpr const char* kSeedIssuerKid = "fuzz-issuer";

}  // namespace entitle::fuzz
