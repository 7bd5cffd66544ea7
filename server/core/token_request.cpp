#include "core/token_request.hpp"

#include <fmt/format.h>

namespace entitle {

Result<NewTokenRequest> parse_new_token_request(const nlohmann::json& body) {
    if (!body.is_object()) return fail(ErrorCode::invalid_request, "body must be a JSON object");
    const auto role_it = body.find("role");
    if (role_it == body.end() || !role_it->is_string()) {
        return fail(ErrorCode::invalid_request, "\"role\" is required: \"auditor\" or \"admin\"");
    }
    const auto role = parse_role(role_it->get<std::string>());
    if (!role || *role == Role::host) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("\"role\" must be \"auditor\" or \"admin\", not {}", role_it->dump()));
    }
    NewTokenRequest out{*role, std::nullopt};
    if (const auto name = body.find("name"); name != body.end() && !name->is_null()) {
        if (!name->is_string()) return fail(ErrorCode::invalid_request, "\"name\" must be a string");
        auto s = name->get<std::string>();
        if (s.size() > kMaxTokenNameLength) {
            return fail(ErrorCode::invalid_request,
                        fmt::format("\"name\" is longer than {} bytes", kMaxTokenNameLength));
        }
        out.name = std::move(s);
    }
    return out;
}

}  // namespace entitle
