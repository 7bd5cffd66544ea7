// entitlectl backup --out FILE (contract section 4: GET /v1/backup, admin):
// a consistent copy of the store taken online, written atomically with mode
// 0600 (it holds token hashes and every license file).
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <expected>
#include <iostream>
#include <memory>
#include <string>

#include "common/atomic_file.hpp"
#include "common/text_output.hpp"
#include "entitlectl/commands.hpp"

namespace entitle::ctl {

namespace {

// Every SQLite database file starts with these 16 bytes (the NUL included).
constexpr std::string_view kSqliteMagic{"SQLite format 3\0", 16};
constexpr std::size_t kMaxBackupBytes = std::size_t{64} << 30;

struct BackupOptions {
    std::string out;
    bool force = false;
};

Outcome<> backup(ApiSession& session, const BackupOptions& options) {
    auto file = tools::AtomicFile::prepare(
        options.out, 0600,
        options.force ? tools::AtomicFile::Existing::replace : tools::AtomicFile::Existing::refuse);
    if (!file) return usage_error(file.error());

    // The copy goes to the temporary file as it arrives; only its first
    // bytes (the SQLite header) are kept in memory, to check what it is.
    constexpr std::size_t kHeaderBytes = 100;
    std::string head;
    std::uint64_t bytes = 0;
    const tools::HttpsClient::BodySink sink =
        [&](std::string_view piece) -> std::expected<void, std::string> {
        if (head.size() < kHeaderBytes) {
            head.append(piece.substr(0, std::min(piece.size(), kHeaderBytes - head.size())));
        }
        bytes += piece.size();
        return file->append(piece);
    };
    auto response = session.download("/v1/backup", sink, kMaxBackupBytes);
    if (!response) return std::unexpected(response.error());
    if (!head.starts_with(kSqliteMagic)) {
        return failed(fmt::format(
            "the server's answer to GET /v1/backup is not an SQLite file ({} bytes, type {}); "
            "nothing written",
            bytes, tools::terminal_safe(response->header("Content-Type").value_or("none"))));
    }
    // Header bytes 68-71: PRAGMA application_id, big-endian; Entitle's is "Enti".
    if (head.size() < kHeaderBytes || head.substr(68, 4) != "Enti") {
        return failed(fmt::format(
            "the server's answer to GET /v1/backup is an SQLite file but not an Entitle store "
            "({} bytes); nothing written",
            bytes));
    }
    if (auto written = file->commit(); !written) return failed(written.error());
    if (session.json_output()) {
        print_json({{"file", options.out}, {"bytes", bytes}});
        return {};
    }
    std::cout << fmt::format("wrote {} ({} bytes)\n", tools::terminal_safe(options.out),
                             bytes);
    return {};
}

}  // namespace

void add_backup_commands(CLI::App& app, CommandSet& commands) {
    auto options = std::make_shared<BackupOptions>();
    auto* cmd = app.add_subcommand(
        "backup", "copy the server's store, taken online, into a file (mode 0600)");
    cmd->add_option("--out", options->out, "the file to write (an SQLite database)")->required();
    cmd->add_flag("--force", options->force, "replace --out if it exists");
    commands.add(cmd, [options](ApiSession& s) { return backup(s, *options); });
}

}  // namespace entitle::ctl
