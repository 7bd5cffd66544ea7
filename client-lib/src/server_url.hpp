// The config file's server_url: https://HOST[:PORT][/PREFIX].
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace entitle::lib {

struct ServerUrl {
    std::string host;    // DNS name or IP literal, without brackets
    std::string port;    // decimal, 1..65535 (443 when the URL names none)
    std::string prefix;  // "" or "/something": put in front of every request path
    bool host_is_ip = false;

    // "HOST:PORT", IPv6 in brackets: the Host header and messages.
    [[nodiscard]] std::string authority() const;
};

// Errors say what is wrong with the text, for a person to fix the file.
[[nodiscard]] std::expected<ServerUrl, std::string> parse_server_url(std::string_view url);

}  // namespace entitle::lib
