// entitlectl token create|list|revoke (contract section 4: POST/GET
// /v1/tokens, DELETE /v1/tokens/{id}). Only `token create` ever prints a
// token, and only the new one.
#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <optional>

#include "common/json_fields.hpp"
#include "common/text_output.hpp"
#include "entitlectl/commands.hpp"

namespace entitle::ctl {

namespace {

using nlohmann::json;
using tools::text_field;
using tools::time_field;

struct CreateOptions {
    std::string role;
    std::optional<std::string> name;
};

Outcome<> create_token(ApiSession& session, const CreateOptions& options) {
    json request = {{"role", options.role}};
    if (options.name) request["name"] = *options.name;
    auto answer =
        session.call_json("POST", "/v1/tokens", tools::compact_json(request), "application/json");
    if (!answer) return std::unexpected(answer.error());
    if (session.json_output()) {
        print_json(*answer);
        return {};
    }
    const auto& token = tools::field(*answer, "token");
    if (!token.is_string() || token.get<std::string>().empty()) {
        return failed("the server's answer holds no token");
    }
    // The token alone, so that `entitlectl token create ... > file` makes a token file.
    std::cout << token.get<std::string>() << '\n';
    return {};
}

Outcome<> list_tokens(ApiSession& session) {
    auto answer = session.call_json("GET", "/v1/tokens");
    if (!answer) return std::unexpected(answer.error());
    auto& tokens = (*answer)["tokens"];
    if (!tokens.is_array())
        return failed("the server's answer to GET /v1/tokens has no \"tokens\" list");
    // The server never lists secrets; should one ever appear, it is not printed.
    for (auto& t : tokens) {
        if (t.is_object()) {
            t.erase("token");
            t.erase("hash");
        }
    }
    if (session.json_output()) {
        print_json(*answer);
        return {};
    }
    if (tokens.empty()) {
        std::cout << "no tokens\n";
        return {};
    }
    tools::TextTable table({"ID", "ROLE", "NAME", "CREATED", "LAST_USED", "REVOKED"});
    for (const auto& t : tokens) {
        table.add_row({text_field(t, "id"), text_field(t, "role"), text_field(t, "name"),
                       time_field(t, "created_at"), time_field(t, "last_used_at"),
                       time_field(t, "revoked_at")});
    }
    table.print(std::cout);
    return {};
}

Outcome<> revoke_token(ApiSession& session, const std::string& id) {
    auto response = session.call("DELETE", "/v1/tokens/" + tools::percent_encode(id));
    if (!response) return std::unexpected(response.error());
    if (session.json_output()) {
        if (!response->body.empty()) print_json(json::parse(response->body, nullptr, false));
        return {};
    }
    std::cout << fmt::format("revoked {}\n", tools::terminal_safe(id));
    return {};
}

}  // namespace

void add_token_commands(CLI::App& app, CommandSet& commands) {
    auto* group = app.add_subcommand("token", "create, list and revoke admin and auditor tokens");
    group->require_subcommand(1);

    {
        auto options = std::make_shared<CreateOptions>();
        auto* cmd =
            group->add_subcommand("create", "create a token and print it (it is shown this once)");
        cmd->add_option("--role", options->role, "auditor or admin")
            ->required()
            ->check(CLI::IsMember({"auditor", "admin"}));
        cmd->add_option("--name", options->name, "a label shown in `token list`");
        commands.add(cmd, [options](ApiSession& s) { return create_token(s, *options); });
    }
    {
        auto* cmd = group->add_subcommand("list", "list tokens (never their secrets)");
        commands.add(cmd, [](ApiSession& s) { return list_tokens(s); });
    }
    {
        auto id = std::make_shared<std::string>();
        auto* cmd = group->add_subcommand("revoke", "revoke a token; effective at once");
        cmd->add_option("ID", *id, "token id, as `token list` shows it")->required();
        commands.add(cmd, [id](ApiSession& s) { return revoke_token(s, *id); });
    }
}

}  // namespace entitle::ctl
