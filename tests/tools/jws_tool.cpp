// A small command-line front end to the crypto layer, so that the Python
// interoperability tests (tests/integration/test_jws_interop.py) can drive our
// JWS code against PyJWT and python-cryptography.
//
//   jws_tool keygen <priv.pem> <pub.pem>
//   jws_tool sign <priv.pem> <typ> <kid> <payload-file>   prints the compact JWS
//   jws_tool verify <pub.pem> <typ> <compact-file>        prints the payload, exit 0
//
// Any failure exits 1 with a message on stderr; bad usage exits 2.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/ed25519.hpp"
#include "crypto/jws.hpp"

namespace {

using entitle::crypto::Ed25519PrivateKey;
using entitle::crypto::Ed25519PublicKey;

constexpr const char* kUsage =
    "usage: jws_tool keygen <priv.pem> <pub.pem>\n"
    "       jws_tool sign <priv.pem> <typ> <kid> <payload-file>\n"
    "       jws_tool verify <pub.pem> <typ> <compact-file>\n";

// The file's exact bytes (no newline stripping: the parser must see them).
std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream contents;
    contents << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return contents.str();
}

bool write_file(const std::string& path, std::string_view contents) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    return static_cast<bool>(out);
}

int fail(std::string_view message) {
    std::cerr << "jws_tool: " << message << '\n';
    return 1;
}

int keygen(const std::string& priv_path, const std::string& pub_path) {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    if (!write_file(priv_path, key.to_pem())) return fail("cannot write " + priv_path);
    if (!write_file(pub_path, key.public_key().to_pem())) return fail("cannot write " + pub_path);
    return 0;
}

int sign(const std::string& priv_path, const std::string& typ, const std::string& kid,
         const std::string& payload_path) {
    const auto pem = read_file(priv_path);
    if (!pem) return fail("cannot read " + priv_path);
    auto key = Ed25519PrivateKey::from_pem(*pem);
    if (!key) return fail(priv_path + ": " + key.error());
    const auto payload = read_file(payload_path);
    if (!payload) return fail("cannot read " + payload_path);
    const nlohmann::json header = {{"alg", "EdDSA"}, {"typ", typ}, {"kid", kid}};
    std::cout << entitle::crypto::jws_sign(header, *payload, *key) << '\n';
    return 0;
}

int verify(const std::string& pub_path, const std::string& typ, const std::string& compact_path) {
    const auto pem = read_file(pub_path);
    if (!pem) return fail("cannot read " + pub_path);
    auto key = Ed25519PublicKey::from_pem(*pem);
    if (!key) return fail(pub_path + ": " + key.error());
    const auto compact = read_file(compact_path);
    if (!compact) return fail("cannot read " + compact_path);
    auto parts = entitle::crypto::jws_parse(*compact, typ);
    if (!parts) return fail(parts.error());
    if (!entitle::crypto::jws_verify(*parts, *key)) return fail("signature does not verify");
    std::cout.write(parts->payload.data(), static_cast<std::streamsize>(parts->payload.size()));
    std::cout.flush();
    return std::cout ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 3 && args[0] == "keygen") return keygen(args[1], args[2]);
        if (args.size() == 5 && args[0] == "sign") return sign(args[1], args[2], args[3], args[4]);
        if (args.size() == 4 && args[0] == "verify") return verify(args[1], args[2], args[3]);
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    std::cerr << kUsage;
    return 2;
}
