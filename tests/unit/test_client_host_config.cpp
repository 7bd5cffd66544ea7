#include "host_config.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "client_test_support.hpp"
#include "entitle/entitle.h"
#include "temp_dir.hpp"

using entitle::lib::load_host_config;
using entitle::lib::parse_host_config;
using entitle::test::host_config_json;
using entitle::test::TempDir;

namespace {

// The config with one member replaced (or removed when `value` is null).
std::string config_with(const std::string& member, const nlohmann::json& value) {
    auto config = host_config_json();
    if (value.is_null()) {
        config.erase(member);
    } else {
        config[member] = value;
    }
    return config.dump();
}

std::string error_of(const std::string& text) {
    auto parsed = parse_host_config(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().status == ENTITLE_CONFIG_ERROR);
    CHECK(parsed.error().message.find("host-secret-token") == std::string::npos);
    return parsed.error().message;
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
}

}  // namespace

TEST_CASE("a host configuration file from `entitlectl host add` parses") {
    auto config = parse_host_config(host_config_json().dump());
    REQUIRE(config);
    CHECK(config->host_id == entitle::test::kHostId);
    CHECK(config->server.host == "127.0.0.1");
    CHECK(config->server.port == "8443");
    CHECK(config->server.host_is_ip);
    CHECK(config->lease_keys->contains(entitle::test::kKid));
}

TEST_CASE("a malformed host configuration names what is wrong, never the token") {
    CHECK(error_of("") == "not valid JSON");
    CHECK(error_of("[1,2]") == "not a JSON object");
    CHECK(error_of("{\"server_url\": ") == "not valid JSON");
    for (const char* member : {"server_url", "ca_pem", "host_id", "host_token", "lease_keys"}) {
        CAPTURE(member);
        CHECK(error_of(config_with(member, nullptr)).find(member) != std::string::npos);
    }
    CHECK(error_of(config_with("host_id", 7)) == "\"host_id\" must be a string");
    CHECK(error_of(config_with("host_id", "")) == "\"host_id\" is empty");
    CHECK(error_of(config_with("ca_pem", "no pem here")).find("ca_pem") != std::string::npos);
    CHECK(error_of(config_with("host_token", "two words")).find("host_token") != std::string::npos);
    CHECK(error_of(config_with("lease_keys", {{"keys", nlohmann::json::array()}}))
              .find("no Ed25519 key") != std::string::npos);
    nlohmann::json bad_x = entitle::test::jwks();
    bad_x["keys"][0]["x"] = "not*base64";
    CHECK(error_of(config_with("lease_keys", bad_x)).find("base64url") != std::string::npos);
    nlohmann::json short_x = entitle::test::jwks();
    short_x["keys"][0]["x"] = "AAAA";
    CHECK(error_of(config_with("lease_keys", short_x)).find("key 0") != std::string::npos);
}

TEST_CASE("a JWK whose kty or crv is not a string is skipped like a key of another type") {
    for (const char* member : {"kty", "crv"}) {
        CAPTURE(member);
        nlohmann::json keys = entitle::test::jwks();
        nlohmann::json odd = keys["keys"][0];
        odd[member] = 1;
        keys["keys"].insert(keys["keys"].begin(), odd);
        auto config = parse_host_config(config_with("lease_keys", keys));
        REQUIRE(config);
        CHECK(config->lease_keys->size() == 1);
        keys["keys"].erase(1);
        CHECK(error_of(config_with("lease_keys", keys)).find("no Ed25519 key") != std::string::npos);
    }
}

TEST_CASE("server_url must be https with a usable host and port") {
    CHECK(error_of(config_with("server_url", "http://127.0.0.1:8443")).find("only https") !=
          std::string::npos);
    CHECK(error_of(config_with("server_url", "https://user@127.0.0.1")).find("user") !=
          std::string::npos);
    CHECK(error_of(config_with("server_url", "https://127.0.0.1:0")).find("port") !=
          std::string::npos);
    CHECK(error_of(config_with("server_url", "https://127.0.0.1:70000")).find("port") !=
          std::string::npos);
    CHECK(error_of(config_with("server_url", "https://[::1")).find("'['") != std::string::npos);
    CHECK(error_of(config_with("server_url", "https://a b")).find("host name") !=
          std::string::npos);
    CHECK(error_of(config_with("server_url", "https://h/?q")).find("query") != std::string::npos);

    auto v6 = parse_host_config(config_with("server_url", "https://[::1]:9/prefix/"));
    REQUIRE(v6);
    CHECK(v6->server.host == "::1");
    CHECK(v6->server.host_is_ip);
    CHECK(v6->server.prefix == "/prefix");
    CHECK(v6->server.authority() == "[::1]:9");
    auto name = parse_host_config(config_with("server_url", "HTTPS://license.example"));
    REQUIRE(name);
    CHECK(name->server.port == "443");
    CHECK_FALSE(name->server.host_is_ip);
}

TEST_CASE("loading a config file: missing is an error, readable by others is flagged") {
    TempDir dir;
    auto missing = load_host_config(dir.file("missing.json"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().status == ENTITLE_CONFIG_ERROR);
    CHECK(missing.error().message.find("missing.json") != std::string::npos);

    write_file(dir.file("private.json"), host_config_json().dump(), 0600);
    auto private_file = load_host_config(dir.file("private.json"));
    REQUIRE(private_file);
    CHECK_FALSE(private_file->readable_by_others);

    write_file(dir.file("open.json"), host_config_json().dump(), 0644);
    auto open_file = load_host_config(dir.file("open.json"));
    REQUIRE(open_file);
    CHECK(open_file->readable_by_others);

    write_file(dir.file("bad.json"), "{", 0600);
    auto bad = load_host_config(dir.file("bad.json"));
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("bad.json") != std::string::npos);

    CHECK_FALSE(load_host_config(dir.path().string()));  // a directory
}

namespace {
std::string g_logged;
void remember_log(int, const char* message, void*) { g_logged += message; }
}  // namespace

TEST_CASE("entitle_client_open hands back a failed handle that says why, as sqlite3_open does") {
    TempDir dir;
    entitle_client* h = nullptr;
    CHECK(entitle_client_open(dir.file("missing.json").c_str(), &h) == ENTITLE_CONFIG_ERROR);
    REQUIRE(h != nullptr);
    CHECK(std::string(entitle_last_error(h)).find("missing.json") != std::string::npos);
    CHECK(entitle_checkout(h, "vWS", "G", "V", nullptr, nullptr) == ENTITLE_CONFIG_ERROR);
    CHECK(std::string(entitle_last_error(h)).find("missing.json") != std::string::npos);
    entitle_client_close(h);
    entitle_client_close(nullptr);  // a harmless no-op

    CHECK(entitle_client_open(nullptr, &h) == ENTITLE_INVALID_ARGUMENT);
    CHECK(h == nullptr);
    CHECK(entitle_client_open("x", nullptr) == ENTITLE_INVALID_ARGUMENT);
    CHECK(entitle_checkout(nullptr, "a", "b", "c", nullptr, nullptr) == ENTITLE_INVALID_ARGUMENT);
    CHECK(std::string(entitle_last_error(nullptr)).size() > 0);
}

TEST_CASE("entitle_client_open accepts a config readable by others and warns through the log") {
    TempDir dir;
    write_file(dir.file("open.json"), host_config_json().dump(), 0644);
    g_logged.clear();
    entitle_set_log_handler(&remember_log, nullptr);
    entitle_client* h = nullptr;
    CHECK(entitle_client_open(dir.file("open.json").c_str(), &h) == ENTITLE_OK);
    entitle_set_log_handler(nullptr, nullptr);
    CHECK(g_logged.find("readable by group or others") != std::string::npos);
    char* host = nullptr;
    CHECK(entitle_host_id(h, &host) == ENTITLE_OK);
    CHECK(std::string(host) == entitle::test::kHostId);
    entitle_free(host);
    CHECK(entitle_client_set_timeout(h, 5) == ENTITLE_INVALID_ARGUMENT);
    CHECK(std::string(entitle_last_error(h)).find("timeout_ms") != std::string::npos);
    CHECK(entitle_client_set_retry(h, 0, 1, 1) == ENTITLE_INVALID_ARGUMENT);
    CHECK(entitle_client_set_retry(h, 3, 10, 100) == ENTITLE_OK);
    CHECK(std::string(entitle_last_error(h)).empty());
    int64_t skew = 0;
    CHECK(entitle_clock_skew(h, &skew) == ENTITLE_NOT_FOUND);
    entitle_client_close(h);
}
