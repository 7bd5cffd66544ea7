#include "crypto/digest.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>
#include <thread>

#include "crypto/base64url.hpp"

using namespace entitle::crypto;

TEST_CASE("sha256_hex matches the FIPS 180-2 vector for \"abc\"") {
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha256_hex matches the known vectors for the empty string and the 448-bit message") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("sha256_hex matches the known vector for one million 'a'") {
    CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 returns the raw 32 bytes that sha256_hex prints") {
    const Sha256 d = sha256("abc");
    CHECK(d[0] == 0xba);
    CHECK(d[31] == 0xad);
    CHECK(to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size())) ==
          sha256_hex("abc"));
}

TEST_CASE("sha256 hashes embedded NUL bytes") {
    CHECK(sha256_hex(std::string_view("a\0b", 3)) != sha256_hex("a"));
    CHECK(sha256_hex(std::string_view("a\0b", 3)) != sha256_hex("ab"));
}

TEST_CASE("to_hex prints lowercase, two digits per byte") {
    CHECK(to_hex("") == "");
    CHECK(to_hex(std::string_view("\x00\x0f\x10\xab\xff", 5)) == "000f10abff");
}

TEST_CASE("constant_time_equal is true only for identical strings") {
    CHECK(constant_time_equal("", ""));
    CHECK(constant_time_equal("secret", "secret"));
    CHECK(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
    CHECK_FALSE(constant_time_equal("secret", "secreT"));
    CHECK_FALSE(constant_time_equal("secret", "Secret"));
    CHECK_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST_CASE("constant_time_equal is false for strings of different lengths") {
    CHECK_FALSE(constant_time_equal("secret", "secrets"));
    CHECK_FALSE(constant_time_equal("", "x"));
    CHECK_FALSE(constant_time_equal("abc", "ab"));
}

TEST_CASE("random_bytes returns the requested number of bytes, different each call") {
    CHECK(random_bytes(0).empty());
    CHECK(random_bytes(1).size() == 1);
    const std::string a = random_bytes(32);
    const std::string b = random_bytes(32);
    CHECK(a.size() == 32);
    CHECK(b.size() == 32);
    CHECK(a != b);
}

TEST_CASE("random_id_bytes: the requested sizes, no repeats across many draws and across threads") {
    CHECK(random_id_bytes(0).empty());
    CHECK(random_id_bytes(9).size() == 9);
    CHECK(random_id_bytes(500).size() == 500);  // larger than a pool's share: straight from the RNG
    // 2,000 draws of 9 bytes cross the 512-byte refill many times.
    std::set<std::string> seen;
    for (int i = 0; i < 2000; ++i) seen.insert(random_id_bytes(9));
    std::set<std::string> other;
    std::thread t([&] {
        for (int i = 0; i < 2000; ++i) other.insert(random_id_bytes(9));
    });
    t.join();
    CHECK(seen.size() == 2000);
    CHECK(other.size() == 2000);
    for (const auto& id : other) CHECK(seen.count(id) == 0);
}

TEST_CASE("random_id_bytes: a forked child does not draw the parent's next bytes") {
    // The parent's pool holds bytes after this draw; a child that reused them
    // would produce exactly the ids the parent produces next.
    CHECK(random_id_bytes(9).size() == 9);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const std::string mine = random_id_bytes(32);
        const bool ok = ::write(fds[1], mine.data(), mine.size()) == static_cast<ssize_t>(mine.size());
        std::_Exit(ok ? 0 : 1);
    }
    ::close(fds[1]);
    std::string child(32, '\0');
    std::size_t got = 0;
    while (got < child.size()) {
        const ssize_t n = ::read(fds[0], child.data() + got, child.size() - got);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(got == child.size());
    const std::string parent = random_id_bytes(32);
    CHECK(parent != child);
}

TEST_CASE("random_token is 32 random bytes as 43 base64url characters by default") {
    const std::string token = random_token();
    CHECK(token.size() == 43);
    const auto decoded = base64url_decode(token);
    REQUIRE(decoded.has_value());
    CHECK(decoded->size() == 32);
    CHECK(random_token(16).size() == 22);
    CHECK(random_token(48).size() == 64);
}

TEST_CASE("random_token uses only the base64url alphabet, without padding") {
    for (int i = 0; i < 200; ++i) {
        const std::string token = random_token();
        CAPTURE(token);
        CHECK(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_") == std::string::npos);
    }
}

TEST_CASE("random_token does not repeat over 10000 draws") {
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) seen.insert(random_token());
    CHECK(seen.size() == 10000);
}
