// entitlectl: the administrator's command line for an Entitle server
// (contract section 6). Exit codes: 0 done; 1 refused by the server, or the
// server could not be reached; 2 usage error.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "entitlectl/commands.hpp"

int main(int argc, char** argv) {
    using namespace entitle::ctl;

    CLI::App app{"entitlectl: administer an Entitle license server over its HTTPS API"};
    app.set_version_flag("--version", "entitlectl " ENTITLE_VERSION);
    app.require_subcommand(1);
    // Global options may also follow the subcommand (`entitlectl license list --json`).
    app.fallthrough();

    GlobalOptions global;
    app.add_option("--server", global.server, "server URL, https://HOST:PORT")
        ->envname("ENTITLE_SERVER");
    app.add_option("--token-file", global.token_file, "file holding an admin or auditor token")
        ->envname("ENTITLE_TOKEN_FILE");
    app.add_option("--ca", global.ca_file,
                   "PEM file of the CA (or self-signed certificate) the server's certificate "
                   "must chain to; nothing else is trusted")
        ->envname("ENTITLE_CA");
    app.add_flag("--json", global.json, "print the server's JSON answers as they are");
    app.add_option("--timeout-ms", global.timeout_ms,
                   "deadline for each request: connect, TLS, send and answer")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));

    CommandSet commands;
    add_license_commands(app, commands);
    add_token_commands(app, commands);
    add_audit_commands(app, commands);
    add_host_commands(app, commands);
    add_backup_commands(app, commands);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help, the version, or the error
        return code == 0 ? kExitOk : kExitUsage;
    }

    const Action* action = commands.selected();
    if (action == nullptr) {
        std::cerr << "entitlectl: name a command; see entitlectl --help\n";
        return kExitUsage;
    }
    auto session = ApiSession::open(global);
    if (!session) {
        std::cerr << "entitlectl: " << session.error().message << '\n';
        return session.error().exit_code;
    }
    auto done = (*action)(*session);
    if (!done) {
        std::cerr << "entitlectl: " << done.error().message << '\n';
        return done.error().exit_code;
    }
    std::cout.flush();
    return std::cout ? kExitOk : kExitFailed;
}
