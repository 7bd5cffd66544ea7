// A server's URL: https://HOST[:PORT][/PREFIX]. HOST is a DNS name, an IPv4
// literal or a bracketed IPv6 literal; PORT defaults to 443; PREFIX (no
// trailing slash) is put in front of every request path, for a server behind
// a path-routing proxy. One parser for the host config's server_url, the
// command-line tools' --server (tools/common/https_client.hpp) and
// `entitled serve --public-url`, which becomes every host config's server_url.
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

// Errors say what is wrong with the text, for a person to fix it, and name
// it as `what` ("server_url '...': only https:// URLs are supported").
[[nodiscard]] std::expected<ServerUrl, std::string> parse_server_url(std::string_view url,
                                                                     std::string_view what = "server_url");

}  // namespace entitle::lib
