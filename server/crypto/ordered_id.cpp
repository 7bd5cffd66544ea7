#include "crypto/ordered_id.hpp"

#include <algorithm>

#include "crypto/base64url.hpp"
#include "crypto/digest.hpp"

namespace entitle::crypto {

std::string time_ordered_id(std::string_view prefix, std::int64_t now_ms,
                            std::size_t random_bytes) {
    static constexpr std::string_view ordered =
        "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    std::string id(prefix);
    id.reserve(prefix.size() + 8 + (random_bytes * 4 + 2) / 3);
    const auto t = static_cast<std::uint64_t>(std::max<std::int64_t>(now_ms, 0));
    for (int shift = 42; shift >= 0; shift -= 6) id.push_back(ordered[(t >> shift) & 0x3f]);
    id += base64url_encode(random_id_bytes(random_bytes));
    return id;
}

}  // namespace entitle::crypto
