// Reading the small files the tools take as input (tokens, license files,
// keys, claims) with a size cap, so a wrong path to a huge file fails fast.
#pragma once

#include <cstddef>
#include <expected>
#include <string>

namespace entitle::tools {

// The file's exact bytes. Errors name the path and the reason
// ("cannot read F: No such file or directory", "F is larger than N bytes").
[[nodiscard]] std::expected<std::string, std::string> read_file_limited(const std::string& path,
                                                                        std::size_t max_bytes);

}  // namespace entitle::tools
