// entitle-issue: the vendor side of license files, for tests and demos
// (contract sections 1 and 6).
//
//   entitle-issue keygen --out DIR --kid ID
//       DIR/ID.key  Ed25519 private key, PKCS#8 PEM, mode 0600 (never overwritten)
//       DIR/ID.pem  its public key, SubjectPublicKeyInfo PEM, mode 0644: the
//                   file an admin copies into the server's DATA/issuers/
//   entitle-issue sign --key DIR/ID.key --kid ID FILE.json [--iat-now]
//       prints the license file: a compact JWS over the claims in FILE.json,
//       checked first by the same code the server uses on import.
//
// Exit codes: 0 done, 1 failed (message on stderr), 2 usage error.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <expected>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/read_file.hpp"
#include "core/license.hpp"
#include "core/license_file.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/jws.hpp"

namespace {

namespace fs = std::filesystem;
using entitle::crypto::Ed25519PrivateKey;

constexpr std::size_t kMaxInputBytes = 16 << 20;

struct Failure {
    std::string message;
};

template <class T = void>
using Outcome = std::expected<T, Failure>;

std::unexpected<Failure> failure(std::string message) {
    return std::unexpected(Failure{std::move(message)});
}

// Key ids become file names here and in the server's DATA/issuers/, so they
// are restricted to a portable file-name alphabet.
std::optional<std::string> kid_problem(std::string_view kid) {
    if (kid.empty() || kid.size() > 128) return "must be 1 to 128 characters";
    if (kid.front() == '.' || kid.front() == '-') return "must not start with '.' or '-'";
    for (const char c : kid) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return "may hold only letters, digits, '.', '_' and '-'";
    }
    return std::nullopt;
}

Outcome<std::string> read_file(const std::string& path) {
    auto text = entitle::tools::read_file_limited(path, kMaxInputBytes);
    if (!text) return failure(text.error());
    return std::move(*text);
}

// Creates `path` exclusively (never follows or replaces an existing file)
// with exactly `mode`, whatever the umask, and writes `contents` durably.
Outcome<> write_new_file(const fs::path& path, std::string_view contents, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        if (errno == EEXIST) {
            return failure(
                fmt::format("{} already exists; refusing to overwrite it", path.string()));
        }
        return failure(fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
    }
    auto fail_and_remove = [&](const char* what) {
        const int saved = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return failure(fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(saved)));
    };
    if (::fchmod(fd, mode) != 0) return fail_and_remove("set the mode of");
    std::size_t written = 0;
    while (written < contents.size()) {
        const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_and_remove("write");
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail_and_remove("sync");
    if (::close(fd) != 0) {
        const int saved = errno;
        ::unlink(path.c_str());
        return failure(fmt::format("cannot close {}: {}", path.string(), std::strerror(saved)));
    }
    return {};
}

Outcome<> keygen(const std::string& out_dir, const std::string& kid) {
    if (auto problem = kid_problem(kid))
        return failure(fmt::format("--kid '{}': {}", kid, *problem));
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) return failure(fmt::format("cannot create {}: {}", out_dir, ec.message()));

    const fs::path key_path = fs::path(out_dir) / (kid + ".key");
    const fs::path pub_path = fs::path(out_dir) / (kid + ".pem");
    // Both names are checked first so that a half-existing pair is not
    // completed with a public key that belongs to another private key.
    for (const auto& p : {key_path, pub_path}) {
        if (fs::exists(fs::symlink_status(p))) {
            return failure(fmt::format("{} already exists; refusing to overwrite it", p.string()));
        }
    }
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    if (auto r = write_new_file(key_path, key.to_pem(), 0600); !r) return r;
    if (auto r = write_new_file(pub_path, key.public_key().to_pem(), 0644); !r) {
        ::unlink(key_path.c_str());  // no private key without its public half
        return r;
    }
    std::cout << key_path.string() << '\n' << pub_path.string() << '\n';
    return {};
}

struct SignOptions {
    std::string key_file;
    std::string kid;
    std::string claims_file;
    bool iat_now = false;
};

Outcome<> sign(const SignOptions& options) {
    if (auto problem = kid_problem(options.kid)) {
        return failure(fmt::format("--kid '{}': {}", options.kid, *problem));
    }
    auto pem = read_file(options.key_file);
    if (!pem) return std::unexpected(pem.error());
    auto key = Ed25519PrivateKey::from_pem(*pem);
    if (!key) return failure(fmt::format("{}: {}", options.key_file, key.error()));

    auto text = read_file(options.claims_file);
    if (!text) return std::unexpected(text.error());
    nlohmann::json claims = nlohmann::json::parse(*text, nullptr, false);
    if (claims.is_discarded())
        return failure(fmt::format("{}: not valid JSON", options.claims_file));
    if (!claims.is_object())
        return failure(fmt::format("{}: not a JSON object", options.claims_file));
    const std::int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
    if (options.iat_now) claims["iat"] = now_s;

    std::string payload;
    try {
        payload = claims.dump();
    } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a string
        return failure(fmt::format("{}: {}", options.claims_file, e.what()));
    }
    // The very bytes that will be signed go through the server's own checks.
    auto license = entitle::parse_license_payload(payload);
    if (!license) return failure(license.error().message);
    if (license->lapsed_at(now_s)) {
        std::cerr << "entitle-issue: warning: every entitlement's not_after is past; a server "
                     "will refuse to import this license\n";
    }

    const nlohmann::json header = {
        {"alg", "EdDSA"}, {"typ", std::string(entitle::kLicenseTyp)}, {"kid", options.kid}};
    std::cout << entitle::crypto::jws_sign(header, payload, *key) << '\n';
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"entitle-issue: make issuer keys and sign Entitle license files (vendor side)"};
    app.set_version_flag("--version", "entitle-issue " ENTITLE_VERSION);
    app.require_subcommand(1);

    std::string out_dir, keygen_kid;
    auto* keygen_cmd = app.add_subcommand("keygen", "create an Ed25519 issuer key pair");
    keygen_cmd->add_option("--out", out_dir, "directory for ID.key (0600) and ID.pem (0644)")
        ->required();
    keygen_cmd->add_option("--kid", keygen_kid, "issuer key id; the server's name for the key")
        ->required();

    SignOptions sign_options;
    auto* sign_cmd = app.add_subcommand("sign", "sign license claims and print the license file");
    sign_cmd->add_option("--key", sign_options.key_file, "issuer private key (PKCS#8 PEM)")
        ->required();
    sign_cmd->add_option("--kid", sign_options.kid, "issuer key id, as in the server's issuers/")
        ->required();
    sign_cmd->add_option("FILE", sign_options.claims_file, "license claims (JSON)")->required();
    sign_cmd->add_flag("--iat-now", sign_options.iat_now, "set \"iat\" to the current time");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help, the version, or the error
        return code == 0 ? 0 : 2;
    }

    const Outcome<> result = *keygen_cmd ? keygen(out_dir, keygen_kid) : sign(sign_options);
    if (!result) {
        std::cerr << "entitle-issue: " << result.error().message << '\n';
        return 1;
    }
    std::cout.flush();
    return std::cout ? 0 : 1;
}
