#include "app/issuer_loader.hpp"

#include <fmt/format.h>

#include "app/data_dir.hpp"

namespace entitle::app {

namespace fs = std::filesystem;

LoadedIssuers load_issuer_keys(const fs::path& dir) {
    LoadedIssuers out;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
        out.problems.push_back(fmt::format("cannot read {}: {}", dir.string(), ec.message()));
        return out;
    }
    for (const auto& entry : it) {
        const auto& path = entry.path();
        if (path.extension() != ".pem") continue;
        const std::string kid = path.stem().string();
        auto text = read_file(path);
        if (!text) {
            out.problems.push_back(text.error().message);
            continue;
        }
        auto key = crypto::Ed25519PublicKey::from_pem(*text);
        if (!key) {
            out.problems.push_back(fmt::format("{}: skipped: {}", path.string(), key.error()));
            continue;
        }
        out.keys.by_kid.emplace(kid, std::move(*key));
    }
    return out;
}

}  // namespace entitle::app
