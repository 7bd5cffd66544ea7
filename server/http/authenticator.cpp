#include "http/authenticator.hpp"

#include <algorithm>
#include <cctype>

#include "core/access_token.hpp"
#include "store/token_table.hpp"

namespace entitle::http {

Result<Principal> Authenticator::authenticate(std::string_view authorization) {
    if (authorization.empty()) {
        return fail(ErrorCode::unauthorized, "missing Authorization: Bearer token");
    }
    constexpr std::string_view kScheme = "Bearer ";
    if (authorization.size() <= kScheme.size() ||
        !std::equal(kScheme.begin(), kScheme.end(), authorization.begin(),
                    [](unsigned char a, unsigned char b) {
                        return std::tolower(a) == std::tolower(b);
                    })) {
        return fail(ErrorCode::unauthorized, "Authorization header must be 'Bearer <token>'");
    }
    const std::string_view presented = authorization.substr(kScheme.size());
    const auto id = access_token_id(presented);
    if (!id) return fail(ErrorCode::unauthorized, "malformed bearer token");
    auto found = store_.read([&](store::Connection& c) -> Result<std::optional<store::TokenRecord>> {
        return store::find_token(c, *id);
    });
    if (!found) return std::unexpected(found.error());
    // Unknown and revoked tokens get the same answer as a wrong secret.
    const bool ok = found->has_value() && !(*found)->revoked_at &&
                    access_token_matches(presented, (*found)->hash);
    if (!ok) return fail(ErrorCode::unauthorized, "unknown or revoked bearer token");
    return Principal{(*found)->id, (*found)->role};
}

}  // namespace entitle::http
