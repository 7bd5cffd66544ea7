// entitlectl license import|list|show|withdraw (contract section 4:
// POST/GET /v1/licenses, GET/DELETE /v1/licenses/{jti}).
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "common/json_fields.hpp"
#include "common/read_file.hpp"
#include "common/text_output.hpp"
#include "entitlectl/commands.hpp"

namespace entitle::ctl {

namespace {

using nlohmann::json;
using tools::field;
using tools::text_field;

constexpr std::size_t kMaxLicenseFileBytes = 16 << 20;

Outcome<std::string> read_license_file(const std::string& path) {
    auto text = tools::read_file_limited(path, kMaxLicenseFileBytes);
    if (!text) return usage_error(text.error());
    return std::move(*text);
}

std::size_t entitlement_count(const json& license) {
    const auto& ents = field(license, "entitlements");
    return ents.is_array() ? ents.size() : 0;
}

// "always", "from X", "until Y" or "X .. Y" (UTC).
std::string window_text(const json& entitlement) {
    const auto from = tools::int_field(entitlement, "not_before");
    const auto until = tools::int_field(entitlement, "not_after");
    if (from && until) {
        return fmt::format("{} .. {}", tools::format_utc_seconds(*from),
                           tools::format_utc_seconds(*until));
    }
    if (from) return "from " + tools::format_utc_seconds(*from);
    if (until) return "until " + tools::format_utc_seconds(*until);
    return "always";
}

std::string regions_text(const json& entitlement) {
    const auto& regions = field(entitlement, "regions");
    if (!regions.is_array() || regions.empty()) return "any";
    std::string out;
    for (const auto& r : regions) {
        if (!out.empty()) out += ',';
        out += r.is_string() ? r.get<std::string>() : tools::compact_json(r);
    }
    return out;
}

Outcome<> import_license(ApiSession& session, const std::string& file) {
    auto text = read_license_file(file);
    if (!text) return std::unexpected(text.error());
    auto response = session.call("POST", "/v1/licenses", *text, "application/jwt");
    if (!response) return std::unexpected(response.error());
    const auto answer = json::parse(response->body, nullptr, false);
    if (session.json_output()) {
        print_json(answer);
        return {};
    }
    const std::string jti = tools::terminal_safe(text_field(answer, "jti", "?"));
    if (response->status == 200) {
        std::cout << fmt::format("already imported {}\n", jti);
    } else {
        const std::size_t n = entitlement_count(answer);
        std::cout << fmt::format("imported {} ({} entitlement{})\n", jti, n, n == 1 ? "" : "s");
    }
    return {};
}

Outcome<> list_licenses(ApiSession& session) {
    auto answer = session.get_all_pages("/v1/licenses", "licenses");
    if (!answer) return std::unexpected(answer.error());
    if (session.json_output()) {
        print_json(*answer);
        return {};
    }
    const auto& licenses = (*answer)["licenses"];
    if (licenses.empty()) {
        std::cout << "no licenses\n";
        return {};
    }
    tools::TextTable table({"JTI", "ISSUER", "CUSTOMER", "ENTITLEMENTS", "STATE"});
    for (const auto& l : licenses) {
        table.add_row({text_field(l, "jti"), text_field(l, "iss"), text_field(l, "sub"),
                       std::to_string(entitlement_count(l)), text_field(l, "state")});
    }
    table.print(std::cout);
    return {};
}

Outcome<> show_license(ApiSession& session, const std::string& jti) {
    auto answer = session.call_json("GET", "/v1/licenses/" + tools::percent_encode(jti));
    if (!answer) return std::unexpected(answer.error());
    const json& l = *answer;
    if (session.json_output()) {
        print_json(l);
        return {};
    }
    tools::TextTable about({"license", text_field(l, "jti")});
    auto line = [&](std::string_view name, std::string value) {
        about.add_row({std::string(name), std::move(value)});
    };
    std::string issuer = text_field(l, "iss");
    if (const auto& kid = field(l, "kid"); kid.is_string()) {
        issuer += fmt::format(" (key {})", kid.get<std::string>());
    }
    line("issuer", issuer);
    line("customer", text_field(l, "sub"));
    line("state", text_field(l, "state"));
    line("signed", tools::time_field(l, "iat"));
    if (tools::int_field(l, "imported_at")) {
        // The contract puts Unix seconds in bodies; a value too large to be
        // seconds (past the year 5000) can only be milliseconds.
        const auto at = *tools::int_field(l, "imported_at");
        line("imported",
             at > 100'000'000'000 ? tools::format_utc_millis(at) : tools::format_utc_seconds(at));
    }
    if (!field(l, "supersedes").is_null()) line("supersedes", text_field(l, "supersedes"));
    if (!field(l, "superseded_by").is_null()) line("superseded by", text_field(l, "superseded_by"));
    about.print(std::cout);
    std::cout << '\n';

    const auto& ents = field(l, "entitlements");
    if (!ents.is_array() || ents.empty()) {
        std::cout << "no entitlements\n";
        return {};
    }
    tools::TextTable table({"ID", "FEATURE", "MODEL", "COUNT", "IN_USE", "WINDOW", "REGIONS"});
    for (const auto& e : ents) {
        table.add_row({text_field(e, "id"), text_field(e, "feature"), text_field(e, "model"),
                       text_field(e, "count", "unlimited"), text_field(e, "in_use"), window_text(e),
                       regions_text(e)});
    }
    table.print(std::cout);
    return {};
}

Outcome<> withdraw_license(ApiSession& session, const std::string& jti) {
    auto response = session.call("DELETE", "/v1/licenses/" + tools::percent_encode(jti));
    if (!response) return std::unexpected(response.error());
    if (session.json_output()) {
        // 204 has no body; print one only if the server chose to send it.
        if (!response->body.empty()) print_json(json::parse(response->body, nullptr, false));
        return {};
    }
    std::cout << fmt::format("withdrew {}\n", tools::terminal_safe(jti));
    return {};
}

}  // namespace

void add_license_commands(CLI::App& app, CommandSet& commands) {
    auto* group = app.add_subcommand("license", "import, list, show and withdraw licenses");
    group->require_subcommand(1);

    {
        auto file = std::make_shared<std::string>();
        auto* cmd = group->add_subcommand("import", "import a signed license file");
        cmd->add_option("FILE", *file, "the license file (a JWS from the vendor)")
            ->required()
            ->check(CLI::ExistingFile);
        commands.add(cmd, [file](ApiSession& s) { return import_license(s, *file); });
    }
    {
        auto* cmd = group->add_subcommand("list", "list licenses with their state");
        commands.add(cmd, [](ApiSession& s) { return list_licenses(s); });
    }
    {
        auto jti = std::make_shared<std::string>();
        auto* cmd = group->add_subcommand("show", "show one license and its entitlements");
        cmd->add_option("JTI", *jti, "license id")->required();
        commands.add(cmd, [jti](ApiSession& s) { return show_license(s, *jti); });
    }
    {
        auto jti = std::make_shared<std::string>();
        auto* cmd =
            group->add_subcommand("withdraw", "withdraw a license; its active leases end at once");
        cmd->add_option("JTI", *jti, "license id")->required();
        commands.add(cmd, [jti](ApiSession& s) { return withdraw_license(s, *jti); });
    }
}

}  // namespace entitle::ctl
