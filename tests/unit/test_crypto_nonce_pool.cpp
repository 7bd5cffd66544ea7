#include "crypto/nonce_pool.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <sched.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/ed25519.hpp"

using entitle::crypto::Ed25519Nonce;
using entitle::crypto::Ed25519PrivateKey;
using entitle::crypto::NoncePool;
using entitle::crypto::NonceSeed;

namespace {

constexpr std::string_view kContext = "srv_test";

std::string point_of(const Ed25519Nonce& n) { return std::string(n.point.begin(), n.point.end()); }
std::string seed_of(const Ed25519Nonce& n) { return std::string(n.seed.begin(), n.seed.end()); }

// OpenSSL's own Ed25519 verification: an implementation other than the one
// that signs.
bool openssl_verifies(const Ed25519PrivateKey& key, std::string_view message, std::string_view signature) {
    const std::string raw = key.public_key().raw();
    EVP_PKEY* pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                                reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
    REQUIRE(pub != nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    REQUIRE(ctx != nullptr);
    const bool ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pub) == 1 &&
                    EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pub);
    return ok;
}

// The scheduling policy of this process's thread named `name` (field 41 of
// /proc/self/task/<tid>/stat), or -1 when there is none.
int policy_of_thread(const std::string& name) {
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string line;
        std::getline(comm, line);
        if (line != name) continue;
        std::ifstream stat(task.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        std::istringstream fields(text.substr(text.rfind(')') + 2));  // from field 3 on
        std::string field;
        for (int i = 3; i <= 41 && fields >> field; ++i) {
            if (i == 41) return std::stoi(field);
        }
    }
    return -1;
}

}  // namespace

TEST_CASE("a signature with a nonce made ahead of time verifies, with libsodium and with OpenSSL") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    const auto pub = key.public_key();
    for (int i = 0; i < 200; ++i) {
        const std::string message = "lease token " + std::to_string(i) + std::string(static_cast<std::size_t>(i), 'x');
        const Ed25519Nonce nonce = key.make_nonce(kContext);
        const std::string sig = key.sign(message, nonce, kContext);
        REQUIRE(sig.size() == 64);
        CHECK(sig.substr(0, 32) == point_of(nonce));  // R is the nonce's point
        CHECK(pub.verify(message, sig));
        CHECK(openssl_verifies(key, message, sig));
        CHECK_FALSE(pub.verify(message + ".", sig));
    }
}

TEST_CASE("the same message, seed and context give the same signature; another seed or context another one") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    const Ed25519Nonce nonce = key.make_nonce(kContext);
    const Ed25519Nonce again = key.nonce_of(nonce.seed, kContext);
    CHECK(point_of(again) == point_of(nonce));
    CHECK(key.sign("m", nonce, kContext) == key.sign("m", again, kContext));

    const Ed25519Nonce other = key.make_nonce(kContext);
    CHECK(seed_of(other) != seed_of(nonce));
    CHECK(key.sign("m", other, kContext) != key.sign("m", nonce, kContext));

    // The context goes into the nonce: one seed under two contexts is two nonces.
    const Ed25519Nonce elsewhere = key.nonce_of(nonce.seed, "srv_other");
    CHECK(point_of(elsewhere) != point_of(nonce));
    CHECK(key.public_key().verify("m", key.sign("m", elsewhere, "srv_other")));
    // So is the key: another key's nonce of the same seed is another point.
    const Ed25519PrivateKey key2 = Ed25519PrivateKey::generate();
    CHECK(point_of(key2.nonce_of(nonce.seed, kContext)) != point_of(nonce));
    // And RFC 8032's own nonce is neither.
    CHECK(key.sign("m").substr(0, 32) != point_of(nonce));
}

TEST_CASE("a point that is not the seed's gives a signature that fails verification") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    Ed25519Nonce nonce = key.make_nonce(kContext);
    const Ed25519Nonce other = key.make_nonce(kContext);
    nonce.point = other.point;
    const std::string sig = key.sign("m", nonce, kContext);
    CHECK_FALSE(key.public_key().verify("m", sig));
    CHECK_FALSE(openssl_verifies(key, "m", sig));
    // The seed made under another context does not verify either.
    const Ed25519Nonce right = key.make_nonce(kContext);
    CHECK_FALSE(key.public_key().verify("m", key.sign("m", right, "srv_other")));
}

TEST_CASE("the pool hands out every nonce once, each with its seed's point, and none when it is empty") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    NoncePool pool(key, std::string(kContext), 8);
    // Full first (bounded: an idle core makes 8 nonces in milliseconds).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pool.stats().ready < 8 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(pool.stats().ready == 8);
    std::set<std::string> seeds;
    std::uint64_t given = 0;
    for (int i = 0; i < 100; ++i) {
        const auto n = pool.take();
        if (!n) continue;  // empty for the moment: the caller takes a fresh seed
        ++given;
        CHECK(seeds.insert(seed_of(*n)).second);
        CHECK(point_of(key.nonce_of(n->seed, kContext)) == point_of(*n));
    }
    const auto stats = pool.stats();
    CHECK(stats.ahead == given);
    CHECK(stats.ahead + stats.empty == 100);
    CHECK(given >= 8);
}

TEST_CASE("fresh seeds are random") {
    std::set<std::string> seeds;
    for (int i = 0; i < 1000; ++i) {
        const NonceSeed s = entitle::crypto::random_nonce_seed();
        seeds.insert(std::string(s.begin(), s.end()));
    }
    CHECK(seeds.size() == 1000);
}

TEST_CASE("threads taking from one pool at once never get the same nonce") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    NoncePool pool(key, std::string(kContext), 64);
    std::mutex mu;
    std::vector<std::string> all;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            std::vector<std::string> mine;
            for (int i = 0; i < 300; ++i) {
                if (const auto n = pool.take()) mine.push_back(seed_of(*n));
            }
            std::lock_guard lock(mu);
            all.insert(all.end(), mine.begin(), mine.end());
        });
    }
    for (auto& t : threads) t.join();
    CHECK(all.size() == pool.stats().ahead);
    CHECK(std::set<std::string>(all.begin(), all.end()).size() == all.size());
}

TEST_CASE("the pool fills itself to its capacity on a thread at SCHED_IDLE, and refills when drawn down") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    NoncePool pool(key, std::string(kContext), 32);
    const auto wait_full = [&pool] {
        // Bounded: an idle core makes 32 nonces in milliseconds.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (pool.stats().ready < 32 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return pool.stats().ready;
    };
    REQUIRE(wait_full() == 32);
    CHECK(policy_of_thread("nonces") == SCHED_IDLE);
    for (int i = 0; i < 20; ++i) CHECK(pool.take().has_value());
    auto stats = pool.stats();
    CHECK(stats.ahead == 20);
    CHECK(stats.empty == 0);
    CHECK(wait_full() == 32);  // below three quarters, the filler was woken
    const auto n = pool.take();
    REQUIRE(n.has_value());
    CHECK(key.public_key().verify("t", key.sign("t", *n, kContext)));
}

TEST_CASE("a pool can be destroyed while its thread is filling it") {
    const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
    for (int i = 0; i < 20; ++i) {
        NoncePool pool(key, std::string(kContext), 100000);
        (void)pool.take();
    }
    CHECK(policy_of_thread("nonces") == -1);  // every filler has stopped
}
