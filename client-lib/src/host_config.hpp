// The host configuration file (contract section 3), written by `entitlectl
// host add`: {"server_url","ca_pem","host_id","host_token","lease_keys"}.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "crypto/ed25519.hpp"
#include "server_url.hpp"
#include "status.hpp"

namespace entitle::lib {

// Lease-signing public keys by key id (a JWKS's Ed25519 keys). Read-only
// once built, so it is shared between threads behind a shared_ptr.
using KeySet = std::map<std::string, crypto::Ed25519PublicKey, std::less<>>;

// A JWKS (RFC 7517/8037): {"keys":[{"kty":"OKP","crv":"Ed25519","x":...,"kid":...}]}.
// Keys of other types are skipped (a server may publish more); a malformed
// Ed25519 key, or no Ed25519 key at all, is an error naming `where`.
[[nodiscard]] Outcome<KeySet> parse_jwks(const nlohmann::json& jwks, std::string_view where);

struct HostConfig {
    std::string server_url;
    ServerUrl server;
    std::string ca_pem;
    std::string host_id;
    std::string host_token;
    std::shared_ptr<const KeySet> lease_keys;
};

// Parses the file's text. Every error is ENTITLE_CONFIG_ERROR naming the
// member and what is wrong with it; the token never appears in a message.
[[nodiscard]] Outcome<HostConfig> parse_host_config(std::string_view text);

struct LoadedConfig {
    HostConfig config;
    bool readable_by_others = false;  // group or other permission bits set
};

// Reads `path` (at most 1 MiB) and parses it. ENTITLE_CONFIG_ERROR when it is
// missing, unreadable, too large or malformed.
[[nodiscard]] Outcome<LoadedConfig> load_host_config(const std::string& path);

}  // namespace entitle::lib
