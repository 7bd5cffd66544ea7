// The HTTP Date header (RFC 9110 section 5.6.7), for measuring clock skew.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace entitle::lib {

// IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT"), the form servers must
// send; Unix seconds, or nullopt for anything else.
[[nodiscard]] std::optional<std::int64_t> parse_http_date(std::string_view text);

}  // namespace entitle::lib
