// entitlectl host add|list|remove (contract sections 3 and 4: POST/GET
// /v1/hosts, DELETE /v1/hosts/{id}). `host add` writes the host
// configuration file, which holds the host's token, with mode 0600; the
// token is never printed.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "common/atomic_file.hpp"
#include "common/json_fields.hpp"
#include "common/text_output.hpp"
#include "entitlectl/commands.hpp"

namespace entitle::ctl {

namespace {

using nlohmann::json;
using tools::text_field;

struct AddOptions {
    std::string name;
    std::string region;
    std::string out;
    bool force = false;
};

Outcome<> add_host(ApiSession& session, const AddOptions& options) {
    // The file is prepared before the host exists: the token in the answer
    // is shown only once, so a path that cannot be written must fail first.
    auto file = tools::AtomicFile::prepare(
        options.out, 0600,
        options.force ? tools::AtomicFile::Existing::replace : tools::AtomicFile::Existing::refuse);
    if (!file) return usage_error(file.error());

    const json request = {{"name", options.name}, {"region", options.region}};
    auto response =
        session.call("POST", "/v1/hosts", tools::compact_json(request), "application/json");
    if (!response) return std::unexpected(response.error());
    auto answer = json::parse(response->body, nullptr, false);
    const auto& host_id = tools::field(answer, "host_id");
    if (!host_id.is_string() || !tools::field(answer, "host_token").is_string()) {
        return failed("the server's answer to POST /v1/hosts is not a host configuration file");
    }
    // The answer is the file, byte for byte (contract section 3).
    std::string content = std::move(response->body);
    if (!content.empty() && content.back() != '\n') content.push_back('\n');
    if (auto written = file->commit(content); !written) {
        return failed(fmt::format(
            "host {} was created but its configuration file could not be written: {}; remove the "
            "host (entitlectl host remove {}) and add it again",
            host_id.get<std::string>(), written.error(), host_id.get<std::string>()));
    }
    if (session.json_output()) {
        answer.erase("host_token");  // the secret stays in the file
        answer["config_file"] = options.out;
        print_json(answer);
        return {};
    }
    std::cout << tools::terminal_safe(host_id.get<std::string>()) << '\n';
    return {};
}

Outcome<> list_hosts(ApiSession& session, bool removed) {
    auto answer = session.get_all_pages("/v1/hosts", "hosts", removed ? "removed=true" : "");
    if (!answer) return std::unexpected(answer.error());
    if (session.json_output()) {
        print_json(*answer);
        return {};
    }
    const auto& hosts = (*answer)["hosts"];
    if (hosts.empty()) {
        std::cout << "no hosts\n";
        return {};
    }
    std::vector<std::string> headers = {"ID", "NAME", "REGION", "CREATED"};
    if (removed) headers.emplace_back("REMOVED");
    tools::TextTable table(std::move(headers));
    for (const auto& h : hosts) {
        std::vector<std::string> row = {text_field(h, "id"), text_field(h, "name"),
                                        text_field(h, "region"),
                                        tools::time_field(h, "created_at")};
        if (removed) row.push_back(tools::time_field(h, "removed_at"));
        table.add_row(std::move(row));
    }
    table.print(std::cout);
    return {};
}

Outcome<> remove_host(ApiSession& session, const std::string& id) {
    auto response = session.call("DELETE", "/v1/hosts/" + tools::percent_encode(id));
    if (!response) return std::unexpected(response.error());
    if (session.json_output()) {
        if (!response->body.empty()) print_json(json::parse(response->body, nullptr, false));
        return {};
    }
    std::cout << fmt::format("removed {}\n", tools::terminal_safe(id));
    return {};
}

}  // namespace

void add_host_commands(CLI::App& app, CommandSet& commands) {
    auto* group = app.add_subcommand("host", "add, list and remove GPU hosts");
    group->require_subcommand(1);

    {
        auto options = std::make_shared<AddOptions>();
        auto* cmd = group->add_subcommand(
            "add", "add a host and write its configuration file (mode 0600); prints its id");
        cmd->add_option("NAME", options->name, "host name, unique among current hosts")->required();
        cmd->add_option("--region", options->region,
                        "the host's region, matched against entitlement regions (e.g. eu-west)")
            ->required();
        cmd->add_option("--out", options->out,
                        "where to write the host configuration file; it holds the host's token")
            ->required();
        cmd->add_flag("--force", options->force, "replace --out if it exists");
        commands.add(cmd, [options](ApiSession& s) { return add_host(s, *options); });
    }
    {
        auto removed = std::make_shared<bool>(false);
        auto* cmd = group->add_subcommand("list", "list hosts");
        cmd->add_flag("--removed", *removed, "include removed hosts (and a REMOVED column)");
        commands.add(cmd, [removed](ApiSession& s) { return list_hosts(s, *removed); });
    }
    {
        auto id = std::make_shared<std::string>();
        auto* cmd = group->add_subcommand(
            "remove", "remove a host: its token is revoked and its active leases end at once");
        cmd->add_option("ID", *id, "host id, as `host list` shows it")->required();
        commands.add(cmd, [id](ApiSession& s) { return remove_host(s, *id); });
    }
}

}  // namespace entitle::ctl
