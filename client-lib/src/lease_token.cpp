#include "lease_token.hpp"

#include <nlohmann/json.hpp>

#include "crypto/jws.hpp"

namespace entitle::lib {

namespace {

using Kind = TokenError::Kind;

std::unexpected<TokenError> token_error(Kind kind, std::string message) {
    return std::unexpected(TokenError{kind, std::move(message)});
}

struct Parsed {
    crypto::JwsParts parts;
    LeaseClaims claims;
};

std::expected<Parsed, TokenError> parse(std::string_view token) {
    auto parts = crypto::jws_parse(token, kLeaseTokenTyp);
    if (!parts) return token_error(Kind::malformed, "lease token: " + parts.error());
    const auto payload = nlohmann::json::parse(parts->payload, nullptr, false);
    if (payload.is_discarded() || !payload.is_object()) {
        return token_error(Kind::malformed, "lease token: the payload is not a JSON object");
    }
    LeaseClaims claims;
    claims.kid = parts->header.at("kid").get<std::string>();
    const std::pair<const char*, std::string*> strings[] = {
        {"iss", &claims.iss},         {"sub", &claims.sub}, {"jti", &claims.jti},
        {"feature", &claims.feature}, {"ent", &claims.ent}, {"gpu", &claims.gpu},
        {"vgpu", &claims.vgpu}};
    for (const auto& [name, field] : strings) {
        const auto it = payload.find(name);
        if (it == payload.end() || !it->is_string() || it->get<std::string>().empty()) {
            return token_error(Kind::malformed, std::string("lease token: claim \"") + name +
                                                    "\" is missing or not a non-empty string");
        }
        *field = it->get<std::string>();
    }
    const std::pair<const char*, std::int64_t*> times[] = {{"iat", &claims.iat},
                                                           {"exp", &claims.exp}};
    for (const auto& [name, field] : times) {
        const auto it = payload.find(name);
        if (it == payload.end() || !it->is_number_integer()) {
            return token_error(Kind::malformed, std::string("lease token: claim \"") + name +
                                                    "\" is missing or not an integer");
        }
        *field = it->get<std::int64_t>();
    }
    if (claims.exp <= claims.iat) {
        return token_error(Kind::malformed, "lease token: exp is not after iat");
    }
    return Parsed{std::move(*parts), std::move(claims)};
}

}  // namespace

std::expected<LeaseClaims, TokenError> read_lease_claims(std::string_view token) {
    auto parsed = parse(token);
    if (!parsed) return std::unexpected(parsed.error());
    return std::move(parsed->claims);
}

std::expected<LeaseClaims, TokenError> verify_lease_token(std::string_view token,
                                                          const KeySet& keys,
                                                          std::string_view host_id) {
    auto parsed = parse(token);
    if (!parsed) return std::unexpected(parsed.error());
    const auto key = keys.find(parsed->claims.kid);
    if (key == keys.end()) {
        return token_error(Kind::unknown_key, "lease token: signing key '" + parsed->claims.kid +
                                                  "' is not among the lease keys");
    }
    if (!crypto::jws_verify(parsed->parts, key->second)) {
        return token_error(Kind::bad_signature, "lease token: the signature does not verify");
    }
    if (parsed->claims.sub != host_id) {
        return token_error(Kind::wrong_host, "lease token: issued to host '" + parsed->claims.sub +
                                                 "', not to this host '" + std::string(host_id) +
                                                 "'");
    }
    return std::move(parsed->claims);
}

}  // namespace entitle::lib
