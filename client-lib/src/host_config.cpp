#include "host_config.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "crypto/base64url.hpp"

namespace entitle::lib {

namespace {

constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;

std::unexpected<Failure> config_error(std::string message) {
    return fail(ENTITLE_CONFIG_ERROR, std::move(message));
}

// A required non-empty string member.
Outcome<std::string> string_member(const nlohmann::json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end()) return config_error(std::string("\"") + name + "\" is missing");
    if (!it->is_string()) return config_error(std::string("\"") + name + "\" must be a string");
    auto value = it->get<std::string>();
    if (value.empty()) return config_error(std::string("\"") + name + "\" is empty");
    return value;
}

}  // namespace

Outcome<KeySet> parse_jwks(const nlohmann::json& jwks, std::string_view where) {
    const std::string in(where);
    if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array()) {
        return config_error(in + " must be a JWKS object {\"keys\":[...]}");
    }
    KeySet keys;
    std::size_t index = 0;
    for (const auto& jwk : jwks["keys"]) {
        const std::string at = in + " key " + std::to_string(index++);
        if (!jwk.is_object()) return config_error(at + " is not an object");
        // Not value("kty", ""): it throws when the member is there but not a string.
        const auto member_is = [&jwk](const char* name, std::string_view want) {
            const auto it = jwk.find(name);
            return it != jwk.end() && it->is_string() && it->get_ref<const std::string&>() == want;
        };
        if (!member_is("kty", "OKP") || !member_is("crv", "Ed25519")) continue;
        const auto x = jwk.find("x");
        const auto kid = jwk.find("kid");
        if (x == jwk.end() || !x->is_string()) return config_error(at + " has no \"x\"");
        if (kid == jwk.end() || !kid->is_string() || kid->get<std::string>().empty()) {
            return config_error(at + " has no \"kid\"");
        }
        const auto raw = crypto::base64url_decode(x->get<std::string>());
        if (!raw) return config_error(at + ": \"x\" is not base64url");
        auto key = crypto::Ed25519PublicKey::from_raw(*raw);
        if (!key) return config_error(at + ": " + key.error());
        keys.insert_or_assign(kid->get<std::string>(), std::move(*key));
    }
    if (keys.empty()) return config_error(in + " holds no Ed25519 key");
    return keys;
}

Outcome<HostConfig> parse_host_config(std::string_view text) {
    const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) return config_error("not valid JSON");
    if (!json.is_object()) return config_error("not a JSON object");

    HostConfig config;
    auto url = string_member(json, "server_url");
    if (!url) return std::unexpected(url.error());
    auto server = parse_server_url(*url);
    if (!server) return config_error(server.error());
    config.server_url = std::move(*url);
    config.server = std::move(*server);

    auto ca = string_member(json, "ca_pem");
    if (!ca) return std::unexpected(ca.error());
    if (ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        return config_error("\"ca_pem\" holds no PEM certificate");
    }
    config.ca_pem = std::move(*ca);

    auto host_id = string_member(json, "host_id");
    if (!host_id) return std::unexpected(host_id.error());
    config.host_id = std::move(*host_id);

    auto token = string_member(json, "host_token");
    if (!token) return std::unexpected(token.error());
    for (const unsigned char c : *token) {
        if (c <= ' ' || c >= 0x7f) {
            return config_error("\"host_token\" must be printable ASCII without spaces");
        }
    }
    config.host_token = std::move(*token);

    const auto keys_it = json.find("lease_keys");
    if (keys_it == json.end()) return config_error("\"lease_keys\" is missing");
    auto keys = parse_jwks(*keys_it, "\"lease_keys\"");
    if (!keys) return std::unexpected(keys.error());
    config.lease_keys = std::make_shared<const KeySet>(std::move(*keys));
    return config;
}

Outcome<LoadedConfig> load_host_config(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return config_error("cannot read host configuration " + path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return config_error("host configuration " + path + " is not a regular file");
    }
    if (static_cast<std::uintmax_t>(st.st_size) > kMaxConfigBytes) {
        return config_error("host configuration " + path + " is larger than 1 MiB");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return config_error("cannot read host configuration " + path + ": " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto config = parse_host_config(text.str());
    if (!config) {
        return config_error("host configuration " + path + ": " + config.error().message);
    }
    return LoadedConfig{std::move(*config), (st.st_mode & (S_IRWXG | S_IRWXO)) != 0};
}

}  // namespace entitle::lib
