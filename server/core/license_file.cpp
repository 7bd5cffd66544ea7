#include "core/license_file.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "crypto/jws.hpp"

namespace entitle {

namespace {
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
}  // namespace

Result<VerifiedLicense> verify_license_file(std::string_view text, const IssuerKeys& issuers) {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    if (text.empty()) return fail(ErrorCode::invalid_license, "the license file is empty");

    auto parts = crypto::jws_parse(text, kLicenseTyp);
    if (!parts) {
        return fail(ErrorCode::invalid_license, fmt::format("not a valid license file: {}", parts.error()));
    }
    const std::string kid = parts->header.at("kid").get<std::string>();
    const bool kid_ok = kid.size() <= 128 && std::all_of(kid.begin(), kid.end(), [](unsigned char ch) {
        return std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.';
    }) && kid.front() != '.';
    if (!kid_ok) {
        return fail(ErrorCode::invalid_license,
                    "issuer key id must be 1 to 128 of A-Z a-z 0-9 - _ . (not starting with '.'), as a file name "
                    "in DATA/issuers/");
    }
    const auto key = issuers.by_kid.find(kid);
    if (key == issuers.by_kid.end()) {
        return fail(ErrorCode::invalid_license,
                    fmt::format("issuer key '{}' is not trusted (add DATA/issuers/{}.pem and reload)", kid, kid));
    }
    if (!crypto::jws_verify(*parts, key->second)) {
        return fail(ErrorCode::invalid_license,
                    fmt::format("signature does not verify with issuer key '{}'", kid));
    }
    auto license = parse_license_payload(parts->payload);
    if (!license) return std::unexpected(license.error());
    return VerifiedLicense{std::move(*license), kid, std::string(text)};
}

}  // namespace entitle
