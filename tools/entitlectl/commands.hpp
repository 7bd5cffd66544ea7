// entitlectl's subcommands. Each group (license, token, audit, host,
// backup) adds its CLI11 subcommands and, for every leaf, the
// action to run once the command line has parsed. Options a leaf declares
// live in state owned by its action, so nothing outlives main().
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <utility>
#include <vector>

#include "common/api_session.hpp"

namespace entitle::ctl {

using tools::ApiSession;
using tools::failed;
using tools::Failure;
using tools::kExitFailed;
using tools::kExitOk;
using tools::kExitUsage;
using tools::Outcome;
using tools::print_json;
using tools::usage_error;
using GlobalOptions = tools::ApiOptions;

using Action = std::function<Outcome<>(ApiSession&)>;

class CommandSet {
  public:
    void add(CLI::App* leaf, Action action) { leaves_.emplace_back(leaf, std::move(action)); }

    // The action of the leaf subcommand the command line named, if any.
    [[nodiscard]] const Action* selected() const {
        for (const auto& [leaf, action] : leaves_) {
            if (leaf->parsed()) return &action;
        }
        return nullptr;
    }

  private:
    std::vector<std::pair<CLI::App*, Action>> leaves_;
};

void add_license_commands(CLI::App& app, CommandSet& commands);
void add_token_commands(CLI::App& app, CommandSet& commands);
void add_audit_commands(CLI::App& app, CommandSet& commands);
void add_host_commands(CLI::App& app, CommandSet& commands);
void add_backup_commands(CLI::App& app, CommandSet& commands);

}  // namespace entitle::ctl
