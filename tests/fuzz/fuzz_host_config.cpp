// libentitle's host configuration parser over arbitrary file contents.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "host_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace entitle;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto config = lib::parse_host_config(text);
    if (!config) {
        ENTITLE_FUZZ_CHECK(config.error().status == ENTITLE_CONFIG_ERROR);
        ENTITLE_FUZZ_CHECK(!config.error().message.empty());
        // The token is a secret: no message shows it. Checked for tokens of
        // the real shape (59 base64url characters) that occur once in the
        // file: a short or odd "token" can equal text a message rightly
        // quotes from another field (e.g. a bad server_url).
        const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (json.is_object() && json.contains("host_token") && json["host_token"].is_string()) {
            const auto token = json["host_token"].get<std::string>();
            const bool token_shaped =
                token.size() == 59 && token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                              "0123456789-_") == std::string::npos;
            if (token_shaped && text.find(token) == text.rfind(token)) {
                ENTITLE_FUZZ_CHECK(config.error().message.find(token) == std::string::npos);
            }
        }
        return 0;
    }
    ENTITLE_FUZZ_CHECK(!config->host_id.empty());
    ENTITLE_FUZZ_CHECK(!config->host_token.empty());
    ENTITLE_FUZZ_CHECK(config->lease_keys && !config->lease_keys->empty());
    return 0;
}
