// The compact JWS parser and verifier, and the license file check built on
// them, over arbitrary text. A fixed trust store holds the seed issuer key.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/license_file.hpp"
#include "crypto/jws.hpp"
#include "fuzz_support.hpp"

namespace {

const entitle::IssuerKeys& issuers() {
    static const entitle::IssuerKeys keys = [] {
        entitle::IssuerKeys k;
        k.by_kid.emplace(entitle::fuzz::kSeedIssuerKid, entitle::fuzz::seed_issuer_key());
        return k;
    }();
    return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace entitle;
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    for (const std::string_view typ : {kLicenseTyp, std::string_view("entitle-lease+jwt")}) {
        auto parts = crypto::jws_parse(text, typ);
        if (!parts) {
            ENTITLE_FUZZ_CHECK(!parts.error().empty());
            continue;
        }
        ENTITLE_FUZZ_CHECK(parts->header.is_object());
        ENTITLE_FUZZ_CHECK(parts->header.at("alg") == "EdDSA");
        ENTITLE_FUZZ_CHECK(parts->header.at("typ") == typ);
        ENTITLE_FUZZ_CHECK(parts->signature.size() == 64);
        ENTITLE_FUZZ_CHECK(text.starts_with(parts->signing_input));
        ENTITLE_FUZZ_CHECK(text.size() > parts->signing_input.size() &&
                           text[parts->signing_input.size()] == '.');
        (void)crypto::jws_verify(*parts, issuers().by_kid.begin()->second);
    }

    auto verified = verify_license_file(text, issuers());
    if (verified) {
        ENTITLE_FUZZ_CHECK(verified->kid == fuzz::kSeedIssuerKid);
        ENTITLE_FUZZ_CHECK(!verified->license.entitlements.empty());
        ENTITLE_FUZZ_CHECK(text.find(verified->compact) != std::string_view::npos);
    } else {
        ENTITLE_FUZZ_CHECK(verified.error().code == ErrorCode::invalid_license);
        ENTITLE_FUZZ_CHECK(!verified.error().message.empty());
    }
    return 0;
}
