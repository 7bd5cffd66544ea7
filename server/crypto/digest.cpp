#include "crypto/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <stdexcept>

#include "crypto/base64url.hpp"

namespace entitle::crypto {
namespace {

struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

}  // namespace

Sha256 sha256(std::string_view data) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    Sha256 out{};
    unsigned int len = 0;
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
        throw std::runtime_error("SHA-256 failed in OpenSSL");
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    const Sha256 d = sha256(data);
    return to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string to_hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0x0F]);
    }
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(std::size_t bytes) {
    std::string out(bytes, '\0');
    std::size_t done = 0;
    while (done < bytes) {
        const std::size_t chunk = std::min<std::size_t>(bytes - done, INT_MAX);
        if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done),
                       static_cast<int>(chunk)) != 1) {
            throw std::runtime_error("OpenSSL RAND_bytes failed");
        }
        done += chunk;
    }
    return out;
}

std::string random_token(std::size_t bytes) { return base64url_encode(random_bytes(bytes)); }

}  // namespace entitle::crypto
