#include "app/init_command.hpp"

#include <chrono>
#include <filesystem>
#include <iostream>

#include <sys/stat.h>

#include <fmt/format.h>

#include "app/data_dir.hpp"
#include "core/access_token.hpp"
#include "crypto/digest.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/jwk.hpp"
#include "crypto/tls_certificate.hpp"
#include "store/meta_table.hpp"
#include "store/store.hpp"
#include "store/token_table.hpp"

namespace entitle::app {

namespace fs = std::filesystem;

namespace {

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Result<void> make_dir(const fs::path& p, unsigned mode) {
    std::error_code ec;
    if (fs::exists(p, ec)) {
        if (!fs::is_directory(p, ec)) {
            return fail(ErrorCode::invalid_request, fmt::format("{} exists and is not a directory", p.string()));
        }
        return {};
    }
    fs::create_directories(p, ec);
    if (ec) return fail(ErrorCode::invalid_request, fmt::format("cannot create {}: {}", p.string(), ec.message()));
    if (::chmod(p.c_str(), mode) != 0) {
        return fail(ErrorCode::invalid_request, fmt::format("cannot chmod {}", p.string()));
    }
    return {};
}

Result<std::string> ensure_lease_key(const DataDir& dir) {
    if (fs::exists(dir.lease_key())) {
        auto pem = read_secret_file(dir.lease_key());
        if (!pem) return std::unexpected(pem.error());
        auto key = crypto::Ed25519PrivateKey::from_pem(*pem);
        if (!key) {
            return fail(ErrorCode::invalid_request,
                        fmt::format("{} is not an Ed25519 private key: {}", dir.lease_key().string(), key.error()));
        }
        return crypto::jwk_thumbprint(key->public_key());
    }
    const auto key = crypto::Ed25519PrivateKey::generate();
    if (auto w = write_file_atomically(dir.lease_key(), key.to_pem(), 0600); !w) {
        return std::unexpected(w.error());
    }
    std::cout << "created lease-signing key " << dir.lease_key().string() << "\n";
    return crypto::jwk_thumbprint(key.public_key());
}

Result<void> ensure_tls(const DataDir& dir, const InitOptions& opt) {
    if (opt.tls_cert.has_value() != opt.tls_key.has_value()) {
        return fail(ErrorCode::invalid_request, "--tls-cert and --tls-key go together");
    }
    if (opt.tls_cert) {
        auto cert = read_file(*opt.tls_cert);
        if (!cert) return std::unexpected(cert.error());
        auto key = read_file(*opt.tls_key);
        if (!key) return std::unexpected(key.error());
        if (auto w = write_file_atomically(dir.tls_key(), *key, 0600); !w) return w;
        if (auto w = write_file_atomically(dir.tls_cert(), *cert, 0644); !w) return w;
        std::cout << "installed TLS certificate from " << *opt.tls_cert << "\n";
        return {};
    }
    const bool has_key = fs::exists(dir.tls_key()), has_cert = fs::exists(dir.tls_cert());
    if (has_key && has_cert) return {};
    if (has_key != has_cert) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("{} has only one of tls.key and tls.crt; restore the other or "
                                "remove both to make a new self-signed pair",
                                dir.root.string()));
    }
    const auto pair =
        crypto::make_self_signed_certificate("entitled", {"localhost"}, {"127.0.0.1", "::1"}, 825);
    if (auto w = write_file_atomically(dir.tls_key(), pair.key_pem, 0600); !w) return w;
    if (auto w = write_file_atomically(dir.tls_cert(), pair.cert_pem, 0644); !w) return w;
    std::cout << "created self-signed TLS certificate " << dir.tls_cert().string()
              << " for localhost, 127.0.0.1 and ::1\n";
    return {};
}

Result<void> ensure_admin_token(const DataDir& dir, store::Store& store) {
    if (fs::exists(dir.admin_token())) {
        auto secret = read_secret_file(dir.admin_token());
        if (!secret) return std::unexpected(secret.error());
        // Trim a trailing newline an editor may have added.
        secret->trim_trailing("\r\n");
        const auto id = access_token_id(*secret);
        if (!id) {
            return fail(ErrorCode::invalid_request,
                        fmt::format("{} does not hold an Entitle token; remove it to make a new one",
                                    dir.admin_token().string()));
        }
        // Re-register it if this store does not know it (e.g. the store was recreated).
        const std::string hash = crypto::sha256_hex(*secret);
        return store.write_and_wait([id = *id, hash](store::Connection& c) -> Result<void> {
            if (store::find_token(c, id)) return {};
            store::insert_token(c, store::TokenRecord{id, Role::admin, "admin (init)", hash,
                                                      now_seconds(), std::nullopt, std::nullopt});
            return {};
        });
    }
    const auto token = mint_access_token();
    auto stored = store.write_and_wait([&token](store::Connection& c) -> Result<void> {
        store::insert_token(c, store::TokenRecord{token.id, Role::admin, "admin (init)", token.hash,
                                                  now_seconds(), std::nullopt, std::nullopt});
        return {};
    });
    if (!stored) return stored;
    if (auto w = write_file_atomically(dir.admin_token(), token.secret + "\n", 0600); !w) return w;
    std::cout << "created admin token " << dir.admin_token().string() << " (id " << token.id << ")\n";
    return {};
}

}  // namespace

Result<void> run_init(const InitOptions& options) {
    const DataDir dir{options.data_dir};
    const bool existed = fs::exists(dir.root);
    if (auto r = make_dir(dir.root, 0700); !r) return r;
    if (auto r = make_dir(dir.issuers(), 0755); !r) return r;

    auto store = store::Store::create(dir.store().string());
    if (!store) return std::unexpected(store.error());
    auto meta = (*store)->write_and_wait([](store::Connection& c) -> Result<void> {
        if (!store::get_meta(c, "server_id")) {
            store::set_meta(c, "server_id", "entitled-" + crypto::to_hex(crypto::random_bytes(8)));
            store::set_meta(c, "created_at", std::to_string(now_seconds()));
        }
        return {};
    });
    if (!meta) return meta;

    auto kid = ensure_lease_key(dir);
    if (!kid) return std::unexpected(kid.error());
    if (auto r = ensure_tls(dir, options); !r) return r;
    if (auto r = ensure_admin_token(dir, **store); !r) return r;

    std::cout << (existed ? "data directory " : "initialised data directory ") << dir.root.string()
              << (existed ? " is ready" : "") << "\n"
              << "  store:           " << dir.store().string() << "\n"
              << "  lease key id:    " << *kid << "\n"
              << "  trusted issuers: " << dir.issuers().string() << "/*.pem\n"
              << "  admin token:     " << dir.admin_token().string() << "\n";
    return {};
}

}  // namespace entitle::app
