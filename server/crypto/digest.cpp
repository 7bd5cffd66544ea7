#include "crypto/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "crypto/base64url.hpp"

namespace entitle::crypto {
namespace {

struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// SHA-256 fetched from the provider once: EVP_sha256() makes OpenSSL 3 look
// the algorithm up (under its store's locks) at every EVP_DigestInit.
const EVP_MD* sha256_md() {
    static const EVP_MD* md = [] {
        EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        if (m == nullptr) throw std::runtime_error("OpenSSL has no SHA-256");
        return m;
    }();
    return md;
}

}  // namespace

Sha256 sha256(std::string_view data) {
    // One context per thread, reset by each init: no allocation per digest.
    thread_local MdCtxPtr ctx(EVP_MD_CTX_new());
    Sha256 out{};
    unsigned int len = 0;
    if (!ctx || EVP_DigestInit_ex2(ctx.get(), sha256_md(), nullptr) != 1 ||
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
    std::string out(bytes.size() * 2, '\0');
    char* p = out.data();
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        *p++ = kDigits[b >> 4];
        *p++ = kDigits[b & 0x0F];
    }
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {

// Fills [out, out + bytes) from OpenSSL's CSPRNG.
void fill_random(unsigned char* out, std::size_t bytes) {
    std::size_t done = 0;
    while (done < bytes) {
        const std::size_t chunk = std::min<std::size_t>(bytes - done, INT_MAX);
        if (RAND_bytes(out + done, static_cast<int>(chunk)) != 1) {
            throw std::runtime_error("OpenSSL RAND_bytes failed");
        }
        done += chunk;
    }
}

// Bumped in every forked child, so that a buffer filled before the fork is
// dropped there instead of handing the child the parent's next ids.
std::atomic<std::uint64_t> fork_generation{1};

void on_fork_child() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct IdRandomPool {
    std::array<unsigned char, 512> bytes{};
    std::size_t used = bytes.size();  // empty until the first draw
    std::uint64_t generation = 0;

    void fill() {
        fill_random(bytes.data(), bytes.size());
        used = 0;
    }
};

}  // namespace

std::string random_bytes(std::size_t bytes) {
    std::string out(bytes, '\0');
    fill_random(reinterpret_cast<unsigned char*>(out.data()), bytes);
    return out;
}

std::string random_id_bytes(std::size_t n) {
    static const int registered = pthread_atfork(nullptr, nullptr, on_fork_child);
    static_cast<void>(registered);  // if it failed, ids would still be random; only a fork could repeat them
    thread_local IdRandomPool pool;
    const auto generation = fork_generation.load(std::memory_order_relaxed);
    if (pool.generation != generation) {
        pool.used = pool.bytes.size();
        pool.generation = generation;
    }
    if (n > pool.bytes.size() / 4) return random_bytes(n);  // large draws go straight to the RNG
    std::string out(n, '\0');
    if (pool.bytes.size() - pool.used < n) pool.fill();
    std::memcpy(out.data(), pool.bytes.data() + pool.used, n);
    pool.used += n;
    return out;
}

std::string random_token(std::size_t bytes) { return base64url_encode(random_bytes(bytes)); }

}  // namespace entitle::crypto
