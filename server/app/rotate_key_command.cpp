#include "app/rotate_key_command.hpp"

#include <filesystem>
#include <iostream>

#include <sys/stat.h>

#include <fmt/format.h>

#include "app/data_dir.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/jwk.hpp"

namespace entitle::app {

Result<void> run_rotate_key(const std::string& data_dir) {
    const DataDir dir{data_dir};
    if (auto r = check_data_dir(dir); !r) return r;
    auto pem = read_secret_file(dir.lease_key());
    if (!pem) return std::unexpected(pem.error());
    auto old_key = crypto::Ed25519PrivateKey::from_pem(*pem);
    if (!old_key) {
        return fail(ErrorCode::invalid_request, fmt::format("{}: {}", dir.lease_key().string(), old_key.error()));
    }
    const std::string old_kid = crypto::jwk_thumbprint(old_key->public_key());
    std::error_code ec;
    std::filesystem::create_directories(dir.retired_lease_keys(), ec);
    ::chmod(dir.retired_lease_keys().c_str(), 0700);
    // Keep the old key first, then replace: a crash in between leaves both usable.
    if (auto w = write_file_atomically(dir.retired_lease_keys() / (old_kid + ".key"), *pem, 0600); !w) return w;
    const auto fresh = crypto::Ed25519PrivateKey::generate();
    if (auto w = write_file_atomically(dir.lease_key(), fresh.to_pem(), 0600); !w) return w;
    std::cout << "retired lease key " << old_kid << "\n"
              << "new lease key     " << crypto::jwk_thumbprint(fresh.public_key()) << "\n"
              << "restart entitled to sign with the new key\n";
    return {};
}

}  // namespace entitle::app
