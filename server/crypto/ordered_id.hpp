// Identifiers whose text sorts in the order they were made.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace entitle::crypto {

// `prefix`, then `now_ms` (Unix milliseconds; negative counts as 0) as 8
// characters of base64url's alphabet rearranged into ASCII order (48 bits,
// fixed width), then `random_bytes` random bytes in base64url
// (random_id_bytes: unguessable and unique, not secret).
//
// Ids made later sort later byte by byte, so an index keyed by them takes
// each new key on its last page: a commit of many new keys dirties a few
// pages instead of one per key. Ids made in the same millisecond are told
// apart by their random part only.
[[nodiscard]] std::string time_ordered_id(std::string_view prefix, std::int64_t now_ms,
                                          std::size_t random_bytes);

}  // namespace entitle::crypto
