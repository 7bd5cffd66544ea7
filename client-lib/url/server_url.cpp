#include "server_url.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>

namespace entitle::lib {

namespace {

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) ==
                      std::tolower(static_cast<unsigned char>(b));
           });
}

bool is_dns_name(std::string_view host) {
    return !host.empty() && host.size() <= 253 &&
           std::all_of(host.begin(), host.end(), [](unsigned char c) {
               return std::isalnum(c) || c == '-' || c == '.' || c == '_';
           });
}

}  // namespace

std::string ServerUrl::authority() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + port;
    return host + ":" + port;
}

std::expected<ServerUrl, std::string> parse_server_url(std::string_view url, std::string_view what) {
    const std::string quoted = std::string(what) + " '" + std::string(url.substr(0, 200)) + "'";
    constexpr std::string_view kScheme = "https://";
    if (!starts_with_ignoring_case(url, kScheme)) {
        return std::unexpected(quoted + ": only https:// URLs are supported");
    }
    std::string_view rest = url.substr(kScheme.size());
    if (rest.find_first_of("?#") != std::string_view::npos) {
        return std::unexpected(quoted + ": a query or fragment is not allowed");
    }
    const auto slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (authority.find('@') != std::string_view::npos) {
        return std::unexpected(quoted + ": user information is not allowed");
    }

    ServerUrl out;
    std::string_view port;
    boost::system::error_code ec;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::unexpected(quoted + ": unterminated '['");
        out.host = std::string(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') {
            return std::unexpected(quoted + ": expected ':' after ']'");
        }
        port = after.empty() ? "" : after.substr(1);
        (void)boost::asio::ip::make_address_v6(out.host, ec);
        if (ec) return std::unexpected(quoted + ": '" + out.host + "' is not an IPv6 address");
        out.host_is_ip = true;
    } else {
        const auto colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        port = colon == std::string_view::npos ? "" : authority.substr(colon + 1);
        if (!is_dns_name(out.host)) {
            return std::unexpected(quoted +
                                   ": expected a host name or an address (IPv6 in brackets)");
        }
        (void)boost::asio::ip::make_address_v4(out.host, ec);
        out.host_is_ip = !ec;
    }
    if (port.empty()) port = "443";
    unsigned number = 0;
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::unexpected(quoted + ": the port must be a number from 1 to 65535");
    }
    for (const char c : port) number = number * 10 + static_cast<unsigned>(c - '0');
    if (number == 0 || number > 65535) {
        return std::unexpected(quoted + ": the port must be a number from 1 to 65535");
    }
    out.port = std::to_string(number);

    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    if (std::any_of(path.begin(), path.end(),
                    [](unsigned char c) { return c <= ' ' || c >= 0x7f; })) {
        return std::unexpected(quoted + ": the path must be printable ASCII without spaces");
    }
    out.prefix = std::string(path);
    return out;
}

}  // namespace entitle::lib
