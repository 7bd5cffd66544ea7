#include "common/json_fields.hpp"

#include "common/text_output.hpp"

namespace entitle::tools {

namespace {
const nlohmann::json kNull = nullptr;
}  // namespace

const nlohmann::json& field(const nlohmann::json& obj, std::string_view key) {
    if (!obj.is_object()) return kNull;
    const auto it = obj.find(key);
    return it == obj.end() ? kNull : *it;
}

std::string text_field(const nlohmann::json& obj, std::string_view key, std::string_view missing) {
    const auto& v = field(obj, key);
    if (v.is_null()) return std::string(missing);
    if (v.is_string()) return v.get<std::string>();
    return compact_json(v);
}

std::optional<std::int64_t> int_field(const nlohmann::json& obj, std::string_view key) {
    const auto& v = field(obj, key);
    if (v.is_number_integer()) return v.get<std::int64_t>();
    return std::nullopt;
}

std::string time_field(const nlohmann::json& obj, std::string_view key, std::string_view missing) {
    const auto v = int_field(obj, key);
    return v ? format_utc_seconds(*v) : text_field(obj, key, missing);
}

std::string compact_json(const nlohmann::json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string pretty_json(const nlohmann::json& value) {
    return value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace entitle::tools
