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
        // The token is a secret: no message shows it. Checked when the token
        // is long enough to be recognised and occurs only once in the file.
        const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (json.is_object() && json.contains("host_token") && json["host_token"].is_string()) {
            const auto token = json["host_token"].get<std::string>();
            if (token.size() >= 8 && text.find(token) == text.rfind(token)) {
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
