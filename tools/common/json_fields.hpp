// Tolerant reading of JSON answers for display: a missing, null or
// unexpectedly typed field never throws, it shows as a placeholder. The
// server may add fields at any time; readers pick the ones they know.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace entitle::tools {

// obj[key] when obj is an object holding key, else nullptr (a null value).
[[nodiscard]] const nlohmann::json& field(const nlohmann::json& obj, std::string_view key);

// A string as is; a number or boolean in JSON form; null or missing as
// `missing`; an object or array as compact JSON.
[[nodiscard]] std::string text_field(const nlohmann::json& obj, std::string_view key,
                                     std::string_view missing = "-");

// An integer field, or nullopt when missing, null or not an integer.
[[nodiscard]] std::optional<std::int64_t> int_field(const nlohmann::json& obj,
                                                    std::string_view key);

// Unix seconds shown as UTC ("2026-01-02T03:04:05Z"), or `missing`.
[[nodiscard]] std::string time_field(const nlohmann::json& obj, std::string_view key,
                                     std::string_view missing = "-");

// Compact JSON that never throws on invalid UTF-8 (replaced by U+FFFD).
[[nodiscard]] std::string compact_json(const nlohmann::json& value);
// Indented JSON (2 spaces) for --json output, same UTF-8 handling.
[[nodiscard]] std::string pretty_json(const nlohmann::json& value);

}  // namespace entitle::tools
